"""Figures of the flatness target: measures over training (late phase marked), and across-run correlations."""
from __future__ import annotations

import matplotlib as mpl
import matplotlib.ticker  # noqa: F401
import numpy as np
import pandas as pd

from neurorepro.flatness.analysis import experiments, finished, late_final_rows, of_experiment, spearman
from neurorepro.plotting import new_figure

LABELS = {
    "train_loss": "training loss (MSE)",
    "sharpness": "sharpness tr $H$",
    "lambda_max": "$\\lambda_{max}(H)$",
    "mls": "max. local sensitivity",
    "volume": "log volume (top 3)",
    "local_dim": "local dimensionality (PR)",
    "gen_gap_acc": "generalisation gap (acc.)",
}
MARKERS = ["o", "s", "^", "D", "v", "P", "X"]


def _scale(ax, values, axis: str = "x") -> None:
    """Log scale when the finite positive ``values`` span more than a factor 10 (labels on
    the decades), else linear (readable ticks over a narrow range)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v) & (v > 0)]
    if len(v) and v.max() > 10 * v.min():
        getattr(ax, f"set_{axis}scale")("log")
        getattr(ax, f"{axis}axis").set_minor_formatter(mpl.ticker.NullFormatter())


def _pairs(frame: pd.DataFrame) -> list[tuple[float, int]]:
    return sorted({(float(a), int(b)) for a, b in zip(frame["lr"], frame["batch_size"])})


def _colours(pairs) -> dict:
    cm = mpl.colormaps["viridis"]
    pos = np.linspace(0.05, 0.9, len(pairs)) if len(pairs) > 1 else [0.5]
    return {p: cm(x) for p, x in zip(pairs, pos)}


def _with_late(measures: pd.DataFrame) -> pd.DataFrame:
    m = measures.copy()
    if "late" not in m.columns:
        m["late"] = False
    if "run_reached_late" not in m.columns:
        m["run_reached_late"] = False
    return m


def over_training(measures: pd.DataFrame):
    """Training loss, tr H, MLS (with bound), volume (with bound) and local dimensionality
    against the iteration; one row per experiment, one line per (lr, batch size) averaged
    over seeds; filled markers: points every seed of which is in the late phase; dashed:
    the bounds (gradient-norm form, min over probes)."""
    measures = _with_late(measures)
    names = experiments(measures)
    cols = [("train_loss", None), ("sharpness", None), ("mls", "mls_bound"), ("volume", "volume_bound"),
            ("local_dim", None)]
    fig, axes = new_figure(len(names), len(cols), width=2.8, height=2.4)
    axes = np.asarray(axes).reshape(len(names), len(cols))
    for row, name in zip(axes, names):
        ok = finished(of_experiment(measures, name))
        ok["late"] = ok["late"].astype(float)
        mean = ok.groupby(["lr", "batch_size", "iteration"], as_index=False).mean(numeric_only=True)
        colours = _colours(_pairs(mean))
        for (lr, bs), g in mean.groupby(["lr", "batch_size"]):
            c = colours[(float(lr), int(bs))]
            late = g["late"].to_numpy() >= 1.0
            for ax, (m, b) in zip(row, cols):
                ax.plot(g["iteration"], g[m], color=c, lw=1.1)
                ax.scatter(g["iteration"][late], g[m][late], color=c, s=10, zorder=3)
                if b is not None:
                    ax.plot(g["iteration"], g[b], color=c, lw=0.8, ls="--", alpha=0.7)
        for ax, (m, b) in zip(row, cols):
            ax.set_xlabel("iteration")
            ax.set_ylabel(LABELS[m] + (" (--- bound)" if b else ""))
        for i, (m, b) in enumerate(cols[:3]):
            _scale(row[i], np.r_[mean[m].to_numpy(float), mean[b].to_numpy(float) if b else []], "y")
        handles = [mpl.lines.Line2D([], [], color=c, lw=1.5, label=f"lr {lr:g}, batch {bs}") for (lr, bs), c in colours.items()]
        handles.append(mpl.lines.Line2D([], [], color="0.3", marker="o", ls="", ms=3, label="late phase"))
        row[0].legend(handles=handles, frameon=False, fontsize=6)
        row[0].set_title(f"{name}: mean over seeds" if name is not None else "mean over seeds", loc="left")
    return fig


def correlations(measures: pd.DataFrame):
    """Per experiment: tr H against volume over the late phase (one line per run), and
    across runs at their last late-phase point tr H against volume, MLS, local
    dimensionality and the generalisation gap; then every MLS against its bounds."""
    measures = _with_late(measures)
    names = experiments(measures)
    fig, axes = new_figure(len(names), 6, width=2.6, height=2.5)
    axes = np.asarray(axes).reshape(len(names), 6)
    for row, name in zip(axes, names):
        _correlation_row(row, of_experiment(measures, name), name)
    return fig


def _correlation_row(axes, measures: pd.DataFrame, name) -> None:
    ok = finished(measures)
    final = late_final_rows(ok) if len(ok) else ok
    colours = _colours(_pairs(ok)) if len(ok) else {}
    bss = sorted(ok["batch_size"].unique()) if len(ok) else []
    markers = {b: MARKERS[i % len(MARKERS)] for i, b in enumerate(bss)}
    ax = axes[0]
    late = ok[ok["late"].astype(bool) & ok["run_reached_late"].astype(bool)]
    for (lr, bs, _s), g in late.groupby(["lr", "batch_size", "seed"]):
        g = g.sort_values("iteration")
        ax.plot(g["sharpness"], g["volume"], color=colours[(float(lr), int(bs))], lw=0.8, marker=".", ms=3)
    _scale(ax, late["sharpness"])
    ax.set_xlabel("tr $H$ (late phase, each run)")
    ax.set_ylabel(LABELS["volume"])
    ax.set_title("late phase: co-movement", fontsize=8)
    for ax, m in zip(axes[1:5], ("volume", "mls", "local_dim", "gen_gap_acc")):
        for _, r in final.iterrows():
            ax.scatter(r["sharpness"], r[m], color=colours[(float(r["lr"]), int(r["batch_size"]))],
                       marker=markers[r["batch_size"]], s=22, edgecolor="none")
        _scale(ax, final["sharpness"])
        ax.set_xlabel("tr $H$ at the last late-phase point")
        ax.set_ylabel(LABELS[m])
        rho = spearman(final["sharpness"], final[m]) if len(final) else float("nan")
        ax.set_title(f"across runs: Spearman $\\rho$ = {rho:.2f} (n = {len(final)})", fontsize=8)
    handles = [mpl.lines.Line2D([], [], color=c, marker="o", ls="", label=f"lr {lr:g}, batch {bs}")
               for (lr, bs), c in colours.items()]
    axes[1].legend(handles=handles, frameon=False, fontsize=6, loc="best", title=name, title_fontsize=7)
    ax = axes[5]
    if len(ok):
        ax.scatter(ok["mls_bound"], ok["mls"], s=8, color="tab:blue", label="gradient-norm form")
        ax.scatter(ok["mls_bound_trace"], ok["mls"], s=8, color="tab:orange", marker="x", label="$\\sqrt{tr H}$ form")
        vals = ok[["mls", "mls_bound", "mls_bound_trace"]].to_numpy(float)
        vals = vals[np.isfinite(vals) & (vals > 0)]
        if len(vals):
            ax.plot([vals.min(), vals.max()], [vals.min(), vals.max()], color="k", lw=0.8, ls=":", label="MLS = bound")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.legend(frameon=False, fontsize=6)
    ax.set_xlabel("bound on MLS")
    ax.set_ylabel("measured MLS (every point)")
    ax.set_title("bound check" if name is None else f"{name}: bound check", fontsize=8)
