"""Rule sampling_size_sweep: RSN sampling error vs reservoir size."""
from neurorepro.io import write_tsv
from neurorepro.runtime import get_logger, seed_everything, set_threads
from neurorepro.sampling.experiment import TASK_SEED_OFFSET, TrainSettings, make_target, run_size_sweep

sm = snakemake  # noqa: F821
p = sm.params
log = get_logger("sampling_size_sweep", sm.log[0])
set_threads(sm.threads)
seed = p.seed + TASK_SEED_OFFSET["sweep"]
seed_everything(seed)
table = run_size_sweep(
    p.task, make_target(p.task, p.target), TrainSettings(**p.train, device=p.device), p.sizes, p.n_seeds,
    p.n_train, p.n_reference, seed, n_energy=p.n_energy, log=log,
)
write_tsv(table, sm.output[0])
