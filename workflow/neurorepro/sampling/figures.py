"""One function per figure: data in, matplotlib Figure out (saved by the rule script)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..plotting import new_figure
from .experiment import NETWORKS

COLORS = {"rsn": "C0", "synaptic": "C1", "rate": "C2", "target": "0.3", "accelerated": "C3"}
SHORT = {"rsn": "RSN", "synaptic": "sampler-only (current)", "rate": "sampler-only (rate)"}


def _mean_by_network(metrics: pd.DataFrame, measure: str) -> pd.Series:
    """Mean of ``measure`` over seeds per network (Langevin rows from N(0, I) starts)."""
    m = metrics[metrics["sampler"] == "langevin"]
    return m.groupby("network")[measure].mean()


def _seed_bars(ax, metrics: pd.DataFrame, measure: str, ylabel: str) -> None:
    """Mean over seeds per network (bars) with each seed as a point, and the target's own floor."""
    m = metrics[metrics["sampler"] == "langevin"]
    for i, net in enumerate(NETWORKS):
        v = m.loc[m["network"] == net, measure].to_numpy(float)
        ax.bar(i, np.nanmean(v), color=COLORS[net], alpha=0.7)
        ax.scatter(np.full(v.size, i) + np.linspace(-0.15, 0.15, v.size), v, s=8, color="k", zorder=3)
    if measure == "energy_distance" and "energy_floor" in m:
        ax.axhline(m.groupby("seed")["energy_floor"].first().mean(), color="0.4", ls="--", lw=0.8,
                   label="target vs itself")
        ax.legend(frameon=False, fontsize=6)
    ax.set_xticks(range(3), ["RSN", "current", "rate"])
    ax.set_ylabel(ylabel)
    ax.set_title(f"sampling error ({m['seed'].nunique()} seeds)")


def _time_axis(ds: xr.Dataset) -> np.ndarray:
    return ds["step"].values * float(ds["step"].attrs.get("dt", ds.attrs.get("dt", 1.0)))


def bimodal_figure(ds: xr.Dataset, metrics: pd.DataFrame):
    """1-D bimodal mixture: sample histograms vs target density, learned vs true score, distance over time."""
    fig, axes = new_figure(2, 3, width=3.0, height=2.4)
    grid = ds["grid"].values
    bins = np.linspace(grid[0], grid[-1], 61)
    w = _mean_by_network(metrics, "wasserstein")
    e = _mean_by_network(metrics, "energy_distance")
    for ax, net in zip(axes[0], NETWORKS):
        ax.hist(ds["samples"].sel(network=net).values[:, 0], bins=bins, density=True, color=COLORS[net], alpha=0.6,
                label="samples")
        ax.plot(grid, ds["density_true"].values, color="k", lw=1.2, label="target")
        ax.set_title(f"{SHORT[net]}\nenergy {e[net]:.3f}, $W_1$ {w[net]:.3f} (mean)")
        ax.set_xlabel("x")
        ax.set_ylabel("density")
    axes[0, 0].legend(loc="upper left", frameon=False, fontsize=6)
    ax = axes[1, 0]
    ax.plot(grid, ds["score_true"].values, color="k", lw=1.5, label="true score")
    for net in NETWORKS:
        ax.plot(grid, ds["score_learned"].sel(network=net).values, color=COLORS[net], lw=1.2, label=SHORT[net])
    ax.set_ylim(np.percentile(ds["score_true"].values, [2, 98]) * 1.3)
    ax.set_xlabel("x")
    ax.set_ylabel("score  d log p / dx")
    ax.set_title("learned vs true score")
    ax.legend(frameon=False, fontsize=6)
    ax = axes[1, 1]
    t = _time_axis(ds)
    for net in NETWORKS:
        ax.plot(t, ds["wasserstein_time"].sel(network=net).values, color=COLORS[net], label=SHORT[net])
    ax.set_xlabel("sampling time")
    ax.set_ylabel("$W_1$ to target")
    ax.set_title("distance over sampling time")
    ax.set_yscale("log")
    _seed_bars(axes[1, 2], metrics, "energy_distance", "energy distance to target")
    fig.suptitle("1-D bimodal Gaussian mixture (cf. paper Fig. 2); histograms, scores and time course: first seed")
    return fig


def laplace_figure(ds: xr.Dataset, metrics: pd.DataFrame):
    """2-D heavy-tailed Laplace mixture: scatter vs target, marginal kurtosis, distance over time, acceleration."""
    fig, axes = new_figure(2, 4, width=2.6, height=2.5)
    ref = ds["reference"].values
    n_show = min(1500, ds.sizes["chain"], ref.shape[0])
    lim = np.percentile(np.abs(ref), 99.5) * 1.1
    w = _mean_by_network(metrics, "wasserstein")
    e = _mean_by_network(metrics, "energy_distance")
    panels = [("target", ref[:n_show], "target samples")] + [
        (n, ds["samples"].sel(network=n).values[:n_show], f"{SHORT[n]}\nenergy {e[n]:.3f}, $W_1$ {w[n]:.3f}")
        for n in NETWORKS
    ]
    for ax, (key, pts, title) in zip(axes[0], panels):
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.4, color=COLORS[key], rasterized=True)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_title(title)
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
    ax = axes[1, 0]
    kt = ds["kurtosis_true"].values
    width = 0.2
    d = len(kt)
    ax.bar(np.arange(d) - 1.5 * width, kt, width, color=COLORS["target"], label="target")
    for i, net in enumerate(NETWORKS):
        ax.bar(np.arange(d) + (i - 0.5) * width, ds["kurtosis"].sel(network=net).values, width, color=COLORS[net],
               label=SHORT[net])
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(range(d), [f"$x_{j + 1}$" for j in range(d)])
    ax.set_ylabel("excess kurtosis of marginal")
    ax.set_title("heavy tails")
    ax.legend(frameon=False, fontsize=6)
    ax = axes[1, 1]
    t = _time_axis(ds)
    for net in NETWORKS:
        ax.plot(t, ds["wasserstein_time"].sel(network=net).values, color=COLORS[net], label=SHORT[net])
    ax.set_yscale("log")
    ax.set_xlabel("sampling time")
    ax.set_ylabel("$W_1$ of marginals")
    ax.set_title("Langevin, chains from N(0, I)")
    ax.legend(frameon=False, fontsize=6)
    ax = axes[1, 2]
    if "wasserstein_time_accel" in ds:
        acc = ds["wasserstein_time_accel"]
        if "seed" in acc.dims:
            acc = acc.mean("seed", keep_attrs=True)
        ax.plot(t, acc.sel(sampler="langevin").values, color=COLORS["rsn"], label="RSN, Langevin")
        ax.plot(t, acc.sel(sampler="accelerated").values, color=COLORS["accelerated"],
                label=f"RSN, accelerated (skew {acc.attrs.get('skew', '')})")
        if "wasserstein_time_accel_exact" in ds:
            ex = ds["wasserstein_time_accel_exact"].mean("seed")
            ax.plot(t, ex.sel(sampler="langevin").values, color="k", ls="--", lw=0.9, label="exact score, Langevin")
            ax.plot(t, ex.sel(sampler="accelerated").values, color=COLORS["accelerated"], ls="--", lw=0.9,
                    label="exact score, accelerated")
        ax.set_yscale("log")
        ax.legend(frameon=False, fontsize=6)
        ax.set_title(f"from {acc.attrs.get('accel_init', '')} (mean of seeds)")
    ax.set_xlabel("sampling time")
    ax.set_ylabel("$W_1$ of marginals")
    _seed_bars(axes[1, 3], metrics, "energy_distance", "energy distance to target (joint)")
    fig.suptitle("2-D mixture of correlated Laplace distributions (cf. paper Fig. 3); scatter: first seed")
    return fig


def _mosaic(images: np.ndarray, ncols: int) -> np.ndarray:
    n, h, w = images.shape
    nrows = int(np.ceil(n / ncols))
    out = np.ones((nrows * (h + 1) - 1, ncols * (w + 1) - 1))
    for i, img in enumerate(images):
        r, c = divmod(i, ncols)
        out[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = img
    return out


def digits_figure(ds: xr.Dataset, metrics: pd.DataFrame):
    """Digit samples decoded from PCA space back to images, per network, with real digits."""
    n = ds.sizes["image"]
    ncols = min(8, n)
    fig, axes = new_figure(4, 1, width=0.75 * ncols, height=0.75 * int(np.ceil(n / ncols)) + 0.4)
    e = _mean_by_network(metrics, "energy_distance")
    w = _mean_by_network(metrics, "wasserstein")
    floor = metrics.groupby("seed")["energy_floor"].first().mean() if "energy_floor" in metrics else float("nan")
    rows = [(f"held-out digits (training set vs held-out: energy distance {floor:.3f})", ds["real_images"].values)] + [
        ((f"{SHORT[k]}: energy distance to held-out {e[k]:.3f}, "
          f"$W_1$ of PCA marginals {w[k]:.3f} (mean of {metrics['seed'].nunique()} seeds)"), ds["images"].sel(network=k).values)
        for k in NETWORKS
    ]
    for ax, (title, imgs) in zip(np.ravel(axes), rows):
        ax.imshow(_mosaic(1.0 - imgs, ncols), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title)
        ax.axis("off")
    fig.suptitle(f"{ds.attrs.get('dataset', 'digits')} in {ds.attrs.get('pca_dim')}-D PCA space "
                 f"(RSN: {ds.attrs.get('n_hidden')} units) (cf. paper Fig. 4)")
    return fig


def size_figure(sweep: pd.DataFrame):
    """RSN sampling error vs reservoir size (per seed and mean)."""
    measure = "energy_distance" if "energy_distance" in sweep else "wasserstein"
    fig, ax = new_figure(1, 1, width=3.4, height=2.6)
    for seed, g in sweep.groupby("seed"):
        ax.plot(g["n_hidden"], g[measure], "-", color=COLORS["rsn"], alpha=0.3, lw=0.8)
    ax.scatter(sweep["n_hidden"], sweep[measure], s=12, color=COLORS["rsn"], alpha=0.5, label="seed")
    mean = sweep.groupby("n_hidden")[measure].mean()
    ax.plot(mean.index, mean.values, "o-", color=COLORS["rsn"], label="mean")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("reservoir size N")
    ax.set_ylabel("energy distance to target" if measure == "energy_distance" else "$W_1$ of marginals to target")
    ax.set_title(f"RSN error vs reservoir size ({sweep['task'].iloc[0]})")
    ax.legend(frameon=False)
    return fig


def theory_figure(ds: xr.Dataset, metrics: pd.DataFrame):
    """What each architecture can represent (paper Fig. 1 table, Sec. 3): best sampler-only scores vs the RSN's.

    Left: the bimodal target's score (smoothed by sigma_min), the best score any synaptic-current
    sampler-only network can have (least squares on span{phi(x), 1, x}), the best firing-rate one
    (grid search), and the trained networks' scores (first seed). Right: relative Fisher
    divergence of each trained network per seed, with the two sampler-only floors.
    """
    fig, axes = new_figure(1, 2, width=3.6, height=2.8)
    ax = axes[0]
    grid = ds["grid"].values
    ax.plot(grid, ds["score_smoothed"].values, color="k", lw=2, label="target score")
    ax.plot(grid, ds["score_best_synaptic"].values, color=COLORS["synaptic"], ls="--", lw=1.2,
            label="best sampler-only (current)")
    ax.plot(grid, ds["score_best_rate"].values, color=COLORS["rate"], ls="--", lw=1.2, label="best sampler-only (rate)")
    for net in NETWORKS:
        ax.plot(grid, ds["score_learned"].sel(network=net).values, color=COLORS[net], lw=1, alpha=0.8,
                label=f"trained {SHORT[net]}")
    ax.set_ylim(np.percentile(ds["score_smoothed"].values, [1, 99]) * 1.4)
    ax.set_xlabel("x")
    ax.set_ylabel("score d log p / dx")
    ax.set_title(f"what each network can represent ({ds.attrs.get('activation', '')})")
    ax.legend(frameon=False, fontsize=5.5)
    ax = axes[1]
    m = metrics[metrics["sampler"] == "langevin"]
    for i, net in enumerate(NETWORKS):
        v = m.loc[m["network"] == net, "fisher_rel"].to_numpy(float)
        ax.scatter(np.full(v.size, i) + np.linspace(-0.12, 0.12, v.size), v, s=12, color=COLORS[net], zorder=3)
    f_syn, f_rate = float(m["fisher_floor_synaptic"].iloc[0]), float(m["fisher_floor_rate"].iloc[0])
    ax.axhline(f_syn, color=COLORS["synaptic"], ls="--", lw=1, label=f"floor: any sampler-only (current) {f_syn:.3f}")
    ax.axhline(f_rate, color=COLORS["rate"], ls=":", lw=1, label=f"floor: sampler-only (rate), grid {f_rate:.3f}")
    for i, net in enumerate(NETWORKS):
        v = m.loc[m["network"] == net, "fisher_rel"].to_numpy(float)
        ax.annotate(f"{np.nanmean(v):.3f}", (i, np.nanmax(v)), textcoords="offset points", xytext=(0, 5), ha="center",
                    fontsize=6)
    ax.set_yscale("log")
    ax.set_xticks(range(3), ["RSN", "current", "rate"])
    ax.set_ylabel("relative Fisher divergence")
    ax.set_title(f"score error per seed (n = {m['seed'].nunique()})")
    ax.legend(frameon=False, fontsize=6)
    fig.suptitle("sampler-only dynamics cannot represent the bimodal score; the RSN can (cf. paper Fig. 1, Sec. 3)")
    return fig


FIGURES = {"bimodal": bimodal_figure, "laplace": laplace_figure, "digits": digits_figure, "theory": theory_figure}
