"""Rule rich_lazy_train: train every init on one task and measure laziness."""
import xarray as xr

from neurorepro.io import write_tsv
from neurorepro.rich_lazy.experiment import run_task
from neurorepro.rich_lazy.tasks import Task
from neurorepro.runtime import get_logger, resolve_device, seed_everything, set_threads

snakemake = globals()["snakemake"]
p = snakemake.params
log = get_logger("rich_lazy_train", snakemake.log[0])
set_threads(snakemake.threads)
seed_everything(p.seed)
device = resolve_device(p.device)
log.info("task %s on %s, %d threads", snakemake.wildcards.rl_task, device, snakemake.threads)
task = Task(snakemake.wildcards.rl_task, **p.task)
with xr.open_dataset(snakemake.input[0]) as inits:
    inits.load()
measures, curves = run_task(task, inits, p.trainer, p.probe_trials, p.ntk_trials, p.aligned_rank, p.seed,
                            device=str(device), logger=log, warm_rank=p.warm_rank, stats_trials=p.stats_trials,
                            ntk_steps=p.ntk_steps)
for name, digest in task.mnist_files.items():
    log.info("MNIST file %s sha256 %s", name, digest)
measures.insert(1, "device", str(device))
write_tsv(measures, snakemake.output.measures)
write_tsv(curves, snakemake.output.curves)
