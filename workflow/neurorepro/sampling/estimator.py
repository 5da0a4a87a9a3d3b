"""``ScoreSampler``: a recurrent sampler network fit by denoising score matching, sampled by Langevin dynamics."""
from __future__ import annotations

import numpy as np
import torch

from ..runtime import resolve_device
from .dsm import dsm_loss, geometric_sigmas, train_dsm
from .langevin import langevin_sample, skew_matrix
from .models import KINDS, activation, build_score_model


class ScoreSampler:
    """A sampler network (RSN or sampler-only) trained so that its Langevin dynamics sample the data.

    Parameters
    ----------
    kind : ``"rsn"`` (reservoir-sampler), ``"synaptic"`` or ``"rate"`` (sampler-only forms).
    n_hidden : reservoir size (RSN only).
    activation : ``tanh``, ``relu`` or ``softplus``.
    sigma_max, sigma_min, n_stages : geometric annealing of the DSM noise scale.
    n_iter : total Adam steps (split evenly over the stages); batch_size, lr : Adam settings.
    weight_decay, amsgrad, lr_schedule, restart_per_stage, loss_weighting : see
    :func:`neurorepro.sampling.dsm.train_dsm` (defaults: no decay, cosine within a stage,
    one Adam across stages, sigma^2-weighted loss; the authors': decay, constant rate, a fresh
    Adam per stage, unweighted loss).
    seed : seeds weights and minibatches (sampling takes its own seed).
    device : ``auto``, ``cpu``, ``cuda``, ``cuda:N``.

    Attributes
    ----------
    model_ : the trained torch score network; sigmas_ : the noise scales used;
    loss_ : DSM loss per step; dim_ : sample dimension.
    """

    def __init__(
        self,
        kind: str = "rsn",
        n_hidden: int = 128,
        activation: str = "tanh",
        sigma_max: float = 1.0,
        sigma_min: float = 0.05,
        n_stages: int = 5,
        n_iter: int = 2000,
        batch_size: int = 256,
        lr: float = 1e-3,
        seed: int = 0,
        device: str = "auto",
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        lr_schedule: str = "cosine",
        restart_per_stage: bool = False,
        loss_weighting: str = "sigma2",
    ):
        self.kind = kind
        self.n_hidden = n_hidden
        self.activation = activation
        self.sigma_max = sigma_max
        self.sigma_min = sigma_min
        self.n_stages = n_stages
        self.n_iter = n_iter
        self.batch_size = batch_size
        self.lr = lr
        self.seed = seed
        self.device = device
        self.weight_decay = weight_decay
        self.amsgrad = amsgrad
        self.lr_schedule = lr_schedule
        self.restart_per_stage = restart_per_stage
        self.loss_weighting = loss_weighting

    def _validate(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        activation(self.activation)
        geometric_sigmas(self.sigma_max, self.sigma_min, self.n_stages)
        for name in ("n_iter", "batch_size", "n_hidden"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")

    def fit(self, X: np.ndarray) -> ScoreSampler:
        """Train on samples ``X`` (n, d) by annealed denoising score matching."""
        self._validate()
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise ValueError(f"X must be (n_samples, dim), got shape {X.shape}")
        self.device_ = resolve_device(self.device)
        torch.manual_seed(self.seed)
        self.dim_ = X.shape[1]
        self.model_ = build_score_model(self.kind, self.dim_, int(self.n_hidden), self.activation).to(self.device_)
        gen = torch.Generator(device=self.device_).manual_seed(self.seed)
        self.sigmas_ = geometric_sigmas(self.sigma_max, self.sigma_min, self.n_stages)
        data = torch.as_tensor(X, device=self.device_)
        self.loss_ = train_dsm(
            self.model_, data, self.sigmas_, int(self.n_iter), int(self.batch_size), self.lr, gen,
            weight_decay=float(self.weight_decay), amsgrad=bool(self.amsgrad), lr_schedule=self.lr_schedule,
            restart_per_stage=bool(self.restart_per_stage), weighting=self.loss_weighting,
        )
        self.model_.eval()
        return self

    def predict_score(self, x: np.ndarray) -> np.ndarray:
        """The network's score ``s(x)`` at points ``x`` (n, d)."""
        x = torch.as_tensor(np.asarray(x, dtype=np.float32).reshape(-1, self.dim_), device=self.device_)
        with torch.no_grad():
            return self.model_(x).cpu().numpy().astype(float)

    def dsm_loss(self, X: np.ndarray, sigma: float | None = None, seed: int = 0) -> float:
        """Denoising score-matching loss on ``X`` at ``sigma`` (default: the last stage's), fixed noise.

        On held-out samples this compares networks on the objective they were trained on.
        """
        sigma = float(self.sigmas_[-1] if sigma is None else sigma)
        x = torch.as_tensor(np.asarray(X, dtype=np.float32), device=self.device_)
        gen = torch.Generator(device=self.device_).manual_seed(seed)
        z = torch.randn(x.shape, generator=gen, device=self.device_)
        with torch.no_grad():
            return float(dsm_loss(self.model_, x, sigma, z))

    def sample(
        self,
        n_samples: int,
        n_steps: int,
        dt: float,
        skew: float = 0.0,
        init_std: float = 1.0,
        init_mean: np.ndarray | list[float] | None = None,
        record_every: int = 0,
        seed: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Run ``n_samples`` independent chains of the network's Langevin dynamics.

        Chains start at ``N(init_mean, init_std^2 I)`` (``init_mean`` None: 0); ``skew > 0`` uses the accelerated dynamics
        with ``J = skew_matrix(d, skew)``. Returns final samples (n, d), the recorded
        trajectory (T, n, d) (when ``record_every > 0``) and its step numbers.
        """
        seed = self.seed + 1 if seed is None else seed
        gen = torch.Generator(device=self.device_).manual_seed(seed)
        x0 = init_std * torch.randn(n_samples, self.dim_, generator=gen, device=self.device_)
        if init_mean is not None:
            mean = np.asarray(init_mean, dtype=np.float32).ravel()
            if mean.shape != (self.dim_,):
                raise ValueError(f"init_mean must have {self.dim_} entries, got {mean.tolist()}")
            x0 = x0 + torch.as_tensor(mean, device=self.device_)
        J = skew_matrix(self.dim_, skew) if skew else None
        x, traj, steps = langevin_sample(self.model_, x0, n_steps, dt, J, record_every, gen)
        return (
            x.cpu().numpy().astype(float),
            None if traj is None else traj.cpu().numpy().astype(float),
            steps,
        )
