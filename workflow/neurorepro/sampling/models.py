"""Score networks whose Langevin dynamics are the dynamics of a recurrent network.

Every model maps samples ``x`` (batch, d) to a score estimate ``s(x)`` and is used in
the Langevin SDE ``dx = s(x) dt + sqrt(2) dB``.

* :class:`ReservoirScore` — reservoir-sampler network (RSN). A reservoir of ``n_hidden``
  rate units ``dr = (-r + phi(W_rec r + b)) dt + noise`` read out linearly, ``x = W_out r``.
  With ``W_rec = W_in W_out`` the readout obeys ``dx = (-x + W_out phi(W_in x + b)) dt + ...``,
  i.e. its implied score is ``s(x) = -x + W_out phi(W_in x + b)``: a one-hidden-layer
  network with a skip connection, a universal approximator as ``n_hidden`` grows.
* :class:`SynapticCurrentScore` — sampler-only network in synaptic-current form,
  ``s(x) = Sigma Sigma^T Gamma (-x + W phi(x) + b)``: ``d`` neurons, the neurons are the samples.
* :class:`FiringRateScore` — sampler-only network in firing-rate form,
  ``s(x) = Sigma Sigma^T Gamma (-x + phi(W x + b))``.

The sampler-only networks learn, as in the authors' ``NeuralDyn`` (chinsengi/score_RNN,
``models.py``), a time constant per neuron (``Gamma = diag(gamma)``) and a matrix ``Sigma``
(the authors' ``sig``, "inverse diffusion coefficient"): the Langevin drift of neuron ``i`` is
``(Sigma Sigma^T Gamma (...))_i`` with unit noise, which samples ``p`` whenever that drift is
``grad log p``. With ``W = 0`` they represent any Gaussian's score exactly
(``Sigma Sigma^T Gamma = C^{-1}``, ``b = mu`` (synaptic) or ``phi(b) = mu`` (rate)); both start
at ``gamma = 1``, ``Sigma = I``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "softplus": nn.functional.softplus}
KINDS = ("rsn", "synaptic", "rate")


def activation(name: str):
    """The nonlinearity ``phi`` named ``name`` (tanh, relu, softplus)."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"sampling.activation must be one of {sorted(ACTIVATIONS)}, got {name!r}") from None


class ReservoirScore(nn.Module):
    """RSN score ``s(x) = -x + W_out phi(W_in x + b)`` with ``n_hidden`` reservoir units."""

    def __init__(self, dim: int, n_hidden: int, act: str = "tanh"):
        super().__init__()
        self.phi = activation(act)
        self.W_in = nn.Parameter(torch.randn(n_hidden, dim) / math.sqrt(dim))
        self.b = nn.Parameter(torch.randn(n_hidden) * 0.5)
        self.W_out = nn.Parameter(torch.randn(dim, n_hidden) / math.sqrt(n_hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -x + self.phi(x @ self.W_in.T + self.b) @ self.W_out.T

    def reservoir(self) -> dict[str, torch.Tensor]:
        """The reservoir's weights: recurrent ``W_rec = W_in W_out`` (N x N), bias ``b``, readout ``W_out`` (d x N)."""
        with torch.no_grad():
            return {"W_rec": self.W_in @ self.W_out, "b": self.b.clone(), "W_out": self.W_out.clone()}

    def simulate_reservoir(
        self,
        x0: torch.Tensor,
        n_steps: int,
        dt: float,
        generator: torch.Generator | None = None,
        skew: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Euler-Maruyama simulation of the reservoir itself.

        ``dr = M (-r + phi(W_rec r + b)) dt + sqrt(2 dt) W_out^+ xi``, ``xi ~ N(0, I_d)``,
        with ``M = I_N`` (reversible) or ``M = I_N + W_out^+ J W_out`` (accelerated, ``J = skew``).
        The private noise enters along ``W_out^+`` (the pseudo-inverse of the readout), so the
        readout ``x = W_out r`` obeys exactly ``dx = (I + J) s(x) dt + sqrt(2 dt) xi``.
        Starts from ``r0 = W_out^+ x0``. Returns the final rates (n, N) and readout (n, d).
        """
        w = self.reservoir()
        B = torch.linalg.pinv(w["W_out"])  # (N, d)
        r = x0 @ B.T
        M = None
        if skew is not None:
            J = torch.as_tensor(skew, dtype=x0.dtype, device=x0.device)
            M = torch.eye(B.shape[0], dtype=x0.dtype, device=x0.device) + B @ J @ w["W_out"]
        with torch.no_grad():
            for _ in range(n_steps):
                xi = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
                drift = -r + self.phi(r @ w["W_rec"].T + w["b"])
                if M is not None:
                    drift = drift @ M.T
                r = r + dt * drift + math.sqrt(2 * dt) * xi @ B.T
        return r, r @ w["W_out"].T


class _SamplerOnly(nn.Module):
    """Learnable per-neuron time constants ``gamma`` (d) and ``Sigma`` (d x d) around a drive."""

    def __init__(self, dim: int, act: str = "tanh"):
        super().__init__()
        self.phi = activation(act)
        self.W = nn.Parameter(torch.randn(dim, dim) / math.sqrt(dim))
        self.b = nn.Parameter(torch.zeros(dim))
        self.gamma = nn.Parameter(torch.ones(dim))
        self.Sigma = nn.Parameter(torch.eye(dim))

    def drive(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = (self.drive(x) - x) * self.gamma  # Gamma (-x + drive), one row per sample
        return v @ (self.Sigma @ self.Sigma.T)  # S Gamma (...) with S = Sigma Sigma^T symmetric


class SynapticCurrentScore(_SamplerOnly):
    """Sampler-only, synaptic-current form: ``s(x) = Sigma Sigma^T Gamma (-x + W phi(x) + b)`` (W is d x d)."""

    def drive(self, x: torch.Tensor) -> torch.Tensor:
        return self.phi(x) @ self.W.T + self.b


class FiringRateScore(_SamplerOnly):
    """Sampler-only, firing-rate form: ``s(x) = Sigma Sigma^T Gamma (-x + phi(W x + b))`` (W is d x d)."""

    def drive(self, x: torch.Tensor) -> torch.Tensor:
        return self.phi(x @ self.W.T + self.b)


def build_score_model(kind: str, dim: int, n_hidden: int = 128, act: str = "tanh") -> nn.Module:
    """Score network of ``kind`` (``rsn``, ``synaptic``, ``rate``) for ``dim``-dimensional samples."""
    if kind == "rsn":
        if n_hidden < 1:
            raise ValueError(f"sampling.n_hidden must be >= 1, got {n_hidden}")
        return ReservoirScore(dim, n_hidden, act)
    if kind == "synaptic":
        return SynapticCurrentScore(dim, act)
    if kind == "rate":
        return FiringRateScore(dim, act)
    raise ValueError(f"network kind must be one of {KINDS}, got {kind!r}")
