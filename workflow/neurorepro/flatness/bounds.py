"""Upper bounds on representation compression from sharpness (Chen, Recanatesi & Shea-Brown 2023).

Setting. The network is ``f(x) = tail(W h + b)`` with ``h = phi(x)`` the input of its
first fully connected layer: ``phi`` is the flattening for an MLP (``h = x``) and the
conv/pool feature stack for a VGG. ``L_phi`` is a Lipschitz constant of ``phi``
(``s_max(dh/dx) <= L_phi`` everywhere; ``1`` for an MLP). With ``J_z = df/dz`` (K x m,
``z = W h + b``) the chain rule gives, per input,

* ``df/dx = J_z W (dh/dx)``, so ``s_max(df/dx) <= L_phi ||W||_2 ||J_z||_F`` and
  ``||df/dx||_F <= L_phi ||W||_2 ||J_z||_F``;
* ``df/dW = J_z (x) h`` (a dense weight is used once per input), so ``||df/dW||_F = ||J_z||_F ||h||``.

Hence, for every input (the Ma & Ying 2021 "multiplicative structure", extended to
vector outputs and a feature map in front),

    ``MLS(x) = s_max(df/dx) <= L_phi ||W||_2 ||df/dW||_F / ||h||``                    (1)

and, with ``m`` top singular values and AM-GM on their squares,

    ``vol_m(x) = sum_{i<=m} log s_i(df/dx) <= m/2 log(||df/dx||_F^2 / m)``
    ``                               <= m/2 log(L_phi^2 ||W||_2^2 ||df/dW||_F^2 / (m ||h||^2))``   (2)

Over the n probe points, with ``||df/dW||_F <= ||df/dtheta||_F`` and the gradient-norm
form of sharpness ``G = sqrt(mean_i sum_j ||grad_theta f_j(x_i)||^2)``, two aggregations:

* min form (ours, the scaling ``||W||/min_i ||x_i||`` of the Ma & Ying bound, which the
  paper's Eq. 6 carries): ``mean_i MLS_i <= L_phi ||W||_2 G / min_i ||h_i||`` (Cauchy-
  Schwarz) and ``mean_i vol_m <= m/2 log(L_phi^2 ||W||^2 G^2 / (m min_i ||h_i||^2))`` (Jensen);
* geometric-mean form (the paper's improvement, Eq. 9 for the volume and Eq. 11 for the
  MLS, replaces the minimum over training points by their geometric mean GM; our
  derivation): taking logs of (1)/(2), averaging, and ``mean_i log g_i^2 <= log mean_i g_i^2``
  (Jensen) give ``GM_i MLS_i <= L_phi ||W||_2 G / GM_i ||h_i||`` and
  ``mean_i vol_m <= m/2 log(L_phi^2 ||W||^2 G^2 / (m GM_i ||h_i||^2))``. Since
  ``GM >= min`` the volume bound of this form is the tighter; both are theorems.

Convolutional layers. A conv layer is linear in its input, ``z = A_K h`` with ``A_K``
the convolution operator, so ``s_max(df/dh) <= ||A_K||_2 ||J_z||_2``; but its kernel is
shared across positions, ``df/dK = sum_p J_z[:, p] (x) patch_p(h)``, whose norm is not
``||J_z|| ||h||`` and can vanish while ``J_z != 0`` (opposite-signed positions cancel):
no bound of form (1) holds *at* a conv layer (``tests/test_flatness.py`` builds such a
counterexample). The bounds are therefore applied at the first dense layer, with the
conv stack in ``L_phi = prod_l ||A_{K_l}||_2 * max_c |gamma_c|/sqrt(var_c + eps)`` (BN,
eval mode) ``* Lip(activation)`` (max-pooling with non-overlapping windows is
1-Lipschitz); the conv norms are certified upper bounds
(:func:`neurorepro.measures.jacobian.conv2d_operator_norm_bound`).

Sharpness form. For ``L = 1/(2n) sum_i ||f(x_i) - y_i||^2`` the Hessian is ``H = GN + R``
with Gauss-Newton part ``tr GN = G^2`` and a residual part ``R`` that vanishes at a
zero-loss minimum (the interpolation regime the paper works in, where sharpness,
its Eq. 2, is ``tr H``), so there ``G ~ sqrt(tr H)``: the trace form replaces ``G`` by
``sqrt(tr H)``. The gradient-norm form is a theorem at every point of training; the
trace form holds only as far as ``tr R`` is small.

Network-wide versions over the dense layers ``l`` with inputs ``h_{l-1}`` (every layer of
an MLP; the head of a VGG, see above). Ours: ``NMLS_i = sqrt(sum_l ||h_{l-1,i}||^2 s_max(df/dh_{l-1})^2)``,

    ``mean_i NMLS_i <= sqrt(sum_l ||W_l||_2^2 mean_i ||df/dW_l||_F^2) <= max_l ||W_l||_2 G``;

the paper's NMLS averages the per-layer terms over the layers (its Eq. 12 per the
reviews; the exact normalisation was not checked): ``NMLS^mean_i = 1/L sum_l
||h_{l-1,i}|| s_max(df/dh_{l-1})``, and by (1) per layer and Cauchy-Schwarz

    ``mean_i NMLS^mean_i <= 1/L sum_l ||W_l||_2 sqrt(mean_i ||df/dW_l||_F^2) <= sqrt(sum_l ||W_l||_2^2) G / L``.
"""
from __future__ import annotations

import math

import numpy as np


def _norm_arg(name: str, value: float) -> float:
    value = float(value)
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def mls_bound(weight_norm: float, grad_norm: float, input_norm: float, lipschitz: float = 1.0) -> float:
    """Bound on the MLS: ``L_phi ||W||_2 G / input_norm``.

    ``input_norm`` is ``min_i ||h_i||`` (bounds the mean MLS) or the geometric mean
    ``GM_i ||h_i||`` (bounds the geometric-mean MLS); ``grad_norm`` is ``G``
    (gradient-norm form) or ``sqrt(tr H)`` (sharpness form); ``lipschitz`` is ``L_phi``
    of the map from the input to the first dense layer. A zero ``input_norm`` gives ``inf``.
    """
    n = _norm_arg("input_norm", input_norm)
    num = float(lipschitz) * float(weight_norm) * float(grad_norm)
    return num / n if n > 0 else math.inf


def volume_bound(weight_norm: float, grad_norm: float, input_norm: float, m: int, lipschitz: float = 1.0) -> float:
    """Bound on the mean log volume ratio of ``m`` directions:
    ``m/2 log(L_phi^2 ||W||^2 G^2 / (m input_norm^2))`` (``input_norm`` min or GM, as in :func:`mls_bound`)."""
    if m < 1:
        raise ValueError(f"m must be >= 1, got {m}")
    n = _norm_arg("input_norm", input_norm)
    if n == 0:
        return math.inf
    arg = (float(lipschitz) * float(weight_norm) * float(grad_norm)) ** 2 / (m * n**2)
    return 0.5 * m * math.log(arg) if arg > 0 else -math.inf


def network_mls_bound(weight_norms: np.ndarray, layer_grad_sqnorms: np.ndarray) -> float:
    """Network-wide bound ``sqrt(sum_l ||W_l||_2^2 mean_i ||df(x_i)/dW_l||_F^2)``.

    ``weight_norms`` (L,) spectral norms; ``layer_grad_sqnorms`` (L,) the per-layer
    ``mean_i ||df(x_i)/dW_l||_F^2``.
    """
    w, g = _pair(weight_norms, layer_grad_sqnorms)
    return float(np.sqrt(np.sum(w**2 * g)))


def network_mls_sharpness_bound(weight_norms: np.ndarray, grad_norm: float) -> float:
    """Sharpness form of the network-wide bound: ``max_l ||W_l||_2 * G`` (or ``sqrt(tr H)``)."""
    return float(np.max(np.asarray(weight_norms, float))) * float(grad_norm)


def network_mls_mean_bound(weight_norms: np.ndarray, layer_grad_sqnorms: np.ndarray) -> float:
    """Bound on the layer-averaged NMLS: ``1/L sum_l ||W_l||_2 sqrt(mean_i ||df/dW_l||_F^2)``."""
    w, g = _pair(weight_norms, layer_grad_sqnorms)
    return float(np.mean(w * np.sqrt(g)))


def network_mls_mean_sharpness_bound(weight_norms: np.ndarray, grad_norm: float) -> float:
    """Sharpness form of the layer-averaged bound: ``sqrt(sum_l ||W_l||_2^2) G / L``."""
    w = np.asarray(weight_norms, float)
    return float(np.sqrt(np.sum(w**2)) * float(grad_norm) / len(w))


def _pair(weight_norms, layer_grad_sqnorms) -> tuple[np.ndarray, np.ndarray]:
    w = np.asarray(weight_norms, float)
    g = np.asarray(layer_grad_sqnorms, float)
    if w.shape != g.shape:
        raise ValueError(f"weight_norms {w.shape} and layer_grad_sqnorms {g.shape} differ in shape")
    return w, g
