"""Low-rank version (P2) of the problem: W = U V^T with U, V >= 0 of rank r.

    f(U, V) = ||P_Omega(U (V^T X) - Y)||^2 + lam_s ||L_y U V^T + U V^T L_x||^2

Nothing of size n_y x n_x is ever formed: with A = [L_y U, U] and B = [V, L_x V] the
bending term is A B^T and ||A B^T||^2 = sum((A^T A) * (B^T B)), so one evaluation costs
O((n_x + n_y) r^2 + nnz(L) r + (n_x + n_y) r k) time and O((n_x + n_y) r) memory. That
keeps whole-brain sizes (n ~ 5e5, r ~ 100-1000) within a few GiB.

The solver alternates accelerated projected-gradient steps on U and on V (each block
problem is a convex quadratic), with backtracking step sizes and restarts.
"""
from __future__ import annotations

import logging
import math
import time

import numpy as np
import torch

from .objective import Problem
from .solvers import SolveResult

LOG = logging.getLogger("neurorepro.connectivity")


def lowrank_value(prob: Problem, U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """f(U V^T) without forming U V^T (a torch scalar, differentiable)."""
    R = prob.M * (U @ (V.T @ prob.X) - prob.Y)
    A = torch.cat([torch.sparse.mm(prob.Ly, U), U], dim=1)
    B = torch.cat([V, torch.sparse.mm(prob.Lx, V)], dim=1)
    return (R**2).sum() + prob.lam_s * ((A.T @ A) * (B.T @ B)).sum()


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


def solve_lowrank(prob: Problem, rank: int, U0: torch.Tensor | None = None, V0: torch.Tensor | None = None, *,
                  seed: int = 0, max_iter: int = 3000, ftol: float = 1e-8, inner: int = 5,
                  log_every: int = 200) -> tuple[torch.Tensor, torch.Tensor, SolveResult]:
    """Fit (P2) by alternating accelerated projected gradient; returns U, V and a SolveResult
    whose ``W`` is ``None``-free only for small problems (U V^T is formed when n_y*n_x <= 2e7)."""
    if rank < 1:
        raise ValueError(f"rank must be >= 1, got {rank}")
    n_y, n_x = prob.shape
    dt, dev = prob.X.dtype, prob.X.device
    if U0 is None or V0 is None:
        g = torch.Generator().manual_seed(seed)
        # scale so that U V^T X has the size of Y
        s = float(prob.Y.abs().mean() / max(float(prob.X.sum(0).mean()), 1e-12) / rank) ** 0.5
        U0 = s * torch.rand(n_y, rank, generator=g, dtype=torch.float64)
        V0 = s * torch.rand(n_x, rank, generator=g, dtype=torch.float64)
    U = U0.to(dtype=dt, device=dev).clamp(min=0).clone()
    V = V0.to(dtype=dt, device=dev).clamp(min=0).clone()
    steps = {"U": 1e-3, "V": 1e-3}
    t0 = time.perf_counter()
    hist: list[tuple[int, float, float]] = []

    def f_of(U_, V_):
        with torch.no_grad():
            return float(lowrank_value(prob, U_, V_))

    def grad(which: str, U_, V_):
        P = (U_ if which == "U" else V_).detach().requires_grad_(True)
        val = lowrank_value(prob, P, V_) if which == "U" else lowrank_value(prob, U_, P)
        (g,) = torch.autograd.grad(val, P)
        return float(val), g

    def block(which: str, U_, V_):
        """A few accelerated projected-gradient steps on one block with backtracking."""
        P = U_ if which == "U" else V_
        Yk, P_old, t = P.clone(), P.clone(), 1.0
        f_cur = f_of(U_, V_)
        for _ in range(inner):
            fy, g = grad(which, *((Yk, V_) if which == "U" else (U_, Yk)))
            step = steps[which] * 2.0
            while True:
                P_new = (Yk - step * g).clamp(min=0)
                d = P_new - Yk
                args = (P_new, V_) if which == "U" else (U_, P_new)
                f_new = f_of(*args)
                if f_new <= fy + float((g * d).sum()) + float((d * d).sum()) / (2 * step) + 1e-12 * abs(fy):
                    break
                step *= 0.5
                if step < 1e-30:
                    break
            steps[which] = step
            if f_new > f_cur:  # restart momentum
                t, Yk = 1.0, P_old.clone()
                continue
            t_new = 0.5 * (1 + math.sqrt(1 + 4 * t * t))
            Yk = P_new + ((t - 1) / t_new) * (P_new - P_old)
            P_old, t, f_cur = P_new, t_new, f_new
        return P_old, f_cur

    f_prev = f_of(U, V)
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
