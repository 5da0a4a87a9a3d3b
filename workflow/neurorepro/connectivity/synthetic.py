"""Planted test problems: the paper's 1-D test (§4) and 3-D blob-shaped voxel grids (benchmark).

Both return a :class:`PlantedProblem` with ``W_true`` (target x source), ``X``, ``Y``,
``Omega`` (1 = entry counts in the loss) and the Laplacians; the whole-brain-size
:func:`make_lowrank_blob_problem` returns the factors of a low-rank ``W_true`` instead
(:class:`LowRankPlantedProblem`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .laplacian import grid_laplacian, path_laplacian


@dataclass
class PlantedProblem:
    """A problem with known connectivity ``W_true``: ``Y = W_true X + noise``."""

    W_true: np.ndarray  # (n_y, n_x)
    X: np.ndarray  # (n_x, n_inj)
    Y: np.ndarray  # (n_y, n_inj)
    Omega: np.ndarray  # (n_y, n_inj) int8, 1 outside injection sites
    Lx: sp.csr_matrix
    Ly: sp.csr_matrix
    coords: np.ndarray  # (n, d) positions of the voxels (same grid on both sides)
    seed: int


def kernel_1d(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The paper's 1-D true connectivity W(x, y) (rows: target y, columns: source x).

    W(x, y) = exp(-((x - y) / 0.4)^2) + 0.9 exp(-((x - 0.8)^2 + (y - 0.1)^2) / 0.2^2).
    """
    xs, ys = np.meshgrid(x, y)  # (n_y, n_x)
    return np.exp(-(((xs - ys) / 0.4) ** 2)) + 0.9 * np.exp(-((xs - 0.8) ** 2 + (ys - 0.1) ** 2) / 0.2**2)


def make_1d_problem(n: int = 200, n_inj: int = 5, noise: float = 0.1, seed: int = 0) -> PlantedProblem:
    """The synthetic 1-D test of Harris et al. (2016), §4.

    ``n`` points on [0, 1] on both sides; ``n_inj`` injections, each the indicator of an
    interval of width ``0.12 + 0.1 U(0, 1)`` centred uniformly so that it lies inside
    [0, 1]; ``Y = W X + noise * N(0, 1)`` outside the injection and 0 inside it (the paper:
    "y is set to 0 within the injection region", which is what makes the fit without P_Omega
    biased); ``Omega`` excludes each injection's own interval.
    """
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, n)
    W = kernel_1d(x, x)
    X = np.zeros((n, n_inj))
    for j in range(n_inj):
        width = 0.12 + 0.1 * rng.uniform()
        centre = rng.uniform(width / 2, 1 - width / 2)
        X[:, j] = (np.abs(x - centre) <= width / 2).astype(float)
    Y = W @ X + noise * rng.standard_normal((n, n_inj))
    Y[X > 0] = 0.0
    Omega = (X == 0).astype(np.int8)
    L = path_laplacian(n)
    return PlantedProblem(W, X, Y, Omega, L, L.copy(), x[:, None], seed)


def blob_coords(n: int, aspect: tuple[float, float, float] = (1.4, 1.0, 0.8)) -> np.ndarray:
    """Integer voxel coordinates of an ellipsoid ("blob") holding about ``n`` voxels."""
    if n < 8:
        raise ValueError("blob needs n >= 8 voxels")
    a = np.asarray(aspect, float)

    def voxels(s: float) -> np.ndarray:
        r = np.ceil(s * a).astype(int) + 1
        g = np.stack(np.meshgrid(*[np.arange(-k, k + 1) for k in r], indexing="ij"), -1).reshape(-1, 3)
        inside = (((g + 0.37) / (s * a)) ** 2).sum(1) <= 1.0  # off-centre: no mirror symmetry
        return g[inside]

    lo, hi = 0.5, 2.0 * n ** (1 / 3)
    for _ in range(60):
        mid = (lo + hi) / 2
        if len(voxels(mid)) < n:
            lo = mid
        else:
            hi = mid
    c = voxels(hi)
    return c - c.min(0)


def gaussian_injections(p: np.ndarray, n_inj: int, rng: np.random.Generator, sigma: float,
                        threshold: float) -> np.ndarray:
    """``(n, n_inj)`` injections: Gaussians of width ``sigma`` around distinct random voxels of
    ``p``, cut to zero below ``threshold`` (the support is the injection site)."""
    centres = p[rng.choice(len(p), size=n_inj, replace=False)]
    X = np.empty((len(p), n_inj))
    for j, c in enumerate(centres):  # one column at a time: O(n) memory at whole-brain sizes
        X[:, j] = np.exp(-((p - c) ** 2).sum(1) / (2 * sigma**2))
    X[X < threshold] = 0.0
    return X


def make_blob_problem(n: int = 1000, n_inj: int = 28, noise: float = 0.1, seed: int = 0,
                      inj_sigma: float = 0.07, inj_threshold: float = 0.1) -> PlantedProblem:
    """A planted 3-D problem on a blob of about ``n`` voxels (same grid for sources and targets).

    ``W_true`` is the 3-D analogue of the 1-D kernel, in coordinates scaled so the blob's
    longest axis spans [0, 1]: a distance-dependent local part plus one long-range bump,
    both cut to zero in their tails (so the nonnegativity bound is active on much of the
    solution), scaled so that ``W_true X`` has unit RMS.
    Each injection is a Gaussian of width ``inj_sigma`` around a random source voxel,
    cut to zero below ``inj_threshold`` (its support is the injection site). ``Y = W X``
    plus Gaussian noise of standard deviation ``noise`` (10% of the RMS signal); ``Omega`` excludes the sites.
    """
    rng = np.random.default_rng(seed)
    coords = blob_coords(n)
    p = coords / coords.max()
    d2 = ((p[:, None, :] - p[None, :, :]) ** 2).sum(-1)
    a, b = p[rng.integers(len(p))], p[rng.integers(len(p))]
    local = np.clip(np.exp(-d2 / 0.4**2) - 0.1, 0.0, None)
    bump = np.clip(np.exp(-(((p - a) ** 2).sum(1)[:, None] + ((p - b) ** 2).sum(1)[None, :]) / 0.2**2) - 0.1, 0.0, None)
    W = local + 0.9 * bump
    X = gaussian_injections(p, n_inj, rng, inj_sigma, inj_threshold)
    W /= np.sqrt(np.mean((W @ X) ** 2))  # projections of unit RMS, like densities
    WX = W @ X
    Y = WX + noise * rng.standard_normal(WX.shape)
    Omega = (X == 0).astype(np.int8)
    L = grid_laplacian(coords)
    return PlantedProblem(W, X, Y, Omega, L, L.copy(), coords, seed)


@dataclass
class LowRankPlantedProblem:
    """A problem with known low-rank connectivity ``W_true = U_true V_true^T`` (never formed)."""

    U_true: np.ndarray  # (n_y, r)
    V_true: np.ndarray  # (n_x, r)
    X: np.ndarray  # (n_x, n_inj)
    Y: np.ndarray  # (n_y, n_inj)
    Omega: np.ndarray  # (n_y, n_inj) int8, 1 outside injection sites
    Lx: sp.csr_matrix
    Ly: sp.csr_matrix
    coords: np.ndarray
    seed: int


def make_lowrank_blob_problem(n: int = 100_000, rank: int = 10, n_inj: int = 28, noise: float = 0.1,
                              seed: int = 0, width: float = 0.15, inj_sigma: float = 0.07,
                              inj_threshold: float = 0.1) -> LowRankPlantedProblem:
    """A planted problem of whole-brain size on a blob of about ``n`` voxels, in O(n (r + n_inj)) memory.

    ``W_true = U_true V_true^T`` with ``rank`` nonnegative smooth factors: column j of
    ``U_true`` (``V_true``) is a Gaussian bump of width ``width`` (blob's longest axis = 1)
    around a random target (source) voxel, so each component projects one source region to
    one target region. Injections, noise (10% of the RMS signal) and ``Omega`` are those of
    :func:`make_blob_problem`; ``Y = U_true (V_true^T X) + noise``.
    """
    if rank < 1:
        raise ValueError(f"rank must be >= 1, got {rank}")
    rng = np.random.default_rng(seed)
    coords = blob_coords(n)
    p = coords / coords.max()

    def bumps() -> np.ndarray:
        F = np.empty((len(p), rank))
        for j, c in enumerate(p[rng.choice(len(p), size=rank, replace=False)]):
            F[:, j] = np.exp(-((p - c) ** 2).sum(1) / (2 * width**2))
        return F

    U, V = bumps(), bumps()
    X = gaussian_injections(p, n_inj, rng, inj_sigma, inj_threshold)
    WX = U @ (V.T @ X)
    scale = 1.0 / np.sqrt(np.mean(WX**2))  # projections of unit RMS, as in make_blob_problem
    U *= scale
    WX *= scale
    Y = WX + noise * rng.standard_normal(WX.shape)
    Omega = (X == 0).astype(np.int8)
    L = grid_laplacian(coords)
    return LowRankPlantedProblem(U, V, X, Y, Omega, L, L.copy(), coords, seed)
