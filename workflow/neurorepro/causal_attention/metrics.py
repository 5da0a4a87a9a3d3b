"""AUROC of a causal score matrix against the true adjacency."""
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
