"""Figures of the credit assignment paper: each function takes data and returns a Figure."""
from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from neurorepro.plotting import new_figure

LABELS = {"bptt": "BPTT", "tbptt": "trunc. BPTT", "eprop": "e-prop", "rflo": "RFLO", "mdgl": "MDGL"}
COLORS = {"bptt": "#222222", "tbptt": "#1f77b4", "eprop": "#d62728", "rflo": "#2ca02c", "mdgl": "#9467bd"}


def _rules(df: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(df.rule))


def _axes_grid(axes, nrows: int, ncols: int):
    return np.asarray(axes, dtype=object).reshape(nrows, ncols)


def accuracy_gap_figure(runs: pd.DataFrame):
    """At the stopping point (matched training accuracy): steps taken, train and test accuracy, gap
    and gap on the noisy test set per rule (mean +/- SD over seeds, dots = seeds; hollow = the
    run never reached the criterion and is left out of the claims)."""
    base = runs[runs.variant == "baseline"]
    tasks = list(dict.fromkeys(base.task))
    cols = [("steps", "updates to the criterion"), ("train_acc", "train accuracy"), ("test_acc", "test accuracy"),
            ("gap", "gap: train - test acc."), ("gap_noisy", "gap, noisy test set")]
    fig, axes = new_figure(len(tasks), len(cols), width=2.6, height=2.3)
    axes = _axes_grid(axes, len(tasks), len(cols))
    for i, task in enumerate(tasks):
        d = base[base.task == task]
        rules = _rules(d)
        for j, (col, label) in enumerate(cols):
            ax = axes[i, j]
            for k, rule in enumerate(rules):
                r = d[d.rule == rule]
                reached = r.reached.to_numpy() if "reached" in r else np.ones(len(r), bool)
                v = r[col].to_numpy()
                jitter = np.linspace(-0.15, 0.15, len(v)) if len(v) > 1 else np.zeros(1)
                ax.scatter((k + jitter)[reached], v[reached], s=10, color=COLORS.get(rule), alpha=0.5, lw=0)
                ax.scatter((k + jitter)[~reached], v[~reached], s=14, facecolors="none", edgecolors=COLORS.get(rule), lw=0.8)
                m = v[reached]
                if len(m):
                    sd = m.std(ddof=1) if len(m) > 1 else 0.0
                    ax.errorbar(k, m.mean(), yerr=sd, fmt="o", color=COLORS.get(rule), ms=5, capsize=3)
            ax.set_xticks(range(len(rules)), [LABELS.get(r, r) for r in rules], rotation=30)
            ax.set_xlim(-0.6, len(rules) - 0.4)
            ax.set_ylabel(label)
            if col.startswith("gap"):
                ax.axhline(0, color="0.7", lw=0.6)
            ax.set_title(f"{task}: {label.split(':')[0]}")
    return fig


def curvature_figure(histories: list[xr.Dataset]):
    """Top Hessian eigenvalue (w.r.t. W_rec) over training per rule: mean and range over seeds."""
    tasks = list(dict.fromkeys(ds.attrs["task"] for ds in histories))
    fig, axes = new_figure(1, len(tasks), width=3.4, height=2.7)
    axes = np.atleast_1d(axes)
    for ax, task in zip(axes, tasks):
        mine = [d for d in histories if d.attrs["task"] == task]
        for ds in mine:
            rule = ds.attrs["rule"]
            sub = ds.sel(variant="baseline")
            for i in range(sub.sizes["seed"]):
                step, eig = sub["step"].values[i], sub["top_eig"].values[i]
                ok = np.isfinite(step) & np.isfinite(eig)
                ax.plot(step[ok], eig[ok], color=COLORS.get(rule), lw=1.0, alpha=0.6, marker=".", ms=3,
                        label=LABELS.get(rule, rule) if i == 0 else None)
                if ok.any():
                    ax.plot(step[ok][-1], eig[ok][-1], "o", color=COLORS.get(rule), ms=4)
        lr = mine[0].attrs.get("trainer_lr")
        if lr and mine[0].attrs.get("trainer_optimizer") == "sgd":
            ax.axhline(2.0 / float(lr), color="0.5", ls="--", lw=0.8, label="2 / learning rate")
        ax.set_yscale("log")
        ax.set_xlabel("optimizer step (big dot: the run's stopping point)")
        ax.set_ylabel("top Hessian eigenvalue (W_rec)")
        ax.set_title(f"{task}: curvature over training")
        ax.legend(frameon=False, fontsize=7, loc="best")
    return fig


def gap_vs_curvature_figure(runs: pd.DataFrame, correlations: pd.DataFrame, gap: str = "gap_noisy"):
    """Generalisation gap against final curvature, one dot per run that reached the criterion, with Spearman's rho."""
    base = runs[(runs.variant == "baseline") & runs.reached]
    tasks = list(dict.fromkeys(runs.task))
    fig, axes = new_figure(1, len(tasks), width=3.9, height=2.9)
    axes = np.atleast_1d(axes)
    for ax, task in zip(axes, tasks):
        d = base[base.task == task]
        for rule in _rules(d):
            r = d[d.rule == rule]
            ax.scatter(r.top_eig, r[gap], s=18, color=COLORS.get(rule), label=LABELS.get(rule, rule), alpha=0.8)
        ax.set_xscale("log")
        c = correlations[(correlations.task == task) & (correlations.gap_measure == gap)]
        title = f"{task}: gap vs curvature"
        if len(c):
            title += (f"\nρ = {c.spearman_rho.iloc[0]:.2f}, partial ρ | train acc. = "
                      f"{c.partial_rho_given_train_acc.iloc[0]:.2f}, n = {c.n_runs.iloc[0]}")
        ax.set_xlabel("top Hessian eigenvalue (W_rec) at the criterion")
        ax.set_ylabel("gap: train - test acc." + (" (noisy test)" if gap == "gap_noisy" else ""))
        ax.set_title(title)
        ax.legend(frameon=False, fontsize=7, loc="best")
    return fig


def remedy_figure(runs: pd.DataFrame, gap: str = "gap_noisy"):
    """Gap and curvature at matched training accuracy without and with each remedy, for the rules it was applied to."""
    variants = [v for v in dict.fromkeys(runs.variant) if v != "baseline"]
    tasks = list(dict.fromkeys(runs.task))
    runs = runs[runs.reached]
    fig, axes = new_figure(len(tasks), 2, width=3.0, height=2.4)
    axes = _axes_grid(axes, len(tasks), 2)
    for i, task in enumerate(tasks):
        d = runs[runs.task == task]
        rules = _rules(d[d.variant.isin(variants)]) if variants else []
        gap_label = "gap: train - noisy test acc." if gap == "gap_noisy" else "gap: train - test acc."
        for j, (col, label) in enumerate(((gap, gap_label), ("top_eig", "top eigenvalue at the criterion"))):
            ax = axes[i, j]
            names = ["baseline", *variants]
            width = 0.8 / max(len(names), 1)
            for k, rule in enumerate(rules):
                for m, var in enumerate(names):
                    v = d[(d.rule == rule) & (d.variant == var)][col].to_numpy()
                    if not len(v):
                        continue
                    x = k + (m - (len(names) - 1) / 2) * width
                    ax.bar(x, v.mean(), width=width * 0.9, color=COLORS.get(rule), alpha=1.0 if m == 0 else 0.45,
                           edgecolor="k", lw=0.5, label=var if k == 0 else None)
                    ax.errorbar(x, v.mean(), yerr=v.std(ddof=1) if len(v) > 1 else 0, color="k", lw=0.8, capsize=2)
            ax.set_xticks(range(len(rules)), [LABELS.get(r, r) for r in rules])
            if col == "top_eig":
                ax.set_yscale("log")
            ax.set_ylabel(label)
            ax.set_title(f"{task}: remedy ({', '.join(variants) or 'none'})")
            if rules:
                ax.legend(frameon=False, fontsize=7)
    return fig


def theorem_figure(runs: pd.DataFrame):
    """The theorem's prediction beside the runs: the linearised update ``W <- W - lr g`` along the top
    eigenvector is stable only while ``lr * c * lambda < 2``, with ``c`` the share of the curvature
    ``lambda`` that the rule's own update sees (``eff_curv / top_eig``; 1 for BPTT). A rule with
    ``c < 1`` may sit at curvature up to ``2 / (lr c)``. One dot per run at its stopping point."""
    d = runs[np.isfinite(runs.curv_ratio) & np.isfinite(runs.top_eig) & (runs.curv_ratio > 0)]
    tasks = list(dict.fromkeys(runs.task))
    fig, axes = new_figure(1, len(tasks), width=3.4, height=2.9)
    axes = np.atleast_1d(axes)
    for ax, task in zip(axes, tasks):
        t = d[d.task == task]
        for rule in _rules(t):
            r = t[t.rule == rule]
            base = r.variant == "baseline"
            ax.scatter(r.curv_ratio[base], r.top_eig[base], s=18, color=COLORS.get(rule), label=LABELS.get(rule, rule), alpha=0.8)
            ax.scatter(r.curv_ratio[~base], r.top_eig[~base], s=18, marker="^", color=COLORS.get(rule), alpha=0.5)
        if len(t):
            lr = float(np.nanmedian(t.lr))
            c = np.geomspace(max(min(t.curv_ratio.min(), 1.0) / 2, 1e-3), 2.0, 100)
            ax.plot(c, 2.0 / (lr * c), color="0.4", ls="--", lw=0.9, label="stability edge 2 / (lr c)")
            ax.set_ylim(top=max(3 * t.top_eig.max(), 1.5 * 2.0 / (lr * c.max()), 1.0), bottom=max(t.top_eig.min() / 3, 1e-4))
        ax.axvline(1.0, color="0.8", lw=0.6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("c = curvature the rule sees / true curvature")
        ax.set_ylabel("top Hessian eigenvalue (W_rec)")
        ax.set_title(f"{task}: theorem (triangles: remedies)")
        ax.legend(frameon=False, fontsize=7, loc="best")
    return fig
