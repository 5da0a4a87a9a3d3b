"""SGD training with weight snapshots and per-layer activations on a fixed probe set.

Typical use::

    seed_everything(seed)
    model = build_model("deepnet", X_train.shape[1:], 10, widths=[100] * 4)
    trainer = SGDTrainer(lr=0.05, batch_size=32, momentum=0.9, epochs=20, seed=seed,
                         snapshot_epochs=[0, 1, 5, 20], device="auto").fit(
        model, X_train, y_train, X_test=X_test, y_test=y_test, probe=X_test[:500],
        probe_labels=y_test[:500])
    trainer.history_        # pandas DataFrame, one row per snapshot (loss, accuracy)
    trainer.snapshots_      # {step: state_dict on CPU}
    trainer.activations_    # xarray Dataset: one variable per layer (snapshot, image, unit)
    save_snapshots(trainer, "model.pt"); write_netcdf(trainer.activations_, "acts.nc")

Determinism: the order of mini-batches comes from a ``torch.Generator`` seeded with
``seed``; weights come from the global torch RNG when the model is built, so seed it
before. On CPU two runs with the same seeds give identical numbers.
"""
from __future__ import annotations

import logging
import time
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import nn

from neurorepro.runtime import check_int_params, resolve_device

__all__ = [
    "LOSSES",
    "SGDTrainer",
    "evaluate",
    "probe_activations",
    "projection_matrix",
    "activations_dataset",
    "save_snapshots",
    "load_snapshots",
    "load_snapshot",
]

LOSSES = ("cross_entropy", "mse")


def _loss_fn(name: str, logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    if name == "cross_entropy":
        return nn.functional.cross_entropy(logits, y, reduction=reduction)
    target = nn.functional.one_hot(y, logits.shape[1]).to(logits.dtype)
    per = ((logits - target) ** 2).sum(dim=1) / 2
    return per.mean() if reduction == "mean" else per.sum()


@torch.no_grad()
def evaluate(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    loss: str = "cross_entropy",
    batch_size: int = 1024,
    device: torch.device | str | None = None,
) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``(X, y)`` in eval mode (mode restored after)."""
    device = next(model.parameters()).device if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    total, correct, n = 0.0, 0, 0
    for i in range(0, len(X), batch_size):
        xb, yb = X[i : i + batch_size].to(device), y[i : i + batch_size].to(device)
        logits = model(xb)
        total += float(_loss_fn(loss, logits, yb, reduction="sum"))
        correct += int((logits.argmax(dim=1) == yb).sum())
        n += len(yb)
    model.train(was_training)
    return total / n, correct / n


def projection_matrix(n_in: int, n_out: int, seed: int) -> torch.Tensor:
    """Fixed Gaussian random projection R^n_in -> R^n_out, entries N(0, 1/n_out).

    It preserves pairwise distances up to a factor 1 ± O(sqrt(log n / n_out))
    (Johnson–Lindenstrauss), so nearest-neighbour dimension estimates and the covariance
    spectrum's bulk survive it; the same ``seed`` gives the same matrix.
    """
    gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(n_in))
    return torch.randn(n_in, n_out, generator=gen) / np.sqrt(n_out)


@torch.no_grad()
def probe_activations(
    model: nn.Module,
    X: torch.Tensor,
    *,
    batch_size: int = 1024,
    device: torch.device | str | None = None,
    max_features: int | None = None,
    projection_seed: int = 0,
) -> "OrderedDict[str, np.ndarray]":
    """Activations of every layer of ``model`` (its ``layers(x)``) on ``X``, as float32 arrays.

    Layers with more than ``max_features`` units (e.g. flattened conv feature maps of
    large images) are mapped through :func:`projection_matrix` to ``max_features``
    dimensions, the same matrix at every call with the same ``projection_seed``.
    """
    if not hasattr(model, "layers"):
        raise TypeError("model needs a layers(x) method returning {name: activations}")
    device = next(model.parameters()).device if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    parts: "OrderedDict[str, list[np.ndarray]]" = OrderedDict()
    projections: dict[int, torch.Tensor] = {}  # by input width: layers of equal width share one matrix
    for i in range(0, len(X), batch_size):
        for name, a in model.layers(X[i : i + batch_size].to(device)).items():
            a = a.reshape(a.shape[0], -1).float()
            if max_features is not None and a.shape[1] > max_features:
                if a.shape[1] not in projections:
                    projections[a.shape[1]] = projection_matrix(a.shape[1], max_features, projection_seed).to(a.device)
                a = a @ projections[a.shape[1]]
            parts.setdefault(name, []).append(a.cpu().numpy())
    model.train(was_training)
    return OrderedDict((k, np.concatenate(v)) for k, v in parts.items())


def activations_dataset(
    acts: Sequence["OrderedDict[str, np.ndarray]"],
    steps: Sequence[int],
    epochs: Sequence[float],
    labels: np.ndarray | None = None,
    attrs: dict | None = None,
) -> xr.Dataset:
    """Stack per-snapshot layer activations into one Dataset.

    One variable per layer, dims ``(snapshot, image, <layer>_unit)``; coords ``step``
    and ``epoch`` on ``snapshot`` and ``label`` on ``image``; attr ``layers`` holds the
    layer order (comma-separated).
    """
    if not acts:
        raise ValueError("no activations to stack")
    names = list(acts[0])
    data_vars = {
        name: (("snapshot", "image", f"{name}_unit"), np.stack([a[name] for a in acts]).astype(np.float32))
        for name in names
    }
    coords: dict = {"step": ("snapshot", np.asarray(steps, dtype=np.int64)), "epoch": ("snapshot", np.asarray(epochs, float))}
    if labels is not None:
        coords["label"] = ("image", np.asarray(labels, dtype=np.int64))
    ds = xr.Dataset(data_vars, coords=coords)
    ds.attrs.update({"layers": ",".join(names), "units": "activation (a.u.)"})
    ds.attrs.update(attrs or {})
    return ds


class SGDTrainer:
    """Mini-batch SGD (with momentum) that records snapshots along the way.

    Parameters
    ----------
    lr, batch_size, momentum, weight_decay : SGD settings.
    epochs : passes over the training set.
    seed : seeds the mini-batch order.
    snapshot_epochs : epochs (0 = initialisation) after which weights, loss/accuracy and
        probe activations are recorded. Default: every epoch and 0.
    snapshot_steps : alternatively, SGD steps (0 = initialisation). Give one or neither.
    loss : ``cross_entropy`` or ``mse`` (on one-hot targets).
    device : ``auto``/``cpu``/``cuda[:N]`` (``neurorepro.runtime.resolve_device``).
    logger : progress is logged at every snapshot (default: module logger).
    eval_train_max : at most this many training points are used for the recorded
        training loss/accuracy (first ones; None = all).
    probe_max_features : layers wider than this are recorded through a fixed random
        projection to this many dimensions (see :func:`probe_activations`); None = as is.

    Attributes after ``fit``
    ------------------------
    history_ : DataFrame with step, epoch, train_loss, train_acc, test_loss, test_acc,
        batch_loss (mean mini-batch loss since the last snapshot), seconds.
    snapshots_ : ``{step: state_dict}`` (tensors on CPU).
    activations_ : Dataset from :func:`activations_dataset` (None without a probe).
    steps_per_epoch_ : SGD steps in one epoch.
    """

    def __init__(
        self,
        lr: float = 0.01,
        batch_size: int = 32,
        epochs: int = 10,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        seed: int = 0,
        snapshot_epochs: Sequence[int] | None = None,
        snapshot_steps: Sequence[int] | None = None,
        loss: str = "cross_entropy",
        device: str = "auto",
        logger: logging.Logger | None = None,
        eval_train_max: int | None = 5000,
        probe_max_features: int | None = None,
    ):
        self.lr, self.batch_size, self.epochs = lr, batch_size, epochs
        self.momentum, self.weight_decay, self.seed = momentum, weight_decay, seed
        self.snapshot_epochs, self.snapshot_steps = snapshot_epochs, snapshot_steps
        self.loss, self.device, self.logger, self.eval_train_max = loss, device, logger, eval_train_max
        self.probe_max_features = probe_max_features

    def _validate(self) -> None:
        """Check the parameters (called by ``fit``; ``__init__`` only stores them, as scikit-learn's estimators)."""
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        check_int_params(self, (("batch_size", 1), ("epochs", 0), ("seed", 0)))
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.snapshot_epochs is not None and self.snapshot_steps is not None:
            raise ValueError("give snapshot_epochs or snapshot_steps, not both")
        if self.probe_max_features is not None and self.probe_max_features < 1:
            raise ValueError(f"probe_max_features must be >= 1 or None, got {self.probe_max_features}")

    def _schedule(self, steps_per_epoch: int) -> list[int]:
        total = self.epochs * steps_per_epoch
        if self.snapshot_steps is not None:
            steps = sorted({int(s) for s in self.snapshot_steps})
        else:
            epochs = range(self.epochs + 1) if self.snapshot_epochs is None else self.snapshot_epochs
            steps = sorted({int(e) * steps_per_epoch for e in epochs})
        bad = [s for s in steps if not 0 <= s <= total]
        if bad:
            raise ValueError(f"snapshot steps {bad} outside [0, {total}] ({self.epochs} epochs x {steps_per_epoch} steps)")
        return steps

    def fit(
        self,
        model: nn.Module,
        X_train: torch.Tensor,
        y_train: torch.Tensor,
        *,
        X_test: torch.Tensor | None = None,
        y_test: torch.Tensor | None = None,
        probe: torch.Tensor | None = None,
        probe_labels: torch.Tensor | np.ndarray | None = None,
    ) -> "SGDTrainer":
        self._validate()
        log = self.logger or logging.getLogger(__name__)
        device = resolve_device(self.device)
        model.to(device)
        n = len(X_train)
        steps_per_epoch = -(-n // self.batch_size)
        schedule = self._schedule(steps_per_epoch)
        opt = torch.optim.SGD(model.parameters(), lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        gen = torch.Generator().manual_seed(self.seed)
        X_eval = X_train if self.eval_train_max is None else X_train[: self.eval_train_max]
        y_eval = y_train if self.eval_train_max is None else y_train[: self.eval_train_max]

        rows, snaps, acts = [], OrderedDict(), []
        batch_losses: list[float] = []
        t0 = time.perf_counter()

        def record(step: int) -> None:
            tr_loss, tr_acc = evaluate(model, X_eval, y_eval, loss=self.loss, device=device)
            te_loss, te_acc = (
                evaluate(model, X_test, y_test, loss=self.loss, device=device) if X_test is not None else (np.nan, np.nan)
            )
            row = {
                "step": step,
                "epoch": step / steps_per_epoch,
                "train_loss": tr_loss,
                "train_acc": tr_acc,
                "test_loss": te_loss,
                "test_acc": te_acc,
                "batch_loss": float(np.mean(batch_losses)) if batch_losses else np.nan,
                "seconds": time.perf_counter() - t0,
            }
            batch_losses.clear()
            rows.append(row)
            snaps[step] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            if probe is not None:
                acts.append(
                    probe_activations(
                        model, probe, device=device, max_features=self.probe_max_features, projection_seed=self.seed
                    )
                )
            log.info(
                "step %d (epoch %.2f): train loss %.4f acc %.3f | test loss %.4f acc %.3f",
                step, row["epoch"], tr_loss, tr_acc, te_loss, te_acc,
            )

        model.train()
        step = 0
        if step in schedule:
            record(step)
        for _ in range(self.epochs):
            perm = torch.randperm(n, generator=gen)
            for i in range(0, n, self.batch_size):
                idx = perm[i : i + self.batch_size]
                xb, yb = X_train[idx].to(device), y_train[idx].to(device)
                opt.zero_grad(set_to_none=True)
                loss = _loss_fn(self.loss, model(xb), yb)
                loss_value = loss.item()
                if not np.isfinite(loss_value):
                    raise FloatingPointError(f"loss became {loss_value} at step {step}; lower lr (now {self.lr})")
                loss.backward()
                opt.step()
                batch_losses.append(loss_value)
                step += 1
                if step in schedule:
                    record(step)

        self.history_ = pd.DataFrame(rows)
        self.snapshots_ = snaps
        self.steps_per_epoch_ = steps_per_epoch
        self.activations_ = None
        if probe is not None:
            labels = None if probe_labels is None else np.asarray(
                probe_labels.cpu() if hasattr(probe_labels, "cpu") else probe_labels
            )
            self.activations_ = activations_dataset(
                acts,
                self.history_["step"].to_numpy(),
                self.history_["epoch"].to_numpy(),
                labels,
                attrs={
                    "seed": self.seed, "lr": self.lr, "batch_size": self.batch_size,
                    "momentum": self.momentum, "weight_decay": self.weight_decay, "loss": self.loss,
                    "probe_max_features": -1 if self.probe_max_features is None else self.probe_max_features,
                },
            )
        return self


def save_snapshots(trainer: SGDTrainer, path: str | Path, meta: dict | None = None) -> None:
    """Write a fitted trainer's snapshots (``{step: state_dict}``) and ``meta`` with torch.save, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({"snapshots": dict(trainer.snapshots_), "steps_per_epoch": trainer.steps_per_epoch_, "meta": meta or {}}, tmp)
    tmp.replace(path)


def load_snapshots(path: str | Path) -> dict:
    """Read what :func:`save_snapshots` wrote: keys ``snapshots``, ``steps_per_epoch``, ``meta``."""
    return torch.load(Path(path), map_location="cpu", weights_only=True)


def load_snapshot(model: nn.Module, path: str | Path, step: int | None = None) -> nn.Module:
    """Load the weights saved at ``step`` (default: the last snapshot) into ``model``."""
    snaps = load_snapshots(path)["snapshots"]
    if step is None:
        step = max(snaps)
    if step not in snaps:
        raise KeyError(f"no snapshot at step {step} in {path}; have {sorted(snaps)}")
    model.load_state_dict(snaps[step])
    return model
