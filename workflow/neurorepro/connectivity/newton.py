"""The solver the pipeline uses for (P1), min_{W >= 0} f(W) (see :mod:`.objective`).

In torch (CPU or GPU, float32 or float64). :func:`solve_newton` is projected Newton with
preconditioned conjugate gradients, where the preconditioner (:class:`.preconditioner.EigPreconditioner`)
is the *exact* inverse of the Hessian: the penalty ||L_y W + W L_x||^2 is diagonal in the eigenbases
of the two Laplacians, the data term with the mask set to all ones adds the same rank-k term to every
row there (Woodbury, one k x k factor per target voxel), and the masked-out entries (injection sites)
are put back with a second Woodbury identity on an m x m capacitance matrix. So the unconstrained
problem is solved in one step, and CG only works on what the bound W >= 0 changes. Why: the
problem's curvature spans 0 to 576 lam (plus the masked entries, which only the penalty
constrains), so first-order methods need thousands of iterations and L-BFGS-B hundreds; inverting
that part exactly leaves only the active set to find.

The alternatives (``admm``, ``fista``, ``lbfgsb``) are in :mod:`.first_order` and
:mod:`.lbfgsb_reference`.

Precision. With ``precond_dtype=float32`` (``transform_dtype`` in the model) the O(n^3) work
of ``newton`` runs in float32: the eigendecomposition, the four dense changes of basis per
preconditioner call, and the CG iterations (Hessian products included). The Woodbury solves
stay in float64 -- near the penalty's null mode their two terms cancel by ~10 orders of
magnitude, which float32 cannot resolve -- and so do the objective, gradient, line search and iterate, so the minimiser is the float64 one
(tested). With ``precond_dtype=bfloat16`` the changes of basis run in bfloat16 (float32
accumulation), except the way back for the coefficients on the 5% softest modes of each side,
which carry most of the output and go back in float32 (see :class:`EigPreconditioner`).
CG uses the flexible (Polak-Ribiere) beta. While the active set still moves (relative
projected gradient > 1e-2) each outer iteration takes at most ``cg_early`` CG steps -- an
accurate solve for an active set about to change is wasted -- and that cap doubles whenever a
capped solve fails to halve the projected gradient: at small lambda the data term couples the
free entries across the bound, a few steps give poor directions, and a fixed cap of 4 needed
several times more outer iterations (``docs/performance.md``, small lambda).
"""

from __future__ import annotations

import logging
import math
import time

import torch

from .eigenbasis import Eigenbasis
from .objective import Problem, projected_gradient
from .preconditioner import EigPreconditioner
from .solve_common import LOG, SolveResult, _Stopper, _dot


def solve_newton(prob: Problem, eig: Eigenbasis, W0: torch.Tensor | None = None, *, max_iter: int,
                 ftol: float, pgtol: float, cg_max: int = 100, cg_early: int = 4,
                 log_every: int = 1, target_f: float | None = None,
                 precond_dtype: torch.dtype | None = None) -> SolveResult:
    """Projected Newton with preconditioned conjugate gradients (the default full-rank solver).

    Each outer iteration fixes the active set A = {W = 0, grad > 0}, solves the Newton
    system on the free entries inexactly by CG preconditioned with :class:`EigPreconditioner`
    (forcing term min(0.5, sqrt(|pg|/s)), so the solves get accurate as the iterate
    converges), and takes a projected step max(0, W + t d) with Armijo backtracking.
    The objective being quadratic, one accurate Newton step solves the problem once the
    active set is right; the outer loop only settles the active set.

    ``W0`` warm-starts (e.g. from the solution at a neighbouring lambda, or on a
    neighbouring CV fold). The stopping rule's scale s (``pgtol`` is relative to it) is the
    projected gradient at the *cold* start, the projected unconstrained minimiser, whatever
    the start: it depends on the problem only, so a start near the optimum stops as soon as
    it is as accurate as a cold solve would end (usually after one outer iteration), instead
    of being asked for a gradient smaller than its own by ``pgtol``. Its cost is one
    preconditioner application, which a cold start pays anyway. A warm start whose projected
    gradient is not below s is dropped for the cold start: the cold start is the exact
    minimiser without the bound, and a start on a fold with other injections is often
    farther from this fold's optimum than that.
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
    # The cold start: the projected minimiser of the unconstrained problem (exact when no bound
    # is active). Its projected gradient is the scale of the stopping rule and forcing term for
    # every start, so a warm start is asked for the same absolute accuracy as a cold one.
    _, g0 = prob.value_grad(torch.zeros((n_y, n_x), dtype=dt, device=dev))
    W = torch.clamp(-P(g0, precise=True), min=0.0)  # (bfloat16 would cost ~1% of f here)
    del g0
    f, g = prob.value_grad(W)
    pg = float(projected_gradient(W, g).norm())
    stop = _Stopper(ftol, pgtol, log_every, "newton", target_f, pg_scale=pg)
    if W0 is not None:  # kept only if it is closer to optimal than the cold start
        W_warm = torch.clamp(W0.to(dt), min=0.0)
        f_w, g_w = prob.value_grad(W_warm)
        pg_w = float(projected_gradient(W_warm, g_w).norm())
        if pg_w < pg:
            W, f, g, pg = W_warm, f_w, g_w, pg_w
        else:
            LOG.info("newton: the warm start (|pg|/s = %.2g) is no closer to optimal than the cold start; "
                     "starting cold", pg_w / pg)
        del W_warm, g_w
    # A warm start already within pgtol stops here (no change of f to check yet at iteration 0).
    done0 = stop.check(0, f, pg)
    converged = W0 is not None and (done0 or (target_f is None and pg < pgtol * stop.pg0))
    it, n_cg, early = 0, 0, cg_early
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
        # worth more than an accurate solve -- unless the last capped solve did not even halve
        # the projected gradient (small lambda: the data term's coupling across the bound needs
        # more CG steps per direction); then the cap doubles.
        cap = early if eta > 0.1 else cg_max
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
        pg_prev, pg = pg, float(projected_gradient(W, g).norm())
        if n_cg_outer >= cap and cap < cg_max and pg > 0.5 * pg_prev:
            early = min(2 * early, cg_max)
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
