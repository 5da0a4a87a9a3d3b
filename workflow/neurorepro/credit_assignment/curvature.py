"""Loss curvature with respect to ``W_rec``: the top Hessian eigenvalue by power iteration.

As the authors (``saveHess_seqMNIST.py``): power iteration on Hessian-vector products
(double backpropagation, the Hessian never formed) from a random unit vector, stopped when
the estimate changes by at most ``tol`` in *absolute* value (authors: 1e-6) or after
``n_iter`` products (authors: 500). The loss includes the L2 penalty
``weight_decay / 2 * ||W||^2`` as the authors' ``lossH`` does; its Hessian w.r.t. ``W_rec``
is ``weight_decay * I``, added exactly. Power iteration finds the eigenvalue of largest
magnitude; if that one is negative, a second pass on ``H - lambda I`` finds the largest
algebraic one (the authors keep the first pass only; near a minimum both agree).
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


def power_iteration(
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    w: torch.Tensor,
    *,
    n_iter: int = 500,
    tol: float = 1e-6,
    seed: int = 0,
) -> tuple[float, torch.Tensor, int]:
    """Largest algebraic eigenvalue of the Hessian of ``loss_fn`` at ``w``, its unit eigenvector
    and the number of Hessian-vector products used (absolute tolerance ``tol``)."""
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    w = w.detach()
    # the gradient graph is built once and reused for every product
    wg = w.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(wg), wg, create_graph=True)

    def H(v: torch.Tensor) -> torch.Tensor:
        if not grad.requires_grad:
            return torch.zeros_like(v)
        (hv,) = torch.autograd.grad((grad * v).sum(), wg, retain_graph=True)
        return hv.detach()

    lam, v, n1 = _power(H, w, g, n_iter, tol, 0.0)
    n = n1
    if lam < 0:
        mu, v, n2 = _power(H, w, g, n_iter, tol, lam)
        lam, n = lam + mu, n1 + n2
    return lam, v, n


def _power(H, w, g, n_iter, tol, shift):
    v = torch.randn(w.shape, generator=g, dtype=w.dtype).to(w.device)
    v = v / v.norm()
    lam = 0.0
    for i in range(int(n_iter)):
        hv = H(v) - shift * v
        norm = hv.norm()
        if norm == 0:
            return 0.0, v, i + 1
        new = float((hv * v).sum())
        v = hv / norm
        if abs(new - lam) <= tol:
            return new, v, i + 1
        lam = new
    return lam, v, int(n_iter)


def power_iteration_top_eigenvalue(loss_fn, w, *, n_iter: int = 500, tol: float = 1e-6, seed: int = 0) -> float:
    """The eigenvalue alone of :func:`power_iteration`."""
    return power_iteration(loss_fn, w, n_iter=n_iter, tol=tol, seed=seed)[0]


def top_eigen_wrt_W_rec(
    net: LeakyReLURNN,
    x: torch.Tensor,
    labels: torch.Tensor,
    loss_weights: torch.Tensor,
    *,
    n_iter: int = 500,
    tol: float = 1e-6,
    seed: int = 0,
    weight_decay: float = 0.0,
) -> tuple[float, torch.Tensor, int]:
    """Top eigenvalue (and eigenvector, products used) of the Hessian of the task loss on
    ``(x, labels)`` plus the L2 penalty, with respect to ``W_rec``."""

    def loss_fn(W_rec: torch.Tensor) -> torch.Tensor:
        return sequence_loss(net(x, W_rec=W_rec), labels, loss_weights)

    lam, v, n = power_iteration(loss_fn, net.W_rec.detach().clone(), n_iter=n_iter, tol=tol, seed=seed)
    return lam + float(weight_decay), v, n


def top_eigenvalue_wrt_W_rec(net, x, labels, loss_weights, *, n_iter: int = 500, tol: float = 1e-6, seed: int = 0,
                             weight_decay: float = 0.0) -> float:
    """The eigenvalue alone of :func:`top_eigen_wrt_W_rec`."""
    return top_eigen_wrt_W_rec(net, x, labels, loss_weights, n_iter=n_iter, tol=tol, seed=seed, weight_decay=weight_decay)[0]
