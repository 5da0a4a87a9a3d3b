"""The recurrent network of Liu et al. 2022 and its forward pass.

The cell is the authors' rate RNN with an optional leak ``alpha`` (``alpha = 1`` is the
leak-free cell of the paper)::

    v_t = W_in x_t + W_rec h_{t-1}
    h_t = (1 - alpha) h_{t-1} + alpha ReLU(v_t),      h_0 = 0
    y_t = W_out h_t + b_out

The loss is taken over the last ``loss_steps`` steps of a trial (the response window,
:func:`window_weights`; 1 step = the authors' last-step readout); the learning rules in
:mod:`.rules` accept any weighting over time.
Shapes: inputs ``x`` are ``(batch, time, n_in)``; states are stored time-major
``(time, batch, n_hidden)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


class LeakyReLURNN(nn.Module):
    """Rate RNN ``h_t = (1-alpha) h_{t-1} + alpha ReLU(W_in x_t + W_rec h_{t-1})``, linear readout.

    Parameters
    ----------
    n_in, n_hidden, n_out : layer sizes.
    alpha : leak in (0, 1]; 1 gives the leak-free cell ``h_t = ReLU(W_in x_t + W_rec h_{t-1})``.
    rec_gain : recurrent weights start as ``N(0, rec_gain^2 / n_hidden)``.
    generator : torch Generator for the initial weights (seeded by the caller).
    """

    def __init__(
        self,
        n_in: int,
        n_hidden: int,
        n_out: int,
        *,
        alpha: float = 1.0,
        rec_gain: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        for name, val in (("n_in", n_in), ("n_hidden", n_hidden), ("n_out", n_out)):
            if int(val) < 1:
                raise ValueError(f"{name} must be >= 1, got {val}")
        if not 0.0 < float(alpha) <= 1.0:
            raise ValueError(f"alpha (leak) must lie in (0, 1], got {alpha}")
        if float(rec_gain) < 0:
            raise ValueError(f"rec_gain must be >= 0, got {rec_gain}")
        self.n_in, self.n_hidden, self.n_out = int(n_in), int(n_hidden), int(n_out)
        self.alpha = float(alpha)
        g = generator
        self.W_in = nn.Parameter(torch.randn(n_hidden, n_in, generator=g) / n_in**0.5)
        self.W_rec = nn.Parameter(torch.randn(n_hidden, n_hidden, generator=g) * rec_gain / n_hidden**0.5)
        self.W_out = nn.Parameter(torch.randn(n_out, n_hidden, generator=g) / n_hidden**0.5)
        self.b_out = nn.Parameter(torch.zeros(n_out))

    def forward(self, x: torch.Tensor, *, W_rec: torch.Tensor | None = None) -> torch.Tensor:
        """Readout ``y`` of shape ``(time, batch, n_out)`` for inputs ``x`` ``(batch, time, n_in)``.

        ``W_rec`` replaces the recurrent weights when given (used for Hessian-vector
        products with respect to ``W_rec`` alone). Differentiable by autograd.
        """
        return self.run(x, W_rec=W_rec).y

    def run(self, x: torch.Tensor, *, W_rec: torch.Tensor | None = None, stop_recurrent: bool = False) -> "Trajectory":
        """Full trajectory (pre-activations, states, readouts).

        ``stop_recurrent=True`` detaches ``h_{t-1}`` where it enters through ``W_rec``
        (the neuron's own leak path is kept): autograd through that graph is the
        e-prop approximation, used by the tests as an independent reference.
        """
        W_rec = self.W_rec if W_rec is None else W_rec
        B, T, _ = x.shape
        h = x.new_zeros(B, self.n_hidden)
        vs, hs, ys = [], [h], []
        for t in range(T):
            h_in = h.detach() if stop_recurrent else h
            v = x[:, t] @ self.W_in.T + h_in @ W_rec.T
            h = (1.0 - self.alpha) * h + self.alpha * torch.relu(v)
            vs.append(v)
            hs.append(h)
            ys.append(h @ self.W_out.T + self.b_out)
        return Trajectory(v=torch.stack(vs), h=torch.stack(hs), y=torch.stack(ys))


@dataclass
class Trajectory:
    """States of one forward pass: ``v`` (T, B, N), ``h`` (T+1, B, N) with ``h[0] = 0``, ``y`` (T, B, O)."""

    v: torch.Tensor
    h: torch.Tensor
    y: torch.Tensor


def last_step_weights(n_steps: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Loss weights over time that read out at the last step only."""
    w = torch.zeros(n_steps, device=device)
    w[-1] = 1.0
    return w


def sequence_loss(y: torch.Tensor, labels: torch.Tensor, loss_weights: torch.Tensor) -> torch.Tensor:
    """``sum_t w_t * mean_b loss_t[b]`` for readouts ``y`` (T, B, O).

    Integer ``labels`` (B,): cross-entropy against the class. Floating ``labels`` (B, T, O):
    regression targets (pattern generation), ``loss_t[b] = 0.5 ||y_t[b] - target_t[b]||^2``.
    """
    T, B, O = y.shape
    if labels.is_floating_point():
        err = y - labels.transpose(0, 1).to(y.dtype)
        return ((0.5 * (err**2).sum(dim=-1)).mean(dim=1) * loss_weights).sum()
    ce = nn.functional.cross_entropy(y.reshape(T * B, O), labels.repeat(T), reduction="none").reshape(T, B)
    return (ce.mean(dim=1) * loss_weights).sum()


def window_weights(n_steps: int, loss_steps: int = 1, device: torch.device | str | None = None) -> torch.Tensor:
    """Loss weights ``1 / loss_steps`` on each of the last ``loss_steps`` steps (the response window), 0 before."""
    k = int(loss_steps)
    if not 1 <= k <= n_steps:
        raise ValueError(f"loss_steps must lie in [1, {n_steps}], got {loss_steps}")
    w = torch.zeros(n_steps, device=device)
    w[-k:] = 1.0 / k
    return w


def accuracy(y: torch.Tensor, labels: torch.Tensor, loss_weights: torch.Tensor | None = None) -> float:
    """Fraction of trials whose readout picks the right class: the last step's readout, or, with
    ``loss_weights``, the loss-weighted sum of readouts over the response window.

    Regression targets (floating ``labels`` (B, T, O)): the score is ``R^2 = 1 - SSE / SST`` over
    the loss window (weighted by ``loss_weights``), the fraction of the targets' variance the
    readout explains; 1 is a perfect fit, so it plays the role of accuracy in the criterion and gap.
    """
    if labels.is_floating_point():
        T = y.shape[0]
        w = loss_weights if loss_weights is not None else last_step_weights(T, device=y.device)
        w = w.to(y.dtype)[:, None, None]
        tgt = labels.transpose(0, 1).to(y.dtype)
        mu = (w * tgt).sum(dim=(0, 1)) / (w.sum() * tgt.shape[1])
        sse = (w * (y - tgt) ** 2).sum()
        sst = (w * (tgt - mu) ** 2).sum()
        return float(1.0 - sse / sst) if float(sst) > 0 else float("nan")
    if loss_weights is None:
        out = y[-1]
    else:
        out = torch.einsum("t,tbo->bo", loss_weights.to(y.dtype), y)
    return float((out.argmax(dim=-1) == labels).float().mean())
