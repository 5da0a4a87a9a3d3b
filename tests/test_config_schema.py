"""A bad config stops Snakemake before any job, with a message naming the key."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "overrides, named",
    [
        ({"source": "allen_brain"}, "allen_brain"),  # unknown source
        ({"scale": "huge"}, "huge"),
        ({"seed": -1}, "seed"),
        ({"device": "gpu0"}, "gpu0"),
        ({"sourse": "embedded"}, "sourse"),  # a typo in a top-level key
        ({"connectivity": {"embedded": {"n_ap": -3}}}, "n_ap"),  # negative size
        ({"connectivity": {"hemisphre": "left"}}, "hemisphre"),  # a typo inside a section
        ({"connectivity": {"demo": {"min_data_coverage": 1.5}}}, "min_data_coverage"),
    ],
)
def test_bad_config_is_rejected_naming_the_key(snakemake_run, overrides, named):
    proc = snakemake_run("-n", config=overrides, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "validat" in out.lower() or "error" in out.lower()
    assert named in out, out[-3000:]
    assert not (snakemake_run.workdir / "results").exists()


def test_good_config_dry_run_lists_the_jobs(snakemake_run):
    proc = snakemake_run("-n", "connectivity_data")
    assert "connectivity_embedded_cache" in proc.stdout and "connectivity_data" in proc.stdout


def test_config_key_value_override_reaches_the_rule(snakemake_run):
    proc = snakemake_run("-n", "-p", "connectivity_data", "--config", "source=allen")
    assert "connectivity_download" in proc.stdout
