"""Workflow test: the `connectivity` target through Snakemake on a tiny embedded brain."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

TINY = {
    "connectivity": {
        "embedded": {"n_ap": 8, "n_ml": 6, "n_injections": 12},
        "model": {
            "lambdas": [1, 100],
            "rank": 4,
            "cv_outer_folds": 2,
            "cv_inner_folds": 2,
            "lowrank_max_iter": 50,
            "synthetic_1d": {"n": 60, "n_injections": 5, "noise": 0.1, "lambda": 100, "rank": 5},
            "n_map_sources": 2,
        },
    }
}


@pytest.mark.workflow
def test_connectivity_target_builds(snakemake_run):
    snakemake_run("connectivity", config=TINY)
    res = snakemake_run.workdir / "results" / "connectivity"
    with xr.open_dataset(res / "W.nc") as ds, xr.open_dataset(res / "data.nc") as data:
        W = ds["W"].values
        assert ds["W"].dims == ("target_voxel", "source_voxel")
        assert W.shape == (data.sizes["target_voxel"], data.sizes["source_voxel"])
        assert (W >= 0).all() and np.isfinite(W).all() and W.max() > 0
        assert ds.attrs["units"] == "projection density per unit injection density"
        assert float(ds.attrs["lambda"]) in (1.0, 100.0)
        np.testing.assert_array_equal(ds["target_coord"].values, data["target_coord"].values)
    table = pd.read_csv(res / "table1.tsv", sep="\t")
    assert set(table["model"]) == {"voxel", "regional"} and table["cv_rel_mse"].notna().all()
    claims = json.loads((res / "claims.json").read_text())
    assert len(claims) == 6 and all(isinstance(c["holds"], bool) for c in claims)
    for name in ("synthetic_1d", "table1", "recovery", "maps", "spectrum"):
        for ext in ("pdf", "png"):
            assert (res / "figures" / f"{name}.{ext}").stat().st_size > 1000
    # a bad model key is refused by the schema, naming the key
    proc = snakemake_run("-n", "connectivity", config={"connectivity": {"model": {"rank": 0}}}, check=False)
    assert proc.returncode != 0 and "rank" in (proc.stdout + proc.stderr)
