"""Input- and parameter-Jacobians of a network's outputs, and local measures of them.

For a network ``f: R^d -> R^K`` and an input ``x``, the input-Jacobian
``J(x) = df/dx`` (K x d) describes how a small ball around ``x`` is mapped: its
singular values ``s_1 >= s_2 >= ...`` are the stretch factors along principal
directions. From them (Chen, Recanatesi & Shea-Brown 2023):

* maximum local sensitivity ``MLS(x) = s_1`` (the spectral norm of ``J``);
* representation volume ``vol_k(x) = sum_{i<=k} log s_i``, the log of the factor by
  which ``J`` scales k-dimensional volume (``= 1/2 log det`` of the top-k block of
  ``J J^T``; k defaults to ``min(K, d)``);
* local dimensionality ``PR(x) = (sum_i s_i^2)^2 / sum_i s_i^4``, the participation
  ratio of the eigenvalues ``s_i^2`` of ``J^T J``.

Jacobians are batched with ``torch.func.vmap`` (no per-sample Python loop).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch.func import functional_call, jacrev, vmap


def _single(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    def f(xi: torch.Tensor) -> torch.Tensor:
        return fn(xi.unsqueeze(0)).squeeze(0)

    return f


def input_jacobian(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, *, chunk_size: int | None = None
) -> torch.Tensor:
    """Per-sample input-Jacobians of a batched function.

    Parameters
    ----------
    fn : maps a batch ``(n, *input_shape)`` to outputs ``(n, K)`` sample by sample
        (e.g. an ``nn.Module`` in eval mode; no batch-coupling layers).
    x : inputs ``(n, *input_shape)``.
    chunk_size : samples per vectorised chunk (bounds memory), ``None`` = all at once.

    Returns
    -------
    ``(n, K, d)`` with ``d = prod(input_shape)``.
    """
    if x.dim() < 2:
        raise ValueError(f"x must be a batch (n, ...), got shape {tuple(x.shape)}")
    J = vmap(jacrev(_single(fn)), chunk_size=chunk_size)(x.detach())
    n, K = J.shape[0], J.shape[1]
    return J.reshape(n, K, -1)


def jacobian_singular_values(J: torch.Tensor) -> torch.Tensor:
    """Singular values ``(n, min(K, d))`` of each Jacobian in ``J (n, K, d)``, descending."""
    if J.dim() != 3:
        raise ValueError(f"J must be (n, K, d), got shape {tuple(J.shape)}")
    return torch.linalg.svdvals(J)


def max_local_sensitivity(sv: torch.Tensor) -> torch.Tensor:
    """Maximum local sensitivity ``s_1`` per sample from singular values ``(n, m)``."""
    return sv[:, 0]


def representation_volume(sv: torch.Tensor, k: int | None = None, floor: float = 1e-30) -> torch.Tensor:
    """Log volume ratio ``sum_{i<=k} log s_i`` per sample (singular values ``(n, m)``).

    ``k`` defaults to all ``m`` singular values; values below ``floor`` are clamped so
    a rank-deficient Jacobian gives a very negative, finite volume.
    """
    m = sv.shape[1]
    k = m if k is None else int(k)
    if not 1 <= k <= m:
        raise ValueError(f"k must be in [1, {m}], got {k}")
    return torch.log(sv[:, :k].clamp_min(floor)).sum(dim=1)


def local_dimensionality(sv: torch.Tensor) -> torch.Tensor:
    """Participation ratio of the eigenvalues ``s_i^2`` of ``J^T J``, per sample."""
    lam = sv**2
    num = lam.sum(dim=1) ** 2
    den = (lam**2).sum(dim=1)
    return torch.where(den > 0, num / den.clamp_min(torch.finfo(sv.dtype).tiny), torch.zeros_like(num))


def jacobian_measures(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    k: int | None = None,
    chunk_size: int | None = None,
) -> dict[str, torch.Tensor]:
    """Per-sample MLS, volume and local dimensionality of ``fn`` at the inputs ``x``."""
    sv = jacobian_singular_values(input_jacobian(fn, x, chunk_size=chunk_size))
    return {
        "mls": max_local_sensitivity(sv),
        "volume": representation_volume(sv, k),
        "local_dim": local_dimensionality(sv),
        "frobenius": torch.sqrt((sv**2).sum(dim=1)),
    }


def parameter_jacobian_sqnorms(
    model: torch.nn.Module, x: torch.Tensor, *, chunk_size: int | None = None
) -> dict[str, torch.Tensor]:
    """Squared Frobenius norms ``||d f(x_i) / d theta_p||_F^2`` per sample and parameter.

    Returns ``{parameter name: (n,) tensor}``, summed over the K outputs. Summing over
    parameters and averaging over samples gives ``G^2 = mean_i sum_j ||grad_theta f_j(x_i)||^2``,
    which equals the trace of the Gauss-Newton part of the Hessian of
    ``L = 1/(2n) sum_i ||f(x_i) - y_i||^2``.
    """
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    if not params:
        raise ValueError("model has no trainable parameters")

    def f(p: dict[str, torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
        return functional_call(model, p, (xi.unsqueeze(0),)).squeeze(0)

    def sq(xi: torch.Tensor) -> dict[str, torch.Tensor]:
        jac = jacrev(f)(params, xi)  # name -> (K, *shape)
        return {k: (v**2).sum() for k, v in jac.items()}

    return vmap(sq, chunk_size=chunk_size)(x.detach())


def gradient_norm_sharpness(model: torch.nn.Module, x: torch.Tensor, *, chunk_size: int | None = None) -> float:
    """The gradient-norm form of sharpness ``sqrt(mean_i sum_j ||grad_theta f_j(x_i)||^2)``."""
    sq = parameter_jacobian_sqnorms(model, x, chunk_size=chunk_size)
    total = sum(sq.values())
    return float(torch.sqrt(total.mean()))
