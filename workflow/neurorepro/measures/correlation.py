"""Spearman's rank correlation: one definition for every paper.

Spearman's rho is Pearson's correlation of the average ranks (tied values share the mean
of the ranks they span). :func:`spearman` returns the same floating-point number as
``scipy.stats.spearmanr(x, y).correlation`` (ranks by ``scipy.stats.rankdata``, the
correlation by ``np.corrcoef`` of the stacked ranks, as scipy does), without scipy's
p-value and input checks, so that it is cheap inside bootstraps (about half the time of
``spearmanr``). Callers differ only at the edges, and say so with keywords:

- ``nan_policy="propagate"`` (scipy's default): a NaN in either input gives NaN;
  ``"omit"``: pairs where either value is not finite are dropped first.
- ``min_n``: fewer (remaining) pairs give NaN (scipy: 2; a rank correlation of two
  points is always +-1, so most claims ask for 3).
- A constant input gives NaN (the correlation is undefined), without a warning.

:func:`spearman_test` adds scipy's two-sided p-value; :func:`partial_spearman` controls for
a third variable (the ranks of ``z`` regressed out of both rankings); :func:`rank` is the average-rank
transform itself (for vectorised correlations of many rankings at once, e.g. the SSMs of
:mod:`neurorepro.measures.similarity`).
"""
from __future__ import annotations

import numpy as np
from scipy import stats

NAN_POLICIES = ("propagate", "omit")


def rank(v) -> np.ndarray:
    """1-based ranks of ``v``, ties sharing their average rank (``scipy.stats.rankdata``)."""
    return stats.rankdata(v)


def _pairs(x, y, nan_policy: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The two inputs as float arrays after the NaN policy; None when a NaN propagates."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"spearman needs two 1-D arrays of equal length, got shapes {x.shape} and {y.shape}")
    if nan_policy == "omit":
        ok = np.isfinite(x) & np.isfinite(y)
        return x[ok], y[ok]
    if nan_policy != "propagate":
        raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
    if np.isnan(x).any() or np.isnan(y).any():
        return None
    return x, y


def spearman(x, y, *, nan_policy: str = "propagate", min_n: int = 2) -> float:
    """Spearman's rho of two paired 1-D samples (see the module doc for the edge policies)."""
    pairs = _pairs(x, y, nan_policy)
    if pairs is None:
        return float("nan")
    x, y = pairs
    if x.size < max(int(min_n), 2) or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    return float(np.corrcoef(np.column_stack((rank(x), rank(y))), rowvar=False)[1, 0])


def spearman_test(x, y, *, nan_policy: str = "propagate", min_n: int = 3) -> tuple[float, float]:
    """``(rho, p)``: :func:`spearman` and scipy's two-sided p-value (t distribution with
    ``n - 2`` degrees of freedom); ``(nan, nan)`` where rho is undefined."""
    rho = spearman(x, y, nan_policy=nan_policy, min_n=min_n)
    if not np.isfinite(rho):
        return float("nan"), float("nan")
    x, y = _pairs(x, y, nan_policy)
    res = stats.spearmanr(x, y)
    return rho, float(res.pvalue)


def partial_spearman(x, y, z) -> float:
    """Spearman correlation of ``x`` and ``y`` with the ranks of ``z`` regressed out of both
    (least squares on ``[1, rank(z)]``); NaN when a residual is identically zero."""
    rx, ry, rz = (rank(v) for v in (x, y, z))
    A = np.column_stack([np.ones_like(rz), rz])
    res = [r - A @ np.linalg.lstsq(A, r, rcond=None)[0] for r in (rx, ry)]
    den = np.linalg.norm(res[0]) * np.linalg.norm(res[1])
    return float(res[0] @ res[1] / den) if den > 0 else float("nan")
