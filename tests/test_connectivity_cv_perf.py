"""Warm starts, small lambda and the coarse-to-fine lambda search of the connectivity CV, and
the generated performance page: each against a known answer (a cold solve, a brute-force
grid, a planted error curve, a hand-written table)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from neurorepro.connectivity.cv import coarse_indices, kfold_injections, lambda_errors, nested_cv
from neurorepro.connectivity.eigenbasis import Eigenbasis
from neurorepro.connectivity.newton import solve_newton
from neurorepro.connectivity.objective import Problem
from neurorepro.connectivity.synthetic import make_blob_problem

torch.set_num_threads(1)


def _blob(n: int = 200, n_inj: int = 6, seed: int = 1):
    P = make_blob_problem(n=n, n_inj=n_inj, noise=0.1, seed=seed)
    eig = Eigenbasis.build(P.Lx, P.Ly, torch.float64, torch.device("cpu"))
    return P, eig


def _solve(P, eig, lam, W0=None, cols=None, **kw):
    cols = np.arange(P.X.shape[1]) if cols is None else cols
    prob = Problem.build(P.X[:, cols], P.Y[:, cols], P.Omega[:, cols], P.Lx, P.Ly, lam, dtype=torch.float64)
    return prob, solve_newton(prob, eig, W0, max_iter=500, ftol=1e-10, pgtol=1e-7, log_every=0, **kw)


def test_warm_start_at_the_optimum_stops_at_once_with_the_same_W():
    """A start at the optimum is as accurate as the cold solve's end: no outer iteration (the
    stopping scale is the cold start's projected gradient, not the warm start's own)."""
    P, eig = _blob()
    _, cold = _solve(P, eig, 1.0)
    assert cold.converged and cold.n_iter >= 3  # the bound is active: the cold solve has work to do
    _, warm = _solve(P, eig, 1.0, W0=cold.W)
    assert warm.converged and warm.n_iter <= 1
    np.testing.assert_allclose(warm.W.numpy(), cold.W.numpy(), atol=1e-12 * float(cold.W.abs().max()))


def test_a_warm_start_worse_than_the_cold_start_is_dropped():
    """From a far start (W_true scaled by 5) newton starts cold: same iterations, same W."""
    P, eig = _blob()
    _, cold = _solve(P, eig, 1.0)
    _, far = _solve(P, eig, 1.0, W0=torch.as_tensor(5.0 * P.W_true))
    assert far.n_iter == cold.n_iter and getattr(far, "n_cg") == getattr(cold, "n_cg")
    np.testing.assert_array_equal(far.W.numpy(), cold.W.numpy())


def test_warm_started_lambda_path_gives_the_cold_solutions():
    """Along a lambda path (large to small), each warm-started fit reaches the cold fit's
    minimiser (objective to 1e-9, W to 1e-5 relative) in no more outer iterations + 1."""
    P, eig = _blob()
    W0 = None
    for lam in (100.0, 10.0, 1.0, 0.1):
        prob, cold = _solve(P, eig, lam)
        _, warm = _solve(P, eig, lam, W0=W0)
        assert warm.converged and cold.converged
        assert prob.value(warm.W) == pytest.approx(prob.value(cold.W), rel=1e-9)
        assert float((warm.W - cold.W).norm() / cold.W.norm()) < 1e-5
        assert warm.n_iter <= cold.n_iter + 1
        W0 = warm.W


def test_small_lambda_converges_to_the_minimiser_in_few_outer_iterations():
    """lambda = 0.01 on a planted blob (400 voxels, 14 injections): the CG cap per outer
    iteration doubles while capped solves do not halve the projected gradient, so the active
    set settles in 12 outer iterations (17 with a fixed cap of 4 CG steps); the minimiser is
    the one full CG solves reach (objective to 1e-10)."""
    P = make_blob_problem(n=400, n_inj=14, noise=0.1, seed=0)
    eig = Eigenbasis.build(P.Lx, P.Ly, torch.float64, torch.device("cpu"))
    prob = Problem.build(P.X, P.Y, P.Omega, P.Lx, P.Ly, 0.01, dtype=torch.float64)
    res = solve_newton(prob, eig, max_iter=500, ftol=1e-10, pgtol=1e-6, log_every=0)
    full = solve_newton(prob, eig, max_iter=500, ftol=1e-10, pgtol=1e-6, log_every=0, cg_early=100)
    assert res.converged and full.converged and res.n_iter <= 14
    assert res.f == pytest.approx(full.f, rel=1e-10)


def test_coarse_indices_cover_both_ends():
    assert coarse_indices(10, 2) == [0, 2, 4, 6, 8, 9]
    assert coarse_indices(7, 3) == [0, 3, 6]
    assert coarse_indices(3, 1) == [0, 1, 2]
    with pytest.raises(ValueError, match="cv_coarse_step"):
        coarse_indices(5, 0)


def _planted_curve_fit(Y: np.ndarray, log_best: float, calls: list[float]):
    """A 'model' whose relMSE on every split is a known unimodal function of log10(lambda),
    minimal at ``log_best``: predictions Y (1 + |log10 lambda - log_best|)."""
    def fit_predict(train, lam, W0):
        calls.append(lam)
        return None, Y * (1.0 + abs(np.log10(lam) - log_best))
    return fit_predict


def test_coarse_to_fine_picks_the_grid_best_lambda_with_fewer_fits():
    """Grid 1e-1..1e5 (7 points), curve minimal at 10^2.2: the coarse pass (0.1, 10, 1e3, 1e5)
    alone would pick 1e3; refining its neighbours finds 1e2, the full grid's choice."""
    rng = np.random.default_rng(0)
    Y = rng.uniform(0.5, 1.0, (6, 12))
    Om = np.ones_like(Y)
    lambdas = np.array([1e5, 1e4, 1e3, 1e2, 10.0, 1.0, 0.1])
    splits = kfold_injections(12, 3, seed=0)
    calls_grid: list[float] = []
    grid = lambda_errors(_planted_curve_fit(Y, 2.2, calls_grid), splits, lambdas, Y, Om, "grid")
    calls_c2f: list[float] = []
    c2f = lambda_errors(_planted_curve_fit(Y, 2.2, calls_c2f), splits, lambdas, Y, Om, "coarse_to_fine", 2)
    best_grid = lambdas[np.nanargmin(grid.mean(0))]
    assert best_grid == 100.0 and lambdas[np.nanargmin(c2f.mean(0))] == best_grid
    assert len(calls_grid) == 3 * 7 and len(calls_c2f) == 3 * 6  # coarse 4 + refine 2 (1e4, 1e2) per split
    fitted = ~np.isnan(c2f).all(0)
    np.testing.assert_array_equal(c2f[:, fitted], grid[:, fitted])
    # each split runs its lambdas from large to small
    assert calls_grid[:7] == sorted(calls_grid[:7], reverse=True)
    with pytest.raises(ValueError, match="cv_lambda_search"):
        lambda_errors(_planted_curve_fit(Y, 2.2, []), splits, lambdas, Y, Om, "golden")


def test_nested_cv_with_coarse_to_fine_chooses_the_planted_lambda():
    rng = np.random.default_rng(1)
    Y = rng.uniform(0.5, 1.0, (4, 15))
    Om = np.ones_like(Y)
    calls: list[float] = []
    res = nested_cv(_planted_curve_fit(Y, 2.2, calls), 15, [0.1, 1, 10, 100, 1e3, 1e4, 1e5], Y, Om,
                    np.array(["a", "a", "b", "b"]), 3, 3, seed=0, search="coarse_to_fine", coarse_step=2)
    assert res.chosen_lambda == [100.0] * 3
    assert len(calls) == 3 * (3 * 6 + 1)  # per outer fold: 3 inner folds x 6 lambdas + the refit


def test_performance_doc_is_generated_from_the_tsv_rows(tmp_path):
    from neurorepro.connectivity.performance_doc import render

    rows = pd.DataFrame([
        {"n": 3000, "lambda": 1e4, "n_inj": 28, "start": "cold", "device": "cpu",
         "transform_dtype": "bfloat16", "outer": 10, "cg": 40, "seconds": 51.0, "machine": "2-core test box",
         "commit": "abc1234", "date": "2026-01-02", "note": ""},
        {"n": 7497, "lambda": 1e4, "n_inj": 28, "start": "cold", "device": "cuda",
         "transform_dtype": "bfloat16", "outer": 20, "cg": 80, "seconds": 4.4, "machine": "NVIDIA H200",
         "commit": "def5678", "date": "2026-01-03", "note": "to f = 2401.0278"},
    ])
    d = tmp_path / "performance"
    d.mkdir()
    rows.to_csv(d / "solver.tsv", sep="\t", index=False)
    text = render(d)
    assert text.startswith("<!-- generated")
    lines = [ln for ln in text.splitlines() if ln.startswith("| 7,497")]
    assert len(lines) == 1 and "4.4" in lines[0] and "NVIDIA H200" in lines[0] and "def5678" in lines[0]
    assert "2026-01-02" in text and "abc1234" in text
    bad = rows.drop(columns=["commit"])
    bad.to_csv(d / "solver.tsv", sep="\t", index=False)
    with pytest.raises(ValueError, match=r"solver\.tsv.*commit"):
        render(d)
