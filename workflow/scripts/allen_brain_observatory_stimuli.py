"""Synthetic natural-like images for the embedded Brain Observatory cache (uint8 stack)."""
import numpy as np
import xarray as xr

from neurorepro.allen.embedded_brain_observatory import synthetic_natural_images
from neurorepro.io import write_netcdf
from neurorepro.runtime import get_logger

sm = snakemake  # noqa: F821
log = get_logger("neurorepro", sm.log[0])
images = synthetic_natural_images(int(sm.params.n_images), tuple(sm.params.image_shape), np.random.default_rng(sm.params.seed))
write_netcdf(xr.Dataset({"template": (("image", "row", "col"), images)},
                        attrs={"seed": sm.params.seed, "what": "synthetic 1/f images with edges and blobs"}),
             sm.output.stimuli)
log.info("wrote %s images of %s px to %s", images.shape[0], images.shape[1:], sm.output.stimuli)
