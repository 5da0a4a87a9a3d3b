"""Download the Allen Mouse Connectivity files the regression needs, through allensdk."""
from neurorepro.allen.connectivity import ConnectivitySelection, download_connectivity, open_cache
from neurorepro.io import write_json
from neurorepro.runtime import get_logger

sm = snakemake  # noqa: F821
log = get_logger("connectivity_download", sm.log[0])
cache = open_cache(sm.params.cache, sm.params.resolution, offline=False)
ids = download_connectivity(cache, ConnectivitySelection(**sm.params.selection))
log.info("downloaded/verified %d experiments into %s", len(ids), sm.params.cache)
write_json({"experiment_ids": ids, "resolution_um": sm.params.resolution}, sm.output.done)
