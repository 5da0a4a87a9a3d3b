"""The `sampling` target end to end through Snakemake, on a tiny config."""
from __future__ import annotations

import pytest
import xarray as xr
from neurorepro.claims import read_claims

from conftest import tiny_config

TINY = tiny_config("sampling")  # tests/configs/sampling.yaml


@pytest.mark.workflow
def test_sampling_target_builds_figures_tables_and_claims(snakemake_run):
    # conftest puts --configfile (nargs=+) before the targets; a flag ends its list
    snakemake_run("--nolock", "sampling", config=TINY)
    wf = snakemake_run.workdir
    claims = read_claims(wf / "results/sampling/claims.json")
    assert len(claims) == 10 and all(c["target"] == "sampling" and c["scale"] == "demo" for c in claims)
    assert all(isinstance(c["holds"], bool) for c in claims)
    assert {c["kind"] for c in claims} == {"finding", "bound"}
    assert all(c["n"] == 2 for c in claims if c["kind"] == "finding")  # two seeds: no interval, inconclusive
    assert all(c["outcome"] == "inconclusive" for c in claims if c["kind"] == "finding")
    for fig in ("bimodal", "laplace", "digits", "size", "theory"):
        for ext in ("pdf", "png"):
            assert (wf / f"results/sampling/figures/{fig}.{ext}").stat().st_size > 5000
    with xr.open_dataset(wf / "results/sampling/laplace/samples.nc") as ds:
        assert ds["samples"].dims == ("network", "chain", "dim")
        assert ds.sizes["chain"] == 200 and ds.attrs["seed"] == 2016 + 1000
        assert ds["wasserstein_time_accel"].dims == ("seed", "sampler", "step")
    assert (wf / "logs/sampling/sampling_claims.log").exists()
    assert (wf / "benchmarks/sampling/sampling_size_sweep.tsv").exists()
    summary = (wf / "results/sampling/summary.tsv").read_text().splitlines()
    assert summary[0].startswith("task\tseed\tnetwork") and len(summary) > 18


def test_sampling_bad_config_names_the_key(snakemake_run):
    bad = {"sampling": {"demo": {"n_hidden": 0}}}
    proc = snakemake_run("-n", "--nolock", "sampling", config=bad, check=False)
    assert proc.returncode != 0
    assert "n_hidden" in proc.stdout + proc.stderr
    bad = {"sampling": {"bimodal_stds": [0.5]}}
    proc = snakemake_run("-n", "--nolock", "sampling", config=bad, check=False)
    assert proc.returncode != 0 and "bimodal_stds" in proc.stdout + proc.stderr
