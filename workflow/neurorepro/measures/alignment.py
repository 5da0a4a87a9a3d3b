"""Alignment of matrices, representations and tangent kernels, and relative weight change.

Laziness measures (Liu et al. 2024, "How connectivity structure shapes rich and lazy
learning"): they compare a network before (``0``) and after training on one fixed probe
batch.

* :func:`relative_weight_change` ``||W - W0||_F / ||W0||_F``;
* :func:`matrix_alignment` the normalised Frobenius inner product ``<A, B>_F / (||A||_F ||B||_F)``
  (1 for ``A = cB`` with ``c > 0``, 0 for Frobenius-orthogonal matrices);
* :func:`representation_alignment` that alignment between the Gram matrices ``G = H H^T``
  of two representations ``H`` (samples x features) of the same samples;
* :func:`empirical_ntk` the empirical neural tangent kernel ``K = J J^T`` of a model's
  outputs with respect to one parameter, and :func:`kernel_alignment` between two kernels.
"""
from __future__ import annotations

import numpy as np
import torch


def relative_weight_change(W0: np.ndarray, W: np.ndarray) -> float:
    """``||W - W0||_F / ||W0||_F``."""
    n0 = np.linalg.norm(W0)
    if n0 == 0:
        raise ValueError("W0 is all zeros")
    return float(np.linalg.norm(np.asarray(W) - np.asarray(W0)) / n0)


def matrix_alignment(A: np.ndarray, B: np.ndarray) -> float:
    """Normalised Frobenius inner product ``<A, B> / (||A|| ||B||)`` (1 for A = cB, c > 0)."""
    A, B = np.asarray(A, dtype=float), np.asarray(B, dtype=float)
    if A.shape != B.shape:
        raise ValueError(f"shapes differ: {A.shape} vs {B.shape}")
    na, nb = np.linalg.norm(A), np.linalg.norm(B)
    if na == 0 or nb == 0:
        return float("nan")
    return float(np.sum(A * B) / (na * nb))


def gram(H: np.ndarray) -> np.ndarray:
    """Gram matrix ``H H^T`` of representations ``H`` (samples x features)."""
    H = np.asarray(H, dtype=float)
    return H @ H.T


def representation_alignment(H0: np.ndarray, H: np.ndarray) -> float:
    """Alignment of the Gram matrices of two representations of the same samples."""
    return matrix_alignment(gram(H0), gram(H))


def empirical_ntk(model: torch.nn.Module, x: torch.Tensor, param: str = "W_hh") -> np.ndarray:
    """Empirical tangent kernel ``J J^T`` of ``model(x)`` outputs w.r.t. parameter ``param``.

    ``model(x)`` must return ``(outputs, hidden)`` with outputs of shape (T, B, K);
    rows of ``J`` are ordered (t, b, k) in C order. Computed with ``torch.func.jacrev``.
    """
    params = {k: v.detach() for k, v in model.named_parameters()}
    if param not in params:
        raise KeyError(f"model has no parameter {param!r}")

    def outputs(p: torch.Tensor) -> torch.Tensor:
        out, _ = torch.func.functional_call(model, {**params, param: p}, (x,))
        return out.reshape(-1)

    J = torch.func.jacrev(outputs)(params[param]).reshape(-1, params[param].numel())
    J = J.double()
    return (J @ J.T).cpu().numpy()


def kernel_alignment(K0: np.ndarray, K: np.ndarray) -> float:
    """Tangent-kernel alignment: normalised inner product of two kernels."""
    return matrix_alignment(K0, K)
