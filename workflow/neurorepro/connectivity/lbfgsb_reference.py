"""scipy's L-BFGS-B on (P1): the authors' algorithm and settings (6 corrections, W0 = 0),
kept as the reference the benchmark times the other solvers against (``model.solver: lbfgsb``).
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch

from .objective import Problem, projected_gradient
from .solve_common import LOG, SolveResult, _Stopper


def _setulb_loop(fun, x: np.ndarray, *, m: int, max_iter: int, callback) -> tuple[int, bool]:
    """Drive the Fortran L-BFGS-B 3.0 routine of scipy < 1.15 (``scipy.optimize._lbfgsb.setulb``)
    for W >= 0, in place on ``x``, as scipy's ``minimize`` does but without its Python list of n
    bound pairs, which at n^2 = 5.6e7 unknowns takes minutes to build and gigabytes of memory.
    Same calls, so the same iterates. scipy's own stopping tests are off (``factr = pgtol = 0``:
    they stop only at an exact stationary point); ``callback(x)`` after each iteration returns
    True to stop. Returns (iterations, converged): converged when ``callback`` stopped the run
    or scipy found an exact stationary point."""
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
    it, evals, done = 0, 0, False
    while True:
        _lbfgsb.setulb(m, x, lower, upper, nbd, f, g, 0.0, 0.0, wa, iwa, task, -1, csave, lsave, isave,
                       dsave, 20)
        msg = task.tobytes()
        if msg.startswith(b"FG"):
            f_val, g[:] = fun(x)
            f[...] = f_val
            evals += 1
        elif msg.startswith(b"NEW_X"):
            it += 1
            done = bool(callback(x))
            if done:
                task[:] = "STOP: the stopping rule holds"
            elif it >= max_iter or evals > 10 * max_iter:
                task[:] = "STOP: iteration or evaluation limit"
        else:
            return it, done or msg.startswith(b"CONV")


def solve_lbfgsb(prob: Problem, W0: torch.Tensor | None = None, *, max_iter: int, ftol: float, pgtol: float,
                 m: int = 6, target_f: float | None = None, log_every: int = 10,
                 driver: str = "auto") -> SolveResult:
    """scipy's L-BFGS-B with torch objective/gradient (the authors' algorithm; reference only).

    ``ftol`` and ``pgtol`` are honoured with the meaning they have for every solver of (P1)
    (:mod:`.solve_common`): the run stops after the first iteration at which the relative
    change of f is below ``ftol`` and the projected-gradient norm relative to its value at
    the start is below ``pgtol``, or after ``max_iter`` iterations (benchmark mode: at an
    evaluation with f <= ``target_f``). scipy's own tests, whose ``factr`` and ``pgtol`` mean
    something else (f reduction per step; largest projected-gradient entry, absolute), are
    switched off so that they never stop the run first; scipy still ends it at an exact
    stationary point (converged) or when its line search cannot decrease f (not converged
    unless the rule holds there).

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
    state = {"evals": 0, "it": 0, "f": math.inf, "g": None, "best_f": math.inf, "best_w": None, "x": None}
    stop = _Stopper(ftol, pgtol, 0, "lbfgsb", target_f)

    class _Reached(Exception):
        pass

    class _RuleHolds(Exception):
        pass

    def pg_norm(x: np.ndarray, g: np.ndarray) -> float:
        return float(np.linalg.norm(np.where(x > 0, g, np.minimum(g, 0.0))))

    def fun(x):
        Wt = torch.as_tensor(x.reshape(shape), dtype=dt, device=prob.X.device)
        f, G = prob.value_grad(Wt)
        g = G.detach().cpu().double().numpy().ravel()
        state["evals"] += 1
        state["f"], state["g"] = f, g
        if not hist:
            hist.append((0, time.perf_counter() - t0, f))
            stop.check(0, f, pg_norm(x, g))  # sets the projected-gradient scale of the rule
            LOG.info("lbfgsb: first evaluation after %.1fs, f=%.10g", hist[0][1], f)
        if target_f is not None and f < state["best_f"]:  # (x is not always the iterate: line search)
            state.update(best_f=f, best_w=x.copy())
            if f <= target_f:
                raise _Reached
        return f, g

    def callback(x) -> bool:
        """After each iteration (f, g of the last evaluation are the iterate's): True to stop."""
        state["it"] += 1
        hist.append((state["it"], time.perf_counter() - t0, state["f"]))
        if log_every and state["it"] % log_every == 0:
            LOG.info("lbfgsb it %5d (%d evaluations)  f=%.10g  %.1fs", state["it"], state["evals"],
                     state["f"], hist[-1][1])
        return stop.check(state["it"], state["f"], pg_norm(x, state["g"]))

    def callback_minimize(x):
        if callback(x):
            state["x"] = x.copy()
            raise _RuleHolds

    if driver not in ("auto", "minimize"):
        raise ValueError(f"driver must be 'auto' or 'minimize', got {driver!r}")
    direct = driver == "auto" and "maxls" in (getattr(getattr(_lbfgsb, "setulb", None), "__doc__", "") or "")
    try:
        if direct:
            nit, conv = _setulb_loop(fun, w, m=m, max_iter=max_iter, callback=callback)
        else:
            res = minimize(fun, w, jac=True, method="L-BFGS-B", bounds=[(0, None)] * w.size,
                           callback=callback_minimize,
                           options={"maxiter": max_iter, "maxcor": m, "ftol": 0.0, "gtol": 0.0,
                                    "maxfun": 10 * max_iter})
            w, nit, conv = res.x, int(res.nit), res.status == 0 and "CONV" in str(res.message).upper()
    except _Reached:
        w, nit, conv = state["best_w"], state["it"] + 1, True  # reached inside iteration it + 1
        hist.append((nit, time.perf_counter() - t0, state["best_f"]))
    except _RuleHolds:
        w, nit, conv = state["x"], state["it"], True
    Wt = torch.as_tensor(w.reshape(shape), dtype=dt, device=prob.X.device)
    f, G = prob.value_grad(Wt)
    LOG.info("lbfgsb: %d iterations, %d evaluations, f=%.10g, %.1fs", nit, state["evals"], f,
             time.perf_counter() - t0)
    return SolveResult(Wt, f, nit, conv, float(projected_gradient(Wt, G).norm()), time.perf_counter() - t0, hist)
