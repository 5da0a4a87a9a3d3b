"""Figures of the flatness target: measures over training, and across-run correlations."""
from __future__ import annotations

import matplotlib as mpl
import matplotlib.ticker  # noqa: F401
import numpy as np
import pandas as pd

from neurorepro.flatness.analysis import experiments, final_rows, finished, of_experiment, spearman
from neurorepro.plotting import new_figure

LABELS = {
    "sharpness": "sharpness $\\lambda_{max}(H)$",
    "mls": "max. local sensitivity",
    "volume": "log volume ratio",
    "local_dim": "local dimensionality (PR)",
    "gen_gap_acc": "generalisation gap (acc.)",
}
MARKERS = ["o", "s", "^", "D", "v", "P", "X"]


def _one_two_five(v: float, _pos=None) -> str:
    """Label log-axis ticks whose leading digit is 1, 2 or 5 (no crowding)."""
    return f"{v:g}" if v > 0 and f"{v:.0e}"[0] in "125" else ""


def _colours(values, cmap: str) -> dict:
    values = sorted(set(values))
    cm = mpl.colormaps[cmap]
    pos = np.linspace(0.1, 0.85, len(values)) if len(values) > 1 else [0.5]
    return {v: cm(p) for v, p in zip(values, pos)}


def over_training(measures: pd.DataFrame):
    """Sharpness, MLS (with bound), volume (with bound) and local dimensionality vs epoch.

    Per experiment two rows: coloured by learning rate, then by batch size; each line is
    one (lr, batch size) averaged over seeds; dashed lines are the bounds (gradient-norm
    form, min over probes).
    """
    names = experiments(measures)
    cols = [("sharpness", None), ("mls", "mls_bound"), ("volume", "volume_bound"), ("local_dim", None)]
    fig, axes = new_figure(2 * len(names), len(cols), width=2.9, height=2.4)
    axes = np.asarray(axes).reshape(2 * len(names), len(cols))
    for e, name in enumerate(names):
        ok = finished(of_experiment(measures, name))
        mean = ok.groupby(["lr", "batch_size", "epoch"], as_index=False).mean(numeric_only=True)
        for r, (key, cmap, label) in enumerate((("lr", "viridis", "lr"), ("batch_size", "plasma", "batch"))):
            row = axes[2 * e + r]
            colours = _colours(mean[key], cmap)
            for (lr, bs), g in mean.groupby(["lr", "batch_size"]):
                c = colours[lr if key == "lr" else bs]
                for ax, (m, b) in zip(row, cols):
                    ax.plot(g["epoch"], g[m], color=c, lw=1.2, marker=".", ms=3)
                    if b is not None:
                        ax.plot(g["epoch"], g[b], color=c, lw=0.9, ls="--", alpha=0.8)
            for ax, (m, b) in zip(row, cols):
                ax.set_xscale("log")
                ax.set_xlabel("epoch")
                ax.set_ylabel(LABELS[m] + (" (--- bound)" if b else ""))
            row[1].set_yscale("log")
            row[1].yaxis.set_major_formatter(mpl.ticker.FormatStrFormatter("%g"))
            row[1].yaxis.set_minor_formatter(mpl.ticker.FuncFormatter(_one_two_five))
            handles = [mpl.lines.Line2D([], [], color=c, lw=1.5, label=f"{label} {v:g}") for v, c in colours.items()]
            row[0].legend(handles=handles, frameon=False, fontsize=7)
            what = "learning rate" if key == "lr" else "batch size"
            row[0].set_title(f"{name}: coloured by {what}" if name is not None else f"coloured by {what}", loc="left")
    return fig


def correlations(measures: pd.DataFrame):
    """Final sharpness vs MLS, volume, local dimensionality and generalisation gap
    across runs (colour: learning rate, marker: batch size), and every measured MLS
    against its bound; one row per experiment."""
    names = experiments(measures)
    fig, axes = new_figure(len(names), 5, width=2.7, height=2.5)
    axes = np.asarray(axes).reshape(len(names), 5)
    for row, name in zip(axes, names):
        _correlation_row(row, of_experiment(measures, name), name)
    return fig


def _correlation_row(axes, measures: pd.DataFrame, name) -> None:
    final = final_rows(measures)
    ok = finished(measures)
    colours = _colours(final["lr"], "viridis")
    markers = {b: MARKERS[i % len(MARKERS)] for i, b in enumerate(sorted(final["batch_size"].unique()))}
    for ax, m in zip(axes[:4], ("mls", "volume", "local_dim", "gen_gap_acc")):
        for _, r in final.iterrows():
            ax.scatter(r["sharpness"], r[m], color=colours[r["lr"]], marker=markers[r["batch_size"]], s=22, edgecolor="none")
        ax.set_xscale("log")
        ax.set_xlabel("final sharpness $\\lambda_{max}$")
        ax.set_ylabel(LABELS[m])
        ax.set_title(f"Spearman $\\rho$ = {spearman(final['sharpness'], final[m]):.2f}")
    handles = [mpl.lines.Line2D([], [], color=c, marker="o", ls="", label=f"lr {v:g}") for v, c in colours.items()]
    handles += [mpl.lines.Line2D([], [], color="0.4", marker=mk, ls="", label=f"batch {b}") for b, mk in markers.items()]
    axes[0].legend(handles=handles, frameon=False, fontsize=6, loc="best", title=name, title_fontsize=7)
    ax = axes[4]
    ax.scatter(ok["mls_bound"], ok["mls"], s=8, color="tab:blue", label="gradient-norm form")
    ax.scatter(ok["mls_bound_trace"], ok["mls"], s=8, color="tab:orange", marker="x", label="$\\sqrt{tr H}$ form")
    lo = float(np.nanmin([ok["mls"].min(), ok["mls_bound"].min(), ok["mls_bound_trace"].min()]))
    hi = float(np.nanmax([ok["mls"].max(), ok["mls_bound"].max(), ok["mls_bound_trace"].max()]))
    ax.plot([lo, hi], [lo, hi], color="k", lw=0.8, ls=":", label="MLS = bound")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("bound on MLS")
    ax.set_ylabel("measured MLS (every point)")
    ax.set_title("bound check" if name is None else f"{name}: bound check")
    ax.legend(frameon=False, fontsize=6)
