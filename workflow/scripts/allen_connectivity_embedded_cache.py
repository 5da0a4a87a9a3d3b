"""Write the embedded Allen Mouse Connectivity cache (allensdk's formats, planted W_true)."""
from neurorepro.allen.embedded_connectivity import EmbeddedConnectivitySpec, write_embedded_connectivity_cache
from neurorepro.runtime import get_logger

sm = snakemake  # noqa: F821
log = get_logger("connectivity_embedded_cache", sm.log[0])
summary = write_embedded_connectivity_cache(
    sm.output.cache,
    EmbeddedConnectivitySpec(**sm.params.spec),
    resolution=sm.params.resolution,
    seed=sm.params.seed,
)
log.info("wrote %d experiments, volume %s at %d µm into %s", len(summary["experiment_ids"]),
         summary["volume_shape"], summary["resolution_um"], sm.output.cache)
