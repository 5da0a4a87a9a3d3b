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


@dataclass
class NestedCVResult:
    """Per outer fold: chosen lambda, test errors; plus the inner-CV error curves."""

    chosen_lambda: list[float]
    test_voxel: list[float]
    test_regional: list[float]
    inner_curves: list[np.ndarray]  # per outer fold: mean inner-CV relMSE per lambda
    lambdas: np.ndarray


FitPredict = Callable[[np.ndarray, float, np.ndarray | None], tuple[np.ndarray, np.ndarray]]


def nested_cv(fit_predict: FitPredict, n_inj: int, lambdas: list[float], Y: np.ndarray, Omega: np.ndarray,
              target_areas: np.ndarray, outer_folds: int, inner_folds: int, seed: int,
              log: Callable[[str], None] | None = None,
              on_outer_fit: Callable[[int, np.ndarray, np.ndarray, float, np.ndarray], None] | None = None
              ) -> NestedCVResult:
    """Nested K-fold CV over injections.

    ``fit_predict(train_idx, lam, W0)`` fits on the injections ``train_idx`` and returns
    ``(W, Yhat_all)`` with predictions for *all* injections (columns), and is warm
    started from ``W0``. The inner loop picks lambda by mean inner relMSE (voxel
    resolution); the outer test folds are never seen by the inner loop.
    ``on_outer_fit(fold, train, test, lam, W)`` is called with each outer fold's final fit
    (e.g. to score W against a planted truth) before W is dropped.
    """
    lambdas = np.asarray(sorted(lambdas, reverse=True), float)  # large -> small: warm starts
    chosen, tv, tr, curves = [], [], [], []
    for o, (train, test) in enumerate(kfold_injections(n_inj, outer_folds, seed)):
        inner = kfold_injections(len(train), inner_folds, seed + 1 + o)
        errs = np.zeros((len(inner), len(lambdas)))
        for i, (itr, ite) in enumerate(inner):
            tr_idx, te_idx = train[itr], train[ite]
            W0 = None
            for li, lam in enumerate(lambdas):
                W0, Yhat = fit_predict(tr_idx, lam, W0)
                errs[i, li] = rel_mse(Yhat[:, te_idx], Y[:, te_idx], Omega[:, te_idx])
        curve = errs.mean(0)
        best = float(lambdas[int(np.nanargmin(curve))])
        W, Yhat = fit_predict(train, best, None)
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
