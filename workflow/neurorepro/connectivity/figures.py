"""Figures of the connectivity paper; each function takes data and returns a matplotlib Figure."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..plotting import new_figure


def fig_synthetic_1d(panels: Sequence[tuple[str, np.ndarray, float | None]], x: np.ndarray):
    """The 1-D test (paper Fig. 2): truth and fits as images, titles with relative errors."""
    fig, axes = new_figure(1, len(panels), width=2.3, height=2.3)
    vmax = max(float(np.max(p[1])) for p in panels[:1])
    for ax, (name, W, err) in zip(np.atleast_1d(axes), panels):
        im = ax.imshow(W, origin="lower", extent=(x[0], x[-1], x[0], x[-1]), vmin=0, vmax=vmax, cmap="magma")
        ax.set_title(name if err is None else f"{name}\nrel. error {100 * err:.1f}%")
        ax.set_xlabel("source x")
    np.atleast_1d(axes)[0].set_ylabel("target y")
    fig.colorbar(im, ax=list(np.atleast_1d(axes)), shrink=0.8, label="W(x, y)")
    return fig


def fig_cv_table(table) -> object:
    """Table 1 as bars: relative MSE of voxel vs regional model (CV and training; voxel/regional resolution)."""
    fig, axes = new_figure(1, 2, width=3.0, height=2.6, sharey=True)
    for ax, res in zip(axes, ["voxel", "regional"]):
        sub = table[table["resolution"] == res]
        models = list(dict.fromkeys(sub["model"]))
        xs = np.arange(len(models))
        for off, kind, color in [(-0.18, "cv", "C0"), (0.18, "train", "C1")]:
            vals = [float(sub[(sub["model"] == m)][f"{kind}_rel_mse"].iloc[0]) for m in models]
            yerr = None
            if kind == "cv" and "cv_ci_low" in sub and sub["cv_ci_low"].notna().all():
                lo = [float(sub[sub["model"] == m]["cv_ci_low"].iloc[0]) for m in models]
                hi = [float(sub[sub["model"] == m]["cv_ci_high"].iloc[0]) for m in models]
                yerr = np.clip([np.subtract(vals, lo), np.subtract(hi, vals)], 0, None)
            ax.bar(xs + off, vals, width=0.36, color=color, yerr=yerr, capsize=3,
                   label="cross-validated (95% CI over folds)" if kind == "cv" else "training")
            if "paper_cv_rel_mse" in sub:
                pcol = "paper_cv_rel_mse" if kind == "cv" else "paper_train_rel_mse"
                pv = [float(sub[sub["model"] == m][pcol].iloc[0]) for m in models]
                ax.plot(xs + off, pv, "k_", ms=14, mew=1.5, label="paper" if kind == "cv" else None)
            for x_, v in zip(xs + off, vals):
                ax.text(x_, v, f"{100 * v:.0f}%", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(xs, models)
        ax.set_xlabel("model")
        ax.set_title(f"{res} resolution")
    axes[0].set_ylabel("relative MSE")
    axes[0].legend(frameon=False)
    return fig


def fig_synthetic_1d_draws(table, paper: dict[str, float]):
    """Relative error of each fit of the 1-D test over the random draws (one dot per draw),
    the paper's single-draw numbers as bars."""
    fits = [f for f in ("full", "lowrank", "no_mask", "lambda0") if f in set(table["fit"])]
    labels = {"full": "full", "lowrank": "rank r", "no_mask": "no P_Ω", "lambda0": "λ = 0"}
    fig, ax = new_figure(1, 1, width=3.8, height=2.8)
    rng = np.random.default_rng(0)
    for i, f in enumerate(fits):
        e = table.loc[table["fit"] == f, "rel_error"].values
        ax.plot(i + 0.12 * rng.uniform(-1, 1, e.size), e, "o", ms=3, alpha=0.7, color=f"C{i}")
        ax.plot([i - 0.25, i + 0.25], [np.median(e)] * 2, "k-", lw=1)
        if f in paper:
            ax.plot([i - 0.3, i + 0.3], [paper[f]] * 2, "r--", lw=1.2, label="paper (one draw)" if f == "full" else None)
    ax.set_xticks(range(len(fits)), [labels[f] for f in fits])
    ax.set_yscale("log")
    ax.set_ylabel("‖W − W_true‖ / ‖W_true‖")
    ax.set_title(f"1-D test over {table['draw'].nunique()} random draws", fontsize=9)
    ax.legend(frameon=False, fontsize=7)
    return fig


def fig_recovery(lambdas: np.ndarray, err_full: np.ndarray, err_low: np.ndarray | None, chosen: float, rank: int | None):
    """Relative error ||W - W_true|| / ||W_true|| against lambda, chosen lambda marked."""
    fig, ax = new_figure(1, 1, width=3.6, height=2.8)
    ax.semilogx(lambdas, err_full, "o-", label="full rank (P1)")
    if err_low is not None:
        ax.semilogx([chosen] * len(err_low), err_low, "s", color="C3", label=f"rank {rank} (P2), chosen λ")
    ax.axvline(chosen, color="k", lw=0.8, ls=":", label=f"chosen λ = {chosen:g}")
    ax.set_xlabel("λ")
    ax.set_ylabel("relative error to planted W")
    ax.legend(frameon=False)
    return fig


def topdown(values: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Maximum projection over DV of voxel values onto the (AP, ML) plane; NaN outside the voxels."""
    c = np.asarray(coords, int)
    c = c - c.min(0)
    img = np.full((c[:, 0].max() + 1, c[:, 2].max() + 1), np.nan)
    for (ap, _, ml), v in zip(c, values):
        img[ap, ml] = v if np.isnan(img[ap, ml]) else max(img[ap, ml], v)
    return img


def fig_maps(rows: Sequence[dict], target_coord: np.ndarray):
    """Projection fields of a few source voxels (top-down max projections) beside the data.

    Each row dict: ``label`` (str), ``data`` (values on target voxels, the nearest
    injection's projection density, NaN where excluded), and named fits ``fits`` (dict).
    """
    ncol = 1 + len(rows[0]["fits"])
    fig, axes = new_figure(len(rows), ncol, width=2.2, height=2.0, squeeze=False)
    for r, row in enumerate(rows):
        imgs = [("data: " + row["data_label"], row["data"])] + list(row["fits"].items())
        vmax = np.nanmax([np.nanmax(v) for _, v in imgs[1:]])
        for c, (name, vals) in enumerate(imgs):
            ax = axes[r, c]
            img = topdown(np.nan_to_num(vals, nan=-np.inf) if False else vals, target_coord)
            im = ax.imshow(img.T, origin="lower", cmap="viridis", vmin=0, vmax=vmax if c else np.nanmax(img))
            if row.get("source_ap_ml") is not None:
                ax.plot(*row["source_ap_ml"], "r+", ms=8)
            ax.set_title(f"{row['label']}\n{name}" if c == 0 else name, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == len(rows) - 1:
                ax.set_xlabel("AP")
            if c == 0:
                ax.set_ylabel("ML")
        fig.colorbar(im, ax=list(axes[r]), shrink=0.8)
    return fig


def energy_ranks(s: np.ndarray, levels: Sequence[float] = (0.95, 0.99)) -> dict[float, int]:
    """Smallest rank holding each fraction of the energy sum(s^2)."""
    e = np.cumsum(s**2) / np.sum(s**2)
    return {lv: int(np.searchsorted(e, lv) + 1) for lv in levels}


def fig_spectrum(s: np.ndarray, ranks: dict[float, int], lowrank_diff: float | None, rank: int | None):
    """Singular values of W and cumulative energy; ranks at 95% / 99% energy marked."""
    fig, axes = new_figure(1, 2, width=3.0, height=2.6)
    k = np.arange(1, s.size + 1)
    axes[0].semilogy(k, s / s[0], "-")
    axes[0].set_xlabel("index")
    axes[0].set_ylabel("singular value / largest")
    e = np.cumsum(s**2) / np.sum(s**2)
    axes[1].plot(k, e, "-")
    for lv, r in ranks.items():
        for ax in axes:
            ax.axvline(r, color="k", ls=":", lw=0.8)
        axes[1].text(r, lv, f" {int(lv * 100)}%: r={r}", va="top", fontsize=7)
    axes[1].set_xscale("log")
    axes[1].set_xlabel("rank")
    axes[1].set_ylabel("energy fraction")
    if lowrank_diff is not None:
        axes[1].set_title(f"‖W_r{rank} − W_full‖/‖W_full‖ = {100 * lowrank_diff:.1f}%", fontsize=8)
    return fig
