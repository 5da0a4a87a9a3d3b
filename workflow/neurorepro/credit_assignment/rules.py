"""Temporal credit assignment rules for :class:`~.rnn.LeakyReLURNN`, written as the rules.

Every rule returns a *gradient estimate* for the four weight arrays, which an optimiser
then applies. Notation (time-major, 0-based ``t``; ``h[t]`` is the state *before* step
``t``, i.e. ``h_{t-1}`` of the paper)::

    delta_t = dE/dy_t = w_t (softmax(y_t) - onehot) / B          output error
    L_t     = delta_t F^T                                       learning signal to hidden units
    f'_t    = 1[v_t > 0]                                          ReLU derivative

``F = W_out^T`` except in RFLO, where ``F`` is a fixed random feedback matrix.
The readout (``W_out``, ``b_out``) always gets its exact gradient ``sum_t delta_t h_t^T``
(a local delta rule). The rules differ in how credit reaches ``W_rec`` and ``W_in``:

``bptt``   exact: ``g_t = L_t + g_{t+1} J_{t+1}`` with the state Jacobian
           ``J_t = (1-alpha) I + alpha diag(f'_t) W_rec``; update ``sum_t (alpha f'_t g_t) h[t]^T``.
``tbptt``  the same backward recursion, cut ``truncation`` steps back from each loss step.
``eprop``  (Bellec et al. 2020) eligibility traces
           ``eps_t[i,j] = (1-alpha) eps_{t-1}[i,j] + alpha f'_t[i] h[t][j]`` kept online at every synapse,
           combined with the *immediate* learning signal: ``sum_t L_t[i] eps_t[i,j]``. Equivalent to
           stopping the gradient through ``W_rec h_{t-1}`` (the unit's own leak path is kept).
``rflo``   (Murray 2019) the same local traces with a fixed random feedback ``F = B``
           instead of ``W_out^T``.
``mdgl``   (Liu et al. 2021) e-prop plus one step of recurrent credit carried by
           cell-type-averaged weights ``W_hat``:
           ``sum_t [L_t[p] eps_t[p,q] + (sum_j L_t[j] alpha f'_t[j] W_hat[j,p]) eps_{t-1}[p,q]]``.
"""
from __future__ import annotations

import torch

from neurorepro.credit_assignment.rnn import LeakyReLURNN, Trajectory, sequence_loss

RULES: tuple[str, ...] = ("bptt", "tbptt", "eprop", "rflo", "mdgl")
APPROXIMATE_RULES: tuple[str, ...] = ("tbptt", "eprop", "rflo", "mdgl")

Grads = dict[str, torch.Tensor]


def output_error(y: torch.Tensor, labels: torch.Tensor, loss_weights: torch.Tensor) -> torch.Tensor:
    """``dE/dy_t`` of :func:`~.rnn.sequence_loss`, shape (T, B, O) (cross-entropy, or squared error
    for floating regression targets ``labels`` (B, T, O))."""
    T, B, O = y.shape
    if labels.is_floating_point():
        return loss_weights.to(y.dtype)[:, None, None] * (y - labels.transpose(0, 1).to(y.dtype)) / B
    onehot = torch.nn.functional.one_hot(labels, O).to(y.dtype)
    return loss_weights.to(y.dtype)[:, None, None] * (torch.softmax(y, dim=-1) - onehot[None]) / B


class LearningRule:
    """Base class: one call gives (gradient estimates, loss) for a minibatch.

    Subclasses implement :meth:`hidden_grads` for ``W_rec`` and ``W_in``.
    """

    name = "base"

    def __call__(
        self, net: LeakyReLURNN, x: torch.Tensor, labels: torch.Tensor, loss_weights: torch.Tensor
    ) -> tuple[Grads, float]:
        with torch.no_grad():
            traj = net.run(x)
            loss = float(sequence_loss(traj.y, labels, loss_weights))
            delta = output_error(traj.y, labels, loss_weights)
            grads = {
                "W_out": torch.einsum("tbo,tbn->on", delta, traj.h[1:]),
                "b_out": delta.sum(dim=(0, 1)),
            }
            active = [t for t, w in enumerate(loss_weights.tolist()) if w != 0.0]
            grads.update(self.hidden_grads(net, x, traj, delta, active))
        return grads, loss

    def hidden_grads(
        self, net: LeakyReLURNN, x: torch.Tensor, traj: Trajectory, delta: torch.Tensor, active: list[int]
    ) -> Grads:
        raise NotImplementedError


class BPTT(LearningRule):
    """Backpropagation through time, exact (``truncation=None``) or truncated to ``truncation`` steps.

    With truncation, the credit of the loss at step ``s`` flows back through the steps
    ``s, s-1, ..., s-truncation+1`` only.
    """

    def __init__(self, truncation: int | None = None) -> None:
        if truncation is not None and int(truncation) < 1:
            raise ValueError(f"truncation must be >= 1 or None, got {truncation}")
        self.truncation = None if truncation is None else int(truncation)
        self.name = "bptt" if truncation is None else "tbptt"

    def hidden_grads(self, net, x, traj, delta, active):
        a_, W_rec, W_out = net.alpha, net.W_rec, net.W_out
        fprime = (traj.v > 0).to(traj.v.dtype)
        gW_rec = torch.zeros_like(W_rec)
        gW_in = torch.zeros_like(net.W_in)

        def step(t: int, g: torch.Tensor) -> torch.Tensor:
            nonlocal gW_rec, gW_in
            dv = a_ * fprime[t] * g  # dE/dv_t, (B, N)
            gW_rec = gW_rec + dv.T @ traj.h[t]
            gW_in = gW_in + dv.T @ x[:, t]
            return (1.0 - a_) * g + dv @ W_rec  # credit for h[t] = h_{t-1}

        if self.truncation is None:
            g = torch.zeros_like(traj.h[0])
            for t in range(traj.v.shape[0] - 1, -1, -1):
                g = step(t, g + delta[t] @ W_out)
        else:
            for s in active:
                g = delta[s] @ W_out
                for t in range(s, max(-1, s - self.truncation), -1):
                    g = step(t, g)
        return {"W_rec": gW_rec, "W_in": gW_in}


class EProp(LearningRule):
    """e-prop: online eligibility traces times the immediate learning signal ``L_t = delta_t F^T``.

    ``feedback=None`` uses ``F = W_out^T`` (symmetric e-prop); a fixed (N, O) matrix
    gives random-feedback e-prop, which is RFLO (see :class:`RFLO`).
    """

    name = "eprop"

    def __init__(self, feedback: torch.Tensor | None = None) -> None:
        self.feedback = feedback

    def _feedback(self, net: LeakyReLURNN) -> torch.Tensor:
        return net.W_out.T if self.feedback is None else self.feedback.to(net.W_out)

    def hidden_grads(self, net, x, traj, delta, active):
        """``sum_t L_t[i] eps_t[i,j]`` (+ MDGL's ``extra_t[p] eps_{t-1}[p,q]``), computed exactly.

        The traces ``eps_t = (1-a) eps_{t-1} + a f'_t h[t]^T`` decay with the constant leak, so
        ``eps_t = sum_{s<=t} (1-a)^{t-s} a f'_s h[s]^T`` and the sum over loss steps regroups by
        the step ``s`` at which a term entered the trace:
        ``sum_s (a f'_s * Lbar_s) h[s]^T`` with the learning signal filtered backwards,
        ``Lbar_s = L_s + (1-a) Lbar_{s+1}`` (and ``Ebar_s = extra_{s+1} + (1-a) Ebar_{s+1}``
        for credit that meets the trace one step late). Same numbers as running the (B, N, N)
        traces forward online; no (B, N, N) array is stored.
        """
        a_ = net.alpha
        F = self._feedback(net)
        fprime = (traj.v > 0).to(traj.v.dtype)
        T = fprime.shape[0]
        L = torch.einsum("tbo,no->tbn", delta, F)  # immediate learning signals, (T, B, N)
        extra = [None] + [self._extra_credit(net, t, L[t], fprime) for t in range(1, T)]
        lbar = torch.zeros_like(L[0])
        ebar = torch.zeros_like(L[0])
        gW_rec = torch.zeros_like(net.W_rec)
        gW_in = torch.zeros_like(net.W_in)
        for s in range(T - 1, -1, -1):
            lbar = L[s] + (1.0 - a_) * lbar
            if s + 1 < T and extra[s + 1] is not None:
                ebar = extra[s + 1] + (1.0 - a_) * ebar
            elif s + 1 < T:
                ebar = (1.0 - a_) * ebar
            credit = a_ * fprime[s] * (lbar + ebar)
            gW_rec = gW_rec + credit.T @ traj.h[s]
            gW_in = gW_in + credit.T @ x[:, s]
        return {"W_rec": gW_rec, "W_in": gW_in}

    def _extra_credit(self, net, t, L, fprime):
        """Extra credit (B, N) that a subclass sends to the states of step ``t-1`` (MDGL), or None."""
        return None


class RFLO(EProp):
    """Random feedback local online learning (Murray 2019): e-prop's local traces with a
    fixed random feedback matrix ``B`` (N, O) in place of ``W_out^T``."""

    name = "rflo"

    def __init__(self, feedback: torch.Tensor) -> None:
        if feedback is None or feedback.dim() != 2:
            raise ValueError("RFLO needs a fixed (n_hidden, n_out) random feedback matrix")
        super().__init__(feedback=feedback)


def type_averaged(W: torch.Tensor, n_types: int) -> torch.Tensor:
    """Replace each block of ``W`` between cell types by its mean (types: contiguous equal groups)."""
    N = W.shape[0]
    if not 1 <= n_types <= N:
        raise ValueError(f"n_types must lie in [1, {N}], got {n_types}")
    types = torch.arange(N, device=W.device) * n_types // N
    onehot = torch.nn.functional.one_hot(types, n_types).to(W.dtype)  # (N, K)
    counts = onehot.sum(dim=0)
    block_mean = (onehot.T @ W @ onehot) / (counts[:, None] * counts[None, :])
    return onehot @ block_mean @ onehot.T


class MDGL(EProp):
    """Multidigraph learning (Liu et al. 2021): e-prop plus one step of recurrent credit
    through cell-type-averaged weights (``n_types`` contiguous groups of units)."""

    name = "mdgl"

    def __init__(self, n_types: int = 2) -> None:
        super().__init__(feedback=None)
        self.n_types = int(n_types)

    def _extra_credit(self, net, t, L, fprime):
        if t == 0:
            return None
        W_hat = type_averaged(net.W_rec, self.n_types)
        return (net.alpha * fprime[t] * L) @ W_hat  # credit for h_{t-1} through W_hat, (B, N)


def make_rule(
    name: str,
    *,
    n_hidden: int,
    n_out: int,
    truncation: int = 1,
    n_types: int = 2,
    generator: torch.Generator | None = None,
) -> LearningRule:
    """Build the rule called ``name`` (one of :data:`RULES`); RFLO draws its feedback from ``generator``."""
    if name == "bptt":
        return BPTT(None)
    if name == "tbptt":
        return BPTT(truncation)
    if name == "eprop":
        return EProp()
    if name == "rflo":
        return RFLO(torch.randn(n_hidden, n_out, generator=generator) / n_hidden**0.5)
    if name == "mdgl":
        return MDGL(n_types)
    raise ValueError(f"unknown learning rule {name!r}; choose from {RULES}")
