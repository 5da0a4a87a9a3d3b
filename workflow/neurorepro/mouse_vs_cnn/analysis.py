"""Compare neural groups with CNN layers by representational similarity (Shi et al. 2019).

For each neural group (area × Cre line × depth layer, and each area pooled) the RSM of
its trial-averaged responses (Pearson between images across cells) is compared with the
RSM of each CNN layer by the SSM (Spearman between upper triangles), with a
stimulus-permutation null, a split-half noise ceiling, and the best-matching layer.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from neurorepro.measures.correlation import rank as _rank
from neurorepro.measures.similarity import (
    rsm,
    rsm_noise_ceiling,
    ssm_many,
    ssm_permutation_null_many,
    subsample_ssm,
)


@dataclass
class NeuralGroup:
    """Trial-averaged responses of one group of cells."""

    name: str
    area: str
    cre_line: str  # "all" for an area-pooled group
    depth_layer: str  # "all" for an area-pooled group
    response: np.ndarray  # (n_cells, n_images)
    halves: np.ndarray  # (2, n_cells, n_images)
    experiment: np.ndarray | None = None  # (n_cells,) experiment (container) of each cell

    @property
    def n_cells(self) -> int:
        return int(self.response.shape[0])


def group_from_dataset(ds: xr.Dataset, min_reliability: float | None = None) -> NeuralGroup:
    """A :class:`NeuralGroup` from a responses file; cells below ``min_reliability`` dropped."""
    keep = np.ones(ds.sizes["cell"], bool)
    if min_reliability is not None:
        keep = np.nan_to_num(ds["reliability"].values, nan=-np.inf) >= float(min_reliability)
    return NeuralGroup(
        name=str(ds.attrs["group"]), area=str(ds.attrs["area"]), cre_line=str(ds.attrs["cre_line"]),
        depth_layer=str(ds.attrs["depth_layer"]),
        response=ds["response"].values[keep], halves=ds["response_half"].values[:, keep],
        experiment=ds["experiment_id"].values[keep] if "experiment_id" in ds.coords else None,
    )


def pool_by_area(groups: list[NeuralGroup]) -> list[NeuralGroup]:
    """One group per area with all its cells (every Cre line and depth)."""
    out = []
    for area in sorted({g.area for g in groups}):
        gs = [g for g in groups if g.area == area]
        out.append(NeuralGroup(
            name=f"{area}_all_all", area=area, cre_line="all", depth_layer="all",
            response=np.concatenate([g.response for g in gs]), halves=np.concatenate([g.halves for g in gs], axis=1),
            experiment=(np.concatenate([g.experiment for g in gs]) if all(g.experiment is not None for g in gs) else None),
        ))
    return out


def compare_group(
    group: NeuralGroup,
    cnn_rsms: np.ndarray,
    layer_names: list[str],
    rng: np.random.Generator,
    n_permutations: int = 200,
    method: str = "spearman",
) -> pd.DataFrame:
    """SSM of a group's RSM with each CNN layer, with permutation null (2.5/97.5 %, p) and ceiling."""
    if group.n_cells < 2:
        raise ValueError(f"group {group.name} has {group.n_cells} cells; an RSM needs at least 2")
    neural = rsm(group.response.T)
    values = ssm_many(neural, cnn_rsms, method)
    ceiling = rsm_noise_ceiling(group.halves[0].T, group.halves[1].T, method)
    nulls = ssm_permutation_null_many(neural, cnn_rsms, n_permutations, rng, method)
    rows = []
    for k, (name, val) in enumerate(zip(layer_names, values)):
        null = nulls[:, k]
        rows.append({
            "group": group.name, "area": group.area, "cre_line": group.cre_line, "depth_layer": group.depth_layer,
            "n_cells": group.n_cells, "layer": name, "layer_index": k, "ssm": float(val),
            "null_low": float(np.nanquantile(null, 0.025)), "null_high": float(np.nanquantile(null, 0.975)),
            "p_perm": float((1 + np.sum(null >= val)) / (1 + len(null))),
            "ceiling": ceiling["ceiling"], "r_half": ceiling["r_half"],
        })
    return pd.DataFrame(rows)


def best_layers(ssm_table: pd.DataFrame) -> pd.DataFrame:
    """Row of the highest SSM per (weights, group)."""
    keys = [k for k in ("weights", "group") if k in ssm_table.columns]
    idx = ssm_table.groupby(keys, sort=False)["ssm"].idxmax()
    return ssm_table.loc[idx].reset_index(drop=True)


def stability(
    group: NeuralGroup,
    cnn_rsms: np.ndarray,
    layer_names: list[str],
    fractions: list[float],
    n_repeats: int,
    rng: np.random.Generator,
    method: str = "spearman",
) -> pd.DataFrame:
    """SSM profiles of random subsets of neurons and of stimuli: one row per (axis, fraction, repeat, layer)."""
    rows = []
    full_best = int(np.nanargmax(ssm_many(rsm(group.response.T), cnn_rsms, method)))
    for axis in ("units", "stimuli"):
        for frac in fractions:
            s = subsample_ssm(group.response.T, cnn_rsms, frac, n_repeats, rng, axis=axis, method=method)
            for r in range(s.shape[0]):
                best = int(np.nanargmax(s[r]))
                for k, name in enumerate(layer_names):
                    rows.append({
                        "group": group.name, "area": group.area, "axis": "neurons" if axis == "units" else "stimuli",
                        "fraction": float(frac), "repeat": r, "layer": name, "layer_index": k, "ssm": float(s[r, k]),
                        "best_layer_index": best, "same_best_as_full": best == full_best,
                    })
    return pd.DataFrame(rows)


def hierarchy_gap(best: pd.DataFrame, primary_area: str = "VISp") -> dict:
    """Best-layer index of ``primary_area`` minus the mean over the other (higher) areas."""
    if primary_area not in set(best["area"]):
        return {"gap": float("nan"), "primary": float("nan"), "higher_mean": float("nan"), "higher": {}}
    p = float(best.loc[best["area"] == primary_area, "layer_index"].iloc[0])
    higher = {a: int(i) for a, i in zip(best["area"], best["layer_index"]) if a != primary_area}
    hm = float(np.mean(list(higher.values()))) if higher else float("nan")
    return {"gap": p - hm, "primary": p, "higher_mean": hm, "higher": higher}


class ModelTriangles:
    """Model RSMs prepared once for many SSMs (upper triangles ranked, centred, unit norm)."""

    def __init__(self, rsms: np.ndarray, method: str = "spearman"):
        if method not in ("spearman", "pearson"):
            raise ValueError("the fast SSM path takes method spearman or pearson")
        rsms = np.asarray(rsms, float)
        n = rsms.shape[-1]
        self.method = method
        self.i, self.j = np.triu_indices(n, k=1)
        b = rsms[:, self.i, self.j]
        if not np.all(np.isfinite(b)):
            b = np.nan_to_num(b, nan=0.0)
        if method == "spearman":
            b = np.apply_along_axis(_rank, 1, b)
        b = b - b.mean(axis=1, keepdims=True)
        self.b = b / (np.linalg.norm(b, axis=1, keepdims=True) + 1e-300)

    def ssm(self, neural_rsm: np.ndarray) -> np.ndarray:
        a = np.nan_to_num(neural_rsm[self.i, self.j], nan=0.0)
        if self.method == "spearman":
            a = _rank(a)
        a = a - a.mean()
        return self.b @ (a / (np.linalg.norm(a) + 1e-300))


def resample_cells(group: NeuralGroup, rng: np.random.Generator, unit: str = "containers") -> np.ndarray:
    """Cell indices of one bootstrap replicate of a group.

    ``unit="containers"``: experiments (containers) drawn with replacement, then cells
    with replacement within each drawn experiment (the hierarchical bootstrap: both
    animals and cells vary); ``unit="cells"``: cells with replacement.
    """
    n = group.n_cells
    if unit == "cells" or group.experiment is None:
        return rng.integers(0, n, n)
    if unit != "containers":
        raise ValueError(f"bootstrap unit must be 'containers' or 'cells', got {unit!r}")
    exps = np.unique(group.experiment)
    members = {e: np.flatnonzero(group.experiment == e) for e in exps}
    out = []
    for e in rng.choice(exps, size=len(exps), replace=True):
        m = members[e]
        out.append(m[rng.integers(0, len(m), len(m))])
    return np.concatenate(out)


def bootstrap_profiles(groups: list[NeuralGroup], model_rsms: np.ndarray, n_boot: int, seed: int,
                       method: str = "spearman", unit: str = "containers") -> np.ndarray:
    """SSM profiles ``(n_boot, n_groups, n_models)`` of bootstrap replicates of each group.

    Each replicate resamples every group independently (:func:`resample_cells`) and
    recomputes its RSM and its SSM with every model RSM. Any statistic of the best layers
    (per area, the hierarchy gap, ...) is then computed per replicate; its 2.5 / 97.5 %
    percentiles are the 95% interval over the resampled units.
    """
    tri = ModelTriangles(model_rsms, method)
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, len(groups), len(model_rsms)))
    for b in range(n_boot):
        for g, group in enumerate(groups):
            idx = resample_cells(group, rng, unit)
            out[b, g] = tri.ssm(rsm(group.response[idx].T))
    return out


def n_units(group: NeuralGroup, unit: str = "containers") -> int:
    """Independent units a group's bootstrap resamples (containers or cells)."""
    if unit == "containers" and group.experiment is not None:
        return int(len(np.unique(group.experiment)))
    return group.n_cells


def cnn_subsampling(acts: dict[str, np.ndarray], full_rsms: np.ndarray, layer_names: list[str],
                    unit_counts: list[int], image_fractions: list[float], repeats: int,
                    rng: np.random.Generator, method: str = "spearman") -> pd.DataFrame:
    """CNN-to-CNN robustness of the SSM (the paper's Figs. 2-3): a random subset of a layer's
    units (or of the images) is compared with every full layer.

    ``acts``: layer -> ``(n_images, units)`` activations (a random subset of each layer's
    units, as many as are kept); ``full_rsms``: ``(n_layers, n, n)`` RSMs of all units.
    For each layer (a stand-in for a recorded area), each count of units (and, with all
    kept units, each fraction of images) and repeat: the best-matching full layer, its
    distance in taps from the layer itself, and the SSM with the layer's own full RSM.
    """
    tri_full = ModelTriangles(full_rsms, method)
    rows = []
    n_img = full_rsms.shape[-1]
    for k, name in enumerate(layer_names):
        if name not in acts:
            continue
        a = acts[name]
        a = a[:, a.std(axis=0) > 0]  # units silent on every image carry no RSM information
        for n in unit_counts:
            if n > a.shape[1]:
                continue
            for r in range(repeats):
                keep = rng.choice(a.shape[1], size=int(n), replace=False)
                s = tri_full.ssm(rsm(a[:, keep]))
                best = int(np.nanargmax(s))
                rows.append({"axis": "units", "layer": name, "layer_index": k, "size": int(n), "fraction": n / a.shape[1],
                             "repeat": r, "best_layer_index": best, "distance": abs(best - k), "ssm_self": float(s[k])})
        for frac in image_fractions:
            m = max(4, int(round(frac * n_img)))
            for r in range(repeats):
                keep = np.sort(rng.choice(n_img, size=m, replace=False))
                tri = ModelTriangles(full_rsms[:, keep][:, :, keep], method)
                s = tri.ssm(rsm(a[keep]))
                best = int(np.nanargmax(s))
                rows.append({"axis": "images", "layer": name, "layer_index": k, "size": m, "fraction": float(frac),
                             "repeat": r, "best_layer_index": best, "distance": abs(best - k), "ssm_self": float(s[k])})
    return pd.DataFrame(rows)


def significant_best(ssm_table: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Best row per (weights, group) with ``significant`` = its permutation p < ``alpha``."""
    best = best_layers(ssm_table)
    best["significant"] = best["p_perm"] < float(alpha)
    return best


def hierarchy_statistics(best_index: dict[str, float], n_layers: int, primary_area: str = "VISp") -> dict[str, float]:
    """The paper's three conclusions as numbers, from each area's best CNN layer index.

    - ``gap``: VISp's index minus the mean over the other (higher) areas (< 0: VISp lower);
    - ``depth``: mean over areas of index / (n_layers - 1) (> 0.5: relatively deep layers);
    - ``spread``: max - min index over the higher areas, in layers (small: parallel, the
      higher areas map to one band of layers; large: sequential, successive layers).
    """
    higher = [v for a, v in best_index.items() if a != primary_area]
    gap = (best_index[primary_area] - float(np.mean(higher))) if (primary_area in best_index and higher) else float("nan")
    depth = float(np.mean(list(best_index.values())) / max(1, n_layers - 1)) if best_index else float("nan")
    spread = float(max(higher) - min(higher)) if len(higher) >= 2 else float("nan")
    return {"gap": float(gap), "depth": depth, "spread": spread}
