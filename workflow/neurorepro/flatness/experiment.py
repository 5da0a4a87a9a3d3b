"""One run of the sweep: train an MLP or a VGG with plain SGD on MSE, measure every snapshot."""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from neurorepro.flatness.measure import MeasureSettings, measure_network
from neurorepro.nets import SGDTrainer, build_model, load_dataset
from neurorepro.runtime import seed_everything


def snapshot_epochs(epochs: int, n_snapshots: int) -> list[int]:
    """``n_snapshots`` epochs spread geometrically over ``[1, epochs]``, always ending at ``epochs``."""
    if epochs < 1 or n_snapshots < 1:
        raise ValueError(f"epochs and n_snapshots must be >= 1, got {epochs}, {n_snapshots}")
    pts = np.unique(np.round(np.geomspace(1, epochs, n_snapshots)).astype(int))
    return [int(e) for e in pts]


def select_classes(X: torch.Tensor, y: torch.Tensor, classes: Sequence[int] | None):
    """Keep only ``classes`` (relabelled 0..C-1 in the given order); ``None`` keeps all."""
    if classes is None:
        return X, y
    classes = [int(c) for c in classes]
    if len(set(classes)) < 2:
        raise ValueError(f"classes must name at least two distinct labels, got {classes}")
    missing = sorted(set(classes) - set(y.unique().tolist()))
    if missing:
        raise ValueError(f"classes {missing} do not occur in the data")
    keep = torch.isin(y, torch.tensor(classes))
    lut = {c: i for i, c in enumerate(classes)}
    return X[keep], torch.tensor([lut[int(v)] for v in y[keep]], dtype=torch.int64)


def load_data(dataset: str, root: str, *, classes=None, n_train=None, n_test=None, seed: int = 0):
    """``(X_train, y_train, X_test, y_test)`` of ``dataset`` restricted to ``classes``."""
    Xtr, ytr, Xte, yte = load_dataset(dataset, root, n_train=n_train, n_test=n_test, seed=seed)
    Xtr, ytr = select_classes(Xtr, ytr, classes)
    Xte, yte = select_classes(Xte, yte, classes)
    return Xtr, ytr, Xte, yte


def train_and_measure(
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    *,
    lr: float,
    batch_size: int,
    seed: int,
    epochs: int,
    n_snapshots: int,
    n_probe: int,
    model_kind: str = "deepnet",
    model_kwargs: dict | None = None,
    settings: MeasureSettings | None = None,
    device: str = "cpu",
    logger: logging.Logger | None = None,
) -> pd.DataFrame:
    """Train one network with plain SGD on MSE and measure it at each snapshot.

    The probe set is the first ``n_probe`` training points (the same for every run
    that shares the data). Returns one row per snapshot with the training history
    (train/test loss and accuracy, generalisation gaps) and every measure of
    :func:`measure_network`. A run whose loss diverges returns one row with
    ``diverged = True`` and NaN measures instead of failing.
    """
    log = logger or logging.getLogger(__name__)
    settings = settings or MeasureSettings(seed=seed)
    Xtr, ytr, Xte, yte = data
    if not 1 <= n_probe <= len(Xtr):
        raise ValueError(f"n_probe={n_probe} must lie in [1, {len(Xtr)}] (training points)")
    n_classes = int(ytr.max()) + 1
    seed_everything(seed)
    model = build_model(model_kind, tuple(Xtr.shape[1:]), n_classes, **(model_kwargs or {}))
    snaps = snapshot_epochs(epochs, n_snapshots)
    trainer = SGDTrainer(
        lr=lr, batch_size=batch_size, epochs=epochs, momentum=0.0, seed=seed,
        snapshot_epochs=snaps, loss="mse", device=device, logger=log,
    )
    base = {"lr": float(lr), "batch_size": int(batch_size), "seed": int(seed)}
    try:
        trainer.fit(model, Xtr, ytr, X_test=Xte, y_test=yte)
    except FloatingPointError as err:
        log.warning("lr=%g batch=%d seed=%d diverged: %s", lr, batch_size, seed, err)
        return pd.DataFrame([{**base, "diverged": True}])
    xp, yp = Xtr[:n_probe].to(next(model.parameters()).device), ytr[:n_probe]
    rows = []
    for _, h in trainer.history_.iterrows():
        model.load_state_dict(trainer.snapshots_[int(h["step"])])
        m = measure_network(model, xp, yp, settings)
        log.info(
            "epoch %.0f: sharpness %.4g trace %.4g G %.4g | MLS %.4g (bound %.4g) vol %.4g (bound %.4g) LD %.3g",
            h["epoch"], m["sharpness"], m["hessian_trace"], m["grad_norm"], m["mls"], m["mls_bound"],
            m["volume"], m["volume_bound"], m["local_dim"],
        )
        rows.append(
            {
                **base,
                "diverged": False,
                "step": int(h["step"]),
                "epoch": float(h["epoch"]),
                "train_loss": h["train_loss"],
                "train_acc": h["train_acc"],
                "test_loss": h["test_loss"],
                "test_acc": h["test_acc"],
                "gen_gap_loss": h["test_loss"] - h["train_loss"],
                "gen_gap_acc": h["train_acc"] - h["test_acc"],
                **m,
            }
        )
    return pd.DataFrame(rows)
