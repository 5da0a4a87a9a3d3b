"""Percentile bootstrap over independent units (seeds, networks, cells, folds).

Why a helper of its own: every paper's claims need a 95% interval computed the same
way, and the one mistake that makes such intervals meaningless is resampling
correlated samples (time steps, images of one run) instead of the independent units.
:func:`bootstrap_ci` therefore takes the units along the first axis and resamples
whole rows; a statistic of several aligned arrays (a paired difference, a rank
correlation across runs) resamples the same units in each.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

#: Bootstrap resamples used by default (enough for a stable 2.5/97.5 percentile).
N_BOOT = 2000


def bootstrap_seed(run_seed: int, name: str) -> int:
    """A bootstrap seed derived from the run's seed and the claim's name (stable across runs).

    Uses a fixed hash (not Python's salted ``hash``) so the interval is reproducible.
    """
    h = 0
    for ch in name.encode():
        h = (h * 131 + ch) % 2_147_483_647
    return int((int(run_seed) * 1_000_003 + h) % 2**32)


def bootstrap_ci(
    units: np.ndarray | Sequence[np.ndarray],
    statistic: Callable[..., float] = np.mean,
    *,
    seed: int,
    n_boot: int = N_BOOT,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ``statistic`` over independent units.

    Parameters
    ----------
    units : an array whose first axis is the independent units (one value or one row
        per seed / network / cell), or a sequence of such arrays of equal length whose
        rows belong to the same units (resampled together, e.g. ``(x, y)`` for a rank
        correlation across runs).
    statistic : maps the resampled array(s) to a number; default the mean.
    seed : the bootstrap's seed (derive it from the run seed: :func:`bootstrap_seed`).
    n_boot, level : number of resamples and coverage.

    Returns
    -------
    ``(low, high)``, or ``None`` when there are fewer than 3 units or the statistic is
    undefined on most resamples (an interval from 1-2 units means nothing).
    """
    arrays = [np.asarray(units)] if isinstance(units, np.ndarray) or np.isscalar(units[0]) else [
        np.asarray(u) for u in units]
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"bootstrap_ci: unit arrays differ in length {[len(a) for a in arrays]}")
    if n < 3:
        return None
    if not 0 < level < 1:
        raise ValueError(f"bootstrap_ci: level must lie in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    stats = np.empty(n_boot)
    with np.errstate(all="ignore"):
        for b in range(n_boot):
            stats[b] = statistic(*(a[idx[b]] for a in arrays))
    ok = np.isfinite(stats)
    if ok.mean() < 0.9:
        return None
    alpha = (1 - level) / 2
    low, high = np.quantile(stats[ok], [alpha, 1 - alpha])
    return float(low), float(high)
