"""RSM of every conv/pool layer of one CNN for the natural scenes as the mouse saw them."""
from neurorepro.io import write_netcdf
from neurorepro.mouse_vs_cnn.pipeline import cnn_rsms
from neurorepro.runtime import get_logger, resolve_device, set_threads

sm = snakemake  # noqa: F821
log = get_logger("neurorepro", sm.log[0])
set_threads(sm.threads)
ds = cnn_rsms(sm.input.stimuli, sm.input.model, sm.params.warp, sm.params.batch_size, resolve_device(sm.params.device),
              memory_limit_gb=sm.params.memory_limit_gb)
write_netcdf(ds, sm.output.rsm)
log.info("%s: %d layers x %d images", sm.wildcards.mvc_weights, ds.sizes["layer"], ds.sizes["image"])
