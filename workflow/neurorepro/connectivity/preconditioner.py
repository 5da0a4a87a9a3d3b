"""The preconditioner of :func:`.newton.solve_newton`: the exact inverse of the Hessian of (P1).

The penalty ||L_y W + W L_x||^2 is diagonal in the eigenbases of the two Laplacians, the data term
with the mask set to all ones adds the same rank-k term to every row there (Woodbury, one k x k
factor per target voxel), and the masked-out entries (injection sites) are put back with a second
Woodbury identity on an m x m capacitance matrix (:class:`EigPreconditioner`).
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch

from .eigenbasis import Eigenbasis
from .objective import Problem
from .solve_common import LOG


def _dtname(dt: torch.dtype) -> str:
    return str(dt).replace("torch.", "")


def _mm(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Dense product for the O(n^3) changes of basis.

    On CPU, float32/float64 products go through numpy's BLAS (OpenBLAS, zero-copy): on this
    project's 2-core AMD EPYC machine it runs sgemm at ~190 GFLOP/s against ~118 for torch's
    MKL (n = 7,497). bfloat16 and GPU products stay in torch (oneDNN: ~370 GFLOP/s bfloat16).
    """
    if A.device.type == "cpu" and A.dtype in (torch.float32, torch.float64) and A.dtype == B.dtype:
        # numpy only calls BLAS on (row- or column-) contiguous operands
        A, B = (M if M.is_contiguous() or M.T.is_contiguous() else M.contiguous() for M in (A, B))
        return torch.from_numpy(np.matmul(A.numpy(), B.numpy()))
    return A @ B


class EigPreconditioner:
    """Exact inverse of the Hessian H of (P1) (constant: the problem is quadratic).

    Write H = H0 - 2 U U^T, where H0 = 2 W X X^T + 2 lam (L_y (+) L_x)^2 is the Hessian with
    the mask Omega set to all ones and U's columns are e_i x_j^T for the m excluded entries
    (i, j) (Omega_ij = 0, i.e. injection sites). Then

    * H0 is inverted exactly in the Laplacians' eigenbases: there it is, row by row,
      diagonal (the penalty, curvature 2 lam (b_i + a_j)^2) plus the same rank-k term
      2 X^ X^^T (k = #injections), solved with the Woodbury identity (a k x k Cholesky
      factor per target voxel);
    * the m excluded entries are put back with a second Woodbury identity: an m x m
      capacitance matrix K = I/2 - U^T H0^-1 U, whose entries need only the k x k blocks
      X^^T (D_r + 2 X^ X^^T)^-1 X^ and the rows of Q_y at the site voxels (2 m^2 n flops).

    Applying H^-1 then costs two changes of basis (4 dense n^3 products; products of W X are
    low rank and cheap) and an m x m triangular solve (in reduced precision: a product with
    K^-1). It is the exact Newton step of the unconstrained problem, and on the free entries of
    the constrained one an excellent preconditioner. With more than ``max_sites`` excluded
    entries the second correction is skipped (H0^-1 alone, H0 >= H, is then the preconditioner).
    """

    def __init__(self, prob: Problem, eig: Eigenbasis, dtype: torch.dtype | None = None, max_sites: int = 12000,
                 soft_frac: float = 0.05):
        t0 = time.perf_counter()
        dt = dtype or prob.X.dtype
        f64 = torch.float64
        # bfloat16: the change of basis *into* the eigenbases runs in bfloat16 (its rounding
        # error, ~0.4% of the residual, stays ~0.4% after H^-1 and H). The change back cannot
        # run wholly in bfloat16: the output's rounding (white noise in the voxel basis, ~0.4% of
        # its size) lands in the stiff modes, where H is up to ~1e4 times larger than on the
        # smooth modes that carry most of the output (measured at n = 3,000: |H P r - r| / |r| =
        # 1.06 with both changes in bfloat16, 0.0056 with the forward one only). So the block of
        # coefficients on the ``soft_frac`` softest modes of each side (the largest entries of
        # H^-1 r) goes back in float32 (2 n^2 s flops) and the rest in bfloat16: its rounding is
        # ~0.4% of a stiff component, so it stays ~0.4% in the H-norm (measured at n = 3,000, in
        # the H-norm relative to the exact P r: 0.33% all-float32 backward, 0.38% with 5% soft
        # modes, 0.51% with 2%, 8.5% with 0%).
        self.fwd_dtype = dt
        self.dtype = torch.float32 if dt == torch.bfloat16 else dt
        Qx, Qy = eig.Qx.to(f64), eig.Qy.to(f64)
        a, b = eig.a.to(f64), eig.b.to(f64)
        X = prob.X.to(f64)
        Xh = Qx.T @ X
        n_y, k = Qy.shape[0], X.shape[1]
        pen = (2.0 * prob.lam_s) * (b[:, None] + a[None, :]) ** 2
        pen = pen + 1e-10 * float(pen.max()) + 1e-300  # only the null mode (constant W) needs it
        Dinv = 1.0 / pen
        Mr = (Dinv @ (Xh[:, :, None] * Xh[:, None, :]).reshape(Xh.shape[0], k * k)).reshape(n_y, k, k)
        A = Mr + 0.5 * torch.eye(k, dtype=f64, device=X.device)
        chol0 = torch.linalg.cholesky(A)
        # sites: excluded entries, ordered by injection then voxel
        excl = prob.M.to(f64) == 0
        self.sites = [torch.nonzero(excl[:, j]).squeeze(1) for j in range(k)]
        self.m = int(sum(len(s) for s in self.sites))
        self.kcap = None
        if 0 < self.m <= max_sites:
            T = Mr - Mr @ torch.cholesky_solve(Mr, chol0)  # X^T (D_r + 2 X^ X^^T)^-1 X^, (n_y, k, k)
            K = 0.5 * torch.eye(self.m, dtype=f64, device=X.device) - self._site_coupling(T, Qy)
            try:
                self.kcap = torch.linalg.cholesky(K)
            except RuntimeError:  # numerically singular: keep H0 alone
                LOG.warning("capacitance matrix not positive definite; preconditioning with H0 only")
                self.kcap = None
        elif self.m > max_sites:
            LOG.info("%d excluded entries > max_sites=%d: preconditioning with H0 only", self.m, max_sites)
        # The two changes of basis (the O(n^3) work) run in ``dt``; everything else (the
        # Woodbury solves, whose terms cancel by many orders of magnitude near the
        # penalty's null mode, and the capacitance correction) stays in float64.
        same = Qy is Qx  # L_y = L_x: one copy of the eigenvectors per dtype
        self.Qx = Qx.to(self.dtype)
        self.Qy = self.Qx if same else Qy.to(self.dtype)
        if self.fwd_dtype != self.dtype:
            self.Qx_fwd = Qx.to(self.fwd_dtype)
            self.Qy_fwd = self.Qx_fwd if same else Qy.to(self.fwd_dtype)
        else:
            self.Qx_fwd, self.Qy_fwd = self.Qx, self.Qy
        self.soft: tuple[torch.Tensor, torch.Tensor] | None = None
        if self.fwd_dtype != self.dtype:  # the softest modes (smallest |eigenvalue|) of each side
            self.soft = tuple(torch.sort(torch.argsort(ev.abs())[:max(1, math.ceil(soft_frac * len(ev)))]).values
                              for ev in (b, a))
            self.Qy_soft, self.QxT_soft = self.Qy[:, self.soft[0]], self.Qx[:, self.soft[1]].T.contiguous()
        self.Qy64 = Qy if self.kcap is not None else None  # (before kcap may give way to kinv)
        # In reduced precision the m x m solve runs as a product with K^-1 (m^3 once: 16 s at
        # m = 9,833, against 0.85 s per call for the two float64 triangular solves, ~0.03 s for the
        # float32 product; K^-1 rounded to float32 changes K^-1 u by ~3e-8 relative there).
        self.kinv = None
        if self.kcap is not None and self.dtype != f64:
            self.kinv, self.kcap = torch.cholesky_inverse(self.kcap).to(self.dtype), None
        self.Xh, self.Dinv, self.chol0, self.Mr = Xh, Dinv, chol0, Mr
        LOG.info("preconditioner: %d excluded entries, changes of basis in %s/%s, set up in %.1fs", self.m,
                 _dtname(self.fwd_dtype), _dtname(self.dtype), time.perf_counter() - t0)

    def _site_coupling(self, T: torch.Tensor, Qy: torch.Tensor) -> torch.Tensor:
        """C = U^T H0^-1 U / 2 over the excluded entries: C[(j,s),(j',s')] = sum_r Qy[s,r] T[r,j,j'] Qy[s',r].

        Symmetric (T[r] is), so only the block rows j' >= j are computed (m^2 n / 2 flops): for
        each injection j, one product of its (m_j x n) slab of Q_y's site rows with the slabs of
        injections j' >= j scaled by T[:, j, j'] (one large product per j keeps BLAS near its peak
        and avoids a strided broadcast: at n = 7,497, m = 9,833 the whole set-up takes 23 s against
        50 s with one product per block pair).
        """
        k = T.shape[1]
        offs = np.cumsum([0] + [len(s) for s in self.sites])
        A = Qy[torch.cat(self.sites)]  # (m, n): the rows of Q_y at the sites, injection by injection
        buf = torch.empty_like(A)
        C = torch.empty((self.m, self.m), dtype=T.dtype, device=T.device)
        for j in range(k):
            r0, r1 = offs[j], offs[j + 1]
            if r1 == r0:
                continue
            for jj in range(j, k):  # buf[rows of j'] = A[rows of j'] * T[:, j, j']
                torch.mul(A[offs[jj]:offs[jj + 1]], T[:, j, jj], out=buf[offs[jj]:offs[jj + 1]])
            blk = _mm(A[r0:r1], buf[r0:].T)  # (m_j, m - offs[j])
            C[r0:r1, r0:] = blk
            C[r1:, r0:r1] = blk[:, r1 - r0:].T
            C[r0:r1, r0:r1] = 0.5 * (blk[:, :r1 - r0] + blk[:, :r1 - r0].T)
        return C

    def __call__(self, R: torch.Tensor, precise: bool = False) -> torch.Tensor:
        """H^-1 R (approximately, in reduced precision); ``precise`` skips the bfloat16 step.

        In the eigenbasis, row r of H0^-1 R^ is (Woodbury, A_r = I/2 + X^^T D_r^-1 X^ with Cholesky
        factor ``chol0``) D_r^-1 g - D_r^-1 X^ s_r, s_r = A_r^-1 X^^T D_r^-1 g; the capacitance
        correction adds D_r^-1 X^ v_r / 2, so both go into one rank-k update of D^-1 R^ (one
        n^2 k product and one pass over the n^2 coefficients).
        """
        out_dt, f64 = R.dtype, torch.float64
        Qx, Qy, fdt = (self.Qx, self.Qy, self.dtype) if precise else (self.Qx_fwd, self.Qy_fwd, self.fwd_dtype)
        G = _mm(Qy.T, _mm(R.to(fdt), Qx)).to(f64).mul_(self.Dinv)  # D^-1 R^
        GX = G @ self.Xh  # (n_y, k)
        S = torch.cholesky_solve(GX.unsqueeze(-1), self.chol0)
        if self.Qy64 is not None:  # the capacitance correction (kcap or kinv)
            # (H0^-1 R) X in the voxel basis: row r of (H0^-1 R^) X^ is GX_r - Mr_r s_r
            ZX = self.Qy64 @ (GX - (self.Mr @ S).squeeze(-1))
            u = torch.cat([ZX[s, j] for j, s in enumerate(self.sites)])
            if self.kinv is not None:
                c = (self.kinv @ u.to(self.kinv.dtype)).to(f64)
            else:
                c = torch.cholesky_solve(u.unsqueeze(1), self.kcap).squeeze(1)
            Cm = torch.zeros_like(ZX)
            pos = 0
            for j, s in enumerate(self.sites):
                Cm[s, j] = c[pos:pos + len(s)]
                pos += len(s)
            # + H0^-1 of the rank-k correction U X^^T (U = Q_y^T Cm): row r of it is
            # D_r^-1 X^ A_r^-1 u_r / 2, so no second full Woodbury pass is needed
            S.sub_(torch.cholesky_solve((self.Qy64.T @ Cm).unsqueeze(-1), self.chol0), alpha=0.5)
        Zh = G.sub_((S.squeeze(-1) @ self.Xh.T).mul_(self.Dinv))
        del GX, S
        if precise or self.soft is None:
            return _mm(self.Qy, _mm(Zh.to(self.dtype), self.Qx.T)).to(out_dt)
        return self._back_mixed(Zh).to(out_dt)

    def _back_mixed(self, Zh: torch.Tensor) -> torch.Tensor:
        """Q_y Zh Q_x^T with the soft x soft block of Zh in float32, the rest in bfloat16."""
        iy, ix = self.soft
        Zs = Zh[iy[:, None], ix].to(self.dtype)  # (s_y, s_x) soft block
        Zb = Zh.to(self.fwd_dtype)
        Zb[iy[:, None], ix] = 0
        T = _mm(Zb, self.Qx_fwd.T)  # (n_y, n_x) coefficients in (target mode, source voxel)
        del Zb
        Ts = T[iy].to(self.dtype).addmm_(Zs, self.QxT_soft)  # the soft rows in float32
        T[iy] = 0
        out = _mm(self.Qy_fwd, T).to(self.dtype)
        del T
        return out.addmm_(self.Qy_soft, Ts)
