"""The connectivity claims: the 1-D ablations over draws, Table 1 over folds, the paper's numbers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurorepro.connectivity.pipeline import make_claims, synthetic_1d, synthetic_claims

TOL = {"synthetic_points": 0.03, "ablation_ratio": 2.0, "recovery_full": 0.5, "recovery_lowrank": 0.55,
       "lowrank_vs_full": 0.2, "table1_points": 0.10}


def test_1d_ablation_ordering_on_a_fixed_seed():
    """§4: without P_Omega (y = 0 inside the injections counts) or without smoothing the fit is
    much worse than the full fit; the rank-r fit is close to the full one."""
    table, mats, x = synthetic_1d(lam=100.0, rank=5, n=60, n_inj=5, noise=0.1, seed=7, device="cpu", n_draws=2,
                                  dtype="float64", solver="newton", max_iter=2000, lowrank_max_iter=30, ftol=1e-10,
                                  pgtol=1e-7, ablation_solver="fista", ablation_max_iter=300)
    assert len(table) == 8 and set(table["draw"]) == {0, 1} and list(table["seed"].unique()) == [7, 8]
    for _, d in table.groupby("draw"):
        e = dict(zip(d["fit"], d["rel_error"]))
        assert e["no_mask"] > 2 * e["full"] and e["lambda0"] > 2 * e["full"], e
        assert abs(e["lowrank"] - e["full"]) < 0.05, e
    assert set(mats) == {"truth", "full", "rank 5", "no Ω mask", "λ = 0"} and x.shape == (60,)


def _syn(full, low, nomask, lam0):
    rows = []
    for d, vals in enumerate(zip(full, low, nomask, lam0)):
        for fit, v in zip(("full", "lowrank", "no_mask", "lambda0"), vals):
            rows.append({"draw": d, "fit": fit, "rel_error": v, "rank": 20 if fit == "lowrank" else "full",
                         "converged": True})
    return pd.DataFrame(rows)


def test_paper_numbers_against_the_spread_of_draws():
    rng = np.random.default_rng(0)
    full = 0.11 + 0.02 * rng.standard_normal(20)
    syn = _syn(full, full - 0.01, 6 * full, 5 * full)
    claims = synthetic_claims(syn, TOL, "demo", "embedded", seed=1)
    assert all(c.kind == "recovery" and c.n == 20 and c.ci is not None for c in claims)
    out = [c.outcome for c in claims]
    assert out == ["holds"] * 5, [(c.claim, c.measured, c.ci) for c in claims]
    # draws far from the paper's numbers: the paper's value is outside their spread -> fails
    syn = _syn(full + 0.3, full + 0.3, 6 * full, 5 * full)
    quant = [c for c in synthetic_claims(syn, TOL, "demo", "embedded", seed=1) if c.comparison == "within"
             and c.paper_value in (0.111, 0.096)]
    assert len(quant) == 2 and all(c.outcome == "fails" and c.measured == 0.0 for c in quant)
    # an ablation that is not worse fails its claim
    syn = _syn(full, full, 1.1 * full, 5 * full)
    nm = [c for c in synthetic_claims(syn, TOL, "demo", "embedded", seed=1) if "P_Ω" in c.claim][0]
    assert nm.outcome == "fails"


def test_table1_claims_are_paired_over_folds_with_the_papers_magnitudes():
    syn = _syn(np.full(5, 0.1), np.full(5, 0.1), np.full(5, 0.6), np.full(5, 0.7))
    folds = pd.DataFrame({"outer_fold": range(5), "voxel_lambda": [100.0] * 5,
                          "voxel_model_voxel_res": [0.30, 0.35, 0.32, 0.36, 0.31],
                          "voxel_model_regional_res": [0.15, 0.17, 0.16, 0.18, 0.14],
                          "regional_model_voxel_res": [1.0, 1.1, 1.05, 1.08, 1.12],
                          "regional_model_regional_res": [0.5, 0.45, 0.47, 0.49, 0.5],
                          "regional_rel_error_W_true": [0.7] * 5, "voxel_rel_error_W_true": [0.3, 0.32, 0.31, 0.29, 0.3],
                          "lowrank_rel_diff_full": [0.1, 0.12, 0.11, 0.1, 0.13]})
    table = pd.DataFrame({"model": ["voxel", "voxel", "regional", "regional"],
                          "resolution": ["voxel", "regional", "voxel", "regional"], "cv_rel_mse": [0.33, 0.16, 1.07, 0.48]})
    rec = pd.DataFrame({"lambda": [100.0, 100.0], "model": ["full", "rank20"], "rel_error_W_true": [0.3, 0.31],
                        "chosen": [True, True]})
    contra = pd.DataFrame({"lambda": [10.0], "rel_error_W_true": [0.4]})
    real = make_claims(syn, table, rec, 20, TOL, "paper", "allen", seed=3, folds=folds, contra=contra)
    t1 = [c for c in real if c.paper_ref == "Table 1"]
    assert len(t1) == 6 and all(c.kind == "finding" and c.n == 5 and c.ci is not None for c in t1)
    assert all(c.outcome == "holds" for c in t1), [(c.claim, c.measured, c.ci) for c in t1]
    lr = [c for c in real if c.paper_ref == "§5.1"][0]
    assert lr.paper_value == 0.13 and lr.outcome == "holds"
    # planted data: recoveries, no paper-magnitude findings, each model's recovery reported
    emb = make_claims(syn, table, rec, 20, TOL, "demo", "embedded", seed=3, folds=folds, contra=contra)
    assert {c.kind for c in emb} == {"recovery"}
    both = [c for c in emb if "than with the regional model" in c.claim][0]
    assert both.outcome == "holds" and both.details["regional_rel_error"] == pytest.approx(0.7)
    assert any("contralateral" in c.claim for c in emb)
