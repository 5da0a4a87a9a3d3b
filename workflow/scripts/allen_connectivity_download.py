"""Download and verify the Allen Mouse Connectivity files the regression needs, through allensdk.

Prints the plan (experiments, volume files, GB, voxels) before any volume is fetched; in a
user's own cache (connectivity.cache_manifest) a broken file is moved aside, never deleted.
"""
from neurorepro.allen.connectivity import ConnectivitySelection, download_connectivity, open_cache
from neurorepro.allen.download import RetryPolicy
from neurorepro.io import write_json
from neurorepro.runtime import get_logger

sm = snakemake  # noqa: F821
log = get_logger("neurorepro.allen", sm.log[0])
api = sm.params.allen_api


def announce(line: str) -> None:
    print(f"[connectivity_download] {line}", flush=True)
    log.info(line)


cache = open_cache(sm.params.cache, sm.params.resolution, offline=False,
                   base_uri=api["base_uri"], download_url=api["download_url"])
ids, counts = download_connectivity(cache, ConnectivitySelection(**sm.params.selection),
                                    policy=RetryPolicy(**sm.params.download), keep_broken=sm.params.user_cache,
                                    announce=announce)
log.info("downloaded and verified %d experiments into %s: %s", len(ids), sm.params.cache, counts)
write_json({"experiment_ids": ids, "resolution_um": sm.params.resolution, "cache": str(sm.params.cache),
            "user_cache": bool(sm.params.user_cache), **counts}, sm.output.done)
