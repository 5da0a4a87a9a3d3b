"""causal_attention end to end through Snakemake on a tiny grid, and config errors naming the key."""
from __future__ import annotations

import numpy as np  # noqa: F401
import pandas as pd
import pytest
import xarray as xr

from neurorepro.claims import read_claims

from conftest import tiny_config

TINY = tiny_config("causal_attention")  # tests/configs/causal_attention.yaml


@pytest.mark.workflow
def test_causal_attention_target_runs_on_a_tiny_grid(snakemake_run):
    snakemake_run("causal_attention", config=TINY)
    wd = snakemake_run.workdir / "results" / "causal_attention"
    table = pd.read_csv(wd / "auroc.tsv", sep="\t")
    assert sorted(table["n_neurons"]) == [4, 6]
    assert table["r2"].notna().all() and (table["granger_lag"] >= 1).all()
    # both architectures side by side, Granger under AIC and BIC, both scorings
    for col in ["auroc_attention", "auroc_attention_keyed", "auroc_granger_aic", "auroc_granger_bic",
                "auroc_all_attention", "auroc_all_granger", "r2_ensemble", "r2_keyed"]:
        assert col in table, col
    with xr.open_dataset(wd / "attention" / "causalformer" / "N6.nc") as att:
        assert att["attention_each"].sizes["init"] == 2  # n_init models per network
        m = att["attention"].values[0]
        assert (m.diagonal() == 0).all() and (m.sum(axis=1) <= 1 + 1e-9).all() and (m >= 0).all()
    claims = read_claims(wd / "claims.json")
    assert len(claims) == 6 and all(c["target"] == "causal_attention" for c in claims)
    assert claims[0]["n"] == 1  # only N=6 counts as large here
    assert [c["kind"] for c in claims].count("recovery") == 1
    for name in ["auroc", "matrices"]:
        for ext in ["pdf", "png"]:
            assert (wd / "figures" / f"{name}.{ext}").stat().st_size > 1000
    with xr.open_dataset(wd / "networks.nc") as ds:
        assert ds.attrs["seed"] == 2016 and ds["activity"].sizes["time"] == 400
        assert int((ds["weights"].isel(network=0) != 0).sum()) > 0
    # a second run has nothing to do: outputs are complete and up to date
    proc = snakemake_run("causal_attention", "-n", config=TINY)
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.workflow
@pytest.mark.parametrize(
    "override, message",
    [
        ({"sizes": [1, 4]}, "sizes"),
        ({"model": {**TINY["causal_attention"]["demo"]["model"], "d_model": 9}}, "d_model"),
    ],
)
def test_bad_config_names_the_key(snakemake_run, override, message):
    cfg = {"causal_attention": {"demo": {**TINY["causal_attention"]["demo"], **override}}}
    proc = snakemake_run("causal_attention", "-n", config=cfg, check=False)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
