"""Cross-validation over injections and the paper's relative mean squared error.

    relMSE(Yhat, Y) = 2 ||P_Omega(Yhat - Y)||^2 / (||P_Omega(Yhat)||^2 + ||P_Omega(Y)||^2)

At *regional* resolution the masked predictions and data are first averaged over the
counted voxels of each target area (per injection), then compared the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


def rel_mse(Yhat: np.ndarray, Y: np.ndarray, Omega: np.ndarray) -> float:
    """Relative MSE of Harris et al. (2016): 0 for a perfect fit, 2 for a prediction of 0 (range [0, 4])."""
    m = np.asarray(Omega, float)
    num = 2.0 * np.sum((m * (Yhat - Y)) ** 2)
    den = np.sum((m * Yhat) ** 2) + np.sum((m * Y) ** 2)
    return float(num / den) if den > 0 else float("nan")


def regionalize(A: np.ndarray, Omega: np.ndarray, target_areas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the counted entries of ``A`` in each target area: (n_areas, k) values and 0/1 mask."""
    labels = np.asarray(target_areas).astype(str)
    areas = sorted(set(labels))
    S = (labels[:, None] == np.asarray(areas)[None, :]).astype(float)
    m = np.asarray(Omega, float)
    cnt = S.T @ m
    tot = S.T @ (m * A)
    mean = np.divide(tot, cnt, out=np.zeros_like(tot), where=cnt > 0)
    return mean, (cnt > 0).astype(np.int8)


def rel_mse_regional(Yhat: np.ndarray, Y: np.ndarray, Omega: np.ndarray, target_areas: np.ndarray) -> float:
    """Relative MSE after averaging predictions and data within target areas."""
    Ph, mask = regionalize(Yhat, Omega, target_areas)
    Pd, _ = regionalize(Y, Omega, target_areas)
    return rel_mse(Ph, Pd, mask)


def kfold_injections(n_inj: int, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled K-fold split of injection indices: list of (train, test) index arrays.

    Every injection is in exactly one test fold; train and test never share an injection.
    """
    if n_folds < 2:
        raise ValueError(f"cv folds must be >= 2, got {n_folds}")
    if n_folds > n_inj:
        raise ValueError(f"cannot make {n_folds} folds from {n_inj} injections")
    perm = np.random.default_rng(seed).permutation(n_inj)
    folds = np.array_split(perm, n_folds)
    out = []
    for f in range(n_folds):
        test = np.sort(folds[f])
        train = np.sort(np.concatenate([folds[g] for g in range(n_folds) if g != f]))
        out.append((train, test))
    return out


#: how the inner CV searches the lambda grid (config ``connectivity.model.cv_lambda_search``)
LAMBDA_SEARCHES = ("grid", "coarse_to_fine")


def coarse_indices(n_lambdas: int, step: int) -> list[int]:
    """Every ``step``-th point of a grid of ``n_lambdas`` values, both ends included."""
    if step < 1:
        raise ValueError(f"connectivity.model.cv_coarse_step must be >= 1, got {step}")
    idx = list(range(0, n_lambdas, step))
    if idx[-1] != n_lambdas - 1:
        idx.append(n_lambdas - 1)
    return idx


def lambda_errors(fit_predict: "FitPredict", splits: list[tuple[np.ndarray, np.ndarray]], lambdas: np.ndarray,
                  Y: np.ndarray, Omega: np.ndarray, search: str = "grid", coarse_step: int = 2
                  ) -> np.ndarray:
    """Test relMSE of each split (rows) at each lambda (columns; NaN where not fitted).

    ``lambdas`` is sorted large to small and each split's fits run in that order. Every fit
    starts cold: newton's cold start is the exact minimiser without the bound, and the
    previous lambda's solution (a decade away) or a neighbouring fold's was measured to be no
    better a start (``docs/performance.md``, warm starts). ``search="grid"`` fits every lambda; ``"coarse_to_fine"`` fits
    every ``coarse_step``-th lambda (both ends included), then the grid points between the
    best of those and its coarse neighbours: with a unimodal CV curve it picks the grid's
    best lambda with about 1/``coarse_step`` of the fits plus ``2 (coarse_step - 1)``.
    """
    if search not in LAMBDA_SEARCHES:
        raise ValueError(f"connectivity.model.cv_lambda_search must be one of {LAMBDA_SEARCHES}, got {search!r}")
    L = len(lambdas)
    errs = np.full((len(splits), L), np.nan)

    def run(cols: list[int]) -> None:
        for i, (tr, te) in enumerate(splits):
            for li in sorted(cols):
                _, Yhat = fit_predict(tr, float(lambdas[li]), None)
                errs[i, li] = rel_mse(Yhat[:, te], Y[:, te], Omega[:, te])

    if search == "grid" or L <= 2:
        run(list(range(L)))
        return errs
    coarse = coarse_indices(L, int(coarse_step))
    run(coarse)
    best = int(np.nanargmin(np.nanmean(errs, 0)))
    lo, hi = max(0, best - int(coarse_step) + 1), min(L - 1, best + int(coarse_step) - 1)
    run([li for li in range(lo, hi + 1) if li not in coarse])
    return errs


def best_lambda(lambdas: np.ndarray, errs: np.ndarray) -> tuple[float, np.ndarray]:
    """The lambda of the smallest mean error over splits, and that mean curve (NaN where a
    lambda was not fitted or a split's error is undefined)."""
    curve = errs.mean(0)
    return float(lambdas[int(np.nanargmin(curve))]), curve


@dataclass
class NestedCVResult:
    """Per outer fold: chosen lambda, test errors; plus the inner-CV error curves."""

    chosen_lambda: list[float]
    test_voxel: list[float]
    test_regional: list[float]
    inner_curves: list[np.ndarray]  # per outer fold: mean inner-CV relMSE per lambda (NaN: not fitted)
    lambdas: np.ndarray


FitPredict = Callable[[np.ndarray, float, np.ndarray | None], tuple[np.ndarray, np.ndarray]]


def outer_fold(fit_predict: FitPredict, fold: int, n_inj: int, lambdas: np.ndarray, Y: np.ndarray,
               Omega: np.ndarray, outer_folds: int, inner_folds: int, seed: int, search: str = "grid",
               coarse_step: int = 2) -> tuple[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray, np.ndarray]:
    """One outer fold of the nested CV: the inner CV on its training injections picks lambda,
    then the fit on all its training injections at that lambda.

    Returns (train, test, chosen lambda, inner curve, W, predictions of W for all
    injections). Each outer fold is independent of
    the others (one job per fold at paper scale).
    """
    train, test = kfold_injections(n_inj, outer_folds, seed)[fold]
    inner = [(train[itr], train[ite]) for itr, ite in kfold_injections(len(train), inner_folds, seed + 1 + fold)]
    errs = lambda_errors(fit_predict, inner, lambdas, Y, Omega, search, coarse_step)
    best, curve = best_lambda(lambdas, errs)
    W, Yhat = fit_predict(train, best, None)
    return train, test, best, curve, W, Yhat


def nested_cv(fit_predict: FitPredict, n_inj: int, lambdas: list[float], Y: np.ndarray, Omega: np.ndarray,
              target_areas: np.ndarray, outer_folds: int, inner_folds: int, seed: int,
              log: Callable[[str], None] | None = None,
              on_outer_fit: Callable[[int, np.ndarray, np.ndarray, float, np.ndarray], None] | None = None,
              search: str = "grid", coarse_step: int = 2) -> NestedCVResult:
    """Nested K-fold CV over injections (:func:`outer_fold` for each outer fold in turn).

    ``fit_predict(train_idx, lam, W0)`` fits on the injections ``train_idx`` (from ``W0``
    when given; the CV passes None, see :func:`lambda_errors`) and returns ``(W, Yhat_all)``
    with predictions for *all* injections (columns). The inner loop picks lambda by mean inner relMSE (voxel
    resolution; ``search`` as in :func:`lambda_errors`); the outer test folds are never seen
    by the inner loop. ``on_outer_fit(fold, train, test, lam, W)`` is called with each outer
    fold's final fit (e.g. to score W against a planted truth) before W is dropped.
    """
    lambdas = np.asarray(sorted(lambdas, reverse=True), float)  # large -> small
    chosen, tv, tr, curves = [], [], [], []
    for o in range(outer_folds):
        train, test, best, curve, W, Yhat = outer_fold(fit_predict, o, n_inj, lambdas, Y, Omega, outer_folds,
                                                       inner_folds, seed, search, coarse_step)
        if on_outer_fit is not None:
            on_outer_fit(o, train, test, best, W)
        del W
        chosen.append(best)
        curves.append(curve)
        tv.append(rel_mse(Yhat[:, test], Y[:, test], Omega[:, test]))
        tr.append(rel_mse_regional(Yhat[:, test], Y[:, test], Omega[:, test], target_areas))
        if log:
            log(f"outer fold {o}: lambda*={best:g} test relMSE voxel={tv[-1]:.4f} regional={tr[-1]:.4f}")
    return NestedCVResult(chosen, tv, tr, curves, lambdas)
