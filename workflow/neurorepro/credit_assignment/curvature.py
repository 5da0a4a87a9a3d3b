"""Loss curvature with respect to ``W_rec``: the top Hessian eigenvalue by power iteration.

As the authors (``saveHess_seqMNIST.py``): power iteration on Hessian-vector products
(double backpropagation, the Hessian never formed) from a random unit vector, stopped when
the estimate changes by at most ``tol`` in *absolute* value (authors: 1e-6) or after
``n_iter`` products (authors: 500). The loss includes the L2 penalty
``weight_decay / 2 * ||W||^2`` as the authors' ``lossH`` does; its Hessian w.r.t. ``W_rec``
is ``weight_decay * I``, added exactly. Power iteration finds the eigenvalue of largest
magnitude; if that one is negative, a second pass on ``H - lambda I`` finds the largest
algebraic one (the authors keep the first pass only; near a minimum both agree).

The products and the iteration are the shared ones of :mod:`neurorepro.measures.hessian`
(``tol_mode="absolute"``); this module only builds the loss as a function of ``W_rec``.
"""
from __future__ import annotations

import torch

from neurorepro.credit_assignment.rnn import LeakyReLURNN, sequence_loss
from neurorepro.measures.hessian import top_eigen


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
    """Top eigenvalue (and unit eigenvector, products used) of the Hessian of the task loss on
    ``(x, labels)`` plus the L2 penalty, with respect to ``W_rec``."""
    W = net.W_rec.detach().clone().requires_grad_(True)
    res = top_eigen(lambda: sequence_loss(net(x, W_rec=W), labels, loss_weights), [W],
                    n_iter=n_iter, tol=tol, seed=seed, method="power", tol_mode="absolute")
    return res.eigenvalue + float(weight_decay), res.eigenvector[0], res.n_hvp


def top_eigenvalue_wrt_W_rec(net, x, labels, loss_weights, *, n_iter: int = 500, tol: float = 1e-6, seed: int = 0,
                             weight_decay: float = 0.0) -> float:
    """The eigenvalue alone of :func:`top_eigen_wrt_W_rec`."""
    return top_eigen_wrt_W_rec(net, x, labels, loss_weights, n_iter=n_iter, tol=tol, seed=seed, weight_decay=weight_decay)[0]
