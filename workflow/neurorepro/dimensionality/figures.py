"""Figures of the dimensionality paper; each function takes tables, returns a Figure."""
from __future__ import annotations

from typing import Sequence

import pandas as pd
from matplotlib.ticker import FuncFormatter, ScalarFormatter

from neurorepro.dimensionality.analysis import layer_order
from neurorepro.dimensionality.experiment import late_layer
from neurorepro.plotting import new_figure

__all__ = ["MEASURE_LABELS", "seed_mean", "plot_dimension_per_layer", "plot_dimension_over_training", "plot_sgd_noise"]

MEASURE_LABELS = {
    "pr": "participation ratio",
    "pca90": "PCA 90% variance",
    "twonn": "TwoNN",
    "mle": "MLE (Levina–Bickel)",
    "local_pca": "local PCA",
}
def _minor_label(value: float, _pos=None) -> str:
    """Label the minor ticks 2, 3, 5 of each decade on a log axis (the rest stay blank)."""
    lead = value / 10 ** int(f"{value:e}".split("e")[1])
    return f"{value:g}" if round(lead) in (2, 3, 5) and abs(lead - round(lead)) < 1e-6 else ""


_COLORS = {"pr": "C0", "pca90": "C1", "twonn": "C2", "mle": "C3", "local_pca": "C4"}


def seed_mean(table: pd.DataFrame, keys: Sequence[str], value: str = "dimension") -> pd.DataFrame:
    """Mean and standard deviation over seeds of ``value`` per ``keys`` (``<value>_sd``, ``n_seeds``)."""
    keys = [k for k in keys if k in table]
    g = table.groupby(keys, dropna=False)[value]
    out = g.mean().rename(value).to_frame()
    out[f"{value}_sd"] = g.std(ddof=1).fillna(0.0)
    out["n_seeds"] = g.count()
    return out.reset_index()


def _band(ax, x, y, sd, color):
    if sd is not None and (sd > 0).any():
        ax.fill_between(x, y - sd, y + sd, color=color, alpha=0.15, lw=0)


def plot_dimension_per_layer(
    dims_by_network: dict[str, pd.DataFrame],
    linear: Sequence[str] = ("pr", "pca90"),
    intrinsic: Sequence[str] = ("twonn", "mle", "local_pca"),
):
    """Dimension per layer at initialisation (dashed) and after training (solid), mean over
    seeds with a ±1 sd band; crosses: the pre-activation after training.

    One row per network; left column linear measures, right column intrinsic ones.
    """
    nets = list(dims_by_network)
    fig, axes = new_figure(len(nets), 2, width=3.6, height=2.8, squeeze=False)
    for r, net in enumerate(nets):
        table = seed_mean(dims_by_network[net], ["step", "epoch", "layer", "layer_index", "stage", "measure"])
        dims = table[table["stage"] == "post"] if "stage" in table else table
        pre = table[table["stage"] == "pre"] if "stage" in table else table.iloc[:0]
        layers = layer_order(dims)
        n_seeds = int(dims["n_seeds"].max())
        first, last = dims["step"].min(), dims["step"].max()
        last_epoch = dims.loc[dims["step"] == last, "epoch"].iloc[0]
        for c, (group, title) in enumerate(((linear, "linear"), (intrinsic, "intrinsic"))):
            ax = axes[r, c]
            for m in group:
                d = dims[dims["measure"] == m]
                if d.empty:
                    continue
                for step, ls, lab in ((first, "--", "init"), (last, "-", f"epoch {last_epoch:g}")):
                    dd = d[d["step"] == step].set_index("layer").loc[layers]
                    y, sd = dd["dimension"].to_numpy(), dd["dimension_sd"].to_numpy()
                    ax.plot(range(len(layers)), y, ls, marker="o", ms=3, color=_COLORS.get(m),
                            label=f"{MEASURE_LABELS.get(m, m)} ({lab})")
                    _band(ax, range(len(layers)), y, sd, _COLORS.get(m))
                dp = pre[(pre["measure"] == m) & (pre["step"] == last)]
                if len(dp):
                    xs = [layers.index(la) for la in dp["layer"]]
                    ax.plot(xs, dp["dimension"], "x", ms=6, color=_COLORS.get(m),
                            label=f"{MEASURE_LABELS.get(m, m)} pre-activation (epoch {last_epoch:g})")
            ax.set_xticks(range(len(layers)))
            ax.set_xticklabels(layers, rotation=45, ha="right")
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(ScalarFormatter())
            ax.yaxis.set_minor_formatter(FuncFormatter(_minor_label))
            ax.set_ylabel("dimension (log scale)")
            ax.set_title(f"{net}: {title} dimension (mean ± sd, {n_seeds} seed{'s' if n_seeds > 1 else ''})")
            ax.legend(fontsize=6, frameon=False, loc="best")
    return fig


def plot_dimension_over_training(
    dims_by_network: dict[str, pd.DataFrame],
    histories: dict[str, pd.DataFrame],
    measures: Sequence[str] = ("pr", "pca90", "twonn", "mle", "local_pca"),
    n_classes: int | None = None,
):
    """Last hidden layer's dimension over epochs (left) and against test accuracy (right)."""
    nets = list(dims_by_network)
    fig, axes = new_figure(len(nets), 2, width=3.6, height=2.8, squeeze=False)
    for r, net in enumerate(nets):
        dims = seed_mean(dims_by_network[net], ["step", "epoch", "layer", "layer_index", "stage", "measure"])
        dims = dims[dims["stage"] == "post"] if "stage" in dims else dims
        hist = histories[net].groupby("step", as_index=False)[["epoch", "test_acc"]].mean()
        layer = late_layer(layer_order(dims))
        acc = hist.set_index("step")["test_acc"]
        ax = axes[r, 0]
        for m in measures:
            d = dims[(dims["measure"] == m) & (dims["layer"] == layer)].sort_values("step")
            if d.empty:
                continue
            ax.plot(d["epoch"], d["dimension"], marker="o", ms=3, color=_COLORS.get(m), label=MEASURE_LABELS.get(m, m))
            _band(ax, d["epoch"].to_numpy(), d["dimension"].to_numpy(), d["dimension_sd"].to_numpy(), _COLORS.get(m))
        if n_classes:
            ax.axhline(n_classes, color="0.5", lw=0.8, ls=":", label=f"{n_classes} classes")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"dimension of {layer}")
        ax.set_title(f"{net}: last hidden layer over training")
        ax.legend(fontsize=6, frameon=False, loc="upper right")
        ax2 = ax.twinx()
        ax2.plot(hist["epoch"], hist["test_acc"], color="k", lw=1, alpha=0.6)
        ax2.set_ylabel("test accuracy (black)")
        ax2.set_ylim(0, 1)
        ax2.spines["right"].set_visible(True)

        ax = axes[r, 1]
        for m in measures:
            d = dims[(dims["measure"] == m) & (dims["layer"] == layer)].sort_values("step")
            if d.empty:
                continue
            a = acc.loc[d["step"]].to_numpy()
            y = d["dimension"].to_numpy()
            ax.plot(a, y, "-o", color=_COLORS.get(m), ms=3, lw=1, label=MEASURE_LABELS.get(m, m))
            ax.plot(a[:1], y[:1], "s", color=_COLORS.get(m), ms=7, mfc="none")
            ax.plot(a[-1:], y[-1:], "*", color=_COLORS.get(m), ms=10)
        ax.plot([], [], "ks", mfc="none", ms=6, label="initialisation")
        ax.plot([], [], "k*", ms=8, label="end of training")
        ax.set_xlabel("test accuracy")
        ax.set_ylabel(f"dimension of {layer}")
        ax.set_title(f"{net}: dimension vs accuracy over training")
        ax.legend(fontsize=6, frameon=False, loc="best")
    return fig


def plot_sgd_noise(sweep: pd.DataFrame, measures: Sequence[str] = ("pr", "twonn")):
    """Final late-layer dimension against SGD noise lr / batch size (mean ± sd over seeds),
    test accuracy against noise, and dimension against the generalisation gap (one point
    per run)."""
    fig, axes = new_figure(1, len(measures) + 2, width=3.0, height=2.6, squeeze=False)
    axes = axes[0]
    batches = sorted(sweep["batch_size"].unique())
    markers = "osD^v<>"
    keys = ["lr", "batch_size", "measure"]
    for i, m in enumerate(measures):
        ax = axes[i]
        d = seed_mean(sweep[sweep["measure"] == m], keys)
        for j, b in enumerate(batches):
            db = d[d["batch_size"] == b].sort_values("lr")
            ax.errorbar(db["lr"] / b, db["dimension"], yerr=db["dimension_sd"], marker=markers[j % len(markers)],
                        capsize=2, label=f"batch {b}")
        ax.set_xscale("log")
        ax.set_xlabel("SGD noise  lr / batch size")
        layer = sweep["layer"].dropna().iloc[0] if "layer" in sweep and sweep["layer"].notna().any() else "late layer"
        ax.set_ylabel(f"final dimension of {layer}")
        ax.set_title(MEASURE_LABELS.get(m, m))
        ax.legend(frameon=False, fontsize=6)
    ax = axes[len(measures)]
    first = sweep[sweep["measure"] == measures[0]]
    d = seed_mean(first, keys, value="test_acc")
    for j, b in enumerate(batches):
        db = d[d["batch_size"] == b].sort_values("lr")
        ax.errorbar(db["lr"] / b, db["test_acc"], yerr=db["test_acc_sd"], marker=markers[j % len(markers)], capsize=2,
                    label=f"batch {b}")
    ax.set_xscale("log")
    ax.set_xlabel("SGD noise  lr / batch size")
    ax.set_ylabel("final test accuracy")
    ax.set_title("accuracy")
    ax.legend(frameon=False, fontsize=6)
    ax = axes[-1]
    m = measures[-1]
    d = sweep[(sweep["measure"] == m)]
    if {"train_acc", "test_acc"} <= set(d):
        for j, b in enumerate(batches):
            db = d[d["batch_size"] == b]
            ax.plot(db["train_acc"] - db["test_acc"], db["dimension"], markers[j % len(markers)], ms=4, alpha=0.7,
                    label=f"batch {b}")
    ax.set_xlabel("generalisation gap  train - test accuracy")
    ax.set_ylabel(f"final dimension ({MEASURE_LABELS.get(m, m)})")
    ax.set_title("dimension vs gap (one point per run)")
    ax.legend(frameon=False, fontsize=6)
    return fig
