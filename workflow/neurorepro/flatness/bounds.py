"""Upper bounds on representation compression from sharpness (Chen, Recanatesi & Shea-Brown 2023).

Setting. A layer computes ``z = W h + b`` from its input ``h`` (for the first layer
``h = x``, the network input) and the rest of the network maps ``z`` to the outputs
``f`` (K of them). With ``J_z = df/dz`` the chain rule gives, per input,

* ``df/dh = J_z W``, so ``s_max(df/dh) <= ||W||_2 ||J_z||_F`` and ``||df/dh||_F <= ||W||_2 ||J_z||_F``;
* ``df/dW = J_z (x) h``, so ``||df/dW||_F = ||J_z||_F ||h||``.

Hence, for every input,

    ``s_max(df/dh) <= ||W||_2 ||df/dW||_F / ||h||``                          (1)

and, with ``m`` top singular values and AM-GM,

    ``sum_{i<=m} log s_i(df/dh) <= m/2 log(||df/dh||_F^2 / m)``
    ``                       <= m/2 log(||W||_2^2 ||df/dW||_F^2 / (m ||h||^2))``    (2)

Averaging (1) and (2) over the n probe points (Cauchy-Schwarz, Jensen) and using
``||df/dW||_F^2 <= ||df/dtheta||_F^2`` gives bounds in the gradient-norm form of
sharpness ``G = sqrt(mean_i sum_j ||grad_theta f_j(x_i)||^2)``:

    ``mean_i MLS(x_i)  <= ||W_1||_2 G / min_i ||x_i||``
    ``mean_i vol_m(x_i) <= m/2 log(||W_1||_2^2 G^2 / (m min_i ||x_i||^2))``

For ``L = 1/(2n) sum_i ||f(x_i) - y_i||^2`` the Hessian is ``H = GN + R`` with
Gauss-Newton part ``tr GN = G^2`` and a residual part ``R`` that vanishes at a
zero-loss minimum, so near such minima ``G ~ sqrt(tr H)``: the sharpness form of the
bounds replaces ``G`` by ``sqrt(tr H)``. The gradient-norm form is a theorem at every
point of training; the trace form holds only as far as ``tr R`` is small.

Network-wide version (our formulation of summing (1) over every linear layer ``l``
with input ``h_{l-1}``): with ``NMLS_i = sqrt(sum_l ||h_{l-1,i}||^2 s_max(df/dh_{l-1})^2)``,

    ``mean_i NMLS_i <= sqrt(sum_l ||W_l||_2^2 mean_i ||df/dW_l||_F^2) <= max_l ||W_l||_2 G``.
"""
from __future__ import annotations

import math

import numpy as np


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def mls_bound(weight_norm: float, grad_norm: float, min_input_norm: float) -> float:
    """Bound on the mean maximum local sensitivity: ``||W_1||_2 G / min_i ||x_i||``.

    ``grad_norm`` is ``G`` (gradient-norm form) or ``sqrt(tr H)`` (sharpness form).
    """
    return float(weight_norm) * float(grad_norm) / _positive("min_input_norm", min_input_norm)


def volume_bound(weight_norm: float, grad_norm: float, min_input_norm: float, m: int) -> float:
    """Bound on the mean log volume ratio of ``m`` directions: ``m/2 log(||W||^2 G^2 / (m min||x||^2))``."""
    if m < 1:
        raise ValueError(f"m must be >= 1, got {m}")
    arg = (float(weight_norm) * float(grad_norm)) ** 2 / (m * _positive("min_input_norm", min_input_norm) ** 2)
    return 0.5 * m * math.log(arg) if arg > 0 else -math.inf


def network_mls_bound(weight_norms: np.ndarray, layer_grad_sqnorms: np.ndarray) -> float:
    """Network-wide bound ``sqrt(sum_l ||W_l||_2^2 mean_i ||df/dW_l||_F^2)``.

    ``weight_norms`` (L,) spectral norms; ``layer_grad_sqnorms`` (L,) the per-layer
    ``mean_i ||df(x_i)/dW_l||_F^2``.
    """
    w = np.asarray(weight_norms, float)
    g = np.asarray(layer_grad_sqnorms, float)
    if w.shape != g.shape:
        raise ValueError(f"weight_norms {w.shape} and layer_grad_sqnorms {g.shape} differ in shape")
    return float(np.sqrt(np.sum(w**2 * g)))


def network_mls_sharpness_bound(weight_norms: np.ndarray, grad_norm: float) -> float:
    """Sharpness form of the network-wide bound: ``max_l ||W_l||_2 * G`` (or ``sqrt(tr H)``)."""
    return float(np.max(np.asarray(weight_norms, float))) * float(grad_norm)
