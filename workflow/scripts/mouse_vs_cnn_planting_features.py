"""Features (CNN layers or baseline models) of the embedded stimuli that drive each area's planted cells."""
import xarray as xr

from neurorepro.io import write_netcdf
from neurorepro.mouse_vs_cnn.pipeline import planting_features
from neurorepro.runtime import get_logger, resolve_device, set_threads

sm = snakemake  # noqa: F821
log = get_logger("neurorepro", sm.log[0])
set_threads(sm.threads)
p = sm.params
template = xr.open_dataset(sm.input.stimuli)["template"].values
ds = planting_features(template, sm.input.model, p.layers, p.warp, p.batch_size, p.max_units, p.seed,
                       resolve_device(p.device), p.baselines)
write_netcdf(ds, sm.output.features)
log.info("planting features: %s", {k: v.shape for k, v in ds.data_vars.items()})
