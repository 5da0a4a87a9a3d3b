"""Steps of the ``mouse_vs_cnn`` target, one function per rule (the scripts only call these)."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from neurorepro.allen import brain_observatory as bo
from neurorepro.io import write_netcdf, write_tsv

log = logging.getLogger(__name__)


def _cnn_inputs(template: np.ndarray, input_size: int, warp: bool):
    from neurorepro.mouse_vs_cnn.images import cnn_input, mouse_view, view_downsample

    return cnn_input(mouse_view(template, warp=warp, downsample=view_downsample(input_size)), input_size)


def planting_features(template: np.ndarray, model_path: str, layers: Sequence[str], warp: bool, batch_size: int,
                      max_units: int | None, seed: int, device) -> xr.Dataset:
    """Features of the planting layers for the template images as the mouse saw them."""
    from neurorepro.mouse_vs_cnn.cnn import layer_activations, load_model

    model, meta = load_model(model_path, device)
    unknown = sorted(set(layers) - set(model.layer_names))
    if unknown:
        raise ValueError(f"config mouse_vs_cnn.embedded.planted_layers names {unknown}, not layers of the "
                         f"{meta['arch']} CNN ({model.layer_names})")
    x = _cnn_inputs(template, meta["input_size"], warp)
    acts = layer_activations(model, x, sorted(set(layers)), batch_size, device, max_units=max_units, seed=seed)
    ds = xr.Dataset({f"features_{k}": ((("image", f"unit_{k}")), v) for k, v in acts.items()})
    ds.attrs.update({"model": str(model_path), "weights": meta["weights"], "arch": meta["arch"], "seed": seed,
                     "warp": int(warp), "units": "ReLU activation"})
    return ds


def embedded_containers(features: xr.Dataset, areas: Sequence[str], planes: Sequence[dict], planted: dict[str, str],
                        cells_per_container: int, amplitude: float, extra_flagged: bool, rng: np.random.Generator):
    """Containers of the embedded cache: one per area × plane, cells planted from the area's layer.

    With ``extra_flagged``, one container tagged ``Epileptiform Events`` and one marked
    failed are added (both must be skipped by the selection).
    """
    from neurorepro.allen.embedded_brain_observatory import EmbeddedContainer, plant_responses

    missing = [a for a in areas if a not in planted]
    if missing:
        raise ValueError(f"mouse_vs_cnn.embedded.planted_layers has no layer for areas {missing}")
    out, k = [], 0
    for area in areas:
        feats = features[f"features_{planted[area]}"].values
        for plane in planes:
            rates = plant_responses(feats, cells_per_container, rng, amplitude)
            out.append(EmbeddedContainer(511500000 + k, 501500000 + k, area, plane["cre_line"], int(plane["imaging_depth"]), rates))
            k += 1
    if extra_flagged:
        a0, p0 = areas[0], planes[0]
        feats = features[f"features_{planted[areas[-1]]}"].values  # wrong layer: visible if not skipped
        for tags, failed in ((["Epileptiform Events"], False), ([], True)):
            rates = plant_responses(feats, cells_per_container, rng, amplitude)
            out.append(EmbeddedContainer(511500000 + k, 501500000 + k, a0, p0["cre_line"], int(p0["imaging_depth"]),
                                         rates, failed=failed, tags=tags))
            k += 1
    return out


def select_and_fetch(manifest: str, areas: Sequence[str], cre_lines: Sequence[str] | None,
                     imaging_depths: Sequence[int] | None, max_containers_per_group: int | None,
                     skip_epileptiform: bool, allow_download: bool) -> pd.DataFrame:
    """Experiments to analyse, each NWB file present and verified (downloaded when allowed)."""
    boc = bo.open_cache(manifest)
    df = bo.select_experiments(boc, areas, cre_lines, imaging_depths, max_containers_per_group, skip_epileptiform)
    if df.empty:
        raise ValueError(f"no natural-scenes experiments for areas={list(areas)}, cre_lines={cre_lines}, "
                         f"imaging_depths={imaging_depths} in {manifest}")
    paths = []
    for eid in df["experiment_id"]:
        paths.append(bo.ensure_nwb(boc, int(eid), allow_download=allow_download))
        log.info("experiment %d: %s", eid, paths[-1])
    df["nwb_file"] = paths
    return df


def build_responses(manifest: str, experiments: pd.DataFrame, out_dir: str, stimuli_path: str, seed: int,
                    lag_frames: int, source: str) -> pd.DataFrame:
    """Per-group trial-averaged responses (one NetCDF per area × Cre × depth layer) and the template.

    Streams one experiment at a time; each group's cells are gathered across its experiments.
    """
    boc = bo.open_cache(manifest)
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parts: dict[str, list] = {}
    template = None
    n_images = None
    for resp, tmpl in bo.iter_experiment_responses(boc, experiments["experiment_id"], lag_frames):
        if tmpl is not None:
            template = tmpl
            n_images = int(tmpl.shape[0])
        row = experiments.loc[experiments["experiment_id"] == resp.experiment_id].iloc[0]
        mean, halves, n_trials = bo.trial_average(resp.responses, resp.frame, n_images, rng)
        parts.setdefault(row["group"], []).append((row, resp, mean, halves, n_trials))
        log.info("experiment %d (%s): %d cells, %d presentations", resp.experiment_id, row["group"],
                 len(resp.cell_specimen_ids), len(resp.frame))
    from neurorepro.measures.similarity import split_half_reliability

    index = []
    for group, items in sorted(parts.items()):
        row0 = items[0][0]
        mean = np.concatenate([m for _, _, m, _, _ in items])
        halves = np.concatenate([h for _, _, _, h, _ in items], axis=1)
        cells = np.concatenate([r.cell_specimen_ids for _, r, _, _, _ in items])
        exp_of_cell = np.concatenate([np.full(len(r.cell_specimen_ids), r.experiment_id) for _, r, _, _, _ in items])
        depth_of_cell = np.concatenate([np.full(len(r.cell_specimen_ids), int(rw["imaging_depth"])) for rw, r, _, _, _ in items])
        ds = xr.Dataset(
            {
                "response": (("cell", "image"), mean),
                "response_half": (("half", "cell", "image"), halves),
                "reliability": (("cell",), split_half_reliability(halves[0], halves[1])),
                "n_trials": (("experiment", "image"), np.stack([n for *_, n in items])),
            },
            coords={"cell_specimen_id": ("cell", cells), "experiment_id": ("cell", exp_of_cell),
                    "imaging_depth": ("cell", depth_of_cell), "image": np.arange(n_images), "half": [0, 1],
                    "experiment": [r.experiment_id for _, r, _, _, _ in items]},
            attrs={"group": group, "area": row0["area"], "cre_line": row0["cre_line"], "depth_layer": row0["depth_layer"],
                   "units": "dF/F, mean over the presentation window, averaged over trials",
                   "reliability": "split-half (random halves of each image's trials) Pearson across images, Spearman-Brown corrected",
                   "response_lag_frames": int(lag_frames), "seed": int(seed), "source": source},
        )
        write_netcdf(ds, out / f"{group}.nc")
        index.append({"group": group, "area": row0["area"], "cre_line": row0["cre_line"],
                      "depth_layer": row0["depth_layer"], "n_cells": len(cells), "n_experiments": len(items),
                      "median_reliability": float(np.nanmedian(ds["reliability"].values)), "file": f"{group}.nc"})
    idx = pd.DataFrame(index)
    write_tsv(idx, out / "index.tsv")
    st = xr.Dataset({"template": (("image", "row", "col"), np.asarray(template, np.uint8))},
                    attrs={"stimulus": "natural_scenes", "source": source, "read_from": "get_stimulus_template of experiment "
                           f"{int(experiments['experiment_id'].iloc[0])}"})
    write_netcdf(st, stimuli_path)
    return idx


def cnn_rsms(stimuli_path: str, model_path: str, warp: bool, batch_size: int, device,
             memory_limit_gb: float | None = None) -> xr.Dataset:
    """RSM of every conv/pool layer of the model for the natural scenes as the mouse saw them.

    With ``memory_limit_gb``, the activations of the largest layer for all images (held at
    once, twice: the layer and its centred copy) are estimated first from one image, and
    the step stops with advice when they would not fit.
    """
    from neurorepro.mouse_vs_cnn.cnn import largest_layer_size, layer_rsms, load_model
    from neurorepro.runtime import check_memory

    model, meta = load_model(model_path, device)
    template = xr.open_dataset(stimuli_path)["template"].values
    x = _cnn_inputs(template, meta["input_size"], warp)
    if memory_limit_gb is not None:
        per_image = largest_layer_size(model, x, device)
        check_memory(2 * 4 * per_image * x.shape[0], memory_limit_gb,
                     what=f"CNN features of {x.shape[0]} images ({meta['arch']}, {meta['input_size']} px)",
                     hint="lower mouse_vs_cnn.cnn.input_size or run on a machine with more memory")
    names, mats = layer_rsms(model, x, batch_size, device)
    return xr.Dataset({"rsm": (("layer", "image", "image_b"), mats)},
                      coords={"layer": names, "image": np.arange(mats.shape[1]), "image_b": np.arange(mats.shape[1])},
                      attrs={"weights": meta["weights"], "arch": meta["arch"], "input_size": meta["input_size"],
                             "test_accuracy": float(meta.get("test_accuracy") or np.nan), "warp": int(warp),
                             "measure": "Pearson correlation between images across units"})


def compare(response_dir: str, rsm_paths: dict[str, str], seed: int, method: str, n_permutations: int,
            min_reliability: float | None, fractions: Sequence[float], n_repeats: int, primary: str):
    """SSM table (every group × weights × layer), best layers, and the stability table."""
    from neurorepro.mouse_vs_cnn.analysis import best_layers, compare_group, group_from_dataset, pool_by_area, stability

    rng = np.random.default_rng(seed)
    index = pd.read_csv(Path(response_dir) / "index.tsv", sep="\t")
    groups = []
    for f in index["file"]:
        with xr.open_dataset(Path(response_dir) / f) as ds:
            groups.append(group_from_dataset(ds.load(), min_reliability))
    groups = [g for g in groups if g.n_cells >= 2]
    pooled = pool_by_area(groups)
    tables, stab = [], []
    for weights, path in rsm_paths.items():
        with xr.open_dataset(path) as r:
            mats, names = r["rsm"].values, [str(v) for v in r["layer"].values]
        for g in pooled + groups:
            t = compare_group(g, mats, names, rng, n_permutations, method)
            t.insert(0, "weights", weights)
            tables.append(t)
        if weights == primary:
            for g in pooled:
                stab.append(stability(g, mats, names, list(fractions), n_repeats, rng, method))
    ssm = pd.concat(tables, ignore_index=True)
    return ssm, best_layers(ssm), pd.concat(stab, ignore_index=True)


def build_claims(best: pd.DataFrame, primary: str, source: str, scale: str, planted: dict[str, str] | None):
    """The paper's claims as measured here."""
    from neurorepro.claims import Claim
    from neurorepro.mouse_vs_cnn.analysis import hierarchy_gap

    claims = []
    b = best[(best["weights"] == primary)]
    area_best = b[b["cre_line"] == "all"]
    gap = hierarchy_gap(area_best)
    claims.append(Claim(
        target="mouse_vs_cnn",
        claim="VISp's representation best matches an earlier CNN layer than the higher visual areas' "
              "(best-layer index of VISp minus the mean over higher areas < 0)",
        measured=gap["gap"], comparison="<", expected=0.0, scale=scale, source=source,
        details={"weights": primary, "VISp_best_layer_index": gap["primary"], "higher_areas_best_layer_index": gap["higher"],
                 "best_layer": dict(zip(area_best["area"], area_best["layer"])),
                 "best_ssm_by_weights": {str(w): {str(a): round(float(v), 4) for a, v in zip(g["area"], g["ssm"])}
                                         for w, g in best[best["cre_line"] == "all"].groupby("weights")
                                         if "ssm" in g}},
        # on embedded data the planted area -> layer map decides this: a recovery, not a finding
        kind="recovery" if source == "embedded" else "finding", paper_ref="Fig. 4",
    ))
    if source == "embedded" and planted:
        fine = b[b["cre_line"] != "all"]
        hit_area = [r["layer"] == planted.get(r["area"]) for _, r in area_best.iterrows()]
        hit_fine = [r["layer"] == planted.get(r["area"]) for _, r in fine.iterrows()]
        claims.append(Claim(
            target="mouse_vs_cnn",
            claim="On embedded data the planted area -> CNN layer mapping is recovered (fraction of areas whose "
                  "best-matching layer is the planted one)",
            measured=float(np.mean(hit_area)) if hit_area else float("nan"), comparison=">=", expected=1.0,
            scale=scale, source=source,
            details={"planted": planted, "recovered": dict(zip(area_best["area"], area_best["layer"])),
                     "fraction_of_area_cre_depth_groups": float(np.mean(hit_fine)) if hit_fine else float("nan"),
                     "n_groups": len(hit_fine)},
            kind="recovery",
        ))
    return claims


def load_planted(cache_dir: str | None) -> dict[str, str] | None:
    """The planted area → layer map written beside an embedded cache (None for real data)."""
    if not cache_dir:
        return None
    p = Path(cache_dir) / "embedded_ground_truth.json"
    return json.loads(p.read_text()).get("planted_layers") if p.exists() else None
