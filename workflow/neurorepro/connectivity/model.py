"""``SplineConnectivity``: the voxel model of Harris et al. (2016) as a scikit-learn-style estimator."""
from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
import torch

from ..runtime import resolve_device
from .lowrank import nmf_hals, solve_lowrank
from .objective import Problem
from .solvers import Eigenbasis, SolveResult, solve_admm, solve_fista, solve_lbfgsb, solve_newton

LOG = logging.getLogger("neurorepro.connectivity")
SOLVERS = ("newton", "admm", "fista", "lbfgsb")
DTYPES = {"float32": torch.float32, "float64": torch.float64}
# bfloat16 only for newton's changes of basis (see EigPreconditioner)
TRANSFORM_DTYPES = {**DTYPES, "bfloat16": torch.bfloat16}


class SplineConnectivity:
    """Nonnegative spline regression: min_{W>=0} ||P_Omega(WX-Y)||^2 + lam n_inj/n_x ||L_y W + W L_x||^2.

    Parameters
    ----------
    lam : regularisation weight (before the n_inj / n_x scaling).
    rank : None for the full-rank problem (P1); an int r for W = U V^T, U, V >= 0 (P2).
    solver : full-rank method, one of ``newton`` (default: projected Newton-CG with the exact
        eigenbasis/Woodbury Hessian inverse as preconditioner), ``admm``, ``fista``, ``lbfgsb``.
        With ``lam = 0`` (singular Hessian) ``fista`` is used.
    dtype : ``float32`` or ``float64`` for the iterations (the objective is reported in float64).
    transform_dtype : dtype of the Laplacians' eigendecomposition and of ``newton``'s changes of
        basis and CG iterations (``float32`` halves the O(n^3) work; the Woodbury solves, the
        objective, gradient and iterate keep ``dtype``). ``bfloat16``: as ``float32``, but the
        changes of basis run in bfloat16 (~2x faster per product on CPUs and GPUs with bfloat16
        units), except the coefficients on the 5% softest modes of each side on the way back
        (float32; an approximate preconditioner, same minimiser). ``None``: ``dtype``.
    device : ``auto``, ``cpu``, ``cuda``, ``cuda:N``.
    max_iter, ftol, pgtol : stopping rule (see :mod:`.solve_common`).
    lowrank_init : ``full`` (start from a rank-r NMF of the full-rank fit; needs n_y*n_x memory) or
        ``random`` (smooth, localised random factors, :func:`.lowrank.smooth_random_factor`; memory
        O((n_x+n_y) r): the whole-brain path).
    seed : seed of the random low-rank initialisation.
    lowrank_max_iter : iteration cap of the low-rank solver (alternating U / V sweeps).
    """

    def __init__(self, lam: float = 1e4, rank: int | None = None, solver: str = "newton", dtype: str = "float64",
                 device: str = "auto", max_iter: int = 2000, ftol: float = 1e-8, pgtol: float = 1e-5,
                 lowrank_init: str = "full", seed: int = 0, log_every: int = 50, lowrank_max_iter: int = 500,
                 transform_dtype: str | None = None):
        if not lam >= 0:
            raise ValueError(f"lam must be >= 0, got {lam}")
        if rank is not None and int(rank) < 1:
            raise ValueError(f"rank must be None or >= 1, got {rank}")
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {tuple(DTYPES)}, got {dtype!r}")
        if transform_dtype is not None and transform_dtype not in TRANSFORM_DTYPES:
            raise ValueError(f"transform_dtype must be None or one of {tuple(TRANSFORM_DTYPES)}, got {transform_dtype!r}")
        if lowrank_init not in ("full", "random"):
            raise ValueError(f"lowrank_init must be 'full' or 'random', got {lowrank_init!r}")
        self.lam, self.rank, self.solver, self.dtype, self.device = float(lam), rank, solver, dtype, device
        self.max_iter, self.ftol, self.pgtol = int(max_iter), float(ftol), float(pgtol)
        self.lowrank_init, self.seed, self.log_every = lowrank_init, int(seed), int(log_every)
        self.lowrank_max_iter = int(lowrank_max_iter)
        self.transform_dtype = transform_dtype

    def fit(self, X: np.ndarray, Y: np.ndarray, Omega: np.ndarray, *, Lx: sp.spmatrix, Ly: sp.spmatrix,
            W0: np.ndarray | None = None, eigenbasis: Eigenbasis | None = None) -> "SplineConnectivity":
        """Fit W; ``W0`` warm-starts, ``eigenbasis`` reuses the Laplacians' eigendecompositions."""
        dev = resolve_device(self.device)
        dt = DTYPES[self.dtype]
        prob = Problem.build(X, Y, Omega, Lx, Ly, self.lam, dtype=dt, device=dev)
        W0t = None if W0 is None else torch.as_tensor(np.asarray(W0), dtype=dt, device=dev)
        full = self._fit_full(prob, Lx, Ly, W0t, eigenbasis, dev, dt) if (self.rank is None or self.lowrank_init == "full") else None
        if self.rank is None:
            res = full
            self.W_ = res.W.double().cpu().numpy()
        else:
            U0 = V0 = None
            if full is not None:
                U0, V0 = nmf_hals(full.W.double().cpu(), int(self.rank))
            U, V, res = solve_lowrank(prob, int(self.rank), U0, V0, seed=self.seed, max_iter=self.lowrank_max_iter,
                                      ftol=self.ftol, log_every=self.log_every)
            self.U_, self.V_ = U.double().cpu().numpy(), V.double().cpu().numpy()
            # W = U V^T only where it fits comfortably; whole-brain sizes keep the factors only
            self.W_ = self.U_ @ self.V_.T if self.U_.shape[0] * self.V_.shape[0] <= 2e8 else None
        prob64 = Problem.build(X, Y, Omega, Lx, Ly, self.lam, dtype=torch.float64, device="cpu") if self.rank is None else None
        self.objective_ = prob64.value(torch.as_tensor(self.W_)) if self.rank is None else res.f
        self.n_iter_, self.converged_, self.seconds_ = res.n_iter, res.converged, res.seconds
        self.history_ = res.history
        self.lam_scaled_ = prob.lam_s
        return self

    def _fit_full(self, prob, Lx, Ly, W0, eig, dev, dt) -> SolveResult:
        kw = dict(max_iter=self.max_iter, ftol=self.ftol, pgtol=self.pgtol)
        tdt = TRANSFORM_DTYPES[self.transform_dtype or self.dtype]
        if self.solver == "newton" and self.lam > 0:
            if eig is None:
                eig = Eigenbasis.build(Lx, Ly, dt, dev, eig_dtype=tdt)
            return solve_newton(prob, eig, W0, log_every=self.log_every, precond_dtype=tdt, **kw)
        if self.solver == "admm" and self.lam > 0:
            if eig is None:
                eig = Eigenbasis.build(Lx, Ly, dt, dev, eig_dtype=tdt)
            return solve_admm(prob, eig, W0, log_every=self.log_every, **kw)
        if self.solver in ("fista", "newton", "admm"):
            return solve_fista(prob, W0, log_every=self.log_every * 10, **kw)
        return solve_lbfgsb(prob, W0, max_iter=self.max_iter)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted projection densities W X (target voxels x injections)."""
        if self.W_ is None:  # low rank, never formed: U (V^T X)
            return self.U_ @ (self.V_.T @ np.asarray(X, float))
        return self.W_ @ np.asarray(X, float)
