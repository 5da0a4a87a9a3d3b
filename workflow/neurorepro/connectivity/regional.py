"""The regional ("homogeneous") model: W constant within each target-area x source-area block.

With W[i, x] = w[area(i), area(x)], the prediction is (W X)[i, j] = sum_a w[b, a] Xr[a, j]
for a target voxel i in area b, where Xr[a, j] is the summed injection density of source
area a in injection j. Each target area's row w[b, :] is a nonnegative least-squares fit
of the masked voxel loss; entries of one target area share the design row of their
injection, so the fit reduces to an NNLS problem with one (weighted) row per injection:
    sum_{i in b, j} Omega_ij (Xr_j . w - Y_ij)^2 = sum_j c_bj (Xr_j . w - ybar_bj)^2 + const
with c_bj = sum_{i in b} Omega_ij and ybar_bj the mean of the counted Y_ij.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import nnls


def area_indicator(labels: np.ndarray, areas: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """(n_voxels, n_areas) 0/1 matrix of area membership, and the area names (sorted)."""
    labels = np.asarray(labels).astype(str)
    areas = sorted(set(labels)) if areas is None else list(areas)
    ind = (labels[:, None] == np.asarray(areas)[None, :]).astype(np.float64)
    return ind, areas


class RegionalConnectivity:
    """Homogeneous regional model fitted by NNLS (scikit-learn style: ``__init__`` stores, ``fit``
    validates and sets the attributes ending in ``_``).

    Parameters
    ----------
    source_areas, target_areas : area label of every source / target voxel.

    Attributes
    ----------
    w_ : (target areas, source areas) weights; W_ : the voxel matrix they define;
    source_names_, target_names_ : the area order of ``w_``.
    """

    def __init__(self, source_areas, target_areas):
        self.source_areas = source_areas
        self.target_areas = target_areas

    def fit(self, X: np.ndarray, Y: np.ndarray, Omega: np.ndarray) -> "RegionalConnectivity":
        src = np.asarray(self.source_areas).astype(str)
        tgt = np.asarray(self.target_areas).astype(str)
        if src.ndim != 1 or tgt.ndim != 1:
            raise ValueError("source_areas and target_areas must be 1-D label arrays")
        X, Y, Omega = np.asarray(X, float), np.asarray(Y, float), np.asarray(Omega, float)
        if X.shape[0] != src.size or Y.shape[0] != tgt.size:
            raise ValueError("X / Y rows must match the number of source / target voxels")
        Sx, self.source_names_ = area_indicator(src)
        Sy, self.target_names_ = area_indicator(tgt)
        Xr = Sx.T @ X  # (n_src_areas, k)
        c = Sy.T @ Omega  # (n_tgt_areas, k)
        s = Sy.T @ (Omega * Y)
        w = np.zeros((Sy.shape[1], Sx.shape[1]))
        for b in range(Sy.shape[1]):
            rows = c[b] > 0
            if not rows.any():
                continue
            sq = np.sqrt(c[b, rows])
            w[b], _ = nnls(sq[:, None] * Xr[:, rows].T, s[b, rows] / sq)
        self.w_ = w  # (target areas, source areas), per voxel pair
        self.W_ = Sy @ w @ Sx.T  # (target voxels, source voxels)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted projection densities W X, (target voxels, injections)."""
        return self.W_ @ np.asarray(X, float)
