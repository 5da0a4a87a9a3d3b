"""Solvers for problem (P1): min_{W >= 0} f(W) (see :mod:`.objective`).

All in torch (CPU or GPU, float32 or float64):

``newton`` (the default; :func:`solve_newton`)
    Projected Newton with preconditioned conjugate gradients, where the preconditioner
    (:class:`EigPreconditioner`) is the *exact* inverse of the Hessian: the penalty
    ||L_y W + W L_x||^2 is diagonal in the eigenbases of the two Laplacians, the data term
    with the mask set to all ones adds the same rank-k term to every row there (Woodbury,
    one k x k factor per target voxel), and the masked-out entries (injection sites) are
    put back with a second Woodbury identity on an m x m capacitance matrix. So the
    unconstrained problem is solved in one step, and CG only works on what the bound
    W >= 0 changes. Why: the problem's curvature spans 0 to 576 lam (plus the masked
    entries, which only the penalty constrains), so first-order methods need thousands of
    iterations and L-BFGS-B hundreds; inverting that part exactly leaves only the active
    set to find.
``admm``  ADMM on V = W X, Z = W (Z >= 0) with the same exact eigenbasis W-step. Fast at the
    start, but its tail is slow when the masked entries matter (1-D test: 1,700 iterations
    without converging where ``newton`` converges to 1e-11 in 35).
``fista`` accelerated projected gradient, fixed 1/L step, adaptive restart (baseline; the
    only method here for lam = 0, whose Hessian is singular).
``lbfgsb`` scipy's L-BFGS-B with torch gradients (the authors' algorithm, 6 corrections):
    reference for the benchmark.

Precision. With ``precond_dtype=float32`` (``transform_dtype`` in the model) the O(n^3) work
of ``newton`` runs in float32: the eigendecomposition, the four dense changes of basis per
preconditioner call, and the CG iterations (Hessian products included). The Woodbury solves
stay in float64 -- near the penalty's null mode their two terms cancel by ~10 orders of
magnitude, and in float32 the first iterate came out at f = 8168 instead of 3406 -- and so
do the objective, gradient, line search and iterate, so the minimiser is the float64 one
(tested). With ``precond_dtype=bfloat16`` the changes of basis run in bfloat16 (float32
accumulation), except the way back for the coefficients on the 5% softest modes of each side,
which carry most of the output and go back in float32 (see :class:`EigPreconditioner`).
CG uses the flexible (Polak-Ribiere) beta, and at most ``cg_early`` steps per
outer iteration while the active set still moves (relative projected gradient > 1e-2):
at n = 2000, 3-5 steps reached a 1e-5 objective gap in 33-35 CG steps against ~45 with
full solves, 2 steps in 38.

Measured (bench.py, planted 3-D blob, 28 injections, lam = 1e4 scaled, this 2-core machine,
idle). The objective to reach is what scipy's L-BFGS-B (6 corrections, W0 = 0, the authors'
algorithm and settings) reaches in its 600 iterations; the authors' C++ L-BFGS-B times are those
measured on this machine (126 s at n = 1000, 1286 s at n = 3000, ~20-24 s per iteration at
n = 7497).
n = 1000 (target 6435.784, float32): 0.81 s wall, 1 outer / 1 CG: ~150x.
n = 3000 (target 3334.8550; scipy: 600 iterations, 1144 CPU s): bfloat16 changes of basis 51 s
wall, 10 outer / 40 CG (~25x); float32 81 s, 10 / 40. (All-float64: 452 s.)
n = 7497 (bfloat16): eigendecomposition 51-55 s, preconditioner set-up (9,833 excluded entries,
K^-1 included) 45 s, then 62-74 s per outer iteration of 4 CG steps (~16 s per CG step: the
preconditioner's four n^3 products, all bfloat16 but the soft block, ~2.2-2.6 s each, and ~6 s
of Hessian product, Woodbury and capacitance solves and line search). f = 2401.0278 after 19 outer
iterations (1,302 s of solve, ~1,400 s in all); 2401.0254 after 22 (1,507 s; 1,629 s in all;
8.6 GB peak), still falling ~0.0006 per iteration. The previous version (change back in float32
through OpenBLAS, 4.2-4.6 s per product; float64 capacitance solves) took 78-90 s per outer
iteration and 1,800 s of solve to 2401.0279. scipy's L-BFGS-B (600 iterations, 6,108 s wall,
8,190 CPU s, ~10 s per iteration) ends at f = 2401.4473; newton gets there in 722 s (9 outer / 36
CG): 8.5x against scipy's L-BFGS-B, ~17-20x against the C++ solver (~20-24 s per iteration, not
run at this size, times the 600 iterations of the same algorithm). The active set (~1.6% of 5.6e7
entries; ~8e4 entries still change status at outer iteration 17) needs ~15-19 outer iterations
to settle. Tried without gain: 8 CG steps per outer iteration instead of 4 (to a given f: ~5%
faster at n = 4000, ~10% slower at n = 5000); Bertsekas' epsilon-active set and a two-metric
active set (also fix bound entries where H^-1 g points out), both far slower at n = 3000
(f after 14 outer iterations 3343.32 and 3374.57 against 3334.8230, the optimum); longer
steps than the Newton step (never accepted); a coarse-grid warm start (every other voxel per axis,
W prolonged trilinearly: f at the start 6,276 against 68,280 at W = 0, yet n = 3000 still took
10 outer iterations: they settle the active set, which the coarse fit does not give). Next step on CPUs: a preconditioner whose changes
of basis cost less than n^3 (exact on the soft modes, a polynomial in the sparse L_y (+) L_x on
the rest).
On one NVIDIA H200 (same problems, ``bench.py --device cuda``): n = 7497 bfloat16 4.4 s to
2401.0278 (20 outer / 80 CG, 0.18 s per outer iteration), float32 8.0 s, float64 converged in
27.5 s (30 / 269) to f = 2401.02435, the optimum the CPU target sits 0.0035 above; n = 3000
bfloat16 1.0 s to 3334.855.
The eigendecomposition is O(n^3) once per geometry and is reused across lambda, folds and
warm starts.

Every solver stops when the relative change of f between checks is below ``ftol`` *and*
the projected-gradient norm relative to its value at the start is below ``pgtol``, or
after ``max_iter`` iterations; it logs progress every ``log_every`` iterations.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch

from .objective import Problem, projected_gradient

LOG = logging.getLogger("neurorepro.connectivity")


@dataclass
class SolveResult:
    """Outcome of a solve: the solution and a trace of its progress."""

    W: torch.Tensor
    f: float
    n_iter: int
    converged: bool
    pg_norm: float
    seconds: float
    history: list[tuple[int, float, float]] = field(default_factory=list)  # (iter, seconds, f)


class _Stopper:
    """Stopping rule on relative f change and projected-gradient norm, with logging."""

    def __init__(self, ftol: float, pgtol: float, log_every: int, name: str, target_f: float | None):
        self.ftol, self.pgtol, self.log_every, self.name = ftol, pgtol, log_every, name
        self.target_f = target_f
        self.f_prev = math.inf
        self.pg0: float | None = None
        self.t0 = time.perf_counter()
        self.history: list[tuple[int, float, float]] = []

    def check(self, it: int, f: float, pg: float) -> bool:
        if self.pg0 is None:
            self.pg0 = max(pg, 1e-300)
        t = time.perf_counter() - self.t0
        self.history.append((it, t, f))
        if self.log_every and it % self.log_every == 0:
            LOG.info("%s it %5d  f=%.8g  |pg|/|pg0|=%.2e  %.1fs", self.name, it, f, pg / self.pg0, t)
        if self.target_f is not None:  # benchmark mode: stop at a given objective value
            done = f <= self.target_f
        else:
            rel = abs(self.f_prev - f) / max(abs(f), 1e-300)
            done = rel < self.ftol and pg / self.pg0 < self.pgtol
        self.f_prev = f
        return done


def _eig_laplacian(L: sp.spmatrix, dtype: torch.dtype, device: torch.device,
                   eig_dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues and eigenvectors of a symmetric (sparse) Laplacian, computed in ``eig_dtype``."""
    Ld = torch.as_tensor(np.asarray(sp.csr_matrix(L).todense()), dtype=eig_dtype, device=device)
    evals, evecs = torch.linalg.eigh(Ld)
    return evals.to(dtype), evecs.to(dtype)


@dataclass
class Eigenbasis:
    """Eigendecompositions of L_x and L_y (reused across lambda, folds and warm starts)."""

    a: torch.Tensor
    Qx: torch.Tensor
    b: torch.Tensor
    Qy: torch.Tensor

    @classmethod
    def build(cls, Lx: sp.spmatrix, Ly: sp.spmatrix, dtype: torch.dtype, device: torch.device,
              eig_dtype: torch.dtype = torch.float64) -> "Eigenbasis":
        """Dense eigendecompositions (O(n^3) once per geometry); ``eig_dtype=float32`` halves
        their cost for a preconditioner that does not need eigenvectors to 1e-15."""
        t0 = time.perf_counter()
        if eig_dtype == torch.bfloat16:  # bfloat16 changes of basis still need float32 eigenvectors
            eig_dtype = torch.float32
        a, Qx = _eig_laplacian(Lx, dtype, device, eig_dtype)
        if Ly.shape == Lx.shape and (sp.csr_matrix(Ly) != sp.csr_matrix(Lx)).nnz == 0:
            b, Qy = a, Qx
        else:
            b, Qy = _eig_laplacian(Ly, dtype, device, eig_dtype)
        LOG.info("eigenbases of L_x (%d) and L_y (%d) in %s: %.1fs", Lx.shape[0], Ly.shape[0],
                 str(eig_dtype).replace("torch.", ""), time.perf_counter() - t0)
        return cls(a, Qx, b, Qy)


def solve_admm(prob: Problem, eig: Eigenbasis, W0: torch.Tensor | None = None, *, rho: float | None = None,
               max_iter: int = 2000, ftol: float = 1e-7, pgtol: float = 1e-4, check_every: int = 5,
               log_every: int = 50, target_f: float | None = None, adapt_rho: bool = True,
               alpha: float = 1.6) -> SolveResult:
    """ADMM with the exact eigenbasis W-step (see the module docstring). Returns Z (feasible).

    ``alpha`` is the over-relaxation factor (1 = plain ADMM; 1.5-1.8 usually converges faster).
    """
    X, Y, M, lam = prob.X, prob.Y, prob.M, prob.lam_s
    n_y, n_x = prob.shape
    dt, dev = X.dtype, X.device
    Qx, Qy, a, b = eig.Qx.to(dt), eig.Qy.to(dt), eig.a.to(dt), eig.b.to(dt)
    Xh = Qx.T @ X  # (n_x, k)
    k = X.shape[1]
    pen = (2.0 * lam) * (b[:, None] + a[None, :]) ** 2  # (n_y, n_x) curvature of the penalty
    # rho: the W = Z coupling sits between the penalty's curvatures, the V = WX coupling
    # on the scale of the data term's curvature (2 per entry).
    rho2 = float(rho) if rho is not None else float(torch.sqrt(torch.clamp(pen.mean(), min=1e-12)).item() + 1.0)
    rho1 = 2.0
    XhXh = (Xh[:, :, None] * Xh[:, None, :]).reshape(n_x, k * k)

    def factor(r1: float, r2: float):
        Dinv = 1.0 / (pen + r2)
        Mk = (Dinv @ XhXh).reshape(n_y, k, k) + torch.eye(k, dtype=dt, device=dev) / r1
        return Dinv, torch.linalg.cholesky(Mk)

    Dinv, chol = factor(rho1, rho2)
    Z = torch.clamp(W0.to(dt), min=0.0) if W0 is not None else torch.zeros((n_y, n_x), dtype=dt, device=dev)
    W = Z.clone()
    U2 = torch.zeros_like(Z)
    V = Z @ X
    U1 = torch.zeros_like(V)
    stop = _Stopper(ftol, pgtol, log_every, "admm", target_f)
    f, G = prob.value_grad(Z)
    stop.check(0, f, float(projected_gradient(Z, G).norm()))
    converged, it = False, 0
    for it in range(1, max_iter + 1):
        # W-step: exact solve in the eigenbases.
        R = rho2 * (Z - U2)
        Rh = Qy.T @ (R @ Qx) + (Qy.T @ (rho1 * (V - U1))) @ Xh.T
        Gm = Rh * Dinv
        T = Gm @ Xh  # (n_y, k)
        S = torch.cholesky_solve(T.unsqueeze(-1), chol).squeeze(-1)
        Wh = Gm - (S @ Xh.T) * Dinv
        W = Qy @ (Wh @ Qx.T)
        # V-step (masked data fit, elementwise) and Z-step (projection).
        WX = W @ X
        WXr = alpha * WX + (1.0 - alpha) * V  # over-relaxation
        C = WXr + U1
        V_new = torch.where(M > 0, (2.0 * Y + rho1 * C) / (2.0 + rho1), C)
        U1 = C - V_new
        V = V_new
        Z_old = Z
        Wr = alpha * W + (1.0 - alpha) * Z
        Z = torch.clamp(Wr + U2, min=0.0)
        U2 = U2 + Wr - Z
        if it % check_every == 0 or it == max_iter:
            f, G = prob.value_grad(Z)
            pg = float(projected_gradient(Z, G).norm())
            if stop.check(it, f, pg):
                converged = True
                break
            if adapt_rho:
                r_p = float((W - Z).norm())
                s_d = rho2 * float((Z - Z_old).norm())
                if r_p > 10 * s_d or s_d > 10 * r_p:
                    scale = 2.0 if r_p > s_d else 0.5
                    rho2 *= scale
                    U2 = U2 / scale
                    Dinv, chol = factor(rho1, rho2)
                    LOG.debug("admm it %d: rho2 -> %.3g", it, rho2)
    f, G = prob.value_grad(Z)
    pg = float(projected_gradient(Z, G).norm())
    return SolveResult(Z, f, it, converged, pg, time.perf_counter() - stop.t0, stop.history)


def lipschitz(prob: Problem, n_power: int = 30, seed: int = 0) -> float:
    """Largest eigenvalue of the Hessian by power iteration (with a 5% safety margin)."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    D = torch.rand(prob.shape, generator=g, dtype=torch.float64).to(prob.X)
    ev = 0.0
    for _ in range(n_power):
        D = D / D.norm()
        HD = prob.hess_vec(D)
        ev = float((HD * D).sum())
        D = HD
    return 1.05 * ev


def solve_fista(prob: Problem, W0: torch.Tensor | None = None, *, max_iter: int = 20000, ftol: float = 1e-7,
                pgtol: float = 1e-4, check_every: int = 10, log_every: int = 500,
                target_f: float | None = None) -> SolveResult:
    """Projected accelerated gradient (FISTA) with fixed step 1/L and function-value restart."""
    n_y, n_x = prob.shape
    L = lipschitz(prob)
    W = torch.clamp(W0.to(prob.X), min=0.0) if W0 is not None else torch.zeros((n_y, n_x), dtype=prob.X.dtype, device=prob.X.device)
    Yk, t = W.clone(), 1.0
    stop = _Stopper(ftol, pgtol, log_every, "fista", target_f)
    f, G = prob.value_grad(W)
    stop.check(0, f, float(projected_gradient(W, G).norm()))
    converged, it = False, 0
    for it in range(1, max_iter + 1):
        _, Gy = prob.value_grad(Yk)
        W_new = torch.clamp(Yk - Gy / L, min=0.0)
        t_new = 0.5 * (1 + math.sqrt(1 + 4 * t * t))
        # gradient-based adaptive restart (O'Donoghue & Candes)
        if float(((Yk - W_new) * (W_new - W)).sum()) > 0:
            t_new, Yk = 1.0, W_new.clone()
        else:
            Yk = W_new + ((t - 1) / t_new) * (W_new - W)
        W, t = W_new, t_new
        if it % check_every == 0 or it == max_iter:
            f, G = prob.value_grad(W)
            if stop.check(it, f, float(projected_gradient(W, G).norm())):
                converged = True
                break
    f, G = prob.value_grad(W)
    return SolveResult(W, f, it, converged, float(projected_gradient(W, G).norm()),
                       time.perf_counter() - stop.t0, stop.history)


def _setulb_loop(fun, x: np.ndarray, *, m: int, factr: float, pgtol: float, max_iter: int, callback) -> tuple[int, bool]:
    """Drive the Fortran L-BFGS-B 3.0 routine of scipy < 1.15 (``scipy.optimize._lbfgsb.setulb``)
    for W >= 0, in place on ``x``, as scipy's ``minimize`` does but without its Python list of n
    bound pairs: at n^2 = 5.6e7 unknowns that list took 169 s to build and ~4 GB more than this
    machine had (the run was killed after 5 iterations). Same calls, so the same iterates.
    Returns (iterations, converged)."""
    from scipy.optimize import _lbfgsb

    n = x.size
    iint = _lbfgsb.types.intvar.dtype
    lower, upper, nbd = np.zeros(n), np.zeros(n), np.ones(n, iint)  # nbd = 1: lower bound only
    f, g = np.array(0.0), np.zeros(n)
    wa = np.zeros(2 * m * n + 5 * n + 11 * m * m + 8 * m)
    iwa = np.zeros(3 * n, iint)
    task, csave = np.zeros(1, "S60"), np.zeros(1, "S60")
    lsave, isave, dsave = np.zeros(4, iint), np.zeros(44, iint), np.zeros(29)
    task[:] = "START"
    it, evals = 0, 0
    while True:
        _lbfgsb.setulb(m, x, lower, upper, nbd, f, g, factr, pgtol, wa, iwa, task, -1, csave, lsave, isave,
                       dsave, 20)
        msg = task.tobytes()
        if msg.startswith(b"FG"):
            f_val, g[:] = fun(x)
            f[...] = f_val
            evals += 1
        elif msg.startswith(b"NEW_X"):
            it += 1
            callback(x)
            if it >= max_iter or evals > 10 * max_iter:
                task[:] = "STOP: iteration or evaluation limit"
        else:
            return it, msg.startswith(b"CONV")


def solve_lbfgsb(prob: Problem, W0: torch.Tensor | None = None, *, max_iter: int = 600, m: int = 6,
                 factr: float = 1e7, pgtol: float = 1e-5, target_f: float | None = None,
                 log_every: int = 10, driver: str = "auto") -> SolveResult:
    """scipy's L-BFGS-B with torch objective/gradient (the authors' algorithm; reference only).

    With scipy < 1.15 (this project's pin) the Fortran routine is driven directly
    (:func:`_setulb_loop`, lean enough for n = 7,497; ``driver="auto"``), otherwise, or with
    ``driver="minimize"``, through ``scipy.optimize.minimize``.
    ``history`` holds (iteration, seconds, f) after each iteration (an iteration may take more
    than one evaluation), iteration 0 being the first evaluation.
    """
    from scipy.optimize import _lbfgsb, minimize

    n_y, n_x = prob.shape
    shape = (n_y, n_x)
    dt = prob.X.dtype
    w = np.zeros(n_y * n_x) if W0 is None else np.clip(W0.detach().cpu().double().numpy().ravel(), 0, None)
    t0 = time.perf_counter()
    hist: list[tuple[int, float, float]] = []
    state = {"evals": 0, "it": 0, "f": math.inf, "best_f": math.inf, "best_w": None}

    class _Reached(Exception):
        pass

    def fun(x):
        Wt = torch.as_tensor(x.reshape(shape), dtype=dt, device=prob.X.device)
        f, G = prob.value_grad(Wt)
        state["evals"] += 1
        state["f"] = f
        if not hist:
            hist.append((0, time.perf_counter() - t0, f))
            LOG.info("lbfgsb: first evaluation after %.1fs, f=%.10g", hist[0][1], f)
        if target_f is not None and f < state["best_f"]:  # (x is not always the iterate: line search)
            state.update(best_f=f, best_w=x.copy())
            if f <= target_f:
                raise _Reached
        return f, G.detach().cpu().double().numpy().ravel()

    def callback(_x):
        state["it"] += 1
        hist.append((state["it"], time.perf_counter() - t0, state["f"]))
        if log_every and state["it"] % log_every == 0:
            LOG.info("lbfgsb it %5d (%d evaluations)  f=%.10g  %.1fs", state["it"], state["evals"],
                     state["f"], hist[-1][1])

    if driver not in ("auto", "minimize"):
        raise ValueError(f"driver must be 'auto' or 'minimize', got {driver!r}")
    direct = driver == "auto" and "maxls" in (getattr(getattr(_lbfgsb, "setulb", None), "__doc__", "") or "")
    ftol = factr * np.finfo(float).eps
    try:
        if direct:
            nit, conv = _setulb_loop(fun, w, m=m, factr=factr, pgtol=pgtol, max_iter=max_iter, callback=callback)
        else:
            res = minimize(fun, w, jac=True, method="L-BFGS-B", bounds=[(0, None)] * w.size, callback=callback,
                           options={"maxiter": max_iter, "maxcor": m, "ftol": ftol, "gtol": pgtol,
                                    "maxfun": 10 * max_iter})
            w, nit, conv = res.x, int(res.nit), bool(res.success)
    except _Reached:
        w, nit, conv = state["best_w"], state["it"] + 1, True  # reached inside iteration it + 1
        hist.append((nit, time.perf_counter() - t0, state["best_f"]))
    Wt = torch.as_tensor(w.reshape(shape), dtype=dt, device=prob.X.device)
    f, G = prob.value_grad(Wt)
    LOG.info("lbfgsb: %d iterations, %d evaluations, f=%.10g, %.1fs", nit, state["evals"], f,
             time.perf_counter() - t0)
    return SolveResult(Wt, f, nit, conv, float(projected_gradient(Wt, G).norm()), time.perf_counter() - t0, hist)


def _dot(a: torch.Tensor, b: torch.Tensor) -> float:
    """<a, b> without an n^2 temporary."""
    return float(torch.dot(a.reshape(-1), b.reshape(-1)))


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


def solve_newton(prob: Problem, eig: Eigenbasis, W0: torch.Tensor | None = None, *, max_iter: int = 200,
                 ftol: float = 1e-8, pgtol: float = 1e-5, cg_max: int = 100, cg_early: int = 4,
                 log_every: int = 1, target_f: float | None = None,
                 precond_dtype: torch.dtype | None = None) -> SolveResult:
    """Projected Newton with preconditioned conjugate gradients (the default full-rank solver).

    Each outer iteration fixes the active set A = {W = 0, grad > 0}, solves the Newton
    system on the free entries inexactly by CG preconditioned with :class:`EigPreconditioner`
    (forcing term min(0.5, sqrt(|pg|/|pg0|)), so the solves get accurate as the iterate
    converges), and takes a projected step max(0, W + t d) with Armijo backtracking.
    The objective being quadratic, one accurate Newton step solves the problem once the
    active set is right; the outer loop only settles the active set.
    """
    if prob.lam_s <= 0:
        raise ValueError("solve_newton needs lambda > 0 (with lambda = 0 the Hessian is singular); use solve_fista")
    n_y, n_x = prob.shape
    dt, dev = prob.X.dtype, prob.X.device
    P = EigPreconditioner(prob, eig, precond_dtype)
    # The CG iterations (Hessian products, preconditioner, vectors) run in the preconditioner's
    # dtype; the objective, gradient, line search and iterate stay in the problem's dtype.
    idt = P.dtype  # float32 when the changes of basis are bfloat16
    inner = prob.to(idt)
    eta_floor = 1e-3 if idt == torch.float32 else 1e-6  # what CG can reach in that precision
    if W0 is not None:
        W = torch.clamp(W0.to(dt), min=0.0)
    else:  # the projected minimiser of the unconstrained problem: exact when no bound is active
        _, g0 = prob.value_grad(torch.zeros((n_y, n_x), dtype=dt, device=dev))
        W = torch.clamp(-P(g0, precise=True), min=0.0)  # (bfloat16 would cost ~1% of f here)
    stop = _Stopper(ftol, pgtol, log_every, "newton", target_f)
    f, g = prob.value_grad(W)
    pg = float(projected_gradient(W, g).norm())
    converged = stop.check(0, f, pg) and W0 is not None
    it, n_cg = 0, 0
    debug = LOG.isEnabledFor(logging.DEBUG)  # the active-set diagnostics cost passes over W
    act_prev: torch.Tensor | None = None
    for it in range(1, max_iter + 1):
        if converged:
            break
        act = (W <= 0) & (g > 0)
        if debug:
            n_changed = int((act ^ act_prev).sum()) if act_prev is not None else -1
            act_prev = act
        Fm = (~act).to(idt)  # free entries
        r = -g.to(idt) * Fm
        gF = float(r.norm())
        eta = max(eta_floor, min(0.5, math.sqrt(pg / stop.pg0)))
        # Early on the active set is still moving: a few CG steps per outer iteration are
        # worth more than an accurate solve (measured: about 20% fewer CG steps in all).
        cap = cg_early if eta > 0.1 else cg_max
        d = torch.zeros_like(r)
        z = P(r).mul_(Fm)
        p = z.clone()
        rz = _dot(r, z)
        n_cg_outer = 0
        for _ in range(cap):  # (in place: each n^2 temporary costs a pass over memory)
            Hp = inner.hess_vec(p).mul_(Fm)
            pHp = _dot(p, Hp)
            if pHp <= 0:
                break
            alpha = rz / pHp
            d.add_(p, alpha=alpha)
            r.sub_(Hp, alpha=alpha)
            del Hp
            n_cg_outer += 1
            if float(r.norm()) <= eta * gF or n_cg_outer == cap:
                break
            z_new = P(r).mul_(Fm)
            # flexible (Polak-Ribiere) beta: robust to an inexact (reduced-precision) preconditioner
            rz_new = _dot(r, z_new)
            beta = max(0.0, (rz_new - _dot(r, z)) / rz)
            z, rz = z_new, rz_new
            p.mul_(beta).add_(z)
        n_cg += n_cg_outer
        d = d.to(dt)
        # projected Armijo line search
        t = 1.0
        while True:
            W_new = torch.clamp(W + t * d, min=0.0)
            f_new, g_new = prob.value_grad(W_new)
            S = W_new - W
            gs = _dot(g, S)
            if f_new <= f + 1e-4 * gs or t < 1e-8:
                break
            # Near the minimiser f_new - f falls below the rounding error of f itself; f being
            # quadratic, its change g.s + s.Hs/2 is exact and free of that cancellation.
            if gs + 0.5 * _dot(S, prob.hess_vec(S)) <= 1e-4 * gs:
                break
            t *= 0.5
        del S
        W, f, g = W_new, f_new, g_new
        pg = float(projected_gradient(W, g).norm())
        if debug:
            LOG.debug("newton it %d: %d CG steps (eta %.2g), step %.3g, %d active (%d changed)", it, n_cg_outer,
                      eta, t, int(act.sum()), n_changed)
        if stop.check(it, f, pg):
            converged = True
            break
    LOG.info("newton: %d outer iterations, %d CG iterations, f=%.10g, |pg|/|pg0|=%.2e", it, n_cg, f, pg / stop.pg0)
    res = SolveResult(W, f, it, converged, pg, time.perf_counter() - stop.t0, stop.history)
    res.n_cg = n_cg  # type: ignore[attr-defined]
    return res
