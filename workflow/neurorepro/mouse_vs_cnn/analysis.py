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
    )


def pool_by_area(groups: list[NeuralGroup]) -> list[NeuralGroup]:
    """One group per area with all its cells (every Cre line and depth)."""
    out = []
    for area in sorted({g.area for g in groups}):
        gs = [g for g in groups if g.area == area]
        out.append(NeuralGroup(
            name=f"{area}_all_all", area=area, cre_line="all", depth_layer="all",
            response=np.concatenate([g.response for g in gs]), halves=np.concatenate([g.halves for g in gs], axis=1),
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
