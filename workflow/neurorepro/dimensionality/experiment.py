"""Train a network and measure the dimension of every layer's representation.

Recanatesi et al. 2019 (*Dimensionality compression and expansion in deep neural
networks*) follow the dimension of each layer's representation of a fixed set of
images, linear (participation ratio) and intrinsic (nearest-neighbour estimators), at
initialisation and along training. This module does the two steps: train a network
recording activations on a probe set (:func:`train_network`), then tabulate the
dimension of every (snapshot, layer) (:func:`layer_dimensions`).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from neurorepro.measures.dimension import MEASURES

__all__ = [
    "MeasureSettings",
    "load_network_data",
    "train_network",
    "layer_dimensions",
    "hidden_layers",
    "late_layer",
    "early_layers",
]


@dataclass
class MeasureSettings:
    """Which dimension measures to take and their parameters (see ``neurorepro.measures``)."""

    measures: Sequence[str] = ("pr", "pca90", "twonn", "mle", "local_pca")
    pca_variance: float = 0.9
    twonn_discard: float = 0.1
    mle_k: int = 20
    local_k: int = 50
    local_anchors: int = 200
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.measures) - set(MEASURES))
        if unknown:
            raise ValueError(f"unknown measures {unknown}; known: {sorted(MEASURES)}")
        if not 0 < self.pca_variance < 1:
            raise ValueError(f"pca_variance must lie in (0, 1), got {self.pca_variance}")

    def kwargs(self) -> dict[str, dict[str, Any]]:
        """Keyword arguments for each measure of :data:`neurorepro.measures.MEASURES`."""
        return {
            "pr": {},
            "pca90": {"variance": self.pca_variance},
            "twonn": {"discard_fraction": self.twonn_discard},
            "mle": {"k": self.mle_k},
            "local_pca": {"k": self.local_k, "variance": self.pca_variance, "n_anchors": self.local_anchors, "seed": self.seed},
        }


def hidden_layers(layer_names: Sequence[str]) -> list[str]:
    """Layers strictly between ``input`` and ``output``."""
    return [n for n in layer_names if n not in ("input", "output")]


def late_layer(layer_names: Sequence[str]) -> str:
    """The last hidden layer (the representation the readout sees)."""
    hidden = hidden_layers(layer_names)
    if not hidden:
        raise ValueError("network has no hidden layer")
    return hidden[-1]


def early_layers(layer_names: Sequence[str]) -> list[str]:
    """The first half (rounded up) of the hidden layers."""
    hidden = hidden_layers(layer_names)
    return hidden[: max(1, math.ceil(len(hidden) / 2))]


def load_network_data(train: dict[str, Any], root, seed: int, network: str) -> tuple[tuple, dict[str, Any]]:
    """Load the data set of one network of the ``dimensionality.networks`` config.

    ``train`` holds that network's training settings with ``dataset``, ``n_train`` and
    ``n_test``; returns ``(data, rest)``: the ``nets.load_dataset`` tuple and the other
    settings (the keyword arguments of :func:`train_network`). A data set that cannot be
    had offline is reported with the config key that chose it.
    """
    from neurorepro.nets import DatasetUnavailable, load_dataset

    rest = dict(train)
    name, n_train, n_test = rest.pop("dataset"), rest.pop("n_train"), rest.pop("n_test")
    try:
        data = load_dataset(name, root, n_train=n_train, n_test=n_test, seed=seed)
    except DatasetUnavailable as err:
        raise DatasetUnavailable(
            f"{err} Here that is config key dimensionality.networks.{network}.dataset: digits (or run with scale: demo)."
        ) from err
    return data, rest


def train_network(
    data: tuple,
    *,
    kind: str,
    model_kwargs: dict[str, Any],
    lr: float,
    batch_size: int,
    momentum: float,
    weight_decay: float,
    epochs: int,
    snapshot_epochs: Sequence[int],
    n_probe: int,
    seed: int,
    probe_max_features: int | None = None,
    device: str = "auto",
    logger: logging.Logger | None = None,
):
    """Build network ``kind`` with ``seed``, train it on ``data`` and record the probe set.

    ``data`` is ``(X_train, y_train, X_test, y_test)`` from ``nets.load_dataset``; the
    probe set is the first ``n_probe`` test images; layers wider than
    ``probe_max_features`` are recorded through a fixed random projection. Returns ``(model, trainer)``; the
    trainer holds ``history_``, ``snapshots_`` and ``activations_``.
    """
    from neurorepro.nets import SGDTrainer, build_model
    from neurorepro.runtime import seed_everything

    X_train, y_train, X_test, y_test = data
    if not 2 <= n_probe <= len(X_test):
        raise ValueError(f"n_probe={n_probe} must lie in [2, {len(X_test)}] (test images)")
    n_classes = int(max(int(y_train.max()), int(y_test.max())) + 1)
    seed_everything(seed)
    model = build_model(kind, tuple(X_train.shape[1:]), n_classes, **model_kwargs)
    trainer = SGDTrainer(
        lr=lr,
        batch_size=batch_size,
        momentum=momentum,
        weight_decay=weight_decay,
        epochs=epochs,
        seed=seed,
        snapshot_epochs=[e for e in snapshot_epochs if e <= epochs],
        device=device,
        logger=logger,
        probe_max_features=probe_max_features,
    ).fit(
        model, X_train, y_train, X_test=X_test, y_test=y_test, probe=X_test[:n_probe], probe_labels=y_test[:n_probe]
    )
    trainer.activations_.attrs.update({"model": kind, "n_classes": n_classes})
    return model, trainer


def layer_dimensions(
    activations: xr.Dataset,
    settings: MeasureSettings,
    *,
    layers: Sequence[str] | None = None,
    snapshots: Sequence[int] | None = None,
    logger: logging.Logger | None = None,
) -> pd.DataFrame:
    """Dimension of every (snapshot, layer) of ``activations`` under every measure.

    ``activations`` is a Dataset as written by ``nets.train.activations_dataset`` (one
    variable per layer, dims ``snapshot, image, <layer>_unit``). ``layers`` and
    ``snapshots`` (positions along ``snapshot``) restrict the work. Returns a long
    table: step, epoch, layer, layer_index, n_units, measure, dimension.
    """
    order = activations.attrs["layers"].split(",")
    layers = order if layers is None else list(layers)
    missing = sorted(set(layers) - set(order))
    if missing:
        raise ValueError(f"layers {missing} not in activations (have {order})")
    positions = range(activations.sizes["snapshot"]) if snapshots is None else snapshots
    kw = settings.kwargs()
    rows = []
    for s in positions:
        step, epoch = int(activations["step"].values[s]), float(activations["epoch"].values[s])
        for layer in layers:
            X = np.asarray(activations[layer].values[s], dtype=np.float64)
            for m in settings.measures:
                rows.append(
                    {
                        "step": step,
                        "epoch": epoch,
                        "layer": layer,
                        "layer_index": order.index(layer),
                        "n_units": X.shape[1],
                        "measure": m,
                        "dimension": MEASURES[m](X, **kw[m]),
                    }
                )
        if logger:
            logger.info("measured snapshot %d (epoch %.2f): %d layers", step, epoch, len(layers))
    return pd.DataFrame(rows)


def training_dimensions(
    activations: xr.Dataset,
    settings: MeasureSettings,
    *,
    all_layers_at: str = "all",
    logger: logging.Logger | None = None,
) -> pd.DataFrame:
    """Dimensions along training: every layer at the snapshots ``all_layers_at`` asks for.

    ``all_layers_at="all"``: every layer at every snapshot. ``"ends"``: every layer at
    the first and last snapshot, and the last hidden layer (what the readout sees) at
    every snapshot in between, which is what the figures and claims use and is several
    times cheaper.
    """
    if all_layers_at not in ("all", "ends"):
        raise ValueError(f"all_layers_at must be 'all' or 'ends', got {all_layers_at!r}")
    n = activations.sizes["snapshot"]
    if all_layers_at == "all" or n <= 2:
        return layer_dimensions(activations, settings, logger=logger)
    order = activations.attrs["layers"].split(",")
    parts = [
        layer_dimensions(activations, settings, snapshots=[0], logger=logger),
        layer_dimensions(activations, settings, layers=[late_layer(order)], snapshots=range(1, n - 1), logger=logger),
        layer_dimensions(activations, settings, snapshots=[n - 1], logger=logger),
    ]
    return pd.concat(parts, ignore_index=True)
