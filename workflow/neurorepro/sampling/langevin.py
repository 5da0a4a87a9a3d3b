"""Euler-Maruyama Langevin sampling, reversible and accelerated (non-reversible).

Reversible:    ``dx = s(x) dt + sqrt(2) dB``
Accelerated:   ``dx = (I + J) s(x) dt + sqrt(2) dB`` with ``J = -J^T``.

Both leave ``p`` invariant when ``s = grad log p`` (the skew-symmetric part adds a
divergence-free probability flow ``J grad log p``), and the irreversible flow can only
speed convergence (Hwang, Hwang-Ma & Sheu 1993; Rey-Bellet & Spiliopoulos 2015).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch


def skew_matrix(dim: int, strength: float) -> np.ndarray:
    """A skew-symmetric ``dim x dim`` matrix ``J`` with ``J[i, i+1] = strength = -J[i+1, i]``.

    For ``dim = 2`` this is ``strength * [[0, 1], [-1, 0]]`` (a rotation generator).
    ``dim = 1`` admits only ``J = 0``.
    """
    J = np.zeros((dim, dim))
    for i in range(dim - 1):
        J[i, i + 1] = strength
        J[i + 1, i] = -strength
    return J


def langevin_sample(
    score_fn: Callable[[torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    n_steps: int,
    dt: float,
    skew: np.ndarray | torch.Tensor | None = None,
    record_every: int = 0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None, np.ndarray]:
    """Run ``x0.shape[0]`` Langevin chains for ``n_steps`` Euler-Maruyama steps of size ``dt``.

    ``x_{t+1} = x_t + dt (I + J) s(x_t) + sqrt(2 dt) xi_t``; ``skew`` is ``J`` (None: 0).
    With ``record_every = k > 0`` the states at steps 0, k, 2k, ... (and the last) are kept.

    Returns the final states (n, d), the recorded trajectory (T, n, d) or None, and the
    recorded step numbers.
    """
    if n_steps < 0 or dt <= 0:
        raise ValueError(f"need n_steps >= 0 and dt > 0, got n_steps={n_steps}, dt={dt}")
    x = x0.clone()
    A = None
    if skew is not None:
        J = torch.as_tensor(np.asarray(skew), dtype=x.dtype, device=x.device)
        if J.shape != (x.shape[1], x.shape[1]) or not torch.allclose(J, -J.T):
            raise ValueError("skew must be a skew-symmetric (d x d) matrix")
        A = (torch.eye(x.shape[1], dtype=x.dtype, device=x.device) + J).T
    traj, steps = [], []
    noise_scale = math.sqrt(2 * dt)
    with torch.no_grad():
        for t in range(n_steps + 1):
            if record_every and (t % record_every == 0 or t == n_steps):
                traj.append(x.clone())
                steps.append(t)
            if t == n_steps:
                break
            drift = score_fn(x)
            if A is not None:
                drift = drift @ A
            xi = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = x + dt * drift + noise_scale * xi
    return x, (torch.stack(traj) if traj else None), np.asarray(steps)
