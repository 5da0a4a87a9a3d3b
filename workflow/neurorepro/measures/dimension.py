"""Dimensionality of point clouds (e.g. a layer's activations on a probe set).

Every function takes ``X`` of shape ``(n_points, n_features)`` (NumPy array or torch
tensor) and returns a float. Linear measures look at the covariance spectrum; intrinsic
(nonlinear) measures look at nearest-neighbour distances and can be far below the linear
ones for curved manifolds.

=========================  =========================================================  ==============
function                   definition                                                 implementation
=========================  =========================================================  ==============
participation_ratio        (sum λ)^2 / sum λ^2 of the covariance eigenvalues λ         own (see below)
pca_dimension              fewest principal components holding ``variance`` of total   scikit-dimension lPCA('ratio')
twonn_dimension            Facco et al. 2017, Sci. Rep. 7:12140 (linear fit, 10% cut)  scikit-dimension TwoNN
mle_dimension              Levina & Bickel 2005 on k NN, pooled as MacKay–Ghahramani   scikit-dimension MLE
local_pca_dimension        mean over anchors of pca_dimension of each anchor's k NN    own (see below)
=========================  =========================================================  ==============

scikit-dimension (``skdim``) is used where its estimator is the published one; the
tests in ``tests/test_measures_dimension.py`` check every function on manifolds of known
dimension. kNN-based estimators drop duplicate points first (a zero nearest-neighbour
distance makes the distance ratios undefined; ReLU layers often map distinct inputs to
the same point).
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

__all__ = [
    "participation_ratio",
    "participation_ratio_from_eigenvalues",
    "pca_dimension",
    "twonn_dimension",
    "mle_dimension",
    "local_pca_dimension",
    "all_dimensions",
    "MEASURES",
]


def _as_2d(X: Any) -> np.ndarray:
    """``X`` as a float64 NumPy array of shape (n_points, n_features)."""
    if hasattr(X, "detach"):  # torch tensor
        X = X.detach().cpu().numpy()
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim > 2:  # images or feature maps: one point per leading index
        X = X.reshape(X.shape[0], -1)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"need an (n_points >= 2, n_features) array, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinite values")
    return X


def _unique_rows(X: np.ndarray) -> np.ndarray:
    """Rows of ``X`` without exact duplicates (order kept)."""
    _, idx = np.unique(X, axis=0, return_index=True)
    return X[np.sort(idx)]


def covariance_eigenvalues(X: Any) -> np.ndarray:
    """Eigenvalues (descending, >= 0) of the sample covariance of ``X`` (ddof=1).

    Uses the smaller of the two Gram matrices of the centred data (their nonzero
    eigenvalues agree), so it costs O(n p min(n, p)) and works when ``n_features``
    exceeds ``n_points``.
    """
    X = _as_2d(X)
    Xc = X - X.mean(axis=0)
    gram = Xc @ Xc.T if X.shape[0] < X.shape[1] else Xc.T @ Xc
    lam = np.clip(np.linalg.eigvalsh(gram), 0.0, None)
    return np.sort(lam / (X.shape[0] - 1))[::-1]


def participation_ratio_from_eigenvalues(eigenvalues: Any) -> float:
    """Participation ratio (sum λ)^2 / sum λ^2 of a nonnegative spectrum.

    Own code rather than skdim: it is a one-line formula, and other measures (e.g. of
    Hessian spectra) need it on eigenvalues that come from no point cloud. Negative
    eigenvalues (round-off) are clipped to 0. An all-zero spectrum gives NaN.
    """
    lam = np.clip(np.asarray(eigenvalues, dtype=np.float64).ravel(), 0.0, None)
    denom = float(np.sum(lam**2))
    if denom == 0.0:
        return float("nan")
    return float(np.sum(lam) ** 2 / denom)


def participation_ratio(X: Any) -> float:
    """Linear dimension: participation ratio of the covariance eigenvalues of ``X``.

    Equals d for an isotropic Gaussian in d dimensions (in the large-sample limit) and
    lies between 1 and rank(X). Recanatesi et al. 2019 use it as the linear dimension.
    """
    return participation_ratio_from_eigenvalues(covariance_eigenvalues(X))


def pca_dimension(X: Any, variance: float = 0.9) -> float:
    """Number of principal components needed to explain ``variance`` of the total variance."""
    import skdim

    if not 0.0 < variance < 1.0:
        raise ValueError(f"variance must lie in (0, 1), got {variance}")
    lam = covariance_eigenvalues(X)
    if lam.sum() == 0:
        return float("nan")
    est = skdim.id.lPCA(ver="ratio", alphaRatio=variance, fit_explained_variance=True)
    with np.errstate(divide="ignore", invalid="ignore"):  # skdim also forms eigenvalue ratios (0/0 for flat data)
        return float(est.fit(lam).dimension_)


def twonn_dimension(X: Any, discard_fraction: float = 0.1) -> float:
    """TwoNN intrinsic dimension (Facco et al. 2017).

    The ratio μ = r2/r1 of each point's second to first neighbour distance is Pareto with
    shape d; d is the slope of -log(1 - F(μ)) against log μ through the origin, after
    discarding the largest ``discard_fraction`` of the ratios (the paper's 10%).
    """
    import skdim

    X = _unique_rows(_as_2d(X))
    if X.shape[0] < 3:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return float(skdim.id.TwoNN(discard_fraction=discard_fraction).fit(X).dimension_)


def mle_dimension(X: Any, k: int = 20) -> float:
    """Levina–Bickel maximum-likelihood intrinsic dimension on ``k`` nearest neighbours.

    Each point gives m_i = [(1/(k-1)) sum_{j<k} log(T_k/T_j)]^-1; the global estimate is
    the inverse of the mean of 1/m_i (MacKay & Ghahramani's correction, skdim's
    ``comb='mle'``).
    """
    import skdim

    if k < 3:
        raise ValueError(f"k must be >= 3, got {k}")
    X = _unique_rows(_as_2d(X))
    if X.shape[0] <= 3:
        return float("nan")
    k = min(k, X.shape[0] - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        est = skdim.id.MLE().fit(X, n_neighbors=k, comb="mle")
    return float(est.dimension_)


def local_pca_dimension(
    X: Any,
    k: int = 50,
    variance: float = 0.9,
    n_anchors: int | None = 200,
    seed: int = 0,
) -> float:
    """Local dimension: PCA dimension (at ``variance``) of k-NN patches, averaged.

    For ``n_anchors`` points drawn with ``seed`` (all points when None), take the anchor
    and its ``k - 1`` nearest neighbours, and count the principal components of that
    patch needed to hold ``variance`` of its variance; return the mean count. On a
    smooth d-manifold, small patches are nearly flat, so the count is d.

    Own code rather than skdim's ``lPCA.fit_pw``: that refits sklearn's PCA at every
    point of X; here the patches of a subsample of anchors are decomposed in one batched
    eigendecomposition (of the smaller of the two Gram matrices), which keeps the cost small for the many layers and snapshots of a network.
    """
    from sklearn.neighbors import NearestNeighbors

    if not 0.0 < variance < 1.0:
        raise ValueError(f"variance must lie in (0, 1), got {variance}")
    if k < 3:
        raise ValueError(f"k must be >= 3, got {k}")
    X = _unique_rows(_as_2d(X))
    n = X.shape[0]
    if n < 3:
        return float("nan")
    k = min(k, n)
    rng = np.random.default_rng(seed)
    anchors = np.arange(n) if n_anchors is None or n_anchors >= n else rng.choice(n, n_anchors, replace=False)
    nn = NearestNeighbors(n_neighbors=k).fit(X)
    _, idx = nn.kneighbors(X[anchors])
    patches = X[idx]  # (n_anchors, k, p)
    patches = patches - patches.mean(axis=1, keepdims=True)
    # the nonzero eigenvalues of P^T P (p x p) and P P^T (k x k) agree: take the smaller
    if patches.shape[2] > k:
        gram = patches @ patches.transpose(0, 2, 1)
    else:
        gram = patches.transpose(0, 2, 1) @ patches
    lam = np.clip(np.linalg.eigvalsh(gram)[:, ::-1], 0.0, None)
    total = lam.sum(axis=1, keepdims=True)
    frac = np.cumsum(lam, axis=1) / np.where(total > 0, total, 1.0)
    dims = (frac < variance - 1e-12).sum(axis=1) + 1
    dims = np.where(total[:, 0] > 0, dims, 0)
    return float(dims.mean())


MEASURES = {
    "pr": participation_ratio,
    "pca90": pca_dimension,
    "twonn": twonn_dimension,
    "mle": mle_dimension,
    "local_pca": local_pca_dimension,
}
"""Short names of the measures, as used in tables and config lists."""


def all_dimensions(X: Any, measures: list[str] | None = None, **kwargs: dict[str, Any]) -> dict[str, float]:
    """Every measure in ``measures`` (default: all of :data:`MEASURES`) on ``X``.

    ``kwargs`` maps a measure's short name to its keyword arguments, e.g.
    ``all_dimensions(X, mle={"k": 10}, local_pca={"k": 30})``.
    """
    names = list(MEASURES) if measures is None else list(measures)
    unknown = sorted(set(names) - set(MEASURES)) + sorted(set(kwargs) - set(MEASURES))
    if unknown:
        raise ValueError(f"unknown dimension measures {unknown}; known: {sorted(MEASURES)}")
    X = _as_2d(X)
    return {name: MEASURES[name](X, **kwargs.get(name, {})) for name in names}
