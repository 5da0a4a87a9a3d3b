"""The `credit_assignment` target end to end through Snakemake on a tiny config."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import xarray as xr

from conftest import tiny_config

TINY = tiny_config("credit_assignment")  # tests/configs/credit_assignment.yaml


@pytest.mark.workflow
def test_credit_assignment_target_builds_tables_figures_and_claims(snakemake_run):
    snakemake_run("credit_assignment", config=TINY)
    out = snakemake_run.workdir / "results/credit_assignment"
    runs = pd.read_csv(out / "runs.tsv", sep="\t")
    # 2 tasks x 2 rules x 2 seeds baseline + 2 tasks x 2 seeds of RFLO with the remedy
    assert len(runs) == 2 * 2 * 2 + 2 * 2
    assert set(runs.variant) == {"baseline", "lr x0.5"}
    assert (runs.gap - (runs.train_acc - runs.test_acc)).abs().max() < 1e-12
    summary = pd.read_csv(out / "summary.tsv", sep="\t")
    assert (summary.n_seeds == 2).all()
    assert {"reached", "steps", "eff_curv", "curv_ratio"} <= set(runs.columns)
    assert (runs.steps[~runs.reached] == 8).all()  # a run that never met the criterion stopped at the cap
    ds = xr.load_dataset(out / "runs/evidence/rflo.nc")
    assert ds["top_eig"].dims == ("variant", "seed", "checkpoint") and ds.sizes["checkpoint"] <= 3
    assert ds.attrs["loss_steps"] == 2 and ds["reached"].dims == ("variant", "seed")
    assert ds.attrs["rule"] == "rflo" and ds.attrs["base_seed"] == 2016
    assert list(ds.variant.values) == ["baseline", "lr x0.5"]
    claims = json.loads((out / "claims.json").read_text())
    assert {c["target"] for c in claims} == {"credit_assignment"}
    # per task: gap difference, SD ratio, curvature ratio, correlation, partial correlation, theorem's c,
    # stability edge; per task two remedy claims
    assert len(claims) == 2 * 7 + 2 * 2
    assert all(c["outcome"] in ("holds", "fails", "inconclusive") and c["kind"] == "finding" for c in claims)
    for name in ("accuracy_gap", "curvature", "gap_vs_curvature", "remedy", "theorem"):
        for ext in ("pdf", "png"):
            assert (out / f"figures/{name}.{ext}").stat().st_size > 1000



@pytest.mark.workflow
def test_credit_assignment_bad_config_names_the_key(snakemake_run):
    bad = {"credit_assignment": {"rules": ["eprop", "rflo"]}}
    proc = snakemake_run("-n", "credit_assignment", config=bad, check=False)
    assert proc.returncode != 0
    assert "credit_assignment.rules must include 'bptt'" in proc.stdout + proc.stderr
    bad = {"credit_assignment": {"n_hidden": 0}}
    proc = snakemake_run("-n", "credit_assignment", config=bad, check=False)
    assert proc.returncode != 0 and "n_hidden" in proc.stdout + proc.stderr
