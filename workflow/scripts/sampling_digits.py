"""Rule sampling_digits: the three networks on digit images in whitened PCA space."""
from neurorepro.io import write_netcdf, write_tsv
from neurorepro.runtime import get_logger, seed_everything, set_threads
from neurorepro.sampling.experiment import TASK_SEED_OFFSET, TrainSettings, run_digits

sm = snakemake  # noqa: F821
p = sm.params
log = get_logger("sampling_digits", sm.log[0])
set_threads(sm.threads)
seed = p.seed + TASK_SEED_OFFSET["digits"]
seed_everything(seed)
ds, metrics = run_digits(
    TrainSettings(**p.train, device=p.device), p.dataset, p.pca_dim, p.n_hidden, seed, root=p.root,
    n_images_max=p.n_images, n_show=p.n_show, n_seeds=p.n_seeds, heldout_frac=p.heldout_frac, whiten=p.whiten,
    n_energy=p.n_energy, log=log,
)
ds.attrs["scale"] = p.scale
write_netcdf(ds, sm.output.samples)
write_tsv(metrics, sm.output.metrics)
