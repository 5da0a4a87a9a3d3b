"""Rule sampling_density: fit RSN and sampler-only networks to a synthetic target, sample, measure."""
from neurorepro.io import write_netcdf, write_tsv
from neurorepro.runtime import get_logger, seed_everything, set_threads
from neurorepro.sampling.experiment import TASK_SEED_OFFSET, TrainSettings, make_target, run_density_task

sm = snakemake  # noqa: F821
p = sm.params
task = sm.wildcards.task
log = get_logger("sampling_density", sm.log[0])
set_threads(sm.threads)
seed = p.seed + TASK_SEED_OFFSET[task]
seed_everything(seed)
ds, metrics = run_density_task(
    task, make_target(task, p.target), TrainSettings(**p.train, device=p.device), p.n_hidden, p.n_train,
    p.n_reference, seed, skew=p.skew, accel_init=p.accel_init, accel_init_std=p.accel_init_std, n_seeds=p.n_seeds,
    n_energy=p.n_energy, log=log,
)
ds.attrs["scale"] = p.scale
write_netcdf(ds, sm.output.samples)
write_tsv(metrics, sm.output.metrics)
