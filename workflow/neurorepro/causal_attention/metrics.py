"""AUROC of a causal score matrix against the true adjacency.

Two scorings:

- :func:`auroc` (ours): the ``N(N-1)`` off-diagonal pairs only; self-connections are
  neither possible in the simulated networks nor scored by any method, so counting them
  would reward every method for "finding" them absent.
- :func:`auroc_all_entries` (the paper's): all ``N^2`` entries, the diagonal included as
  non-edges scored below every off-diagonal pair. This is what the authors' notebooks
  compute (``roc_auc_score(con_abs.flatten(), toplot_.flatten())`` with the attention's
  diagonal set to 0 and MVGC's NaN diagonal set to 0). It adds ``N`` sure negatives, so
  it is higher than :func:`auroc`; ``auroc_all = (auroc * n_neg + N) / (n_neg + N)``.
"""
from __future__ import annotations

import numpy as np


def offdiag(m: np.ndarray) -> np.ndarray:
    """The off-diagonal entries of a square matrix (row-major order)."""
    m = np.asarray(m)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"expected a square matrix, got shape {m.shape}")
    return m[~np.eye(m.shape[0], dtype=bool)]


def auroc(scores: np.ndarray, adjacency: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for the edges of ``adjacency`` (diagonal excluded).

    Both are ``(target, source)``. Returns NaN when the network has no edge or every
    possible edge (the AUROC is undefined), rather than failing.
    """
    from sklearn.metrics import roc_auc_score

    y, s = offdiag(adjacency).astype(bool), offdiag(scores).astype(float)
    if y.all() or not y.any():
        return float("nan")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores contain NaN or inf")
    return float(roc_auc_score(y, s))


def auroc_all_entries(scores: np.ndarray, adjacency: np.ndarray) -> float:
    """The paper's scoring: AUROC over all ``N^2`` entries, the diagonal a non-edge scored lowest."""
    from sklearn.metrics import roc_auc_score

    s = np.array(scores, float)
    y = np.asarray(adjacency).astype(bool).copy()
    off = offdiag(s)
    if not np.all(np.isfinite(off)):
        raise ValueError("scores contain NaN or inf")
    np.fill_diagonal(y, False)
    np.fill_diagonal(s, off.min() - 1.0 if off.size else 0.0)
    if not y.any():
        return float("nan")
    return float(roc_auc_score(y.ravel(), s.ravel()))
