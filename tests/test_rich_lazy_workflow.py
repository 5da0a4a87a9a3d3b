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

from conftest import tiny_config

# "-p" first: conftest puts --configfile (nargs+) before our arguments, and a flag ends its list.
RL_RULES = ["rich_lazy_inits", "rich_lazy_train", "rich_lazy_theory", "rich_lazy_report", "rich_lazy"]
# tests/configs/rich_lazy.yaml, on the CPU: the rerun below must give identical numbers
TINY = {**tiny_config("rich_lazy"), "device": "cpu"}


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
    assert len(df) == 2 * 2 * 7  # tasks x seeds x (rank_1, 2, 8, connectivity, shuffled, aligned_2, warm_8)
    assert set(df.family) == {"random", "connectivity", "shuffled", "aligned", "warm_start"}
    assert df[["weight_change", "ntk_alignment"]].notna().all().all()
    # a Gram matrix of all-zero (silent ReLU) decision states has no alignment (NaN): rare at N = 8
    assert df["rep_alignment"].notna().mean() > 0.8
    assert np.allclose(df.groupby(["task", "seed"]).w0_norm.std(), 0, atol=1e-6)
    claims = json.loads((res / "claims.json").read_text())
    # rank trends 3 x (pooled + 2 tasks), sanity + 3 connectivity, 3 aligned, theory 2 bounds + 3 findings
    assert len(claims) == 9 + 4 + 3 + 5
    assert all(c["target"] == "rich_lazy" and c["outcome"] in ("holds", "fails", "inconclusive") for c in claims)
    assert {c["kind"] for c in claims} == {"finding", "recovery", "bound"}
    assert all(c["outcome"] == "holds" for c in claims if c["kind"] == "bound")  # proved statements
    ranks = pd.read_csv(res / "init_ranks.tsv", sep="\t")
    assert {"connectivity", "shuffled", "aligned_2", "warm_8", "rank_1"} <= set(ranks.init)
    for fig in ("rank_sweep", "connectivity", "aligned", "training", "theory"):
        for ext in ("pdf", "png"):
            assert (res / "figures" / f"{fig}.{ext}").stat().st_size > 1000
    inits = xr.open_dataset(res / "inits.nc")
    assert inits.attrs["seed"] == 2016 and inits.W0.shape == (2, 5, 8, 8)
    assert inits.attrs["connectivity_sign"] == "dale"
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
        ({"rich_lazy": {"demo": {"aligned_rank": 3}}}, "rich_lazy.aligned_rank"),
        ({"rich_lazy": {"demo": {"warm_start_rank": 5}}}, "rich_lazy.warm_start_rank"),
    ],
)
def test_bad_config_is_refused_naming_the_key(snakemake_run, bad, message):
    proc = snakemake_run("-n", "rich_lazy", config=bad, check=False)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr


def _smnist_config(data_dir: str | None) -> dict:
    import copy

    cfg = copy.deepcopy(TINY)
    cfg["rich_lazy"]["tasks"] = ["SMNIST"]
    cfg["rich_lazy"]["smnist"] = {"data_dir": data_dir, "holdout": 5, "batch_size": 4, "probe_trials": 6,
                                  "ntk_trials": 3}
    cfg["rich_lazy"]["ntk_steps"] = "target"
    return cfg


@pytest.mark.workflow
def test_smnist_through_snakemake_from_idx_files_and_a_clear_error_without_them(snakemake_run):
    """SMNIST reads the MNIST files of rich_lazy.smnist.data_dir (written here in the IDX format); a
    missing folder plans fine and fails when the job runs, naming the file and the key."""
    from test_rich_lazy_smnist import write_fake_mnist

    _place_W(snakemake_run)
    target = "results/rich_lazy/SMNIST/laziness.tsv"
    proc = snakemake_run("-p", target, "--allowed-rules", *RL_RULES, config=_smnist_config("no_mnist_here"),
                         check=False)
    assert proc.returncode != 0
    log = (snakemake_run.workdir / "logs" / "rich_lazy" / "rich_lazy_train_SMNIST.log").read_text()
    said = proc.stdout + proc.stderr + log
    assert "train-images-idx3-ubyte" in said and "rich_lazy.smnist.data_dir" in said
    proc = snakemake_run("-n", "rich_lazy", config=_smnist_config(None), check=False)
    assert proc.returncode != 0 and "rich_lazy.smnist.data_dir" in proc.stdout + proc.stderr
    write_fake_mnist(snakemake_run.workdir / "mnist" / "MNIST" / "raw", n=40)
    snakemake_run("-p", target, "--allowed-rules", *RL_RULES, config=_smnist_config("mnist"))
    df = pd.read_csv(snakemake_run.workdir / target, sep="\t")
    assert len(df) == 2 * 7 and set(df.task) == {"SMNIST"}
    # the toy 8-unit Dale block can have spectral radius ~3 (seed 0: 3.0), which 28 ReLU steps blow up
    # to NaN; every other init trains to a finite weight change
    assert df[df.family != "connectivity"].weight_change.notna().all()
    # all-silent ReLU states at N = 8 leave a Gram matrix or kernel of zeros (alignment NaN) now and then
    assert df[["rep_alignment", "ntk_alignment"]].notna().mean().min() > 0.7
    log = (snakemake_run.workdir / "logs" / "rich_lazy" / "rich_lazy_train_SMNIST.log").read_text()
    assert "MNIST file train-images-idx3-ubyte.gz sha256" in log
