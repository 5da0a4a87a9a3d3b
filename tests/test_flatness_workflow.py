"""flatness through Snakemake on a tiny config: outputs, claims, bound checks, bad config."""
from __future__ import annotations

import json

import pandas as pd
import pytest

TINY = {
    "flatness": {
        "n_train": 200,
        "n_test": 60,
        "widths": [16, 16],
        "lrs": [0.05, 0.2],
        "batch_sizes": [32, 100],
        "n_seeds": 1,
        "epochs": 3,
        "n_snapshots": 2,
        "n_probe": 48,
        "hessian_iters": 20,
        "trace_samples": 4,
        "chunk_size": 48,
    }
}


@pytest.mark.workflow
def test_flatness_target_on_tiny_config(snakemake_run):
    snakemake_run("flatness", config=TINY)
    out = snakemake_run.workdir / "results" / "flatness"
    for name in ("over_training", "correlations"):
        for ext in ("pdf", "png"):
            assert (out / "figures" / f"{name}.{ext}").stat().st_size > 1000
    m = pd.read_csv(out / "measures.tsv", sep="\t")
    assert len(m) == 4 * 2  # 4 runs x 2 snapshots
    assert sorted(m["epoch"].unique()) == [1.0, 3.0]
    assert (m["mls"] <= m["mls_bound"]).all() and (m["volume"] <= m["volume_bound"]).all()
    assert len(pd.read_csv(out / "final.tsv", sep="\t")) == 4
    claims = json.loads((out / "claims.json").read_text())
    assert len(claims) == 8 and all(c["target"] == "flatness" and c["scale"] == "demo" for c in claims)
    assert claims[0]["holds"] and claims[0]["measured"] == 1.0
    assert all(isinstance(c["holds"], bool) for c in claims)


@pytest.mark.workflow
def test_flatness_bad_config_names_the_key(snakemake_run):
    proc = snakemake_run("-n", "flatness", config={"flatness": {"n_probe": 0}}, check=False)
    assert proc.returncode != 0
    assert "n_probe" in proc.stdout + proc.stderr
