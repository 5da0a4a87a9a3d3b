"""Write the embedded Brain Observatory cache: responses planted from CNN layer features."""
import numpy as np
import xarray as xr

from neurorepro.allen.embedded_brain_observatory import write_embedded_cache
from neurorepro.mouse_vs_cnn.pipeline import embedded_containers
from neurorepro.runtime import get_logger

sm = snakemake  # noqa: F821
log = get_logger("neurorepro", sm.log[0])
spec = sm.params.spec
rng = np.random.default_rng(sm.params.seed)
template = xr.open_dataset(sm.input.stimuli)["template"].values
features = xr.open_dataset(sm.input.features).load()
containers = embedded_containers(features, sm.params.areas, spec["planes"], spec["planted_layers"],
                                 spec["cells_per_container"], spec["amplitude"], spec["flagged_containers"], rng)
write_embedded_cache(sm.output.cache, template, containers, rng, n_repeats=spec["n_repeats"],
                     frames_per_presentation=spec["frames_per_presentation"], trial_noise=spec["trial_noise"],
                     frame_noise=spec["frame_noise"],
                     attrs={"planted_layers": {a: spec["planted_layers"][a] for a in sm.params.areas},
                            "planting_weights": features.attrs["weights"], "planting_arch": features.attrs["arch"],
                            "seed": sm.params.seed})
log.info("wrote %d containers (%d images) to %s", len(containers), template.shape[0], sm.output.cache)
