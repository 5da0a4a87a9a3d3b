"""Loss curvature with respect to ``W_rec``: the top Hessian eigenvalue by power iteration.

The power iteration runs on Hessian-vector products (double backpropagation), never
forming the Hessian. The shared ``neurorepro.measures.hessian.hessian_top_eigenvalue``
(largest algebraic eigenvalue) is used when it is importable;
:func:`power_iteration_top_eigenvalue` is a minimal private fallback with the same
definition, used only if the shared module is missing.
"""
from __future__ import annotations

from typing import Callable

import torch

from neurorepro.credit_assignment.rnn import LeakyReLURNN, sequence_loss


def hvp(loss_fn: Callable[[torch.Tensor], torch.Tensor], w: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Hessian-vector product ``(d^2 loss / dw^2) v`` by double backpropagation."""
    w = w.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(loss_fn(w), w, create_graph=True)
    (hv,) = torch.autograd.grad((g * v).sum(), w)
    return hv.detach()


def power_iteration_top_eigenvalue(
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    w: torch.Tensor,
    *,
    n_iter: int = 50,
    tol: float = 1e-4,
    seed: int = 0,
) -> float:
    """Largest algebraic eigenvalue of the Hessian of ``loss_fn`` at ``w`` (Rayleigh quotient).

    Power iteration finds the eigenvalue of largest magnitude; if that one is negative, a
    second pass on ``H - lambda I`` finds the largest algebraic one. Stops when the
    relative change of the estimate falls below ``tol`` or after ``n_iter``.
    """
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    lam = _power(loss_fn, w, g, n_iter, tol, 0.0)
    if lam < 0:
        lam = lam + _power(loss_fn, w, g, n_iter, tol, lam)
    return lam


def _power(loss_fn, w, g, n_iter, tol, shift) -> float:
    v = torch.randn(w.shape, generator=g, dtype=w.dtype).to(w.device)
    v = v / v.norm()
    lam = 0.0
    for _ in range(int(n_iter)):
        hv = hvp(loss_fn, w, v) - shift * v
        new = float((hv * v).sum())
        norm = hv.norm()
        if norm == 0:
            return 0.0
        v = hv / norm
        if abs(new - lam) <= tol * max(abs(new), 1e-12):
            return new
        lam = new
    return lam


def top_eigenvalue_wrt_W_rec(
    net: LeakyReLURNN,
    x: torch.Tensor,
    labels: torch.Tensor,
    loss_weights: torch.Tensor,
    *,
    n_iter: int = 50,
    tol: float = 1e-4,
    seed: int = 0,
) -> float:
    """Top eigenvalue of the Hessian of the task loss on ``(x, labels)`` with respect to ``W_rec``."""

    def loss_fn(W_rec: torch.Tensor) -> torch.Tensor:
        return sequence_loss(net(x, W_rec=W_rec), labels, loss_weights)

    shared = _shared_top_eigenvalue()
    if shared is not None:
        return float(shared(loss_fn, net.W_rec.detach().clone(), n_iter=n_iter, tol=tol, seed=seed))
    return power_iteration_top_eigenvalue(loss_fn, net.W_rec.detach().clone(), n_iter=n_iter, tol=tol, seed=seed)


def _shared_top_eigenvalue():
    """The shared measure, adapted to ``f(loss_fn, w, n_iter, tol, seed)``, or None if absent."""
    try:
        from neurorepro.measures.hessian import hessian_top_eigenvalue
    except ImportError:
        return None

    def adapted(loss_fn, w, *, n_iter, tol, seed):
        W = w.detach().clone().requires_grad_(True)
        return hessian_top_eigenvalue(lambda: loss_fn(W), [W], n_iter=n_iter, tol=tol, seed=seed)

    return adapted
