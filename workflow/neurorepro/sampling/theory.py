"""What sampler-only dynamics can represent: the best score each network class reaches on a 1-D target.

The paper's theory (Chen et al. 2023, Sec. 3 and Fig. 1) compares the function sets that the
Langevin drift of each architecture spans. In one dimension they are small enough to optimise
over exactly:

* sampler-only, synaptic current: ``s(x) = a (w phi(x) + b - x)`` with ``a = Sigma^2 gamma``. As
  ``(a w, a b, -a)`` ranges over all triples this is (the closure of) the linear span of
  ``{phi(x), 1, x}``: three *fixed* basis functions. The smallest Fisher divergence any such
  network reaches is a weighted least-squares residual.
* sampler-only, firing rate: ``s(x) = a (phi(w x + b) - x)``, one *adaptive* basis function with
  the coefficient of ``x`` tied to it. The optimum over ``a`` is closed-form for each ``(w, b)``;
  ``(w, b)`` is searched on a grid (so that floor is an upper estimate of the class's infimum).
* reservoir-sampler: ``-x + sum_k c_k phi(w_k x + b_k)`` with ``N`` adaptive units, a universal
  approximator as ``N`` grows: no floor above 0.

The error is the relative Fisher divergence ``int p (s - s*)^2 / int p s*^2`` of a score ``s`` from
the target's ``s*`` under the target ``p`` (both smoothed by the training's last noise scale, the
function denoising score matching estimates), by the trapezoid rule on a grid.
"""
from __future__ import annotations

import numpy as np

from .models import activation


def _np_phi(name: str):
    import torch

    phi = activation(name)
    return lambda x: phi(torch.as_tensor(np.asarray(x, dtype=float))).numpy()


def quadrature_weights(grid: np.ndarray, density: np.ndarray) -> np.ndarray:
    """Trapezoid weights ``w_i`` with ``sum_i w_i f(x_i) ~ int p f`` on ``grid``."""
    grid = np.asarray(grid, dtype=float)
    dx = np.diff(grid)
    w = np.zeros_like(grid)
    w[:-1] += dx / 2
    w[1:] += dx / 2
    return w * np.asarray(density, dtype=float)


def relative_fisher(score: np.ndarray, true_score: np.ndarray, weights: np.ndarray) -> float:
    """``sum w (s - s*)^2 / sum w s*^2``: relative Fisher divergence on a quadrature grid."""
    score, true_score = np.asarray(score, dtype=float), np.asarray(true_score, dtype=float)
    return float(np.sum(weights * (score - true_score) ** 2) / np.sum(weights * true_score**2))


def synaptic_floor(grid: np.ndarray, true_score: np.ndarray, weights: np.ndarray, act: str) -> tuple[float, np.ndarray]:
    """Smallest relative Fisher divergence of any 1-D synaptic-current sampler-only score, and its curve.

    Weighted least squares of ``true_score`` on ``{phi(x), 1, x}``: exact (no search).
    """
    x = np.asarray(grid, dtype=float)
    B = np.stack([_np_phi(act)(x), np.ones_like(x), x], axis=1)
    sw = np.sqrt(weights)
    coef, *_ = np.linalg.lstsq(B * sw[:, None], true_score * sw, rcond=None)
    best = B @ coef
    return relative_fisher(best, true_score, weights), best


def rate_floor(
    grid: np.ndarray, true_score: np.ndarray, weights: np.ndarray, act: str, n_w: int = 241, n_b: int = 241,
    w_max: float = 50.0,
) -> tuple[float, np.ndarray]:
    """Smallest relative Fisher divergence of a 1-D firing-rate sampler-only score on a ``(w, b)`` grid, and its curve.

    For each ``(w, b)`` the best ``a`` in ``a (phi(w x + b) - x)`` is a one-dimensional least
    squares; ``w`` runs over ``0`` and ``+-`` a log grid up to ``w_max``, ``b`` over
    ``w * c`` with ``c`` spanning the grid (the unit's threshold) plus ``[-3, 3]``.
    """
    x = np.asarray(grid, dtype=float)
    phi = _np_phi(act)
    mag = np.geomspace(0.05, w_max, (n_w - 1) // 2)
    ws = np.concatenate([-mag[::-1], [0.0], mag])
    cs = np.linspace(x.min(), x.max(), n_b)
    best = (np.inf, None)
    denom = np.sum(weights * true_score**2)
    for w in ws:
        bs = np.unique(np.concatenate([-w * cs, np.linspace(-3, 3, 25)]))
        U = phi(w * x[None, :] + bs[:, None]) - x[None, :]  # (n_b, G)
        uu = (U**2 * weights).sum(1)
        us = (U * true_score * weights).sum(1)
        a = np.where(uu > 0, us / np.where(uu > 0, uu, 1), 0.0)
        resid = ((a[:, None] * U - true_score) ** 2 * weights).sum(1) / denom
        k = int(np.argmin(resid))
        if resid[k] < best[0]:
            best = (float(resid[k]), a[k] * U[k])
    return best


def learned_floors(target, sigma: float, act: str, n_grid: int = 801) -> dict:
    """Grid, smoothed density and score of a 1-D ``target`` at noise ``sigma``, and both sampler-only floors."""
    ref = target.sample(200_000, np.random.default_rng(0))[:, 0]
    lo, hi = np.quantile(ref, [1e-4, 1 - 1e-4])
    pad = 0.25 * (hi - lo)
    grid = np.linspace(lo - pad, hi + pad, n_grid)
    density = np.exp(target.log_prob(grid, sigma))
    true = target.score(grid, sigma)
    w = quadrature_weights(grid, density)
    f_syn, c_syn = synaptic_floor(grid, true, w, act)
    f_rate, c_rate = rate_floor(grid, true, w, act)
    return {"grid": grid, "density": density, "score": true, "weights": w, "floor_synaptic": f_syn,
            "best_synaptic": c_syn, "floor_rate": f_rate, "best_rate": c_rate}
