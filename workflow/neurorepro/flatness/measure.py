"""Sharpness and representation-compression measures of one trained network.

:class:`MeasureSettings` holds the estimator settings; :func:`measure_network`
returns one dict of scalars for a model on a fixed probe set of training points:
sharpness (top Hessian eigenvalue, Hutchinson trace, gradient-norm form), the
input-Jacobian measures (MLS, volume, local dimensionality), the network-wide MLS,
and the bounds of :mod:`neurorepro.flatness.bounds` in their min and geometric-mean
forms, each with ``G`` and with ``sqrt(tr H)``, for an MLP (:class:`DeepNet`) or a
:class:`VGG` (bounds at the first dense layer, the conv stack in ``L_phi``).

Definitions against the paper (Chen, Recanatesi & Shea-Brown, arXiv 2310.01770) and the
authors' code (chinsengi/sharpdim ``src/utils.py``): the paper's *sharpness* is ``tr H``
(its Eq. 2); the column ``sharpness`` here is that trace (Hutchinson), ``lambda_max`` the
top eigenvalue (kept as an extra), ``grad_norm`` the gradient-norm form ``G`` the authors'
``get_gradW`` tracks (``sqrt(mean_i sum_j ||grad_theta f_j(x_i)||^2)``). MLS = largest
singular value of the input-Jacobian of the logits (the authors' ``A``); ``volume`` = mean
over probes of ``sum_{i<=k} log s_i`` with ``k = volume_k`` (3: the authors'
``cal_logvol``, which halves the sum of the logs of the top-3 eigenvalues ``s_i^2``),
``volume_all`` the same over all ``min(K, d)`` singular values (our former measure, kept
as an extra); ``mls``/``volume`` are arithmetic means over probes, ``mls_gm`` the geometric
mean (what the paper's geometric-mean bound bounds); local dimensionality = participation
ratio of ``s_i^2`` (the authors' ``get_dim``: ``(sum s^2)^2 / sum s^4``).

Loss conventions. The Hessian, its trace and top eigenvalue are those of the loss of the
paper's bounds, ``L = 1/(2n) sum_i ||f(x_i) - onehot(y_i)||^2`` (:func:`mse_loss`), whose
Gauss-Newton trace is ``G^2``, so the trace form of a bound replaces ``G`` by
``sqrt(tr H)``. SGD trains on the authors' loss, torch's ``MSELoss``
``1/(nK) sum_i ||f - y||^2 = (2/K) L``; its Hessian is ``(2/K) H``:
``sharpness_train`` and ``lambda_max_train`` are those (the linear-stability check
``lambda_max_train <= 2 / lr`` uses the latter).
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from neurorepro.flatness import bounds
from neurorepro.measures.hessian import hessian_trace, top_eigen
from neurorepro.measures.jacobian import (
    conv2d_operator_norm,
    conv2d_operator_norm_bound,
    input_jacobian,
    jacobian_singular_values,
    local_dimensionality,
    max_local_sensitivity,
    parameter_jacobian_sqnorms,
    representation_volume,
)
from neurorepro.nets import VGG, DeepNet


@dataclass
class MeasureSettings:
    """Settings of the sharpness and Jacobian estimators.

    hessian_iters : maximum HVPs of the top-eigenvalue iteration.
    hessian_tol : relative change at which the iteration stops.
    hessian_method : ``power`` or ``lanczos``.
    trace_samples : Rademacher probes of Hutchinson's trace estimator.
    volume_k : singular values in the volume (3: the authors' ``cal_logvol``; None = all, ``min(K, d)``).
    chunk_size : samples per vectorised Jacobian chunk (memory).
    dtype : ``float64`` (default; exact bound checks) or ``float32``.
    seed : seed of the random start / probe vectors.
    """

    hessian_iters: int = 100
    hessian_tol: float = 1e-3
    hessian_method: str = "power"
    trace_samples: int = 20
    volume_k: int | None = 3
    chunk_size: int | None = 64
    dtype: str = "float64"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.hessian_iters < 1:
            raise ValueError(f"hessian_iters must be >= 1, got {self.hessian_iters}")
        if not self.hessian_tol > 0:
            raise ValueError(f"hessian_tol must be > 0, got {self.hessian_tol}")
        if self.hessian_method not in ("power", "lanczos"):
            raise ValueError(f"hessian_method must be 'power' or 'lanczos', got {self.hessian_method!r}")
        if self.trace_samples < 1:
            raise ValueError(f"trace_samples must be >= 1, got {self.trace_samples}")
        if self.volume_k is not None and self.volume_k < 1:
            raise ValueError(f"volume_k must be >= 1 or null, got {self.volume_k}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")


def mse_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``1/(2n) sum_i ||logits_i - onehot(y_i)||^2`` (the training loss of ``nets`` with ``mse``)."""
    target = nn.functional.one_hot(y, logits.shape[1]).to(logits.dtype)
    return 0.5 * ((logits - target) ** 2).sum(dim=1).mean()


#: Lipschitz constants of the activations (GELU: max of Phi(x) + x phi(x), at x = sqrt 2).
ACT_LIPSCHITZ = {nn.ReLU: 1.0, nn.Tanh: 1.0, nn.Identity: 1.0, nn.Sigmoid: 0.25, nn.GELU: 1.1290}


def linear_layers(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """The (parameter-name prefix, layer) of every dense layer, input to output.

    A :class:`DeepNet`: all its layers; a :class:`VGG`: its fully connected head.
    """
    if not isinstance(model, (DeepNet, VGG)):
        raise TypeError(f"the bounds need a DeepNet or a VGG, got {type(model).__name__}")
    out = [(f"hidden.{i}", lin) for i, lin in enumerate(model.hidden)]
    return out + [("readout", model.readout)]


def dense_input(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``h = phi(x)``, the (n, D) input of the first dense layer (flattened ``x`` for a DeepNet)."""
    if isinstance(model, VGG):
        return model.features_flat(x)
    return x.reshape(len(x), -1)


def feature_lipschitz(model: nn.Module) -> float:
    """A Lipschitz constant ``L_phi`` of the map from the input to the first dense layer.

    ``1`` for a :class:`DeepNet`. For a :class:`VGG` the product over its feature stack
    of: each conv's operator norm on its input size (certified upper bound,
    :func:`conv2d_operator_norm_bound`; power iteration for strided/dilated/grouped
    convs), each BatchNorm's ``max_c |gamma_c| / sqrt(running_var_c + eps)`` (eval mode),
    each activation's Lipschitz constant (:data:`ACT_LIPSCHITZ`) and 1 for each
    max-pool whose windows do not overlap. Any other module raises ``TypeError`` (the
    bounds would no longer be theorems).
    """
    if isinstance(model, DeepNet):
        return 1.0
    if not isinstance(model, VGG):
        raise TypeError(f"no feature Lipschitz constant for {type(model).__name__}")
    ref = next(model.parameters())
    h = torch.zeros((1, *model.input_shape), dtype=ref.dtype, device=ref.device)  # tracks each module's input shape
    lip = 1.0
    with torch.no_grad():
        for mod in model.features:
            shape = tuple(h.shape[1:])
            if isinstance(mod, nn.Conv2d):
                simple = mod.stride == (1, 1) and mod.dilation == (1, 1) and mod.groups == 1
                if simple and mod.padding_mode == "zeros" and isinstance(mod.padding, tuple):
                    lip *= conv2d_operator_norm_bound(mod.weight, shape, padding=mod.padding)
                else:
                    lip *= conv2d_operator_norm(
                        mod.weight, shape, stride=mod.stride, padding=mod.padding, dilation=mod.dilation,
                        groups=mod.groups,
                    ).norm
            elif isinstance(mod, nn.BatchNorm2d):
                if mod.training or mod.running_var is None:
                    raise TypeError("BatchNorm2d must be in eval mode with running statistics for the bounds")
                scale = mod.running_var.add(mod.eps).rsqrt()
                if mod.weight is not None:
                    scale = scale * mod.weight
                lip *= float(scale.abs().max())
            elif isinstance(mod, nn.MaxPool2d):
                if mod.kernel_size != mod.stride or mod.dilation != 1:
                    raise TypeError(f"max-pool {mod} has overlapping windows; its Lipschitz constant is not 1")
            elif type(mod) in ACT_LIPSCHITZ:
                lip *= ACT_LIPSCHITZ[type(mod)]
            else:
                raise TypeError(f"no Lipschitz constant for feature module {mod}")
            h = mod(h)
    return float(lip)


def _tail(model: nn.Module, start: int):
    """The map from the input of dense layer ``start`` to the logits."""

    def f(h: torch.Tensor) -> torch.Tensor:
        for lin, act in zip(list(model.hidden)[start:], list(model.act)[start:]):
            h = act(lin(h))
        return model.readout(h)

    return f


def _geometric_mean(v: torch.Tensor) -> float:
    """``exp(mean log v)`` of nonnegative values (0 if any is 0)."""
    v = v.detach().double()
    return 0.0 if bool((v <= 0).any()) else float(torch.exp(torch.log(v).mean()))


def measure_network(model: nn.Module, x: torch.Tensor, y: torch.Tensor, settings: MeasureSettings) -> dict[str, float]:
    """All measures of ``model`` on the probe set ``(x, y)`` (one dict of floats).

    The model is copied (to ``settings.dtype``, eval mode) and left untouched.
    Bounds are NaN for models other than :class:`DeepNet` and :class:`VGG`.
    """
    dtype = getattr(torch, settings.dtype)
    device = next(model.parameters()).device
    net = copy.deepcopy(model).to(device=device, dtype=dtype).eval()
    x = x.to(device=device, dtype=dtype)
    y = y.to(device)
    params = [p for p in net.parameters() if p.requires_grad]

    def loss_fn() -> torch.Tensor:
        return mse_loss(net(x), y)

    eig = top_eigen(
        loss_fn, params, n_iter=settings.hessian_iters, tol=settings.hessian_tol,
        seed=settings.seed, method=settings.hessian_method,
    )
    trace = hessian_trace(loss_fn, params, n_samples=settings.trace_samples, seed=settings.seed + 1)
    with torch.no_grad():
        logits = net(x)
        loss = float(mse_loss(logits, y))
        acc = float((logits.argmax(1) == y).float().mean())

    J = input_jacobian(net, x, chunk_size=settings.chunk_size).detach()
    sv = jacobian_singular_values(J)
    m = sv.shape[1] if settings.volume_k is None else min(settings.volume_k, sv.shape[1])
    mls = max_local_sensitivity(sv)
    vol = representation_volume(sv, m)
    vol_all = representation_volume(sv)
    ld = local_dimensionality(sv)
    sq = parameter_jacobian_sqnorms(net, x, chunk_size=settings.chunk_size)
    G = float(torch.sqrt(sum(sq.values()).mean()))
    sqrt_trace = float(np.sqrt(max(trace, 0.0)))
    to_train = 2.0 / logits.shape[1]  # Hessian of the authors' MSELoss = (2/K) H
    out = {
        "probe_loss": loss,
        "probe_acc": acc,
        "sharpness": trace,
        "sharpness_train": to_train * trace,
        "lambda_max": eig.eigenvalue,
        "lambda_max_train": to_train * eig.eigenvalue,
        "lambda_max_n_hvp": eig.n_hvp,
        "lambda_max_converged": eig.converged,
        "grad_norm": G,
        "trace_minus_gn": trace - G**2,
        "mls": float(mls.mean()),
        "mls_gm": _geometric_mean(mls),
        "volume": float(vol.mean()),
        "volume_k": m,
        "volume_all": float(vol_all.mean()),
        "local_dim": float(ld.mean()),
        "n_params": sum(p.numel() for p in params),
    }
    nan = float("nan")
    bound_keys = [
        "w1_norm", "feature_lipschitz", "min_input_norm", "gm_input_norm",
        "mls_bound", "mls_bound_trace", "mls_bound_gm", "mls_bound_gm_trace",
        "volume_bound", "volume_bound_trace", "volume_bound_gm", "volume_bound_gm_trace",
        "nmls", "nmls_bound", "nmls_bound_sharp", "nmls_bound_trace",
        "nmls_mean", "nmls_mean_bound", "nmls_mean_bound_sharp",
    ]
    if not isinstance(net, (DeepNet, VGG)):
        out.update({k: nan for k in bound_keys})
        return out

    layers = linear_layers(net)
    wnorms = np.array([float(torch.linalg.matrix_norm(lin.weight.detach(), ord=2)) for _, lin in layers])
    layer_sq = np.array([float(sq[f"{name}.weight"].mean()) for name, _ in layers])
    lip = feature_lipschitz(net)
    # inputs of the dense layers: h_0 = phi(x), then each hidden activation
    with torch.no_grad():
        hs = [dense_input(net, x)]
        for lin, act in zip(net.hidden, net.act):
            hs.append(act(lin(hs[-1])))
    h_norm = hs[0].norm(dim=1)
    min_h, gm_h = float(h_norm.min()), _geometric_mean(h_norm)
    # network-wide MLS: every dense layer's input norm times the sensitivity to it
    nmls_sq = torch.zeros(len(x), dtype=dtype, device=device)
    nmls_sum = torch.zeros(len(x), dtype=dtype, device=device)
    for start, h in enumerate(hs):
        s1 = mls if (start == 0 and isinstance(net, DeepNet)) else jacobian_singular_values(
            input_jacobian(_tail(net, start), h, chunk_size=settings.chunk_size).detach()
        )[:, 0]
        term = h.norm(dim=1) * s1
        nmls_sq += term**2
        nmls_sum += term
    w1 = float(wnorms[0])
    out.update(
        {
            "w1_norm": w1,
            "feature_lipschitz": lip,
            "min_input_norm": min_h,
            "gm_input_norm": gm_h,
            "mls_bound": bounds.mls_bound(w1, G, min_h, lip),
            "mls_bound_trace": bounds.mls_bound(w1, sqrt_trace, min_h, lip),
            "mls_bound_gm": bounds.mls_bound(w1, G, gm_h, lip),
            "mls_bound_gm_trace": bounds.mls_bound(w1, sqrt_trace, gm_h, lip),
            "volume_bound": bounds.volume_bound(w1, G, min_h, m, lip),
            "volume_bound_trace": bounds.volume_bound(w1, sqrt_trace, min_h, m, lip),
            "volume_bound_gm": bounds.volume_bound(w1, G, gm_h, m, lip),
            "volume_bound_gm_trace": bounds.volume_bound(w1, sqrt_trace, gm_h, m, lip),
            "nmls": float(torch.sqrt(nmls_sq).mean()),
            "nmls_bound": bounds.network_mls_bound(wnorms, layer_sq),
            "nmls_bound_sharp": bounds.network_mls_sharpness_bound(wnorms, G),
            "nmls_bound_trace": bounds.network_mls_sharpness_bound(wnorms, sqrt_trace),
            "nmls_mean": float((nmls_sum / len(hs)).mean()),
            "nmls_mean_bound": bounds.network_mls_mean_bound(wnorms, layer_sq),
            "nmls_mean_bound_sharp": bounds.network_mls_mean_sharpness_bound(wnorms, G),
        }
    )
    return out


def settings_dict(settings: MeasureSettings) -> dict:
    """The settings as a plain dict (for attrs/logs)."""
    return asdict(settings)
