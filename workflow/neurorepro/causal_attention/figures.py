"""Figures of the causal_attention target (each returns a matplotlib Figure)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from neurorepro.plotting import new_figure

COLORS = {"attention": "#1f77b4", "granger": "#d62728", "attention_keyed": "#17becf", "granger_bic": "#ff9896"}


def _methods(table: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(column, label, colour) of every method in the table: attention archs, then Granger AIC / BIC."""
    out = [("auroc_attention", "cross-attention", COLORS["attention"])]
    for c in table.columns:
        if c.startswith("auroc_attention_"):
            out.append((c, f"cross-attention ({c.removeprefix('auroc_attention_')})", COLORS["attention_keyed"]))
    gr = [("auroc_granger_aic", "Granger (AIC)", COLORS["granger"]), ("auroc_granger_bic", "Granger (BIC)", COLORS["granger_bic"])]
    out += [m for m in gr if m[0] in table] or [("auroc_granger", "Granger", COLORS["granger"])]
    return out


def auroc_figure(table: pd.DataFrame):
    """AUROC vs network size, one panel per connection probability (paper Fig. 2), off-diagonal pairs."""
    probs = sorted(table["p"].unique())
    fig, axes = new_figure(1, len(probs), width=2.8, height=2.7, sharey=True, squeeze=False)
    sizes = sorted(table["n_neurons"].unique())
    pos = {n: i for i, n in enumerate(sizes)}
    methods = _methods(table)
    offs = np.linspace(-0.2, 0.2, len(methods))
    for ax, p in zip(axes[0], probs):
        sub = table[table["p"] == p]
        for (col, label, color), off in zip(methods, offs):
            x = sub["n_neurons"].map(pos).to_numpy() + off
            ax.scatter(x, sub[col], s=10, color=color, alpha=0.45, lw=0)
            med = sub.groupby("n_neurons")[col].median()
            ax.plot([pos[n] + off for n in med.index], med.values, "-o", color=color, ms=4, label=label)
        ax.axhline(0.5, color="0.6", ls=":", lw=1)
        ax.set_xticks(range(len(sizes)), [str(n) for n in sizes])
        ax.set_xlim(-0.6, len(sizes) - 0.4)
        ax.set_xlabel("network size N")
        ax.set_title(f"p = {p:g}")
        ax.set_ylim(0.3, 1.02)
    axes[0, 0].set_ylabel("AUROC vs true connectivity\n(off-diagonal pairs)")
    axes[0, -1].legend(loc="lower left", frameon=False, fontsize=7)
    fig.suptitle("Causal discovery in Izhikevich networks: dots = networks, lines = median", fontsize=9)
    return fig


def matrices_figure(weights: np.ndarray, attention: np.ndarray, granger: np.ndarray, table: pd.DataFrame,
                    title: str, auc_att: float, auc_gr: float, r2_floor: float | None = None):
    """True connectivity vs attention vs Granger for one network, and test R^2 of every network."""
    fig, axes = new_figure(1, 4, width=2.7, height=2.6)
    n = weights.shape[0]
    vmax = np.abs(weights).max() or 1.0
    im = axes[0].imshow(weights, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    axes[0].set_title("true weights (exc +, inh -)")
    fig.colorbar(im, ax=axes[0], shrink=0.8)
    off = ~np.eye(n, dtype=bool)
    for ax, mat, name, auc in [(axes[1], attention, "cross-attention score", auc_att),
                                (axes[2], granger, "Granger (log10)", auc_gr)]:
        m = np.array(mat, float)
        if "log" in name:
            m = np.log10(np.where(off, np.maximum(m, 1e-6), np.nan))
        else:
            m = np.where(off, m, np.nan)
        im = ax.imshow(m, cmap="viridis")
        ax.set_title(f"{name}\nAUROC {auc:.2f}")
        fig.colorbar(im, ax=ax, shrink=0.8)
    for ax in axes[:3]:
        ax.set_xlabel("source neuron")
        ax.set_ylabel("target neuron")
    ax = axes[3]
    sizes = sorted(table["n_neurons"].unique())
    pos = {s: i for i, s in enumerate(sizes)}
    x = table["n_neurons"].map(pos).to_numpy()
    ax.scatter(x - 0.1, table["r2"], s=12, color=COLORS["attention"], label="transformer")
    ax.scatter(x + 0.1, table["r2_persistence"], s=12, color="0.5", marker="x", label="x[t]=x[t-1]")
    if r2_floor is not None:
        ax.axhline(r2_floor, color="k", ls="--", lw=1, label=f"claim floor {r2_floor:g}")
    ax.set_xticks(range(len(sizes)), [str(s) for s in sizes])
    ax.set_xlabel("network size N")
    ax.set_ylabel("test R$^2$ (next step)")
    ax.set_title("forecast on test data")
    ax.legend(frameon=False, loc="center right", bbox_to_anchor=(1.0, 0.35), fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


def example_network(table: pd.DataFrame, p_target: float = 0.6) -> int:
    """The network shown in the matrices figure: largest N, p closest to ``p_target``, first rep."""
    big = table[table["n_neurons"] == table["n_neurons"].max()]
    p = big["p"].iloc[int(np.argmin(np.abs(big["p"].to_numpy() - p_target)))]
    row = big[big["p"] == p].sort_values("rep").iloc[0]
    return int(row["network"])
