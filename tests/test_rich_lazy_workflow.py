"""The rich_lazy target end to end through Snakemake on a tiny config.

The connectivity chain (connectivity_data -> connectivity -> W.nc) is not run here:
a tiny W.nc of the contract's shape is placed in the scratch workflow's
results/connectivity/ and only the rich_lazy rules are allowed, so the test checks
this paper's rules in about a minute.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from test_rich_lazy import toy_connectivity

# "-p" first: conftest puts --configfile (nargs+) before our arguments, and a flag ends its list.
RL_RULES = ["rich_lazy_inits", "rich_lazy_train", "rich_lazy_report", "rich_lazy"]
TINY = {
    "rich_lazy": {
        "tasks": ["2AF", "DMS"],
        "probe_trials": 16,
        "ntk_trials": 4,
        "log_every": 10,
        "demo": {"n_hidden": 8, "ranks": [1, 8], "aligned_rank": 8, "n_iter": 20, "n_seeds": 2},
    },
    "device": "cpu",
}


def _place_W(runner) -> None:
    path = runner.workdir / "results" / "connectivity" / "W.nc"
    path.parent.mkdir(parents=True, exist_ok=True)
    toy_connectivity().to_netcdf(path)


@pytest.mark.workflow
def test_rich_lazy_target_builds_outputs_and_claims(snakemake_run):
    _place_W(snakemake_run)
    snakemake_run("-p", "rich_lazy", "--allowed-rules", *RL_RULES, config=TINY)
    res = snakemake_run.workdir / "results" / "rich_lazy"
    df = pd.read_csv(res / "laziness.tsv", sep="\t")
    assert len(df) == 2 * 2 * 5  # tasks x seeds x (rank_1, rank_8, connectivity, shuffled, aligned_8)
    assert df[["weight_change", "rep_alignment", "ntk_alignment"]].notna().all().all()
    assert np.allclose(df.groupby(["task", "seed"]).w0_norm.std(), 0, atol=1e-6)
    claims = json.loads((res / "claims.json").read_text())
    assert len(claims) == 8 and all(c["target"] == "rich_lazy" and isinstance(c["holds"], bool) for c in claims)
    for fig in ("rank_sweep", "connectivity", "aligned", "training"):
        for ext in ("pdf", "png"):
            assert (res / "figures" / f"{fig}.{ext}").stat().st_size > 1000
    inits = xr.open_dataset(res / "inits.nc")
    assert inits.attrs["seed"] == 2016 and inits.W0.shape == (2, 4, 8, 8)
    inits.close()
    # a second run with the same config gives identical numbers
    first = df.copy()
    (res / "2AF" / "laziness.tsv").unlink()
    snakemake_run("-p", "results/rich_lazy/2AF/laziness.tsv", "--allowed-rules", *RL_RULES, config=TINY)
    again = pd.read_csv(res / "2AF" / "laziness.tsv", sep="\t")
    pd.testing.assert_frame_equal(again, first[first.task == "2AF"].reset_index(drop=True))


@pytest.mark.workflow
@pytest.mark.parametrize(
    "bad, message",
    [
        ({"rich_lazy": {"n_hiden": 8}}, "n_hiden"),
        ({"rich_lazy": {"demo": {"aligned_rank": 2}}}, "rich_lazy.aligned_rank"),
    ],
)
def test_bad_config_is_refused_naming_the_key(snakemake_run, bad, message):
    proc = snakemake_run("-n", "rich_lazy", config=bad, check=False)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
