"""RSMs of the baseline feature models (pixels, Gabor energy) for the natural scenes as the mouse saw them."""
from neurorepro.io import write_netcdf
from neurorepro.mouse_vs_cnn.pipeline import baseline_rsms
from neurorepro.runtime import get_logger, set_threads

sm = snakemake  # noqa: F821
log = get_logger("neurorepro", sm.log[0])
set_threads(sm.threads)
p = sm.params
ds = baseline_rsms(sm.input.stimuli, p.warp, p.input_size, p.models, p.gabor)
write_netcdf(ds, sm.output.rsm)
log.info("baselines %s x %d images", list(ds["layer"].values), ds.sizes["image"])
