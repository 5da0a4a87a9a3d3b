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


LOSS_WEIGHTINGS = ("sigma2", "unit")
LR_SCHEDULES = ("cosine", "constant")


def dsm_loss(
    model: nn.Module, x: torch.Tensor, sigma: float, noise: torch.Tensor, antithetic: bool = True,
    weighting: str = "sigma2",
) -> torch.Tensor:
    """Denoising score-matching loss at noise scale ``sigma``.

    With ``x~ = x + sigma z`` the target is the score of the Gaussian kernel,
    ``-(x~ - x)/sigma^2 = -z/sigma``. ``weighting="sigma2"`` gives ``0.5 E ||sigma s(x~) + z||^2``
    (Song & Ermon's lambda(sigma) = sigma^2); ``weighting="unit"`` gives the authors' unweighted
    ``0.5 E ||s(x~) + z/sigma||^2`` (chinsengi/score_RNN ``runners/*_runner.py``), i.e. the same
    loss divided by ``sigma^2``. Both have as minimiser over all functions the score of the data
    convolved with N(0, sigma^2 I); the weighting only matters next to weight decay.
    ``antithetic`` pairs each noise draw ``z`` with ``-z`` (same expected loss): this cancels
    the O(1/sigma) term of the gradient's variance that makes plain DSM slow at small sigma.
    """
    if weighting not in LOSS_WEIGHTINGS:
        raise ValueError(f"sampling.loss_weighting must be one of {LOSS_WEIGHTINGS}, got {weighting!r}")
    if antithetic:
        x = torch.cat([x, x])
        noise = torch.cat([noise, -noise])
    s = model(x + sigma * noise)
    loss = 0.5 * ((sigma * s + noise) ** 2).sum(dim=1).mean()
    return loss if weighting == "sigma2" else loss / sigma**2


def train_dsm(
    model: nn.Module,
    data: torch.Tensor,
    sigmas: np.ndarray,
    n_iter: int,
    batch_size: int,
    lr: float,
    generator: torch.Generator,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    lr_schedule: str = "cosine",
    restart_per_stage: bool = False,
    weighting: str = "sigma2",
) -> np.ndarray:
    """Adam on :func:`dsm_loss`, ``n_iter`` steps split evenly over the annealed ``sigmas``.

    ``weight_decay`` and ``amsgrad`` are Adam's (L2 added to the gradient, as in the authors'
    ``torch.optim.Adam(..., weight_decay=...)``). ``lr_schedule``: ``cosine`` decays the rate
    inside each stage to ~0; ``constant`` keeps ``lr`` (the authors'). ``restart_per_stage``
    builds a fresh Adam (moments reset) at each stage (the authors' DP and MNIST runners;
    their Laplace runner keeps one). The loss of every step is returned.
    """
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"sampling.lr_schedule must be one of {LR_SCHEDULES}, got {lr_schedule!r}")
    n = data.shape[0]
    per_stage = np.full(len(sigmas), n_iter // len(sigmas))
    per_stage[: n_iter % len(sigmas)] += 1
    losses = torch.empty(n_iter, device=data.device)

    def new_opt():
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay, amsgrad=amsgrad)

    opt = new_opt()
    it = 0
    for stage, (sigma, steps) in enumerate(zip(sigmas, per_stage)):
        if restart_per_stage and stage > 0:
            opt = new_opt()
        for group in opt.param_groups:
            group["lr"] = lr
        for k in range(int(steps)):
            idx = torch.randint(0, n, (batch_size,), generator=generator, device=data.device)
            noise = torch.randn(batch_size, data.shape[1], generator=generator, device=data.device, dtype=data.dtype)
            loss = dsm_loss(model, data[idx], float(sigma), noise, weighting=weighting)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if lr_schedule == "cosine":  # each stage ends near its optimum
                for group in opt.param_groups:
                    group["lr"] = lr * 0.5 * (1 + np.cos(np.pi * (k + 1) / steps))
            losses[it] = loss.detach()
            it += 1
    return losses.cpu().numpy()
