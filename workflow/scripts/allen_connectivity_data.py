"""Build results/connectivity/data.nc (X, Y, Omega; contralateral Y_contra, Omega_contra) from an Allen cache."""
from neurorepro.allen.connectivity import (ConnectivitySelection, attach_truth, build_connectivity_data, open_cache,
                                           read_truth)
from neurorepro.io import write_netcdf
from neurorepro.runtime import get_logger

sm = snakemake  # noqa: F821
log = get_logger("neurorepro.allen.connectivity", sm.log[0])
cache = open_cache(sm.params.cache, sm.params.resolution, offline=sm.params.offline)
ds = build_connectivity_data(cache, ConnectivitySelection(**sm.params.selection), offline=sm.params.offline)
if sm.params.source == "embedded":
    ds = attach_truth(ds, read_truth(sm.params.cache))
ds.attrs.update(source=sm.params.source, scale=sm.params.scale, seed=sm.params.seed, cache=str(sm.params.cache))
log.info("data.nc: %d source voxels, %d target voxels (%d contralateral), %d injections; experiments table %s, "
         "structure query %s, cre query %s, kept %s (dropped: %s)",
         ds.sizes["source_voxel"], ds.sizes["target_voxel"], ds.sizes.get("contra_target_voxel", 0),
         ds.sizes["injection"], ds.attrs["n_experiments_table"], ds.attrs["n_experiments_structure_query"],
         ds.attrs["n_experiments_query"], ds.attrs["n_experiments_kept"],
         {k: v for k, v in ds.attrs.items() if k.startswith("dropped_")})
write_netcdf(ds, sm.output.data)
