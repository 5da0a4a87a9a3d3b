"""One run of the sweep: train an MLP or a VGG with plain SGD on MSE, measure it along training.

Training follows the authors' code (chinsengi/sharpdim, ``train.py`` / ``src/trainer.py``):
plain SGD without momentum for ``n_iters`` iterations of mini-batches drawn without
replacement (the data reshuffled after each pass), torch's ``MSELoss`` (mean over the
batch *and* the outputs) against one-hot targets of ``n_outputs`` (10) dimensions, and
the measures taken every ``measure_every`` iterations (their ``cal_freq``). The training
loss recorded at a measured point is the loss over the whole training set (and the
authors' running average of the mini-batch loss, ``train_loss_ema``); the loss at
initialisation is recorded too, for the late-phase rule of :mod:`neurorepro.flatness.analysis`.
"""
from __future__ import annotations

import copy
import logging
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from neurorepro.flatness.measure import MeasureSettings, measure_network
from neurorepro.nets import build_model, load_dataset
from neurorepro.runtime import seed_everything


def measure_iterations(n_iters: int, measure_every: int) -> list[int]:
    """Iterations (1-based counts of SGD steps) at which a run is measured: every
    ``measure_every`` steps, as the authors' ``cal_freq`` (the last one need not be ``n_iters``)."""
    if n_iters < 1 or measure_every < 1:
        raise ValueError(f"n_iters and measure_every must be >= 1, got {n_iters}, {measure_every}")
    if measure_every > n_iters:
        raise ValueError(f"measure_every={measure_every} exceeds n_iters={n_iters}: nothing would be measured")
    return list(range(measure_every, n_iters + 1, measure_every))


def select_classes(X: torch.Tensor, y: torch.Tensor, classes: Sequence[int] | None, *, relabel: bool = False):
    """Keep only ``classes``; ``None`` keeps all.

    The labels are kept as they are (the authors keep 10-dimensional one-hot targets
    for CIFAR-10 classes 0/1); ``relabel=True`` maps them to ``0..C-1`` in the given order.
    """
    if classes is None:
        return X, y
    classes = [int(c) for c in classes]
    if len(set(classes)) < 2:
        raise ValueError(f"classes must name at least two distinct labels, got {classes}")
    missing = sorted(set(classes) - set(y.unique().tolist()))
    if missing:
        raise ValueError(f"classes {missing} do not occur in the data")
    keep = torch.isin(y, torch.tensor(classes))
    if not relabel:
        return X[keep], y[keep].clone()
    lut = {c: i for i, c in enumerate(classes)}
    return X[keep], torch.tensor([lut[int(v)] for v in y[keep]], dtype=torch.int64)


def load_data(dataset: str, root: str, *, classes=None, n_train=None, n_test=None, seed: int = 0,
              standardize: bool = False, resize: int | None = None):
    """``(X_train, y_train, X_test, y_test)`` of ``dataset`` restricted to ``classes`` (labels kept).

    ``standardize=False`` is the authors' preprocessing (pixels in [0, 1], no centring).
    ``resize``: bilinear resampling of the images to ``resize x resize`` pixels (e.g. the
    offline 8x8 digits to 28x28, the input size and roughly the input norm of the authors'
    FashionMNIST MLP); ``None`` keeps them. With ``classes`` and ``n_train`` / ``n_test`` the
    subsets are drawn first, then the classes kept (as ``load_dataset`` draws them).
    """
    Xtr, ytr, Xte, yte = load_dataset(dataset, root, n_train=n_train, n_test=n_test, seed=seed,
                                      standardize=standardize)
    if resize is not None:
        if int(resize) < 1:
            raise ValueError(f"resize must be >= 1 or null, got {resize}")
        size = (int(resize), int(resize))
        Xtr, Xte = (nn.functional.interpolate(X, size=size, mode="bilinear", align_corners=False) if len(X) else
                    X.new_zeros((0, X.shape[1], *size)) for X in (Xtr, Xte))
    Xtr, ytr = select_classes(Xtr, ytr, classes)
    Xte, yte = select_classes(Xte, yte, classes)
    return Xtr, ytr, Xte, yte


def authors_mse(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """torch ``MSELoss()`` against one-hot targets: ``1/(nK) sum_i ||f(x_i) - onehot(y_i)||^2``."""
    target = nn.functional.one_hot(y, logits.shape[1]).to(logits.dtype)
    return nn.functional.mse_loss(logits, target)


@torch.no_grad()
def _evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor, chunk: int = 2048) -> tuple[float, float]:
    """(authors' MSE, accuracy) of ``model`` over ``(X, y)``."""
    if len(X) == 0:
        return float("nan"), float("nan")
    was = model.training
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(X), chunk):
        out = model(X[i:i + chunk])
        loss += float(authors_mse(out, y[i:i + chunk])) * len(out)
        correct += int((out.argmax(1) == y[i:i + chunk]).sum())
    model.train(was)
    return loss / len(X), correct / len(X)


def train_and_measure(
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    *,
    lr: float,
    batch_size: int,
    seed: int,
    n_iters: int,
    measure_every: int,
    n_probe: int,
    n_outputs: int = 10,
    model_kind: str = "deepnet",
    model_kwargs: dict | None = None,
    settings: MeasureSettings | None = None,
    device: str = "cpu",
    logger: logging.Logger | None = None,
) -> pd.DataFrame:
    """Train one network with plain SGD on the authors' MSE and measure it every ``measure_every`` steps.

    The probe set is the first ``n_probe`` training points (the same for every run that
    shares the data). ``n_outputs`` is the output (one-hot target) dimension; labels must
    lie below it. Returns one row per measured point with the iteration, the training
    history (whole-training-set and test loss/accuracy in the authors' MSE, the running
    mini-batch loss, the loss at initialisation ``init_train_loss``) and every measure of
    :func:`measure_network`. A run whose loss becomes non-finite returns one row with
    ``diverged = True`` instead of failing.
    """
    log = logger or logging.getLogger(__name__)
    settings = settings or MeasureSettings(seed=seed)
    Xtr, ytr, Xte, yte = data
    if not 1 <= n_probe <= len(Xtr):
        raise ValueError(f"n_probe={n_probe} must lie in [1, {len(Xtr)}] (training points)")
    if int(ytr.max()) >= n_outputs:
        raise ValueError(f"labels up to {int(ytr.max())} need n_outputs > {int(ytr.max())}, got {n_outputs}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    when = set(measure_iterations(n_iters, measure_every))
    seed_everything(seed)
    dev = torch.device(device)
    model = build_model(model_kind, tuple(Xtr.shape[1:]), n_outputs, **(model_kwargs or {})).to(dev)
    Xtr_d, ytr_d, Xte_d, yte_d = Xtr.to(dev), ytr.to(dev), Xte.to(dev), yte.to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.0)
    gen = torch.Generator().manual_seed(int(seed))
    base = {"lr": float(lr), "batch_size": int(batch_size), "seed": int(seed)}
    init_loss, _ = _evaluate(model, Xtr_d, ytr_d)
    xp, yp = Xtr_d[:n_probe], ytr_d[:n_probe]
    n = len(Xtr_d)
    perm, pos, ema = torch.randperm(n, generator=gen), 0, None
    rows = []
    model.train()
    for it in range(1, n_iters + 1):
        if pos >= n:  # a new pass over the data, reshuffled (the authors' DataLoader)
            perm, pos = torch.randperm(n, generator=gen), 0
        idx = perm[pos:pos + batch_size].to(dev)
        pos += batch_size
        opt.zero_grad(set_to_none=True)
        loss = authors_mse(model(Xtr_d[idx]), ytr_d[idx])
        if not torch.isfinite(loss):
            log.warning("lr=%g batch=%d seed=%d diverged at iteration %d", lr, batch_size, seed, it)
            return pd.DataFrame([{**base, "diverged": True, "iteration": it}])
        loss.backward()
        opt.step()
        val = float(loss.detach())
        ema = val if ema is None else 0.9 * ema + 0.1 * val
        if it not in when:
            continue
        tr_loss, tr_acc = _evaluate(model, Xtr_d, ytr_d)
        te_loss, te_acc = _evaluate(model, Xte_d, yte_d)
        if not np.isfinite(tr_loss):
            log.warning("lr=%g batch=%d seed=%d diverged at iteration %d", lr, batch_size, seed, it)
            return pd.DataFrame([{**base, "diverged": True, "iteration": it}])
        m = measure_network(copy.deepcopy(model), xp, yp, settings)
        log.info(
            "iter %d: loss %.3g | tr H %.4g lambda_max %.4g G %.4g | MLS %.4g (bound %.4g) vol %.4g (bound %.4g) LD %.3g",
            it, tr_loss, m["sharpness"], m["lambda_max"], m["grad_norm"], m["mls"], m["mls_bound"],
            m["volume"], m["volume_bound"], m["local_dim"],
        )
        rows.append(
            {
                **base,
                "diverged": False,
                "iteration": it,
                "epoch": it * batch_size / n,
                "init_train_loss": init_loss,
                "train_loss": tr_loss,
                "train_loss_ema": ema,
                "train_acc": tr_acc,
                "test_loss": te_loss,
                "test_acc": te_acc,
                "gen_gap_loss": te_loss - tr_loss,
                "gen_gap_acc": tr_acc - te_acc,
                **m,
            }
        )
    return pd.DataFrame(rows)
