"""Leaky ReLU RNN and its training (Liu et al. 2024; authors' released code).

``h_t = ReLU((1 - alpha) h_{t-1} + alpha (W_in x_t + W_hh h_{t-1}))``, ``h_0 = 0``,
``y_t = W_out h_t``; no biases. ``alpha = dt / tau`` (the authors use dt = tau = 100 ms,
so ``alpha = 1``). Input and readout weights start as PyTorch's ``nn.Linear``
default (uniform in ``+-1/sqrt(fan_in)``) and are trained together with ``W_hh``
by SGD with momentum on the cross-entropy of every time step.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn

from neurorepro.measures.alignment import (
    empirical_ntk,
    kernel_alignment,
    relative_weight_change,
    representation_alignment,
)
from neurorepro.runtime import check_int_params

from .tasks import Task, TrialBatch


class LeakyReLURNN(nn.Module):
    """Leaky ReLU recurrent network with a linear readout (time-major inputs)."""

    def __init__(self, n_inputs: int, n_hidden: int, n_outputs: int, alpha: float = 1.0) -> None:
        super().__init__()
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must lie in (0, 1], got {alpha}")
        self.alpha = float(alpha)
        self.W_in = nn.Parameter(torch.zeros(n_hidden, n_inputs))
        self.W_hh = nn.Parameter(torch.zeros(n_hidden, n_hidden))
        self.W_out = nn.Parameter(torch.zeros(n_outputs, n_hidden))

    def reset_io(self, generator: torch.Generator) -> None:
        """Input/readout weights as ``nn.Linear``'s default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
        with torch.no_grad():
            for W in (self.W_in, self.W_out):
                bound = 1.0 / math.sqrt(W.shape[1])
                W.copy_(torch.rand(W.shape, generator=generator) * 2 * bound - bound)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (T, B, n_inputs) -> outputs (T, B, n_outputs), hidden states (T, B, n_hidden)."""
        h = x.new_zeros(x.shape[1], self.W_hh.shape[0])
        drive = x @ self.W_in.T
        states = []
        for t in range(x.shape[0]):
            h = torch.relu((1 - self.alpha) * h + self.alpha * (drive[t] + h @ self.W_hh.T))
            states.append(h)
        hidden = torch.stack(states)
        return hidden @ self.W_out.T, hidden


class _OutputSteps(nn.Module):
    """``net`` with its outputs and hidden states restricted to time ``steps`` (for a kernel on those steps)."""

    def __init__(self, net: nn.Module, steps: np.ndarray) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("steps", torch.as_tensor(steps, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, hidden = self.net(x)
        return out[self.steps], hidden[self.steps]


def target_steps(probe: TrialBatch) -> np.ndarray:
    """Time steps at which some probe trial carries a target (label >= 0)."""
    steps = np.flatnonzero((np.asarray(probe.y) >= 0).any(axis=1))
    if steps.size == 0:
        raise ValueError("the probe batch has no step with a target")
    return steps


class RNNTrainer:
    """Train a :class:`LeakyReLURNN` on a task from a given ``W_hh`` and measure laziness.

    Parameters
    ----------
    task : the :class:`~.tasks.Task`.
    n_hidden : number of recurrent units N.
    alpha : leak ``dt / tau``.
    learning_rate, momentum : SGD settings (paper: 0.003, 0.9).
    n_iter : training iterations (one fresh batch each).
    batch_size : trials per batch (paper: 32).
    seed : seeds the input/readout weights and the training trials, so inits compared
        under one seed see the same data and the same ``W_in``, ``W_out``.
    device : a ``torch.device`` or string.
    log_every : iterations averaged into one point of ``loss_curve_``.

    Attributes after :meth:`fit`: ``W0_``, ``W_`` (recurrent weights before/after),
    ``net0_``, ``net_``, ``loss_curve_`` (mean loss per ``log_every`` block).
    """

    def __init__(
        self,
        task: Task,
        n_hidden: int = 300,
        alpha: float = 1.0,
        learning_rate: float = 0.003,
        momentum: float = 0.9,
        n_iter: int = 10000,
        batch_size: int = 32,
        seed: int = 0,
        device: str | torch.device = "cpu",
        log_every: int = 100,
    ) -> None:
        self.task = task
        self.n_hidden = n_hidden
        self.alpha = alpha
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.n_iter = n_iter
        self.batch_size = batch_size
        self.seed = seed
        self.device = device
        self.log_every = log_every

    def _validate(self) -> None:
        """Check the parameters (called by ``fit`` and ``initial_io``; ``__init__`` only stores them,
        as scikit-learn's estimators)."""
        check_int_params(self, (("n_hidden", 1), ("n_iter", 1), ("batch_size", 1), ("log_every", 1)))
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum}")
        if not 0 < self.alpha <= 1:
            raise ValueError(f"alpha must lie in (0, 1], got {self.alpha}")

    def _new_net(self, W0: np.ndarray) -> LeakyReLURNN:
        net = LeakyReLURNN(self.task.n_inputs, self.n_hidden, self.task.n_outputs, self.alpha)
        net.reset_io(torch.Generator().manual_seed(self.seed))
        with torch.no_grad():
            net.W_hh.copy_(torch.as_tensor(W0, dtype=torch.float32))
        return net.to(torch.device(self.device))

    def initial_io(self) -> tuple[np.ndarray, np.ndarray]:
        """``(W_in, W_out)`` the network of this seed starts from (any ``W_hh``)."""
        self._validate()
        net = LeakyReLURNN(self.task.n_inputs, self.n_hidden, self.task.n_outputs, self.alpha)
        net.reset_io(torch.Generator().manual_seed(self.seed))
        return net.W_in.detach().double().numpy(), net.W_out.detach().double().numpy()

    def fit(self, W0: np.ndarray) -> RNNTrainer:
        """Train from recurrent weights ``W0`` (N x N); returns ``self``."""
        self._validate()
        W0 = np.asarray(W0, dtype=float)
        if W0.shape != (self.n_hidden, self.n_hidden):
            raise ValueError(f"W0 must be {self.n_hidden} x {self.n_hidden}, got {W0.shape}")
        if not np.all(np.isfinite(W0)):
            raise ValueError("W0 has non-finite entries")
        net = self._new_net(W0)
        self.net0_ = copy.deepcopy(net)
        opt = torch.optim.SGD(net.parameters(), lr=self.learning_rate, momentum=self.momentum)
        lossf = nn.CrossEntropyLoss()
        rng = np.random.default_rng([self.seed, 7])
        curve, running = [], 0.0
        for it in range(self.n_iter):
            batch = self.task.sample(self.batch_size, rng)
            x = torch.as_tensor(batch.x, device=self.device)
            y = torch.as_tensor(batch.y, device=self.device)
            out, _ = net(x)
            loss = lossf(out.reshape(-1, out.shape[-1]), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            running += loss.item()
            if (it + 1) % self.log_every == 0 or it + 1 == self.n_iter:
                n = (it % self.log_every) + 1
                curve.append(running / n)
                running = 0.0
        self.net_ = net
        self.W0_ = W0
        self.W_ = net.W_hh.detach().cpu().double().numpy()
        self.loss_curve_ = np.asarray(curve)
        return self

    def laziness(self, probe: TrialBatch, ntk_trials: int, ntk_steps: str = "all") -> dict[str, float]:
        """Laziness measures and accuracy on the fixed ``probe`` batch (see :mod:`neurorepro.measures.alignment`).

        The tangent kernels use the first ``ntk_trials`` probe trials and every output, at
        every step (``ntk_steps='all'``) or only at the steps that carry a target
        (``'target'``: the authors' rule, every step of the neurogym tasks, whose steps all
        carry a label, and the last step of sequential MNIST). The Gram matrices use every
        probe trial at the last decision step.
        """
        if ntk_steps not in ("all", "target"):
            raise ValueError(f"rich_lazy.ntk_steps must be 'all' or 'target', got {ntk_steps!r}")
        if not hasattr(self, "net_"):
            raise RuntimeError("call fit() first")
        x = torch.as_tensor(probe.x, device=self.device)
        res: dict[str, float] = {"weight_change": relative_weight_change(self.W0_, self.W_)}
        H, acc = {}, {}
        for tag, net in (("0", self.net0_), ("", self.net_)):
            with torch.no_grad():
                out, hid = net(x)
            H[tag] = hid[probe.decision.stop - 1].double().cpu().numpy()
            choice = out[probe.decision].argmax(-1).cpu().numpy()
            acc[tag] = float(np.mean(choice == probe.y[probe.decision]))
        res["rep_alignment"] = representation_alignment(H["0"], H[""])
        xk = x[:, :ntk_trials]
        if ntk_steps == "all":
            K0, K = empirical_ntk(self.net0_, xk), empirical_ntk(self.net_, xk)
        else:
            steps = target_steps(probe)
            K0, K = (empirical_ntk(_OutputSteps(net, steps).to(self.device), xk, param="net.W_hh")
                     for net in (self.net0_, self.net_))
        res["ntk_alignment"] = kernel_alignment(K0, K)
        res["accuracy_init"], res["accuracy"] = acc["0"], acc[""]
        res["final_loss"] = float(self.loss_curve_[-1])
        return res

