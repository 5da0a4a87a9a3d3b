"""Representational similarity: RSMs, similarity of similarity matrices (SSM), nulls, ceilings.

Conventions (Shi, Shea-Brown & Buice 2019; Kriegeskorte et al. 2008):

- A *representation* is a ``(n_stimuli, n_units)`` array: one row per stimulus, one
  column per unit (neuron or CNN feature).
- Its representational similarity matrix (RSM) is the ``(n_stimuli, n_stimuli)`` matrix
  of Pearson correlations between stimuli across units.
- The similarity of two RSMs (SSM) is a correlation (Spearman by default, Pearson or
  Kendall as options) between their strict upper triangles (the diagonal is always 1
  and the matrix is symmetric, so only the upper triangle carries information).
- Spearman here is Pearson's correlation of the average ranks
  (:func:`neurorepro.measures.correlation.rank`) written as centred dot products rather
  than with :func:`neurorepro.measures.correlation.spearman` (scipy's number; the two
  agree to the last bit or two): the SSM correlates one ranking with many at once (one
  matrix product for every model or permutation), and the scalar :func:`ssm` uses the
  same form as the vectorised ones.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from neurorepro.measures.correlation import rank as _rank

SSM_METHODS = ("spearman", "pearson", "kendall")


def rsm(representation: np.ndarray) -> np.ndarray:
    """Pearson correlation between stimuli (rows) across units (columns).

    A stimulus whose response is constant across units has no defined correlation;
    its row and column are NaN (except the diagonal, 1).
    """
    x = np.asarray(representation, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"representation must be 2-D (stimuli x units), got shape {x.shape}")
    if x.shape[1] < 2:
        raise ValueError("an RSM needs at least 2 units")
    x = x - x.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(x, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = x / norm[:, None]
    r = z @ z.T
    r = np.clip(r, -1.0, 1.0)
    np.fill_diagonal(r, 1.0)
    return r


def upper_triangle(matrix: np.ndarray) -> np.ndarray:
    """The strict upper triangle (k=1) of a square matrix, row-major, as a vector."""
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"expected a square matrix, got shape {m.shape}")
    i, j = np.triu_indices(m.shape[0], k=1)
    return m[i, j]


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")


def ssm(rsm_a: np.ndarray, rsm_b: np.ndarray, method: str = "spearman") -> float:
    """Similarity of two RSMs: correlation of their strict upper triangles.

    ``method``: ``spearman`` (default, as in the paper), ``pearson`` or ``kendall``
    (tau-b). Pairs where either RSM is NaN are dropped.
    """
    if method not in SSM_METHODS:
        raise ValueError(f"SSM method must be one of {SSM_METHODS}, got {method!r}")
    a, b = upper_triangle(rsm_a), upper_triangle(rsm_b)
    if a.shape != b.shape:
        raise ValueError(f"RSMs differ in size: {np.shape(rsm_a)} vs {np.shape(rsm_b)}")
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if a.size < 3:
        return float("nan")
    if method == "pearson":
        return _pearson(a, b)
    if method == "spearman":
        return _pearson(_rank(a), _rank(b))
    return float(stats.kendalltau(a, b).correlation)


def ssm_many(rsm_a: np.ndarray, rsms_b: np.ndarray, method: str = "spearman") -> np.ndarray:
    """SSM of one RSM against a stack of RSMs ``(n, S, S)``; fast path for Spearman/Pearson."""
    rsms_b = np.asarray(rsms_b)
    if method == "kendall":
        return np.array([ssm(rsm_a, b, method) for b in rsms_b])
    a = upper_triangle(rsm_a)
    i, j = np.triu_indices(rsms_b.shape[-1], k=1)
    b = rsms_b[:, i, j]
    ok = np.isfinite(a) & np.all(np.isfinite(b), axis=0)
    a, b = a[ok], b[:, ok]
    if method == "spearman":
        a = _rank(a)
        b = np.apply_along_axis(_rank, 1, b)
    a = a - a.mean()
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum() * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (b @ a) / den


def permute_rsm(matrix: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Relabel the stimuli of an RSM: rows and columns permuted together."""
    return matrix[np.ix_(perm, perm)]


def ssm_permutation_null(
    rsm_a: np.ndarray,
    rsm_b: np.ndarray,
    n_permutations: int,
    rng: np.random.Generator,
    method: str = "spearman",
) -> np.ndarray:
    """SSMs after random relabelling of the stimuli of ``rsm_a`` (the stimulus-permutation null)."""
    if n_permutations < 1:
        raise ValueError("n_permutations must be >= 1")
    n = np.shape(rsm_a)[0]
    perms = [rng.permutation(n) for _ in range(n_permutations)]
    if method == "kendall":
        return np.array([ssm(permute_rsm(rsm_a, p), rsm_b, method) for p in perms])
    stack = np.stack([permute_rsm(rsm_a, p) for p in perms])
    return ssm_many(rsm_b, stack, method)


def ssm_permutation_null_many(
    rsm_a: np.ndarray,
    rsms_b: np.ndarray,
    n_permutations: int,
    rng: np.random.Generator,
    method: str = "spearman",
    chunk: int = 100,
) -> np.ndarray:
    """Permutation null of ``rsm_a`` against every RSM of a stack, ``(n_permutations, n_models)``.

    The same stimulus relabellings are used for every model RSM. Fast path: a permutation
    only reorders the upper-triangle entries, so for Spearman the ranks are computed once
    and permuted, and all models are correlated in one matrix product.
    """
    if n_permutations < 1:
        raise ValueError("n_permutations must be >= 1")
    rsms_b = np.asarray(rsms_b, float)
    n = np.shape(rsm_a)[0]
    perms = np.stack([rng.permutation(n) for _ in range(n_permutations)])
    i, j = np.triu_indices(n, k=1)
    a_vals = upper_triangle(rsm_a)
    b = rsms_b[:, i, j]
    if method == "kendall" or not (np.all(np.isfinite(a_vals)) and np.all(np.isfinite(b))):
        return np.array([[ssm(permute_rsm(rsm_a, p), rb, method) for rb in rsms_b] for p in perms])
    if method not in SSM_METHODS:
        raise ValueError(f"SSM method must be one of {SSM_METHODS}, got {method!r}")
    full = np.zeros((n, n))
    full[i, j] = _rank(a_vals) if method == "spearman" else a_vals
    full = full + full.T
    if method == "spearman":
        b = np.apply_along_axis(_rank, 1, b)
    b = b - b.mean(axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    out = np.empty((n_permutations, len(b)))
    for c in range(0, n_permutations, chunk):
        p = perms[c : c + chunk]
        v = full[p[:, i], p[:, j]]
        v = v - v.mean(axis=1, keepdims=True)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        out[c : c + chunk] = v @ b.T
    return out


def spearman_brown(r: float | np.ndarray, factor: float = 2.0):
    """Spearman-Brown prophecy: reliability of data ``factor`` times as long as that giving ``r``."""
    r = np.asarray(r, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = factor * r / (1.0 + (factor - 1.0) * r)
    return out if out.ndim else float(out)


def split_half_reliability(half_a: np.ndarray, half_b: np.ndarray) -> np.ndarray:
    """Per-unit split-half reliability: Pearson between the two halves' responses across stimuli,
    Spearman-Brown corrected to the full number of trials.

    ``half_a``, ``half_b``: ``(n_units, n_stimuli)`` trial averages of two disjoint halves.
    """
    a = np.asarray(half_a, float)
    b = np.asarray(half_b, float)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(1) / den
    return spearman_brown(r)


def rsm_noise_ceiling(half_a: np.ndarray, half_b: np.ndarray, method: str = "spearman") -> dict[str, float]:
    """Noise ceiling of the SSM for a neural group from split halves of its trials.

    ``half_a``, ``half_b``: ``(n_stimuli, n_units)`` representations from two disjoint
    halves of the trials. ``r_half`` is the SSM between their RSMs; ``reliability`` is
    its Spearman-Brown correction to the full data; ``ceiling = sqrt(reliability)`` is the
    largest SSM expected for a model whose RSM were the noise-free neural RSM (classical
    attenuation bound; approximate for rank correlations).
    """
    r_half = ssm(rsm(half_a), rsm(half_b), method)
    rel = spearman_brown(r_half)
    ceiling = float(np.sqrt(rel)) if np.isfinite(rel) and rel > 0 else float("nan")
    return {"r_half": float(r_half), "reliability": float(rel), "ceiling": ceiling}


def subsample_ssm(
    representation: np.ndarray,
    model_rsms: np.ndarray,
    fraction: float,
    n_repeats: int,
    rng: np.random.Generator,
    axis: str = "units",
    method: str = "spearman",
) -> np.ndarray:
    """SSMs of a subsampled representation against each model RSM, ``(n_repeats, n_models)``.

    ``axis="units"`` keeps a random ``fraction`` of the units (neurons); ``axis="stimuli"``
    keeps a random ``fraction`` of the stimuli (in both the neural and the model RSMs).
    """
    if not 0 < fraction <= 1:
        raise ValueError("fraction must be in (0, 1]")
    x = np.asarray(representation, float)
    n_stim, n_units = x.shape
    out = np.empty((n_repeats, len(model_rsms)))
    for r in range(n_repeats):
        if axis == "units":
            k = max(2, int(round(fraction * n_units)))
            keep = rng.choice(n_units, size=k, replace=False)
            out[r] = ssm_many(rsm(x[:, keep]), model_rsms, method)
        elif axis == "stimuli":
            k = max(4, int(round(fraction * n_stim)))
            keep = np.sort(rng.choice(n_stim, size=k, replace=False))
            sub = np.asarray(model_rsms)[:, keep][:, :, keep]
            out[r] = ssm_many(rsm(x[keep]), sub, method)
        else:
            raise ValueError(f"axis must be 'units' or 'stimuli', got {axis!r}")
    return out

