"""Workflow test: the `connectivity` target through Snakemake on a tiny embedded brain."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from conftest import tiny_config

TINY = tiny_config("connectivity")  # tests/configs/connectivity.yaml


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
    assert all(isinstance(c["holds"], bool) for c in claims) and {c["kind"] for c in claims} == {"recovery"}
    refs = [c["paper_ref"] for c in claims]
    assert refs.count("Table 1") == 2 and "§5.1" in refs and sum(r == "§4, Fig. 2" for r in refs) == 2
    assert all(c["n"] == 3 and c["ci"] is not None for c in claims if c["unit"] == "random draws of injections and noise")
    assert any("contralateral" in c["claim"] for c in claims)
    # Table 1 with its spread over folds; the selection's provenance counts carried along
    assert {"cv_ci_low", "cv_ci_high", "paper_cv_rel_mse", "n_experiments_query", "n_experiments_kept"} <= set(table)
    with xr.open_dataset(res / "W_contra.nc") as wc, xr.open_dataset(res / "data.nc") as data:
        assert wc.attrs["hemisphere"] == "contralateral"
        assert wc["W_contra"].shape == (data.sizes["contra_target_voxel"], data.sizes["source_voxel"])
        assert data.attrs["n_experiments_kept"] == data.sizes["injection"] and len(data.attrs["dropped_cre"]) == 4
    for name in ("synthetic_1d", "synthetic_1d_draws", "table1", "recovery", "maps", "spectrum"):
        for ext in ("pdf", "png"):
            assert (res / "figures" / f"{name}.{ext}").stat().st_size > 1000
    # a bad model key is refused by the schema, naming the key
    proc = snakemake_run("-n", "connectivity", config={"connectivity": {"model": {"rank": 0}}}, check=False)
    assert proc.returncode != 0 and "rank" in (proc.stdout + proc.stderr)
