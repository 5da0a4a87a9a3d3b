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
    "activation_modules",
    "probe_preactivations",
    "add_preactivations",
    "layer_widths",
    "seeds_for",
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


def seeds_for(run_seed: int, n_seeds: int) -> list[int]:
    """The seeds of a run's independent repeats: ``run_seed, run_seed + 1, ...``."""
    if n_seeds < 1:
        raise ValueError(f"n_seeds must be >= 1, got {n_seeds}")
    return [int(run_seed) + i for i in range(int(n_seeds))]


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
    preactivations: bool = True,
):
    """Build network ``kind`` with ``seed``, train it on ``data`` and record the probe set.

    ``data`` is ``(X_train, y_train, X_test, y_test)`` from ``nets.load_dataset``; the
    probe set is the first ``n_probe`` test images; layers wider than
    ``probe_max_features`` are recorded through a fixed random projection. With
    ``preactivations`` the activations also hold every layer's pre-activation
    (:func:`add_preactivations`). Returns ``(model, trainer)``; the trainer holds
    ``history_``, ``snapshots_`` and ``activations_``.
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
    if preactivations:
        trainer.activations_ = add_preactivations(model, trainer, X_test[:n_probe])
    trainer.activations_.attrs.update({"model": kind, "n_classes": n_classes})
    return model, trainer


def layer_dimensions(
    activations: xr.Dataset,
    settings: MeasureSettings,
    *,
    layers: Sequence[str] | None = None,
    snapshots: Sequence[int] | None = None,
    stage: str = "post",
    logger: logging.Logger | None = None,
) -> pd.DataFrame:
    """Dimension of every (snapshot, layer) of ``activations`` under every measure.

    ``activations`` is a Dataset as written by ``nets.train.activations_dataset`` (one
    variable per layer, dims ``snapshot, image, <layer>_unit``). ``layers`` and
    ``snapshots`` (positions along ``snapshot``) restrict the work. ``stage="pre"``
    measures the pre-activations ``<layer>_pre`` (:func:`add_preactivations`) of the
    layers that have them. Returns a long table: step, epoch, layer, layer_index, stage,
    n_units, width, projected, measure, dimension.

    A layer recorded through the random projection (its true width, attr
    ``layer_widths``, above the recorded one) has its participation ratio corrected for
    the projection's bias (:func:`.projection.corrected_participation_ratio`); the other
    measures are taken as recorded (see :mod:`.projection`).
    """
    from neurorepro.dimensionality.projection import corrected_participation_ratio

    if stage not in ("post", "pre"):
        raise ValueError(f"stage must be 'post' or 'pre', got {stage!r}")
    order = activations.attrs["layers"].split(",")
    layers = order if layers is None else list(layers)
    missing = sorted(set(layers) - set(order))
    if missing:
        raise ValueError(f"layers {missing} not in activations (have {order})")
    if stage == "pre":
        layers = [la for la in layers if f"{la}_pre" in activations]
    widths = _parse_widths(activations.attrs.get("layer_widths", ""))
    positions = range(activations.sizes["snapshot"]) if snapshots is None else snapshots
    kw = settings.kwargs()
    rows = []
    for s in positions:
        step, epoch = int(activations["step"].values[s]), float(activations["epoch"].values[s])
        for layer in layers:
            var = layer if stage == "post" else f"{layer}_pre"
            X = np.asarray(activations[var].values[s], dtype=np.float64)
            width = widths.get(layer, X.shape[1])
            projected = width > X.shape[1]
            for m in settings.measures:
                value = MEASURES[m](X, **kw[m])
                if projected and m == "pr":
                    value = corrected_participation_ratio(value, X.shape[1])
                rows.append(
                    {
                        "step": step,
                        "epoch": epoch,
                        "layer": layer,
                        "layer_index": order.index(layer),
                        "stage": stage,
                        "n_units": X.shape[1],
                        "width": width,
                        "projected": projected,
                        "measure": m,
                        "dimension": value,
                    }
                )
        if logger:
            logger.info("measured snapshot %d (epoch %.2f): %d layers (%s-activation)", step, epoch, len(layers), stage)
    return pd.DataFrame(rows)


def _parse_widths(text: str) -> dict[str, int]:
    """``"input:64,hidden1:128"`` -> ``{"input": 64, "hidden1": 128}``."""
    out = {}
    for item in filter(None, str(text).split(",")):
        name, _, w = item.partition(":")
        out[name] = int(w)
    return out


def activation_modules(model) -> dict[str, Any]:
    """``{recorded layer: the nonlinearity module whose output it is}`` for DeepNet and ResNet.

    The input of that module is the layer's pre-activation (for a ResNet block: the
    residual sum before its last nonlinearity). Other models: ``{}``.
    """
    from neurorepro.nets import DeepNet, ResNet

    if isinstance(model, DeepNet):
        return {f"hidden{i + 1}": act for i, act in enumerate(model.act)}
    if isinstance(model, ResNet):
        mods = {"stem": model.stem[-1]}
        mods.update({f"block{i + 1}": blk.act2 for i, blk in enumerate(model.blocks)})
        return mods
    return {}


def probe_preactivations(model, X, *, max_features: int | None = None, projection_seed: int = 0,
                         batch_size: int = 1024) -> dict[str, np.ndarray]:
    """Pre-activations ``{layer: (n, features)}`` of the layers of :func:`activation_modules` on ``X``.

    Read with forward hooks on the nonlinearities (eval mode); layers wider than
    ``max_features`` go through the same fixed projection as ``nets.probe_activations``
    (same seed and width, so a layer's pre- and post-activation share one matrix).
    """
    import torch

    from neurorepro.nets.train import projection_matrix

    mods = activation_modules(model)
    parts: dict[str, list] = {name: [] for name in mods}
    device = next(model.parameters()).device
    hooks = [
        mod.register_forward_hook(lambda _m, inp, _out, name=name: parts[name].append(inp[0].reshape(inp[0].shape[0], -1)))
        for name, mod in mods.items()
    ]
    was_training = model.training
    model.eval()
    projections: dict[int, Any] = {}
    out: dict[str, list] = {name: [] for name in mods}
    try:
        with torch.no_grad():
            for i in range(0, len(X), batch_size):
                for name in parts:
                    parts[name].clear()
                model(X[i : i + batch_size].to(device))
                for name, got in parts.items():
                    a = got[-1].float()
                    if max_features is not None and a.shape[1] > max_features:
                        if a.shape[1] not in projections:
                            projections[a.shape[1]] = projection_matrix(a.shape[1], max_features, projection_seed).to(a.device)
                        a = a @ projections[a.shape[1]]
                    out[name].append(a.cpu().numpy())
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return {name: np.concatenate(v) for name, v in out.items()}


def layer_widths(model, X) -> dict[str, int]:
    """Width (flattened units) of every recorded layer, before any projection."""
    import torch

    was_training = model.training
    model.eval()
    with torch.no_grad():
        widths = {k: int(v.shape[1]) for k, v in model.layers(X[:2].to(next(model.parameters()).device)).items()}
    model.train(was_training)
    return widths


def add_preactivations(model, trainer, probe) -> xr.Dataset:
    """The trainer's activations plus ``<layer>_pre`` variables at every snapshot.

    Loads each snapshot's weights into ``model`` in turn (the final weights are put back)
    and records :func:`probe_preactivations` with the trainer's projection settings. Attrs
    ``preactivation_layers`` (names) and ``layer_widths`` (``name:width,...``) are set.
    """
    import copy

    acts = trainer.activations_
    final = copy.deepcopy(model.state_dict())
    steps = [int(s) for s in acts["step"].values]
    stacks: dict[str, list[np.ndarray]] = {}
    for step in steps:
        model.load_state_dict(trainer.snapshots_[step])
        pre = probe_preactivations(model, probe, max_features=trainer.probe_max_features, projection_seed=trainer.seed)
        for name, a in pre.items():
            stacks.setdefault(name, []).append(a)
    model.load_state_dict(final)
    out = acts.assign({
        f"{name}_pre": (("snapshot", "image", f"{name}_pre_unit"), np.stack(v).astype(np.float32))
        for name, v in stacks.items()
    })
    out.attrs.update(acts.attrs)
    out.attrs["preactivation_layers"] = ",".join(stacks)
    out.attrs["layer_widths"] = ",".join(f"{k}:{v}" for k, v in layer_widths(model, probe).items())
    return out


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
    ends = [0, n - 1] if n > 1 else [0]
    pre = []
    if activations.attrs.get("preactivation_layers"):  # pre-activations at the two ends (every snapshot with 'all')
        pre = [layer_dimensions(activations, settings, stage="pre", logger=logger,
                                snapshots=None if all_layers_at == "all" else ends)]
    if all_layers_at == "all" or n <= 2:
        return pd.concat([layer_dimensions(activations, settings, logger=logger), *pre], ignore_index=True)
    order = activations.attrs["layers"].split(",")
    parts = [
        layer_dimensions(activations, settings, snapshots=[0], logger=logger),
        layer_dimensions(activations, settings, layers=[late_layer(order)], snapshots=range(1, n - 1), logger=logger),
        layer_dimensions(activations, settings, snapshots=[n - 1], logger=logger),
    ]
    return pd.concat(parts + pre, ignore_index=True)
