"""Build results/connectivity/data.nc (X, Y, Omega) from an Allen connectivity cache."""
from pathlib import Path

import xarray as xr

from neurorepro.allen.connectivity import ConnectivitySelection, attach_truth, build_connectivity_data, open_cache
from neurorepro.io import write_netcdf
from neurorepro.runtime import get_logger

sm = snakemake  # noqa: F821
log = get_logger("neurorepro.allen.connectivity", sm.log[0])
cache = open_cache(sm.params.cache, sm.params.resolution, offline=sm.params.offline)
ds = build_connectivity_data(cache, ConnectivitySelection(**sm.params.selection), offline=sm.params.offline)
truth = Path(sm.params.cache) / "W_true.nc"
if sm.params.source == "embedded":
    with xr.open_dataset(truth) as t:
        ds = attach_truth(ds, t.load())
ds.attrs.update(source=sm.params.source, scale=sm.params.scale, seed=sm.params.seed, cache=str(sm.params.cache))
log.info("data.nc: %d source voxels, %d target voxels, %d injections (dropped: %s)",
         ds.sizes["source_voxel"], ds.sizes["target_voxel"], ds.sizes["injection"],
         {k: v for k, v in ds.attrs.items() if k.startswith("dropped_")})
write_netcdf(ds, sm.output.data)
