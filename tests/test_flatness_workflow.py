"""flatness through Snakemake on a tiny config: outputs, claims, bound checks, bad config;
a VGG experiment's run job, and the paper-scale DAG (MLP + VGG-11 on CIFAR-10) as a dry run."""
from __future__ import annotations

import copy
import json
import re

import pandas as pd
import pytest

from conftest import tiny_config

TINY = tiny_config("flatness")  # tests/configs/flatness.yaml


@pytest.mark.workflow
def test_flatness_target_on_tiny_config(snakemake_run):
    snakemake_run("flatness", config=TINY)
    out = snakemake_run.workdir / "results" / "flatness"
    for name in ("over_training", "correlations"):
        for ext in ("pdf", "png"):
            assert (out / "figures" / f"{name}.{ext}").stat().st_size > 1000
    m = pd.read_csv(out / "measures.tsv", sep="\t")
    assert len(m) == 4 * 2  # 4 runs x 2 snapshots
    assert (m["experiment"] == "mlp").all() and (m["feature_lipschitz"] == 1.0).all()
    assert (m["mls_gm"] <= m["mls_bound_gm"]).all() and (m["volume"] <= m["volume_bound_gm"]).all()
    assert sorted(m["iteration"].unique()) == [10, 20] and {"late", "run_reached_late"} <= set(m.columns)
    assert (m["mls"] <= m["mls_bound"]).all() and (m["volume"] <= m["volume_bound"]).all()
    assert (m["volume_k"] == 3).all() and (m["n_params"] == 64 * 16 + 16 + 16 * 16 + 16 + 16 * 10 + 10).all()
    assert (out / "final.tsv").exists() and (out / "late_runs.tsv").exists()
    claims = json.loads((out / "claims.json").read_text())
    assert len(claims) == 11 and all(c["target"] == "flatness" and c["scale"] == "demo" for c in claims)
    assert claims[0]["outcome"] == "holds" and claims[0]["measured"] == 1.0 and claims[0]["kind"] == "bound"
    assert [c["kind"] for c in claims].count("finding") == 6
    assert all(isinstance(c["holds"], bool) for c in claims)


@pytest.mark.workflow
def test_flatness_bad_config_names_the_key(snakemake_run):
    proc = snakemake_run("-n", "flatness", config={"flatness": {"n_probe": 0}}, check=False)
    assert proc.returncode != 0
    assert "n_probe" in proc.stdout + proc.stderr


@pytest.mark.workflow
def test_flatness_vgg_run_job(snakemake_run):
    """One run of a second experiment (a tiny VGG on digits) through the rule and its script."""
    cfg = copy.deepcopy(TINY)
    cfg["flatness"]["experiments"] = {
        "mlp": {},
        "vgg": {"arch": "vgg", "activation": "relu", "hparams": [[0.1, 50]],
                "vgg": {"cfg": [4, "M"], "head_widths": [6], "batch_norm": False}},
    }
    target = "results/flatness/runs/vgg/lr0.1_bs50_seed0.tsv"
    snakemake_run(target, config=cfg)
    t = pd.read_csv(snakemake_run.workdir / target, sep="\t")
    assert len(t) == 2 and (t["experiment"] == "vgg").all() and not t["diverged"].any()
    assert t["n_params"].iloc[0] == 4 * 9 + 4 + 4 * 4 * 4 * 6 + 6 + 6 * 10 + 10  # conv, head, readout
    assert (t["feature_lipschitz"] > 0).all() and (t["mls"] <= t["mls_bound"]).all()
    assert (t["volume"] <= t["volume_bound_gm"]).all() and (t["nmls"] <= t["nmls_bound"]).all()


@pytest.mark.workflow
def test_flatness_paper_scale_dag_has_the_mlp_and_the_vgg(snakemake_run):
    proc = snakemake_run("-n", "flatness", "--configfile", "config/paper.yaml")
    text = proc.stdout + proc.stderr
    assert re.search(r"flatness_run\s+50\b", text), text[-3000:]  # (5 run.slurm pairs x 5 seeds) x 2 experiments
    runs = set(re.findall(r"results/flatness/runs/(\w+)/lr[0-9.e-]+_bs\d+_seed\d\.tsv", text))
    assert runs == {"mlp", "vgg"}
    # dropping an experiment with null (e.g. only the VGG at paper scale)
    only_vgg = snakemake_run.write_config({"flatness": {"experiments": {"mlp": None}}}, name="only_vgg.yaml")
    proc = snakemake_run("-n", "flatness", "--configfile", "config/paper.yaml", str(only_vgg))
    assert re.search(r"flatness_run\s+25\b", proc.stdout + proc.stderr)
    assert "lr0.2_bs20_seed4" in proc.stdout + proc.stderr and "lr0.1_bs8_seed0" in proc.stdout + proc.stderr
