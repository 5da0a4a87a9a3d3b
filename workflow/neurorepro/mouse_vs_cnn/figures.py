"""Figures of the mouse-vs-CNN comparison (each function returns a matplotlib Figure)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from neurorepro.plotting import new_figure


def ssm_vs_layer(ssm: pd.DataFrame, primary: str, planted: dict[str, str] | None = None):
    """SSM vs CNN layer per area (area-pooled cells), with null band and noise ceiling.

    ``ssm``: the similarity table (columns weights, group, area, cre_line, layer,
    layer_index, ssm, null_low, null_high, ceiling); ``primary``: the weights drawn solid
    (others dashed); ``planted``: area → planted layer (embedded data), marked by a line.
    """
    areas = sorted(ssm.loc[ssm["cre_line"] == "all", "area"].unique())
    ncols = min(3, max(1, len(areas)))
    nrows = int(np.ceil(len(areas) / ncols))
    fig, axes = new_figure(nrows, ncols, width=3.0, height=2.4, squeeze=False, sharey=True)
    weights = [primary] + sorted(set(ssm["weights"]) - {primary, "baselines"})
    base_styles = {"pixels": ("k", (0, (5, 2))), "gabor": ("tab:purple", "-.")}
    for ax, area in zip(axes.flat, areas):
        sub = ssm[(ssm["area"] == area) & (ssm["cre_line"] == "all")]
        for w in weights:
            d = sub[sub["weights"] == w].sort_values("layer_index")
            if d.empty:
                continue
            x = d["layer_index"].to_numpy()
            if w == primary:
                ax.fill_between(x, d["null_low"], d["null_high"], color="0.85", label="permutation null 95%")
                ax.axhline(d["ceiling"].iloc[0], color="0.4", ls=":", lw=1, label="noise ceiling")
            ax.plot(x, d["ssm"], marker="o", ms=3, ls="-" if w == primary else "--", label=f"CNN {w}")
        for _, row in sub[sub["weights"] == "baselines"].iterrows():  # baseline models: horizontal lines
            color, ls = base_styles.get(row["layer"], ("0.3", "--"))
            star = "" if row["p_perm"] < 0.05 else " (n.s.)"
            ax.axhline(row["ssm"], color=color, ls=ls, lw=1.2, label=f"{row['layer']} baseline{star}")
        names = list(sub[sub["weights"] == primary].sort_values("layer_index")["layer"])
        if planted and area in planted:
            if planted[area] in names:
                ax.axvline(names.index(planted[area]), color="tab:red", lw=1, alpha=0.6, label="planted layer")
            else:
                ax.text(0.98, 0.02, f"planted: {planted[area]}", transform=ax.transAxes, ha="right", va="bottom",
                        fontsize=6, color="tab:red")
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=90, fontsize=6)
        n = int(sub["n_cells"].iloc[0]) if len(sub) else 0
        ax.set_title(f"{area} ({n} cells)")
        ax.set_ylabel("SSM (Spearman)")
    for ax in list(axes.flat)[len(areas):]:
        ax.set_visible(False)
    seen = {}
    for ax in list(axes.flat)[: len(areas)]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab.replace(" (n.s.)", ""), h)
    fig.legend(list(seen.values()), list(seen.keys()), loc="outside lower center", ncol=min(4, len(seen)), fontsize=6,
               frameon=False)
    fig.suptitle("Similarity of mouse areas to CNN layers and to pixel / Gabor baselines")
    return fig


def best_layer_heatmap(best: pd.DataFrame, layer_names: list[str], ssm: pd.DataFrame | None = None):
    """Best-matching layer index per area (rows) × Cre line / depth layer (columns).

    A cell whose best layer is not significant (permutation p >= 0.05, column
    ``significant`` of ``best``) is hatched and labelled "n.s."; with ``ssm`` (the table
    with the ``baselines`` rows), "<px" / "<gb" marks groups that the pixel / Gabor
    baseline matches at least as well as their best CNN layer.
    """
    fine = best[best["cre_line"] != "all"].copy()
    fine["column"] = fine["cre_line"] + "\n" + fine["depth_layer"]
    areas = sorted(fine["area"].unique())
    cols = sorted(fine["column"].unique())
    grid = np.full((len(areas), len(cols)), np.nan)
    for _, r in fine.iterrows():
        grid[areas.index(r["area"]), cols.index(r["column"])] = r["layer_index"]
    fig, ax = new_figure(width=max(3.5, 1.1 * len(cols) + 1.5), height=max(2.4, 0.45 * len(areas) + 1.2))
    im = ax.imshow(grid, cmap="viridis", vmin=0, vmax=len(layer_names) - 1, aspect="auto")
    notes = {}
    for _, r in fine.iterrows():
        key = (areas.index(r["area"]), cols.index(r["column"]))
        note = "" if bool(r.get("significant", True)) else "\nn.s."
        if ssm is not None:
            b = ssm[(ssm["weights"] == "baselines") & (ssm["group"] == r["group"])]
            for _, br in b.iterrows():
                if br["ssm"] >= r["ssm"]:
                    note += "\n<" + {"pixels": "px", "gabor": "gb"}.get(br["layer"], br["layer"])
        notes[key] = note
    for i in range(len(areas)):
        for j in range(len(cols)):
            if np.isfinite(grid[i, j]):
                v = int(grid[i, j])
                ax.text(j, i, layer_names[v] + notes.get((i, j), ""), ha="center", va="center", fontsize=6,
                        color="white" if v < len(layer_names) / 2 else "black")
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels(cols, fontsize=7)
    ax.set_yticks(range(len(areas)))
    ax.set_yticklabels(areas)
    cb = fig.colorbar(im, ax=ax, ticks=range(len(layer_names)))
    cb.ax.set_yticklabels(layer_names, fontsize=6)
    cb.set_label("best-matching CNN layer")
    ax.set_title("Functional hierarchy: best layer per group")
    return fig


def stability_figure(stab: pd.DataFrame):
    """Agreement of the best layer under neuron and stimulus subsampling, and SSM spread."""
    fig, axes = new_figure(1, 2, width=3.2, height=2.6, squeeze=False, sharey=True)
    for ax, axis in zip(axes.flat, ("neurons", "stimuli")):
        d = stab[stab["axis"] == axis].drop_duplicates(["group", "fraction", "repeat"])
        for area, g in d.groupby("area"):
            agree = g.groupby("fraction")["same_best_as_full"].mean()
            ax.plot(agree.index, agree.values, marker="o", ms=3, label=area)
        ax.set_xlabel(f"fraction of {axis} kept")
        ax.set_title(f"subsampling {axis}")
        ax.set_ylim(-0.05, 1.05)
    axes.flat[0].set_ylabel("P(same best layer as full data)")
    axes.flat[-1].legend(fontsize=6, frameon=False, loc="lower right")
    fig.suptitle("Stability of the best-matching layer")
    return fig


def cnn_subsampling_figure(rob: pd.DataFrame):
    """CNN-to-CNN robustness (the paper's Figs. 2-3): a random subset of a layer's units (left)
    or of the images (right) is compared with every full layer. Top: fraction of subsets whose
    best-matching full layer is the layer itself (within one layer), per layer; bottom: SSM
    with the layer's own full RSM."""
    fig, axes = new_figure(2, 2, width=3.2, height=2.3, squeeze=False, sharex="col")
    for col, (axis, key, label) in enumerate((("units", "size", "units kept per layer"),
                                               ("images", "fraction", "fraction of images kept"))):
        d = rob[rob["axis"] == axis]
        if d.empty:
            for r in range(2):
                axes[r, col].set_visible(False)
            continue
        layers = list(d.sort_values("layer_index")["layer"].drop_duplicates())
        cmap = __import__("matplotlib").colormaps["viridis"]
        for k, name in enumerate(layers):
            g = d[d["layer"] == name]
            ok = g.assign(ok=g["distance"] <= 1).groupby(key)["ok"].mean()
            ss = g.groupby(key)["ssm_self"].mean()
            c = cmap(k / max(1, len(layers) - 1))
            axes[0, col].plot(ok.index, ok.values, marker="o", ms=2.5, color=c, label=name)
            axes[1, col].plot(ss.index, ss.values, marker="o", ms=2.5, color=c)
        if axis == "units":
            axes[0, col].set_xscale("log")
        axes[0, col].set_ylim(-0.05, 1.05)
        axes[0, col].set_title(f"subsampling {axis}")
        axes[1, col].set_xlabel(label)
    axes[0, 0].set_ylabel("P(best = own layer ±1)")
    axes[1, 0].set_ylabel("SSM with own full layer")
    axes[0, -1].legend(fontsize=5, frameon=False, ncol=2, loc="lower right")
    fig.suptitle("CNN-to-CNN: is the SSM robust to limited neurons and images?")
    return fig
