"""Low-rank version (P2) of the problem: W = U V^T with U, V >= 0 of rank r.

    f(U, V) = ||P_Omega(U (V^T X) - Y)||^2 + lam_s ||L_y U V^T + U V^T L_x||^2

Nothing of size n_y x n_x is ever formed: with A = [L_y U, U] and B = [V, L_x V] the
bending term is A B^T and ||A B^T||^2 = sum((A^T A) * (B^T B)), so one evaluation costs
O((n_x + n_y) r^2 + nnz(L) r + (n_x + n_y) r k) time and O((n_x + n_y) r) memory.

The solver alternates accelerated projected-gradient steps on U and on V (each block
problem is a convex quadratic, :class:`BlockQuadratic`: the fixed factor's Gram matrices are
built once per block and the gradient is written out), with backtracking step sizes and
restarts, from smooth random factors (:func:`smooth_random_factor`) unless given a start.
Its memory is U, V and about six more n x r arrays at the peak.

Memory O((n_x + n_y) r) makes whole-brain sizes (5e5 voxels a side) fit in a few GB at
r = 100 and about 17 GB at r = 1000 in float32; seconds per sweep on CPU and GPU are in
``docs/performance.md`` (``bench.py --solvers lowrank``).
"""
from __future__ import annotations

import logging
import math
import time

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse import csgraph

from .objective import Problem
from .solve_common import SolveResult

LOG = logging.getLogger("neurorepro.connectivity")


def lowrank_value(prob: Problem, U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """f(U V^T) without forming U V^T (a torch scalar, differentiable)."""
    R = prob.M * (U @ (V.T @ prob.X) - prob.Y)
    A = torch.cat([torch.sparse.mm(prob.Ly, U), U], dim=1)
    B = torch.cat([V, torch.sparse.mm(prob.Lx, V)], dim=1)
    return (R**2).sum() + prob.lam_s * ((A.T @ A) * (B.T @ B)).sum()


class BlockQuadratic:
    """f(U, V) as a function of one factor P (``which`` = ``"U"`` or ``"V"``), the other, Q, fixed.

    Both blocks have one form: the bending term is ||A B^T||^2 with A = [L P, P] and
    B = [Q, L' Q] (for P = U: L = L_y, L' = L_x, Q = V; for P = V: L = L_x, L' = L_y, Q = U),
    so it equals sum(A * (A C)) with the 2r x 2r Gram matrix C = B^T B, built once per block.
    An evaluation then costs one sparse product L P, two (n x r)(r x r) products per half of
    A C and the data term: about half of what autograd through :func:`lowrank_value` spends
    (it rebuilds the fixed side's Grams and concatenated copies each time), with the gradient
    2 lam (L (A C)_1 + (A C)_2) + data term written out.
    """

    def __init__(self, prob: Problem, which: str, Q: torch.Tensor):
        if which not in ("U", "V"):
            raise ValueError(f"which must be 'U' or 'V', got {which!r}")
        self.prob, self.which, self.Q = prob, which, Q
        self.L, L_other = (prob.Ly, prob.Lx) if which == "U" else (prob.Lx, prob.Ly)
        LQ = torch.sparse.mm(L_other, Q)
        self.C11, self.C12, self.C22 = Q.T @ Q, Q.T @ LQ, LQ.T @ LQ
        self.QX = Q.T @ prob.X if which == "U" else None  # (r, k): V^T X is fixed in the U block

    def _residual(self, P: torch.Tensor) -> torch.Tensor:
        pr = self.prob
        WX = P @ self.QX if self.which == "U" else self.Q @ (P.T @ pr.X)
        return pr.M * (WX - pr.Y)

    def value(self, P: torch.Tensor) -> float:
        """f at this factor (the other fixed); one n x r temporary (L P).

        sum(A * (A C)) = sum((L P)^T (L P) * C11) + 2 sum((L P)^T P * C12) + sum(P^T P * C22).
        """
        R = self._residual(P)
        LP = torch.sparse.mm(self.L, P)
        pen = ((LP.T @ LP) * self.C11).sum() + 2 * ((LP.T @ P) * self.C12).sum() + ((P.T @ P) * self.C22).sum()
        return float(_dot(R, R) + self.prob.lam_s * pen)

    def value_grad(self, P: torch.Tensor) -> tuple[float, torch.Tensor]:
        """f and its gradient with respect to this factor; at most three n x r temporaries."""
        R = self._residual(P)
        LP = torch.sparse.mm(self.L, P)
        P1 = torch.addmm(LP @ self.C11, P, self.C12.T)  # (A C)_1 = L P C11 + P C21
        pen = _dot(LP, P1)
        P2 = torch.addmm(LP @ self.C12, P, self.C22)  # (A C)_2 = L P C12 + P C22
        del LP
        pen += _dot(P, P2)
        f = float(_dot(R, R) + self.prob.lam_s * pen)
        G = torch.sparse.mm(self.L, P1)
        del P1
        G.add_(P2).mul_(2.0 * self.prob.lam_s)
        del P2
        if self.which == "U":
            G.addmm_(R, self.QX.T, alpha=2.0)
        else:
            G.addmm_(self.prob.X, R.T @ self.Q, alpha=2.0)
        return f, G


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """sum(a * b) without the temporary a * b."""
    return torch.dot(a.reshape(-1), b.reshape(-1))


def lowrank_rel_distance(U: torch.Tensor, V: torch.Tensor, U_ref: torch.Tensor, V_ref: torch.Tensor) -> float:
    """||U V^T - U_ref V_ref^T||_F / ||U_ref V_ref^T||_F without forming either product.

    ||A B^T||_F^2 = sum((A^T A) * (B^T B)), and the cross term likewise: O((n_x + n_y) r^2)
    time, O(r^2) extra memory. Computed in float64 (the difference of squares cancels).
    """
    U, V, U_ref, V_ref = (a.to(torch.float64) for a in (U, V, U_ref, V_ref))
    aa = ((U.T @ U) * (V.T @ V)).sum()
    bb = ((U_ref.T @ U_ref) * (V_ref.T @ V_ref)).sum()
    ab = ((U.T @ U_ref) * (V.T @ V_ref)).sum()
    return float(torch.sqrt(torch.clamp(aa + bb - 2 * ab, min=0.0)) / torch.sqrt(bb))


def nndsvd(W: np.ndarray | torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Nonnegative initialisation of U, V from the leading singular triplets of W (NNDSVD)."""
    Wt = torch.as_tensor(W)
    Uf, s, Vh = torch.linalg.svd(Wt, full_matrices=False)
    U = torch.zeros(Wt.shape[0], rank, dtype=Wt.dtype)
    V = torch.zeros(Wt.shape[1], rank, dtype=Wt.dtype)
    for j in range(min(rank, s.numel())):
        u, v = Uf[:, j], Vh[j]
        up, un, vp, vn = u.clamp(min=0), (-u).clamp(min=0), v.clamp(min=0), (-v).clamp(min=0)
        if up.norm() * vp.norm() >= un.norm() * vn.norm():
            a, b = up, vp
        else:
            a, b = un, vn
        scale = torch.sqrt(s[j] * a.norm() * b.norm())
        U[:, j] = scale * a / a.norm().clamp(min=1e-300)
        V[:, j] = scale * b / b.norm().clamp(min=1e-300)
    return U, V


def nmf_hals(W: np.ndarray | torch.Tensor, rank: int, n_iter: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """Nonnegative factors U V^T ~ W (W >= 0) by HALS, started from NNDSVD.

    Used to warm-start (P2) from the full-rank solution, so the low-rank solver starts at
    the best nonnegative rank-r approximation of W_full instead of far from the optimum.
    """
    Wt = torch.as_tensor(W)
    U, V = nndsvd(Wt, rank)
    eps = 1e-12
    for _ in range(n_iter):
        WV, VV = Wt @ V, V.T @ V
        for j in range(rank):
            U[:, j] = torch.clamp(U[:, j] + (WV[:, j] - U @ VV[:, j]) / max(float(VV[j, j]), eps), min=0.0)
        WU, UU = Wt.T @ U, U.T @ U
        for j in range(rank):
            V[:, j] = torch.clamp(V[:, j] + (WU[:, j] - V @ UU[:, j]) / max(float(UU[j, j]), eps), min=0.0)
    return U, V


def smooth_random_factor(L: torch.Tensor | sp.spmatrix, rank: int, rng: np.random.Generator,
                         width_frac: float = 0.1) -> np.ndarray:
    """A random start for one factor of (P2): ``rank`` smooth, nonnegative, localised columns.

    Column j is exp(-d_j^2 / (2 w^2)), d_j the hop distance on the Laplacian's voxel graph
    from a random voxel and w = ``width_frac`` times the graph's diameter (estimated by a
    double breadth-first sweep); zero beyond 3 w. Uniform-random factors are rough: their
    bending energy dwarfs the data term and first-order steps, bounded by the stiffest
    bending mode, take many sweeps to smooth them (n = 10^5, r = 100, planted rank 10: f after
    6 sweeps 37,307 from uniform noise, 18,339 from these; f at the truth 26,654).
    ``width_frac = 0.1`` is a generic choice, not tuned. Cost: one truncated search per column.
    """
    if isinstance(L, torch.Tensor):
        L = L.to_sparse_csr().cpu()
        L = sp.csr_matrix((L.values().numpy(), L.col_indices().numpy(), L.crow_indices().numpy()), shape=L.shape)
    A = sp.csr_matrix(L, copy=True)
    A.setdiag(0)
    A.eliminate_zeros()
    A.data[:] = 1.0
    n = A.shape[0]
    d0 = csgraph.shortest_path(A, unweighted=True, indices=int(rng.integers(n)))
    d1 = csgraph.shortest_path(A, unweighted=True, indices=int(np.argmax(np.where(np.isfinite(d0), d0, -1))))
    w = max(width_frac * float(d1[np.isfinite(d1)].max()), 1.0)
    seeds = rng.choice(n, size=rank, replace=rank > n)
    F = np.zeros((n, rank))
    for lo in range(0, rank, 32):  # 32 searches at a time: O(32 n) memory
        D = csgraph.dijkstra(A, unweighted=True, indices=seeds[lo:lo + 32], limit=3 * w)
        F[:, lo:lo + 32] = np.exp(-(D.T**2) / (2 * w * w))  # inf (beyond the limit) -> 0
    return F


def solve_lowrank(prob: Problem, rank: int, U0: torch.Tensor | None = None, V0: torch.Tensor | None = None, *,
                  max_iter: int, ftol: float, seed: int = 0, inner: int = 5,
                  log_every: int = 200) -> tuple[torch.Tensor, torch.Tensor, SolveResult]:
    """Fit (P2) by alternating accelerated projected gradient; returns U, V and a SolveResult
    whose ``W`` is ``None``-free only for small problems (U V^T is formed when n_y*n_x <= 2e7)."""
    if rank < 1:
        raise ValueError(f"rank must be >= 1, got {rank}")
    n_y, n_x = prob.shape
    dt, dev = prob.X.dtype, prob.X.device
    scale = U0 is None or V0 is None
    if scale:
        rng = np.random.default_rng(seed)
        U0 = torch.as_tensor(smooth_random_factor(prob.Ly, rank, rng))
        V0 = torch.as_tensor(smooth_random_factor(prob.Lx, rank, rng))
    U = U0.to(dtype=dt, device=dev).clamp(min=0)
    V = V0.to(dtype=dt, device=dev).clamp(min=0)
    U0 = V0 = None  # noqa: F841 -- drop this function's references to the starts (float64: 2 n r each)
    if scale:  # so that P_Omega(U V^T X) has the size of P_Omega(Y)
        s = float((prob.M * prob.Y).norm() / (prob.M * (U @ (V.T @ prob.X))).norm().clamp(min=1e-300))
        U.mul_(s**0.5)
        V.mul_(s**0.5)
    steps = {"U": 1e-3, "V": 1e-3}
    t0 = time.perf_counter()
    hist: list[tuple[int, float, float]] = []

    def block(which: str, U_: torch.Tensor, V_: torch.Tensor) -> tuple[torch.Tensor, float]:
        """A few accelerated projected-gradient steps on one factor, the other fixed, with backtracking."""
        q = BlockQuadratic(prob, which, V_ if which == "U" else U_)
        P = U_ if which == "U" else V_
        Yk, P_old, t = P, P, 1.0  # (never changed in place)
        f_cur = q.value(P)
        for _ in range(inner):
            fy, g = q.value_grad(Yk)
            step = steps[which] * 2.0
            while True:
                P_new = torch.clamp(Yk - step * g, min=0.0)
                d = P_new - Yk
                bound = fy + float(_dot(g, d)) + float(_dot(d, d)) / (2 * step) + 1e-12 * abs(fy)
                del d
                f_new = q.value(P_new)
                if f_new <= bound:
                    break
                step *= 0.5
                if step < 1e-30:
                    break
            del g
            steps[which] = step
            if f_new > f_cur:  # restart momentum
                t, Yk = 1.0, P_old
                continue
            t_new = 0.5 * (1 + math.sqrt(1 + 4 * t * t))
            Yk = torch.lerp(P_new, P_old, -(t - 1) / t_new)  # P_new + (t-1)/t_new (P_new - P_old)
            P_old, t, f_cur = P_new, t_new, f_new
        return P_old, f_cur

    f_prev = float(lowrank_value(prob, U, V))
    hist.append((0, 0.0, f_prev))
    converged, it = False, 0
    for it in range(1, max_iter + 1):
        U, _ = block("U", U, V)
        V, f = block("V", U, V)
        hist.append((it, time.perf_counter() - t0, f))
        if log_every and it % log_every == 0:
            LOG.info("lowrank r=%d it %5d  f=%.8g  %.1fs", rank, it, f, time.perf_counter() - t0)
        if abs(f_prev - f) / max(abs(f), 1e-300) < ftol:
            converged = True
            break
        f_prev = f
    W = U @ V.T if n_y * n_x <= 2e7 else None
    return U, V, SolveResult(W, f, it, converged, float("nan"), time.perf_counter() - t0, hist)
