"""Distances and moments used to judge samples (pure NumPy functions)."""
from __future__ import annotations

import numpy as np


def wasserstein_1d(u: np.ndarray, v: np.ndarray) -> float:
    """Wasserstein-1 distance between two 1-D empirical distributions.

    Computed as the integral of ``|F_u(t) - F_v(t)|`` over ``t``, where ``F`` are the
    empirical CDFs (equal weights per sample; the two samples may differ in size).
    """
    u = np.sort(np.asarray(u, dtype=float).ravel())
    v = np.sort(np.asarray(v, dtype=float).ravel())
    if u.size == 0 or v.size == 0:
        raise ValueError("wasserstein_1d needs two non-empty samples")
    grid = np.sort(np.concatenate([u, v]))
    widths = np.diff(grid)
    # CDF values on each interval [grid[i], grid[i+1])
    fu = np.searchsorted(u, grid[:-1], side="right") / u.size
    fv = np.searchsorted(v, grid[:-1], side="right") / v.size
    return float(np.sum(np.abs(fu - fv) * widths))


def marginal_wasserstein(samples: np.ndarray, reference: np.ndarray) -> float:
    """Mean over dimensions of the 1-D Wasserstein-1 distance between marginals.

    ``samples`` (n, d) and ``reference`` (m, d); 1-D arrays are taken as d = 1.
    """
    a = np.atleast_2d(np.asarray(samples, dtype=float).T).T
    b = np.atleast_2d(np.asarray(reference, dtype=float).T).T
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"dimension mismatch: samples have d={a.shape[1]}, reference d={b.shape[1]}")
    return float(np.mean([wasserstein_1d(a[:, i], b[:, i]) for i in range(a.shape[1])]))


def excess_kurtosis(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Excess (Fisher) kurtosis ``m4 / m2**2 - 3`` with biased moments, along ``axis``.

    0 for a Gaussian, 3 for a Laplace distribution.
    """
    x = np.asarray(x, dtype=float)
    d = x - x.mean(axis=axis, keepdims=True)
    m2 = np.mean(d**2, axis=axis)
    m4 = np.mean(d**4, axis=axis)
    return m4 / m2**2 - 3.0


def steps_to_reach(curve: np.ndarray, steps: np.ndarray, threshold: float) -> float:
    """First step at which ``curve`` is at or below ``threshold`` (``nan`` if never)."""
    curve, steps = np.asarray(curve), np.asarray(steps)
    hit = np.flatnonzero(curve <= threshold)
    return float(steps[hit[0]]) if hit.size else float("nan")


def energy_distance(samples: np.ndarray, reference: np.ndarray, unbiased: bool = True) -> float:
    """Energy distance ``sqrt(2 E|X-Y| - E|X-X'| - E|Y-Y'|)`` between two d-dimensional samples.

    A metric between joint distributions (zero only when they are equal), unlike the
    per-marginal Wasserstein distance. ``unbiased`` estimates ``E|X-X'|`` and ``E|Y-Y'|`` over
    distinct pairs (U-statistics), so two samples of one distribution give ~0 at any size;
    ``unbiased=False`` gives the V-statistic that ``scipy.stats.energy_distance`` computes in
    1-D. The squared estimate can dip below 0 by chance; it is reported as ``-sqrt(|.|)``.
    Memory grows as n*m: subsample large inputs first.
    """
    from scipy.spatial.distance import cdist

    a = np.atleast_2d(np.asarray(samples, dtype=float).T).T
    b = np.atleast_2d(np.asarray(reference, dtype=float).T).T
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"dimension mismatch: samples have d={a.shape[1]}, reference d={b.shape[1]}")

    def within(x: np.ndarray) -> float:
        n = x.shape[0]
        total = cdist(x, x).sum()
        return total / (n * (n - 1)) if unbiased else total / n**2

    val = 2 * cdist(a, b).mean() - within(a) - within(b)
    return float(np.sign(val) * np.sqrt(abs(val)))
