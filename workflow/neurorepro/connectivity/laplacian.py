"""Graph Laplacians of voxel grids (6-neighbour) and of 1-D paths, as scipy.sparse matrices.

Convention of Harris, Mihalas & Shea-Brown (2016): ``L[i, j] = 1`` when voxels ``i`` and
``j`` are face neighbours (differ by one in exactly one of AP, DV, ML), and
``L[i, i] = -deg(i)``, the number of neighbours of ``i`` inside the voxel set. ``L`` is
symmetric negative semidefinite and its rows sum to zero (free boundary), so constant
fields have zero bending energy ``||L_y W + W L_x^T||``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp

_OFFSETS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.int64)


def _adjacency(coords: np.ndarray, labels: Sequence[str] | np.ndarray | None) -> sp.csr_matrix:
    coords = np.asarray(coords, dtype=np.int64)
    if coords.ndim != 2 or coords.shape[1] != 3:
        raise ValueError(f"coords must be (n_voxels, 3) integer voxel indices, got shape {coords.shape}")
    n = coords.shape[0]
    lo = coords.min(axis=0) if n else np.zeros(3, np.int64)
    c = coords - lo
    dims = c.max(axis=0) + 2 if n else np.ones(3, np.int64)
    keys = np.ravel_multi_index(c.T, dims)
    if np.unique(keys).size != n:
        raise ValueError("coords contain duplicate voxels")
    order = np.argsort(keys)
    sorted_keys = keys[order]
    rows, cols = [], []
    for off in _OFFSETS:
        nb = np.ravel_multi_index((c + off).T, dims)
        pos = np.searchsorted(sorted_keys, nb)
        pos = np.clip(pos, 0, n - 1)
        hit = sorted_keys[pos] == nb
        i = np.nonzero(hit)[0]
        j = order[pos[hit]]
        if labels is not None:
            lab = np.asarray(labels)
            same = lab[i] == lab[j]
            i, j = i[same], j[same]
        rows += [i, j]
        cols += [j, i]
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    q = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    return sp.csr_matrix((np.ones(r.size), (r, q)), shape=(n, n))


def grid_laplacian(
    coords: np.ndarray,
    labels: Sequence[str] | np.ndarray | None = None,
    cut_borders: bool = False,
) -> sp.csr_matrix:
    """6-neighbour graph Laplacian of a set of voxels.

    Parameters
    ----------
    coords : (n, 3) integer voxel indices (AP, DV, ML).
    labels : area label of each voxel; used only when ``cut_borders`` is true.
    cut_borders : if true, voxels of different areas are not neighbours (no smoothing
        across area borders).

    Returns
    -------
    (n, n) CSR matrix with ``L[i, j] = 1`` for neighbours and ``L[i, i] = -degree``.
    """
    if cut_borders and labels is None:
        raise ValueError("cut_borders=True needs the voxels' area labels")
    adj = _adjacency(coords, labels if cut_borders else None)
    deg = np.asarray(adj.sum(axis=1)).ravel()
    return (adj - sp.diags(deg)).tocsr()


def path_laplacian(n: int) -> sp.csr_matrix:
    """Laplacian of the path graph on ``n`` points (the 1-D grid of the paper's §4 test)."""
    if n < 2:
        raise ValueError("path_laplacian needs n >= 2")
    coords = np.zeros((n, 3), dtype=np.int64)
    coords[:, 0] = np.arange(n)
    return grid_laplacian(coords)
