"""Denoising score matching (Vincent 2011) with geometrically annealed noise (Song & Ermon 2019)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


def geometric_sigmas(sigma_max: float, sigma_min: float, n_stages: int) -> np.ndarray:
    """``n_stages`` noise scales from ``sigma_max`` down to ``sigma_min``, equally spaced in log."""
    if not (sigma_max >= sigma_min > 0):
        raise ValueError(f"need sigma_max >= sigma_min > 0, got sigma_max={sigma_max}, sigma_min={sigma_min}")
    if n_stages < 1:
        raise ValueError(f"n_stages must be >= 1, got {n_stages}")
    if n_stages == 1:
        return np.array([float(sigma_min)])
    return np.geomspace(sigma_max, sigma_min, n_stages)


def dsm_loss(
    model: nn.Module, x: torch.Tensor, sigma: float, noise: torch.Tensor, antithetic: bool = True
) -> torch.Tensor:
    """Denoising score-matching loss at noise scale ``sigma``, weighted by ``sigma^2``.

    With ``x~ = x + sigma z`` the target is the score of the Gaussian kernel,
    ``-(x~ - x)/sigma^2 = -z/sigma``; the loss is ``0.5 E ||sigma s(x~) + z||^2``, whose
    minimiser over all functions is the score of the data convolved with N(0, sigma^2 I).
    ``antithetic`` pairs each noise draw ``z`` with ``-z`` (same expected loss): this cancels
    the O(1/sigma) term of the gradient's variance that makes plain DSM slow at small sigma.
    """
    if antithetic:
        x = torch.cat([x, x])
        noise = torch.cat([noise, -noise])
    s = model(x + sigma * noise)
    return 0.5 * ((sigma * s + noise) ** 2).sum(dim=1).mean()


def train_dsm(
    model: nn.Module,
    data: torch.Tensor,
    sigmas: np.ndarray,
    n_iter: int,
    batch_size: int,
    lr: float,
    generator: torch.Generator,
) -> np.ndarray:
    """Adam on :func:`dsm_loss`, ``n_iter`` steps split evenly over the annealed ``sigmas``.

    The learning rate restarts at each stage; the loss of every step is returned.
    """
    n = data.shape[0]
    per_stage = np.full(len(sigmas), n_iter // len(sigmas))
    per_stage[: n_iter % len(sigmas)] += 1
    losses = torch.empty(n_iter, device=data.device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    it = 0
    for sigma, steps in zip(sigmas, per_stage):
        for group in opt.param_groups:
            group["lr"] = lr
        for k in range(int(steps)):
            idx = torch.randint(0, n, (batch_size,), generator=generator, device=data.device)
            noise = torch.randn(batch_size, data.shape[1], generator=generator, device=data.device, dtype=data.dtype)
            loss = dsm_loss(model, data[idx], float(sigma), noise)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            # cosine decay inside a stage, so each stage ends near its optimum
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 * (1 + np.cos(np.pi * (k + 1) / steps))
            losses[it] = loss.detach()
            it += 1
    return losses.cpu().numpy()
