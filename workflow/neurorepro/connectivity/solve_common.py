"""What every solver of (P1) shares: the result record and the stopping rule.

Every solver stops when the relative change of f between checks is below ``ftol`` *and*
the projected-gradient norm relative to a scale ``pg_scale`` is below ``pgtol``, or after
``max_iter`` iterations (or, in benchmark mode, at a given objective ``target_f``); it logs
progress every ``log_every`` iterations. ``pg_scale`` defaults to the projected gradient at the
solver's first iterate; a solver that is warm started passes a scale that does not depend on
its start (see :func:`.newton.solve_newton`), so that a start near the optimum is not asked for a
gradient smaller still by the same factor.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import torch

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

    def __init__(self, ftol: float, pgtol: float, log_every: int, name: str, target_f: float | None,
                 pg_scale: float | None = None):
        self.ftol, self.pgtol, self.log_every, self.name = ftol, pgtol, log_every, name
        self.target_f = target_f
        self.f_prev = math.inf
        self.pg0: float | None = None if pg_scale is None else max(float(pg_scale), 1e-300)
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


def _dot(a: torch.Tensor, b: torch.Tensor) -> float:
    """<a, b> without an n^2 temporary."""
    return float(torch.dot(a.reshape(-1), b.reshape(-1)))
