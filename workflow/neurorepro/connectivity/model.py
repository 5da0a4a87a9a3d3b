"""``SplineConnectivity``: the voxel model of Harris et al. (2016) as a scikit-learn-style estimator."""
from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
import torch

from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..runtime import resolve_device
from .lowrank import nmf_hals, solve_lowrank
from .objective import Problem
from .solvers import Eigenbasis, SolveResult, solve_admm, solve_fista, solve_lbfgsb, solve_newton

LOG = logging.getLogger("neurorepro.connectivity")
SOLVERS = ("newton", "admm", "fista", "lbfgsb")
LAM_POSITIVE = ("newton", "admm")  # solvers built on the eigenbasis inverse of the Hessian: lam > 0 only
DTYPES = {"float32": torch.float32, "float64": torch.float64}
# bfloat16 only for newton's changes of basis (see EigPreconditioner)
TRANSFORM_DTYPES = {**DTYPES, "bfloat16": torch.bfloat16}


class SplineConnectivity(BaseEstimator):
    """Nonnegative spline regression: min_{W>=0} ||P_Omega(WX-Y)||^2 + lam n_inj/n_x ||L_y W + W L_x||^2.

    Follows scikit-learn's estimator conventions: ``__init__`` stores its arguments unchanged
    (``get_params``/``set_params``/``clone`` from ``BaseEstimator``), ``fit`` validates them and
    sets the fitted attributes, whose names end with ``_``. The keyword defaults are the
    library's; the pipeline passes every setting from the config's ``connectivity.model``.

    Parameters
    ----------
    lam : regularisation weight (before the n_inj / n_x scaling).
    rank : None for the full-rank problem (P1); an int r for W = U V^T, U, V >= 0 (P2).
    solver : full-rank method, one of ``newton`` (default: projected Newton-CG with the exact
        eigenbasis/Woodbury Hessian inverse as preconditioner), ``admm``, ``fista``, ``lbfgsb``.
        ``newton`` and ``admm`` need ``lam > 0`` (their eigenbasis inverse does not exist at
        ``lam = 0``, where the Hessian is singular): ``fit`` raises for them at ``lam = 0``;
        ask for ``fista`` or ``lbfgsb`` there.
    dtype : ``float32`` or ``float64`` for the iterations (the objective is reported in float64).
    transform_dtype : dtype of the Laplacians' eigendecomposition and of ``newton``'s changes of
        basis and CG iterations (``float32`` halves the O(n^3) work; the Woodbury solves, the
        objective, gradient and iterate keep ``dtype``). ``bfloat16``: as ``float32``, but the
        changes of basis run in bfloat16 (~2x faster per product on CPUs and GPUs with bfloat16
        units), except the coefficients on the 5% softest modes of each side on the way back
        (float32; an approximate preconditioner, same minimiser). ``None``: ``dtype``.
    device : ``auto``, ``cpu``, ``cuda``, ``cuda:N``.
    max_iter, ftol, pgtol : stopping rule of every full-rank solver (see :mod:`.solve_common`).
    lowrank_init : ``full`` (start from a rank-r NMF of the full-rank fit; needs n_y*n_x memory) or
        ``random`` (smooth, localised random factors, :func:`.lowrank.smooth_random_factor`; memory
        O((n_x+n_y) r): the whole-brain path).
    seed : seed of the random low-rank initialisation.
    log_every : progress log period in iterations (0: no progress log).
    lowrank_max_iter : iteration cap of the low-rank solver (alternating U / V sweeps); it stops
        earlier when the relative change of f per sweep is below ``ftol``.

    Attributes
    ----------
    W_ : the fit (n_y x n_x; for a low-rank fit U_ V_^T, or None when that is too large to form);
    U_, V_ : the factors of a low-rank fit; objective_ : f at the fit (float64 for full rank);
    n_iter_, converged_, seconds_, history_ : the solver's record; lam_scaled_ : lam n_inj / n_x.
    """

    def __init__(self, lam: float = 1e4, rank: int | None = None, solver: str = "newton", dtype: str = "float64",
                 device: str = "auto", max_iter: int = 2000, ftol: float = 1e-8, pgtol: float = 1e-5,
                 lowrank_init: str = "full", seed: int = 0, log_every: int = 50, lowrank_max_iter: int = 500,
                 transform_dtype: str | None = None):
        self.lam = lam
        self.rank = rank
        self.solver = solver
        self.dtype = dtype
        self.device = device
        self.max_iter = max_iter
        self.ftol = ftol
        self.pgtol = pgtol
        self.lowrank_init = lowrank_init
        self.seed = seed
        self.log_every = log_every
        self.lowrank_max_iter = lowrank_max_iter
        self.transform_dtype = transform_dtype

    def _validate(self) -> None:
        """Check the parameters (called by ``fit``; ``__init__`` only stores them)."""
        if not self.lam >= 0:
            raise ValueError(f"lam must be >= 0, got {self.lam}")
        if self.rank is not None and int(self.rank) < 1:
            raise ValueError(f"rank must be None or >= 1, got {self.rank}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.solver!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {tuple(DTYPES)}, got {self.dtype!r}")
        if self.transform_dtype is not None and self.transform_dtype not in TRANSFORM_DTYPES:
            raise ValueError(f"transform_dtype must be None or one of {tuple(TRANSFORM_DTYPES)}, "
                             f"got {self.transform_dtype!r}")
        if self.lowrank_init not in ("full", "random"):
            raise ValueError(f"lowrank_init must be 'full' or 'random', got {self.lowrank_init!r}")
        for name in ("max_iter", "lowrank_max_iter"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("ftol", "pgtol"):
            if not float(getattr(self, name)) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if int(self.log_every) < 0:
            raise ValueError(f"log_every must be >= 0, got {self.log_every}")
        needs_full = self.rank is None or self.lowrank_init == "full"
        if needs_full and self.lam == 0 and self.solver in LAM_POSITIVE:
            raise ValueError(
                f"solver {self.solver!r} needs lam > 0 (at lam = 0 the Hessian is singular and its "
                f"eigenbasis inverse does not exist); ask for solver 'fista' or 'lbfgsb' to fit lam = 0"
            )

    def fit(self, X: np.ndarray, Y: np.ndarray, Omega: np.ndarray, *, Lx: sp.spmatrix, Ly: sp.spmatrix,
            W0: np.ndarray | None = None, eigenbasis: Eigenbasis | None = None) -> "SplineConnectivity":
        """Fit W; ``W0`` warm-starts, ``eigenbasis`` reuses the Laplacians' eigendecompositions."""
        self._validate()
        lam = float(self.lam)
        dev = resolve_device(self.device)
        dt = DTYPES[self.dtype]
        prob = Problem.build(X, Y, Omega, Lx, Ly, lam, dtype=dt, device=dev)
        W0t = None if W0 is None else torch.as_tensor(np.asarray(W0), dtype=dt, device=dev)
        full = self._fit_full(prob, Lx, Ly, W0t, eigenbasis, dev, dt) if (self.rank is None or self.lowrank_init == "full") else None
        if self.rank is None:
            res = full
            self.W_ = res.W.double().cpu().numpy()
        else:
            U0 = V0 = None
            if full is not None:
                U0, V0 = nmf_hals(full.W.double().cpu(), int(self.rank))
            U, V, res = solve_lowrank(prob, int(self.rank), U0, V0, seed=int(self.seed),
                                      max_iter=int(self.lowrank_max_iter), ftol=float(self.ftol),
                                      log_every=int(self.log_every))
            self.U_, self.V_ = U.double().cpu().numpy(), V.double().cpu().numpy()
            # W = U V^T only where it fits comfortably; whole-brain sizes keep the factors only
            self.W_ = self.U_ @ self.V_.T if self.U_.shape[0] * self.V_.shape[0] <= 2e8 else None
        prob64 = Problem.build(X, Y, Omega, Lx, Ly, lam, dtype=torch.float64, device="cpu") if self.rank is None else None
        self.objective_ = prob64.value(torch.as_tensor(self.W_)) if self.rank is None else res.f
        self.n_iter_, self.converged_, self.seconds_ = res.n_iter, res.converged, res.seconds
        self.history_ = res.history
        self.lam_scaled_ = prob.lam_s
        return self

    def _fit_full(self, prob, Lx, Ly, W0, eig, dev, dt) -> SolveResult:
        kw = dict(max_iter=int(self.max_iter), ftol=float(self.ftol), pgtol=float(self.pgtol))
        log_every = int(self.log_every)
        tdt = TRANSFORM_DTYPES[self.transform_dtype or self.dtype]
        if self.solver in LAM_POSITIVE and eig is None:
            eig = Eigenbasis.build(Lx, Ly, dt, dev, eig_dtype=tdt)
        if self.solver == "newton":
            return solve_newton(prob, eig, W0, log_every=log_every, precond_dtype=tdt, **kw)
        if self.solver == "admm":
            return solve_admm(prob, eig, W0, log_every=log_every, **kw)
        if self.solver == "fista":
            return solve_fista(prob, W0, log_every=log_every * 10, **kw)
        return solve_lbfgsb(prob, W0, log_every=log_every, **kw)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted projection densities W X (target voxels x injections)."""
        check_is_fitted(self, "W_")
        if self.W_ is None:  # low rank, never formed: U (V^T X)
            return self.U_ @ (self.V_.T @ np.asarray(X, float))
        return self.W_ @ np.asarray(X, float)
