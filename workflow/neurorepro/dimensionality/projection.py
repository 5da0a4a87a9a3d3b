"""What the fixed random projection of wide layers does to the dimension estimators.

Layers wider than ``probe_max_features`` (at paper scale: the ResNet's conv maps on
CIFAR-10, 32 x 32 x 32 = 32,768 units; the CIFAR input, 3,072) are recorded through a
Gaussian projection ``R`` (p x m, entries N(0, 1/m); ``nets.train.projection_matrix``).

- **TwoNN** (and the other nearest-neighbour estimators) see the pairwise distances,
  which ``R`` keeps up to a factor 1 +- O(sqrt(log n / m)) (Johnson-Lindenstrauss): on
  planted manifolds the estimate moves by about 1% at m = 2,048 (tests).
- **The participation ratio is biased down.** With ``C`` the covariance of the layer,
  E tr((R'CR)^2) = (1 + 1/m) tr(C^2) + tr(C)^2 / m and E tr(R'CR) = tr(C), so the
  projected PR is ``1 / PR' ~ (1 + 1/m) / PR + 1 / m``: a layer of PR 430 reads as 357
  at m = 2,048 (-17%). :func:`corrected_participation_ratio` inverts this; the tests
  check it brings the projected PR back to the unprojected one within 2% on planted
  manifolds of PR 8 to 430, and :func:`projection_check` does the same at a run's own
  sizes (a ``recovery`` claim of every run that projects).
"""
from __future__ import annotations

import numpy as np

from neurorepro.measures.dimension import participation_ratio, twonn_dimension

__all__ = ["corrected_participation_ratio", "projected_participation_ratio", "planted_manifold", "projection_check"]


def projected_participation_ratio(pr: float, m: int) -> float:
    """Expected PR after a Gaussian projection to ``m`` features of data whose PR is ``pr``."""
    return 1.0 / ((1.0 + 1.0 / m) / pr + 1.0 / m)


def corrected_participation_ratio(pr_projected: float, m: int) -> float:
    """Invert :func:`projected_participation_ratio`: the PR before the projection.

    NaN when ``pr_projected`` is at or above ``m`` (the projection's own ceiling; no
    finite PR maps there).
    """
    inv = 1.0 / float(pr_projected) - 1.0 / m
    if not np.isfinite(inv) or inv <= 0:
        return float("nan")
    return (1.0 + 1.0 / m) / inv


def planted_manifold(kind: str, n_points: int, n_features: int, seed: int) -> np.ndarray:
    """Point clouds of known structure in ``n_features`` dimensions.

    - ``"linear"``: a 20-dimensional Gaussian with variances 1/k (k = 1..20) on a random
      20-dimensional subspace (PR about 8, intrinsic dimension 20).
    - ``"curved"``: a 6-dimensional torus embedded by random Fourier features (smooth,
      intrinsic dimension 6, linear PR in the hundreds: what a wide ReLU layer looks like).
    """
    rng = np.random.default_rng(seed)
    if kind == "linear":
        Z = rng.normal(size=(n_points, 20)) * np.arange(1, 21) ** -0.5
        Q = np.linalg.qr(rng.normal(size=(n_features, 20)))[0]
        return Z @ Q.T
    if kind == "curved":
        Z = rng.uniform(0, 2 * np.pi, size=(n_points, 6))
        omega = rng.normal(size=(6, n_features)) * 0.7
        b = rng.uniform(0, 2 * np.pi, n_features)
        return np.cos(Z @ omega + b) * np.sqrt(2.0 / n_features)
    raise ValueError(f"unknown planted manifold {kind!r}; 'linear' or 'curved'")


def projection_check(
    n_points: int, n_out: int, *, n_features: int | None = None, seeds=(0, 1, 2),
    kinds=("linear", "curved"), twonn_discard: float = 0.1,
) -> list[dict]:
    """PR (corrected) and TwoNN of planted manifolds before and after the projection.

    One row per (seed, manifold): ``pr``, ``pr_projected``, ``pr_corrected``, ``twonn``,
    ``twonn_projected`` and the relative changes ``pr_change`` (corrected vs. unprojected),
    ``pr_raw_change`` and ``twonn_change``. ``n_features`` defaults to ``2 * n_out``.
    """
    import torch

    from neurorepro.nets.train import projection_matrix

    p = 2 * n_out if n_features is None else int(n_features)
    rows = []
    for s in seeds:
        for kind in kinds:
            X = planted_manifold(kind, n_points, p, seed=1000 + s).astype(np.float32)
            R = projection_matrix(p, n_out, seed=s)
            P = (torch.from_numpy(X) @ R).numpy()
            pr, pr_p = participation_ratio(X), participation_ratio(P)
            pr_c = corrected_participation_ratio(pr_p, n_out)
            tw, tw_p = twonn_dimension(X, twonn_discard), twonn_dimension(P, twonn_discard)
            rows.append({
                "seed": s, "manifold": kind, "n_points": n_points, "n_features": p, "n_out": n_out,
                "pr": pr, "pr_projected": pr_p, "pr_corrected": pr_c, "twonn": tw, "twonn_projected": tw_p,
                "pr_change": abs(pr_c / pr - 1), "pr_raw_change": abs(pr_p / pr - 1), "twonn_change": abs(tw_p / tw - 1),
            })
    return rows
