"""One function per figure: data in, matplotlib Figure out (saved by the rule script)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..plotting import new_figure
from .experiment import NETWORK_LABELS, NETWORKS

COLORS = {"rsn": "C0", "synaptic": "C1", "rate": "C2", "target": "0.3", "accelerated": "C3"}
SHORT = {"rsn": "RSN", "synaptic": "sampler-only (current)", "rate": "sampler-only (rate)"}


def _time_axis(ds: xr.Dataset) -> np.ndarray:
    return ds["step"].values * float(ds["step"].attrs.get("dt", ds.attrs.get("dt", 1.0)))


def bimodal_figure(ds: xr.Dataset, metrics: pd.DataFrame):
    """1-D bimodal mixture: sample histograms vs target density, learned vs true score, distance over time."""
    fig, axes = new_figure(2, 3, width=3.0, height=2.4)
    grid = ds["grid"].values
    bins = np.linspace(grid[0], grid[-1], 61)
    w = metrics[metrics.sampler == "langevin"].set_index("network")["wasserstein"]
    for ax, net in zip(axes[0], NETWORKS):
        ax.hist(ds["samples"].sel(network=net).values[:, 0], bins=bins, density=True, color=COLORS[net], alpha=0.6,
                label="samples")
        ax.plot(grid, ds["density_true"].values, color="k", lw=1.2, label="target")
        ax.set_title(f"{SHORT[net]}\n$W_1$ = {w[net]:.3f}")
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
    ax = axes[1, 2]
    ax.bar(range(3), [w[n] for n in NETWORKS], color=[COLORS[n] for n in NETWORKS])
    ax.set_xticks(range(3), ["RSN", "current", "rate"])
    ax.set_ylabel("$W_1$ to target (final samples)")
    ax.set_title("sampling error")
    fig.suptitle("1-D bimodal Gaussian mixture (cf. paper Fig. 2)")
    return fig


def laplace_figure(ds: xr.Dataset, metrics: pd.DataFrame):
    """2-D heavy-tailed Laplace mixture: scatter vs target, marginal kurtosis, distance over time, acceleration."""
    fig, axes = new_figure(2, 4, width=2.6, height=2.5)
    ref = ds["reference"].values
    n_show = min(1500, ds.sizes["chain"], ref.shape[0])
    lim = np.percentile(np.abs(ref), 99.5) * 1.1
    w = metrics[metrics.sampler == "langevin"].set_index("network")["wasserstein"]
    panels = [("target", ref[:n_show], "target samples")] + [
        (n, ds["samples"].sel(network=n).values[:n_show], f"{SHORT[n]}\n$W_1$ = {w[n]:.3f}") for n in NETWORKS
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
        ax.plot(t, acc.sel(sampler="langevin").values, color=COLORS["rsn"], label="Langevin")
        ax.plot(t, acc.sel(sampler="accelerated").values, color=COLORS["accelerated"],
                label=f"accelerated (skew {acc.attrs.get('skew', '')})")
        ax.set_yscale("log")
        ax.legend(frameon=False, fontsize=6)
        ax.set_title(f"RSN, chains from {acc.attrs.get('accel_init', '')}")
    ax.set_xlabel("sampling time")
    ax.set_ylabel("$W_1$ of marginals")
    ax = axes[1, 3]
    ax.bar(range(3), [w[n] for n in NETWORKS], color=[COLORS[n] for n in NETWORKS])
    ax.set_xticks(range(3), ["RSN", "current", "rate"])
    ax.set_ylabel("$W_1$ of marginals (final)")
    ax.set_title("sampling error")
    fig.suptitle("2-D mixture of correlated Laplace distributions (cf. paper Fig. 3)")
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
    m = metrics.set_index("network")
    rows = [("real digits", ds["real_images"].values)] + [
        (f"{SHORT[k]}: energy distance {m.loc[k, 'energy_distance']:.3f}, "
         f"$W_1$ of PCA marginals {m.loc[k, 'wasserstein']:.3f}", ds["images"].sel(network=k).values)
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
    fig, ax = new_figure(1, 1, width=3.4, height=2.6)
    ax.scatter(sweep["n_hidden"], sweep["wasserstein"], s=12, color=COLORS["rsn"], alpha=0.5, label="seed")
    mean = sweep.groupby("n_hidden")["wasserstein"].mean()
    ax.plot(mean.index, mean.values, "o-", color=COLORS["rsn"], label="mean")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("reservoir size N")
    ax.set_ylabel("$W_1$ of marginals to target")
    ax.set_title(f"RSN error vs reservoir size ({sweep['task'].iloc[0]})")
    ax.legend(frameon=False)
    return fig


FIGURES = {"bimodal": bimodal_figure, "laplace": laplace_figure, "digits": digits_figure}
