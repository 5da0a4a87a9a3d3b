"""Build (and for 'digits' train; for 'imagenet' download) the CNN of one weights setting."""
from neurorepro.mouse_vs_cnn.cnn import TaskCNN, save_model
from neurorepro.runtime import get_logger, resolve_device, seed_everything, set_threads

sm = snakemake  # noqa: F821
log = get_logger("neurorepro", sm.log[0])
set_threads(sm.threads)
seed_everything(sm.params.seed)
p = sm.params
cnn = TaskCNN(p.arch, sm.wildcards.mvc_weights, p.input_size, p.epochs, p.seed, resolve_device(p.device), p.model_dir).fit()
save_model(cnn, sm.output.model)
log.info("%s/%s: layers %s; digits test accuracy %.3f", p.arch, cnn.weights, cnn.model_.layer_names, cnn.test_accuracy_)
