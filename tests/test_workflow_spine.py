"""The default DAG's data product runs through Snakemake and is then up to date."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr


@pytest.mark.workflow
def test_connectivity_data_through_snakemake_then_nothing_to_do(snakemake_run):
    snakemake_run("connectivity_data")
    path = snakemake_run.workdir / "results" / "connectivity" / "data.nc"
    with xr.open_dataset(path) as ds:
        assert set(ds.dims) >= {"source_voxel", "target_voxel", "injection"}
        assert ds.X.dims == ("source_voxel", "injection") and ds.Y.dims == ("target_voxel", "injection")
        assert ds.sizes["injection"] >= 5
        assert (ds.X.values >= 0).all() and (ds.Y.values >= 0).all()
        assert set(np.unique(ds.Omega.values)) <= {0, 1}
        assert "W_true" in ds and ds.attrs["source"] == "embedded" and ds.attrs["seed"] == 2016
        assert len(ds.attrs["dropped_hemisphere"]) > 0  # the filters did work
        first = ds.Y.values.copy()
    proc = snakemake_run("-n", "connectivity_data")
    assert "Nothing to be done" in proc.stdout + proc.stderr
    # Rebuilding from scratch gives the same numbers (fixed seeds).
    snakemake_run("connectivity_data", "--forceall")
    with xr.open_dataset(path) as ds:
        np.testing.assert_array_equal(ds.Y.values, first)
