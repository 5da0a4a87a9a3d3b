"""Laziness measures of Liu et al. 2024 (weight change, representation and kernel alignment).

All measures compare the network before (``0``) and after training on one fixed
probe batch:

* relative weight change ``||W - W0||_F / ||W0||_F`` of the recurrent weights;
* representation alignment ``<G0, G>_F / (||G0||_F ||G||_F)`` of the Gram matrices
  ``G = H H^T`` of the hidden states ``H`` (trials x units) at the last decision step;
* tangent-kernel alignment, the same normalised inner product between the
  empirical neural tangent kernels ``K = J J^T`` of the network outputs (every
  time step, trial and output unit) with respect to the recurrent weights.

The issue asks for these helpers in the shared ``neurorepro.measures``; that
package is owned by another engineer and was not there when this was written,
so they live here as pure functions ready to move.
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
