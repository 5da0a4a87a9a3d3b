"""Loss-Hessian spectra from Hessian-vector products (no explicit Hessian).

Everything here is generic over a closure ``loss_fn()`` that returns a scalar loss
computed from a list of parameter tensors ``params`` (``requires_grad=True``), e.g.
``lambda: mse(model(x), y)`` with ``list(model.parameters())``, or an RNN's
recurrent weight alone. Hessian-vector products use double back-propagation
(``torch.autograd.grad`` with ``create_graph=True``): the gradient graph is built
once per call and reused for every product, so one HVP costs about two backward
passes.

Functions
---------
:class:`HessianVectorProduct`  the operator ``v -> H v`` with its gradient graph built once
                                (for callers that run their own iterations or time one product).
:func:`hvp`                     one product ``H v`` (list of tensors in, list out).
:func:`hessian_top_eigenvalue`  largest (algebraic) eigenvalue by power iteration or Lanczos.
:func:`top_eigen`               the same, returning a :class:`TopEigenResult` with
                                the eigenvector and the number of HVPs used.
:func:`hessian_trace`           Hutchinson's estimator of ``tr H``.
:func:`dense_hessian`           the explicit Hessian (small problems and tests only).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

LossFn = Callable[[], torch.Tensor]


def _check_params(params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    params = list(params)
    if not params:
        raise ValueError("params must hold at least one tensor")
    for i, p in enumerate(params):
        if not isinstance(p, torch.Tensor) or not p.requires_grad:
            raise ValueError(f"params[{i}] must be a tensor with requires_grad=True")
    return params


def _dot(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> torch.Tensor:
    return sum((x * y).sum() for x, y in zip(a, b))


def _norm(a: Sequence[torch.Tensor]) -> torch.Tensor:
    """Euclidean norm of the concatenation of ``a``; for one tensor exactly ``a[0].norm()``."""
    if len(a) == 1:
        return torch.linalg.vector_norm(a[0])
    return torch.sqrt(_dot(a, a))


class HessianVectorProduct:
    """Hessian-vector products of ``loss_fn`` at the current ``params``: ``op(v)`` returns ``H v``.

    The loss and its gradient graph are computed once at construction and reused by every
    product; ``n_calls`` counts the products, ``loss`` is the (detached) loss value.
    """

    def __init__(self, loss_fn: LossFn, params: Sequence[torch.Tensor]):
        self.params = _check_params(params)
        loss = loss_fn()
        if loss.dim() != 0:
            raise ValueError(f"loss_fn must return a scalar, got shape {tuple(loss.shape)}")
        self.loss = loss.detach()
        self.grads = torch.autograd.grad(loss, self.params, create_graph=True, allow_unused=True)
        self.grads = [
            g if g is not None else torch.zeros_like(p) for g, p in zip(self.grads, self.params)
        ]
        self.n_calls = 0

    def __call__(self, vec: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        self.n_calls += 1
        dot = _dot(self.grads, vec)
        if not dot.requires_grad:  # loss is linear in params: H = 0
            return [torch.zeros_like(p) for p in self.params]
        out = torch.autograd.grad(dot, self.params, retain_graph=True, allow_unused=True)
        return [o.detach() if o is not None else torch.zeros_like(p) for o, p in zip(out, self.params)]


def hvp(loss_fn: LossFn, params: Sequence[torch.Tensor], vec: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Return the Hessian-vector product ``H v`` of ``loss_fn`` w.r.t. ``params``.

    ``vec`` is a list of tensors shaped like ``params``.
    """
    vec = list(vec)
    params = _check_params(params)
    if len(vec) != len(params) or any(v.shape != p.shape for v, p in zip(vec, params)):
        raise ValueError("vec must be a list of tensors shaped like params")
    return HessianVectorProduct(loss_fn, params)(vec)


def _random_like(params: Sequence[torch.Tensor], gen: torch.Generator, kind: str = "normal") -> list[torch.Tensor]:
    out = []
    for p in params:
        if kind == "normal":
            v = torch.randn(p.shape, generator=gen, dtype=p.dtype)
        elif kind == "rademacher":
            v = torch.randint(0, 2, p.shape, generator=gen).to(p.dtype) * 2 - 1
        else:
            raise ValueError(f"unknown distribution {kind!r}; use 'rademacher' or 'normal'")
        out.append(v.to(p.device))
    return out


@dataclass
class TopEigenResult:
    """Outcome of :func:`top_eigen`.

    eigenvalue : the estimate of the largest (algebraic) Hessian eigenvalue.
    eigenvector : unit-norm list of tensors shaped like ``params``.
    n_hvp : Hessian-vector products used (including a shift pass, if one was needed).
    converged : whether the change of the estimate fell below ``tol`` within ``n_iter``.
    history : the eigenvalue estimate after each iteration.
    """

    eigenvalue: float
    eigenvector: list[torch.Tensor]
    n_hvp: int
    converged: bool
    history: list[float]


def _power(
    op: Callable[[list[torch.Tensor]], list[torch.Tensor]],
    v: list[torch.Tensor],
    n_iter: int,
    tol: float,
    shift: float = 0.0,
    absolute: bool = False,
) -> tuple[float, list[torch.Tensor], int, bool, list[float]]:
    """Power iteration on ``op - shift*I``; returns (eigenvalue of that operator, v, n, converged, history).

    Stops when the Rayleigh quotient changes by at most ``tol`` relative to its size, or with
    ``absolute`` by at most ``tol`` in absolute value, the estimate before the first
    product counting as 0.
    """
    nv = _norm(v)
    v = [x / nv for x in v]
    lam_prev = 0.0 if absolute else None
    history: list[float] = []
    for it in range(1, n_iter + 1):
        hv = op(v)
        if shift:
            hv = [h - shift * x for h, x in zip(hv, v)]
        lam = float(_dot(v, hv))  # Rayleigh quotient
        history.append(lam)
        norm = float(_norm(hv))
        if norm == 0.0:
            return 0.0, v, it, True, history
        v = [h / norm for h in hv]
        if absolute:
            if abs(lam - lam_prev) <= tol:
                return lam, v, it, True, history
        elif lam_prev is not None and abs(lam - lam_prev) <= tol * max(abs(lam), 1e-12):
            return lam, v, it, True, history
        lam_prev = lam
    return lam, v, n_iter, False, history


def _lanczos(
    op: Callable[[list[torch.Tensor]], list[torch.Tensor]],
    v: list[torch.Tensor],
    n_iter: int,
    tol: float,
) -> tuple[float, list[torch.Tensor], int, bool, list[float]]:
    """Lanczos with full re-orthogonalisation; returns the largest Ritz value and vector."""
    nv = _norm(v)
    q = [x / nv for x in v]
    basis: list[list[torch.Tensor]] = []
    alphas: list[float] = []
    betas: list[float] = []
    history: list[float] = []
    prev = None
    theta, y = 0.0, None
    converged = False
    for it in range(1, n_iter + 1):
        basis.append(q)
        w = op(q)
        a = float(_dot(q, w))
        alphas.append(a)
        for b in basis:  # full re-orthogonalisation (twice is enough)
            c = _dot(b, w)
            w = [wi - c * bi for wi, bi in zip(w, b)]
        for b in basis:
            c = _dot(b, w)
            w = [wi - c * bi for wi, bi in zip(w, b)]
        T = torch.diag(torch.tensor(alphas, dtype=torch.float64))
        if betas:
            off = torch.tensor(betas, dtype=torch.float64)
            T += torch.diag(off, 1) + torch.diag(off, -1)
        evals, evecs = torch.linalg.eigh(T)
        theta, y = float(evals[-1]), evecs[:, -1]
        history.append(theta)
        beta = float(_norm(w))
        if prev is not None and abs(theta - prev) <= tol * max(abs(theta), 1e-12):
            converged = True
            break
        if beta < 1e-12 * max(abs(theta), 1.0):  # invariant subspace found: exact
            converged = True
            break
        prev = theta
        q = [wi / beta for wi in w]
        betas.append(beta)
    vec = [torch.zeros_like(x) for x in basis[0]]
    for coef, b in zip(y.tolist(), basis):
        vec = [vi + coef * bi for vi, bi in zip(vec, b)]
    nv = _norm(vec)
    vec = [x / nv for x in vec]
    return theta, vec, len(basis), converged, history


def top_eigen(
    loss_fn: LossFn,
    params: Sequence[torch.Tensor],
    *,
    n_iter: int = 100,
    tol: float = 1e-3,
    seed: int = 0,
    method: str = "power",
    tol_mode: str = "relative",
) -> TopEigenResult:
    """Largest algebraic eigenvalue of the loss Hessian, with eigenvector and cost.

    Parameters
    ----------
    loss_fn : closure returning the scalar loss from ``params``.
    params : tensors the Hessian is taken with respect to.
    n_iter : maximum number of iterations (HVPs) per pass.
    tol : stop when the change of the estimate is at most ``tol``: relative to the estimate
        (``tol_mode="relative"``) or in absolute value (``tol_mode="absolute"``, power
        iteration only; the estimate before the first product counts as 0, as in the
        credit-assignment authors' ``saveHess_seqMNIST.py``).
    seed : seed of the random start vector (the result is deterministic given it).
    method : ``"power"`` (power iteration on ``H``; if the dominant eigenvalue is
        negative a second pass on ``H - lambda_dom I`` finds the largest algebraic one)
        or ``"lanczos"`` (Krylov, fewer HVPs for the same accuracy).
    """
    if n_iter < 1:
        raise ValueError(f"n_iter must be >= 1, got {n_iter}")
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")
    if tol_mode not in ("relative", "absolute"):
        raise ValueError(f"tol_mode must be 'relative' or 'absolute', got {tol_mode!r}")
    if tol_mode == "absolute" and method != "power":
        raise ValueError("tol_mode='absolute' is defined for method='power' only")
    absolute = tol_mode == "absolute"
    op = HessianVectorProduct(loss_fn, params)
    gen = torch.Generator().manual_seed(int(seed))
    v0 = _random_like(op.params, gen)
    if method == "power":
        lam, v, n, conv, hist = _power(op, v0, n_iter, tol, absolute=absolute)
        if lam < 0:
            # dominant eigenvalue is negative: the largest algebraic eigenvalue is
            # lam + top eigenvalue of the PSD-shifted operator H - lam I.
            mu, v, n2, conv, hist2 = _power(op, _random_like(op.params, gen), n_iter, tol, shift=lam,
                                            absolute=absolute)
            lam, n, hist = mu + lam, n + n2, hist + [h + lam for h in hist2]
    elif method == "lanczos":
        lam, v, n, conv, hist = _lanczos(op, v0, n_iter, tol)
    else:
        raise ValueError(f"method must be 'power' or 'lanczos', got {method!r}")
    return TopEigenResult(float(lam), v, op.n_calls, bool(conv), hist)


def hessian_top_eigenvalue(
    loss_fn: LossFn,
    params: Sequence[torch.Tensor],
    *,
    n_iter: int = 100,
    tol: float = 1e-3,
    seed: int = 0,
    method: str = "power",
    tol_mode: str = "relative",
) -> float:
    """Largest algebraic eigenvalue of the Hessian of ``loss_fn`` w.r.t. ``params``.

    See :func:`top_eigen` for the parameters; this returns only the eigenvalue.
    """
    return top_eigen(loss_fn, params, n_iter=n_iter, tol=tol, seed=seed, method=method,
                     tol_mode=tol_mode).eigenvalue


def hessian_trace(
    loss_fn: LossFn,
    params: Sequence[torch.Tensor],
    *,
    n_samples: int = 50,
    seed: int = 0,
    distribution: str = "rademacher",
    return_stderr: bool = False,
) -> float | tuple[float, float]:
    """Hutchinson's estimate of ``tr H``: the mean of ``v^T H v`` over random ``v``.

    With Rademacher probes the estimator is unbiased with variance
    ``2 (||H||_F^2 - sum_i H_ii^2) / n_samples``. With ``return_stderr`` the standard
    error of the mean is returned as well.
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    op = HessianVectorProduct(loss_fn, params)
    gen = torch.Generator().manual_seed(int(seed))
    vals = []
    for _ in range(n_samples):
        v = _random_like(op.params, gen, distribution)
        vals.append(float(_dot(v, op(v))))
    t = torch.tensor(vals, dtype=torch.float64)
    mean = float(t.mean())
    if return_stderr:
        se = float(t.std(unbiased=True) / n_samples**0.5) if n_samples > 1 else float("nan")
        return mean, se
    return mean


def dense_hessian(loss_fn: LossFn, params: Sequence[torch.Tensor]) -> torch.Tensor:
    """The explicit Hessian (P x P, P = total parameter count) by P HVPs with unit vectors.

    Only for small problems (tests, sanity checks).
    """
    op = HessianVectorProduct(loss_fn, params)
    shapes = [p.shape for p in op.params]
    sizes = [p.numel() for p in op.params]
    P = sum(sizes)
    rows = []
    for k in range(P):
        e = torch.zeros(P, dtype=op.params[0].dtype, device=op.params[0].device)
        e[k] = 1.0
        vec = [c.reshape(s) for c, s in zip(torch.split(e, sizes), shapes)]
        rows.append(torch.cat([h.reshape(-1) for h in op(vec)]))
    return torch.stack(rows)
