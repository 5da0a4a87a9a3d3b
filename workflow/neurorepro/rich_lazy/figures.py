"""Figures of the rich/lazy paper; each function takes data and returns a Figure."""
from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from neurorepro.plotting import new_figure

LABELS = {
    "weight_change": "weight change\n‖W−W₀‖/‖W₀‖",
    "rep_alignment": "representation alignment",
    "ntk_alignment": "tangent-kernel alignment",
}
MEASURES = tuple(LABELS)
TASK_COLORS = {"2AF": "#1f77b4", "DMS": "#d62728", "CXT": "#2ca02c", "DIGITS": "#9467bd", "SMNIST": "#8c564b"}


def _color(task: str) -> str:
    return TASK_COLORS.get(task, "0.3")


def _log_x(ax) -> None:
    """Log x axis with plain-number major ticks and no minor labels."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def rank_sweep(df: pd.DataFrame):
    """Laziness measures vs initial effective rank (random SVD-truncated inits), per task.

    Mean +- s.d. over seeds; paper Fig. 2 (RNN panels).
    """
    fig, axes = new_figure(1, len(MEASURES), width=2.8, height=2.5)
    rnd = df[df["family"] == "random"]
    for ax, m in zip(axes, MEASURES):
        for task, d in rnd.groupby("task", sort=False):
            g = d.groupby("rank").agg(er=("effective_rank", "mean"), mu=(m, "mean"), sd=(m, "std")).fillna(0)
            ax.errorbar(g["er"], g["mu"], yerr=g["sd"], marker="o", ms=3.5, capsize=2, lw=1.2,
                        color=_color(task), label=task)
        _log_x(ax)
        ax.set_xlabel("effective rank of W₀")
        ax.set_ylabel(LABELS[m])
    axes[0].legend(title="task", frameon=False)
    n = df["seed"].nunique()
    fig.suptitle(f"Higher initial rank → lazier learning? (random inits, {n} seeds)")
    return fig


def connectivity(df: pd.DataFrame, inits: xr.Dataset):
    """Connectivity-derived init vs its shuffle, placed on the rank axis (paper Fig. 5 analogue).

    Panel a: singular-value spectra (normalised to the largest) of the full-rank random
    init, the connectivity block and its shuffle (seed 0). Panels b-d: each measure vs
    effective rank; lines = random rank sweep (mean over seeds), filled = connectivity,
    open = shuffled, one colour per task.
    """
    fig, axes = new_figure(1, 1 + len(MEASURES), width=2.7, height=2.5)
    ax = axes[0]
    sv = inits["singular_values"].isel(seed=0)
    full = f"rank_{int(inits['rank'].where(inits['family'] == 'random').max())}"
    for lab, style in ((full, dict(color="0.5", label="random (full rank)")),
                       ("connectivity", dict(color="k", label="connectivity")),
                       ("shuffled", dict(color="k", ls="--", label="shuffled"))):
        if lab in inits["init"].values:
            s = sv.sel(init=lab).values
            er = float(inits["effective_rank"].sel(init=lab).mean())
            style["label"] += f" (erank {er:.1f})"
            ax.plot(np.arange(1, s.size + 1), s / s[0], **style)
    _log_x(ax)
    ax.set_yscale("log")
    ax.set_ylim(1e-3, 1.5)
    ax.set_xlabel("singular value index")
    ax.set_ylabel("σᵢ / σ₁")
    ax.set_title("spectra of W₀ (seed 0)")
    ax.legend(frameon=False, fontsize=6, loc="lower left")
    for ax, m in zip(axes[1:], MEASURES):
        for task, d in df.groupby("task", sort=False):
            c = _color(task)
            g = d[d.family == "random"].groupby("rank")[["effective_rank", m]].mean()
            ax.plot(g["effective_rank"], g[m], color=c, lw=1, alpha=0.5)
            for fam, face in (("connectivity", c), ("shuffled", "white")):
                e = d[d.family == fam]
                if len(e):
                    ax.errorbar(e["effective_rank"].mean(), e[m].mean(), xerr=e["effective_rank"].std(),
                                yerr=e[m].std(), marker="s" if fam == "connectivity" else "o", ms=5,
                                mfc=face, mec=c, color=c, capsize=2, ls="none",
                                label=f"{task} {fam}")
        _log_x(ax)
        ax.set_xlabel("effective rank of W₀")
        ax.set_ylabel(LABELS[m])
    axes[1].legend(frameon=False, fontsize=6, ncol=1)
    sign = inits.attrs.get("connectivity_sign", "?")
    fig.suptitle(f"Connectivity-derived initialisation (■, sign rule '{sign}') vs shuffled control (○); "
                 "lines: random rank sweep")
    return fig


def aligned(df: pd.DataFrame, aligned_rank: int):
    """Task-aligned rank-r init (from task statistics) vs random rank-r init, per task and measure.

    The warm start (rank-r' truncation of weights trained on the task), when present,
    is drawn beside its random rank-r' control as a labelled extra. Bars: mean over
    seeds; dots: single seeds.
    """
    pairs = [(f"rank_{aligned_rank}", f"random rank {aligned_rank}", "", 0.45),
             (f"aligned_{aligned_rank}", f"aligned rank {aligned_rank} (task statistics)", "//", 0.85)]
    for w in sorted(i for i in df["init"].unique() if str(i).startswith("warm_")):
        r = w.split("_")[1]
        pairs += [(f"rank_{r}", f"random rank {r}", "", 0.3), (w, f"warm start rank {r} (extra)", "xx", 0.6)]
    fig, axes = new_figure(1, len(MEASURES), width=3.0, height=2.6)
    tasks = list(dict.fromkeys(df["task"]))
    x = np.arange(len(tasks))
    width = 0.8 / len(pairs)
    for ax, m in zip(axes, MEASURES):
        for k, (lab, name, hatch, alpha) in enumerate(pairs):
            vals = [df[(df.task == t) & (df.init == lab)][m].values for t in tasks]
            off = (k - (len(pairs) - 1) / 2) * width
            ax.bar(x + off, [v.mean() if len(v) else np.nan for v in vals], width=width * 0.95,
                   color=[_color(t) for t in tasks], alpha=alpha, hatch=hatch, edgecolor="k", lw=0.5, label=name)
            for i, v in enumerate(vals):
                ax.plot(np.full(len(v), x[i] + off), v, "k.", ms=3)
        ax.set_xticks(x, tasks)
        ax.set_ylabel(LABELS[m])
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(pairs)), frameon=False,
               bbox_to_anchor=(0.5, -0.12))
    fig.suptitle(f"Task-aligned (from task statistics, no training) vs random rank-{aligned_rank} initialisation")
    return fig


def theory(th: pd.DataFrame, curve: pd.DataFrame):
    """Two-layer linear network: closed-form prediction beside simulations.

    a-b: exact setting (rank-r first layer with equal singular values, zero readout,
    whitened population loss, gradient flow): analytic expectation over teachers
    (line), closed form for the aligned init (dashed), simulated networks (dots:
    random, triangles: aligned). c-d: paper-style simulation (Gaussian SVD-truncated
    inits of one norm, random readout, finite sample, gradient descent): mean +- s.d.
    over seeds vs effective rank; star: init aligned with the data statistics.
    """
    fig, axes = new_figure(1, 4, width=2.7, height=2.5)
    ex, sim = th[th.setting == "exact"], th[th.setting == "simulation"]
    for ax, col, ylab in ((axes[0], "relative_weight_change", "relative weight change"),
                          (axes[1], "kernel_alignment", "tangent-kernel alignment")):
        ax.plot(curve["rank"], curve[f"expected_{col}"], "k-", lw=1.2, label="closed form, E over teachers")
        ax.plot(curve["rank"], curve[f"aligned_{col}"], "g--", lw=1.2, label="closed form, aligned")
        for fam, mk, c in (("random", "o", "0.3"), ("aligned", "^", "g")):
            e = ex[ex.family == fam]
            ax.plot(e["rank"], e[col], mk, color=c, ms=3.5, alpha=0.7, mfc="none", label=f"simulated, {fam}")
        _log_x(ax)
        ax.set_xlabel("rank r of W₀ (width r)")
        ax.set_ylabel(ylab)
    axes[0].set_title("exact setting")
    axes[0].legend(frameon=False, fontsize=6)
    for ax, col, ylab in ((axes[2], "relative_weight_change", "relative weight change"),
                          (axes[3], "kernel_alignment", "tangent-kernel alignment")):
        g = sim[sim.family == "random"].groupby("rank").agg(er=("effective_rank", "mean"), mu=(col, "mean"),
                                                             sd=(col, "std")).fillna(0)
        ax.errorbar(g["er"], g["mu"], yerr=g["sd"], marker="o", ms=3.5, capsize=2, color="0.2", label="random")
        a = sim[sim.family == "aligned"]
        if len(a):
            ax.errorbar(a["effective_rank"].mean(), a[col].mean(), yerr=a[col].std(), marker="*", ms=8, color="g",
                        capsize=2, ls="none", label="aligned (data statistics)")
        _log_x(ax)
        ax.set_xlabel("effective rank of W₀")
        ax.set_ylabel(ylab)
    axes[2].set_title("paper-style simulation")
    axes[2].legend(frameon=False, fontsize=6)
    n = th["seed"].nunique()
    fig.suptitle(f"Two-layer linear network: rank, alignment and laziness ({n} seeds)")
    return fig


def training_curves(curves: pd.DataFrame):
    """Training loss (cross-entropy, every step) vs iteration per task and init; mean over seeds."""
    tasks = list(dict.fromkeys(curves["task"]))
    fig, axes = new_figure(1, len(tasks), width=2.8, height=2.4, squeeze=False)
    inits = list(dict.fromkeys(curves["init"]))
    cmap = __import__("matplotlib").colormaps["viridis"]
    for ax, task in zip(axes[0], tasks):
        d = curves[curves.task == task]
        for i, lab in enumerate(inits):
            g = d[d.init == lab].groupby("iteration")["loss"].mean()
            style = dict(color=cmap(i / max(1, len(inits) - 1)))
            if not lab.startswith("rank_"):
                style = dict(color={"connectivity": "k", "shuffled": "0.5"}.get(lab, "g" if lab.startswith("aligned")
                                                                                 else "m"),
                             ls="--" if lab == "shuffled" else ("-." if lab.startswith("warm") else "-"))
            ax.plot(g.index, g.values, lw=1, label=lab, **style)
        ax.set_yscale("log")
        ax.set_title(task)
        ax.set_xlabel("iteration")
        ax.set_ylabel("training loss")
    axes[0][-1].legend(frameon=False, fontsize=6)
    return fig
