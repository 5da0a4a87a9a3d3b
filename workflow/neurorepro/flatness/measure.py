"""Sharpness and representation-compression measures of one trained network.

:class:`MeasureSettings` holds the estimator settings; :func:`measure_network`
returns one dict of scalars for a model on a fixed probe set of training points:
sharpness (top Hessian eigenvalue, Hutchinson trace, gradient-norm form), the
input-Jacobian measures (MLS, volume, local dimensionality), the network-wide MLS,
and the bounds of :mod:`neurorepro.flatness.bounds` in both forms.

The loss is the one SGD trained with (``neurorepro.nets`` ``mse``):
``L = 1/(2n) sum_i ||f(x_i) - onehot(y_i)||^2``, whose Gauss-Newton trace is ``G^2``.
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
    input_jacobian,
    jacobian_singular_values,
    local_dimensionality,
    max_local_sensitivity,
    parameter_jacobian_sqnorms,
    representation_volume,
)
from neurorepro.nets import DeepNet


@dataclass
class MeasureSettings:
    """Settings of the sharpness and Jacobian estimators.

    hessian_iters : maximum HVPs of the top-eigenvalue iteration.
    hessian_tol : relative change at which the iteration stops.
    hessian_method : ``power`` or ``lanczos``.
    trace_samples : Rademacher probes of Hutchinson's trace estimator.
    volume_k : singular values in the volume (None = all, ``min(K, d)``).
    chunk_size : samples per vectorised Jacobian chunk (memory).
    dtype : ``float64`` (default; exact bound checks) or ``float32``.
    seed : seed of the random start / probe vectors.
    """

    hessian_iters: int = 100
    hessian_tol: float = 1e-3
    hessian_method: str = "power"
    trace_samples: int = 20
    volume_k: int | None = None
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


def linear_layers(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """The (parameter-name prefix, layer) of every linear map of a :class:`DeepNet`, input to output."""
    if not isinstance(model, DeepNet):
        raise TypeError(f"the bounds need a fully connected DeepNet, got {type(model).__name__}")
    out = [(f"hidden.{i}", lin) for i, lin in enumerate(model.hidden)]
    return out + [("readout", model.readout)]


def _tail(model: DeepNet, start: int):
    """The map from the input of linear layer ``start`` to the logits."""

    def f(h: torch.Tensor) -> torch.Tensor:
        for lin, act in zip(list(model.hidden)[start:], list(model.act)[start:]):
            h = act(lin(h))
        return model.readout(h)

    return f


def measure_network(model: nn.Module, x: torch.Tensor, y: torch.Tensor, settings: MeasureSettings) -> dict[str, float]:
    """All measures of ``model`` on the probe set ``(x, y)`` (one dict of floats).

    The model is copied (to ``settings.dtype``, eval mode) and left untouched.
    Bounds are NaN for models other than :class:`DeepNet`.
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
    ld = local_dimensionality(sv)
    sq = parameter_jacobian_sqnorms(net, x, chunk_size=settings.chunk_size)
    G = float(torch.sqrt(sum(sq.values()).mean()))
    sqrt_trace = float(np.sqrt(max(trace, 0.0)))
    out = {
        "probe_loss": loss,
        "probe_acc": acc,
        "sharpness": eig.eigenvalue,
        "sharpness_n_hvp": eig.n_hvp,
        "sharpness_converged": eig.converged,
        "hessian_trace": trace,
        "grad_norm": G,
        "mls": float(mls.mean()),
        "volume": float(vol.mean()),
        "volume_k": m,
        "local_dim": float(ld.mean()),
        "n_params": sum(p.numel() for p in params),
    }
    nan = float("nan")
    bound_keys = [
        "w1_norm", "min_input_norm", "mls_bound", "mls_bound_trace", "volume_bound", "volume_bound_trace",
        "nmls", "nmls_bound", "nmls_bound_sharp", "nmls_bound_trace",
    ]
    if not isinstance(net, DeepNet):
        out.update({k: nan for k in bound_keys})
        return out

    xf = x.reshape(len(x), -1)
    layers = linear_layers(net)
    wnorms = np.array([float(torch.linalg.matrix_norm(lin.weight.detach(), ord=2)) for _, lin in layers])
    layer_sq = np.array([float(sq[f"{name}.weight"].mean()) for name, _ in layers])
    min_x = float(xf.norm(dim=1).min())
    # network-wide MLS: every linear layer's input norm times the sensitivity to it
    acts = net.layers(x)
    names = net.layer_names[:-1]  # inputs of the linear layers: input, hidden1, ..., hiddenL
    nmls_sq = torch.zeros(len(x), dtype=dtype, device=device)
    for start, name in enumerate(names):
        h = acts[name].detach()
        s1 = mls if start == 0 else jacobian_singular_values(
            input_jacobian(_tail(net, start), h, chunk_size=settings.chunk_size).detach()
        )[:, 0]
        nmls_sq += (h.norm(dim=1) * s1) ** 2
    out.update(
        {
            "w1_norm": float(wnorms[0]),
            "min_input_norm": min_x,
            "mls_bound": bounds.mls_bound(wnorms[0], G, min_x),
            "mls_bound_trace": bounds.mls_bound(wnorms[0], sqrt_trace, min_x),
            "volume_bound": bounds.volume_bound(wnorms[0], G, min_x, m),
            "volume_bound_trace": bounds.volume_bound(wnorms[0], sqrt_trace, min_x, m),
            "nmls": float(torch.sqrt(nmls_sq).mean()),
            "nmls_bound": bounds.network_mls_bound(wnorms, layer_sq),
            "nmls_bound_sharp": bounds.network_mls_sharpness_bound(wnorms, G),
            "nmls_bound_trace": bounds.network_mls_sharpness_bound(wnorms, sqrt_trace),
        }
    )
    return out


def settings_dict(settings: MeasureSettings) -> dict:
    """The settings as a plain dict (for attrs/logs)."""
    return asdict(settings)
