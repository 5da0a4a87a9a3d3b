"""Allen Mouse Connectivity Atlas data through allensdk's MouseConnectivityCache.

The same code reads the embedded cache (``source: embedded``) and the real one
(``source: allen``): :func:`open_cache` builds the allensdk cache on a folder, and
:func:`build_connectivity_data` turns its experiments into the regression problem of
Harris et al. 2016 (X, Y, Ω) as a labelled xarray Dataset.

Construction (following the paper and the authors' ``voxnet.matrices.generate_voxel_matrices``):
source and target voxels are the voxels of the configured areas (structure masks from the
annotation volume, descendants included) in one hemisphere (ipsilateral); contralateral
targets are the same areas' voxels in the other hemisphere (a second, labelled output).
The experiments are those of allensdk's structure query
``get_experiments(cre=<cre>, injection_structure_ids=<source area ids>)`` (``cre=False``:
wild-type only, as every setup of the authors). An experiment is kept when its
injection centroid lies in the chosen hemisphere, its injection volume (injection
fraction summed over the injection mask, times the voxel volume: the authors' definition)
is below the cap, at least ``min_injection_fraction_in_source`` of its injection fraction
(over the injection mask: injection fraction above ``injection_site_min_fraction`` where
the data are valid) lies inside the source areas, and its data mask covers at least
``min_data_coverage`` of the target voxels. X holds injection density inside the
injection site; Y holds projection density; Ω is 1 where an entry counts in the loss:
outside the injection site, inside the valid data mask, and not an error code (negative
values of the grid service). How many experiments the experiments table holds, the
structure query returned, the Cre filter kept and each filter dropped is recorded in
the Dataset's attrs (provenance).
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import xarray as xr

from neurorepro.allen.download import (
    DownloadStats, RetryPolicy, UrlRecorder, fetch_verified, verify_json_table, verify_nrrd,
)

log = logging.getLogger(__name__)

MANIFEST_NAME = "mouse_connectivity_manifest.json"
VOLUME_KINDS = ("injection_density", "injection_fraction", "projection_density", "data_mask")


class AllenCacheError(RuntimeError):
    """A file of the Allen cache is missing, unreadable or inconsistent (names the file)."""


@dataclass
class ConnectivitySelection:
    """Which voxels and experiments enter the regression (the paper's filters).

    Parameters
    ----------
    source_areas, target_areas : structure acronyms (descendants included).
    hemisphere : "right" or "left" (ML index above/below the midline); sources, targets
        and injection centroids are restricted to it (ipsilateral).
    min_injection_fraction_in_source : keep an experiment when at least this share of its
        injected signal lies inside the source voxels (paper: 0.95).
    max_injection_volume_mm3 : keep an experiment whose metadata injection volume is below.
    injection_site_min_fraction : a voxel is in the injection site when its injection
        fraction exceeds this value.
    data_mask_threshold : voxels with data mask below this are invalid (paper: 0.5).
    min_data_coverage : drop an experiment whose valid data covers less than this share
        of the target voxels.
    cre : allensdk's ``cre`` argument of the experiment query: False = wild-type only
        (the authors'), True = Cre lines only, None = all, or a list of Cre-line names.
    contralateral : also build the contralateral targets (``Y_contra``, ``Omega_contra``).
    """

    source_areas: list[str]
    target_areas: list[str]
    hemisphere: str = "right"
    min_injection_fraction_in_source: float = 0.95
    max_injection_volume_mm3: float = 0.7
    injection_site_min_fraction: float = 0.0
    data_mask_threshold: float = 0.5
    min_data_coverage: float = 0.5
    cre: bool | list[str] | None = False
    contralateral: bool = True
    notes: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.hemisphere not in ("right", "left"):
            raise ValueError(f"connectivity.hemisphere must be 'right' or 'left', got {self.hemisphere!r}")
        if not self.source_areas or not self.target_areas:
            raise ValueError("connectivity.source_areas and connectivity.target_areas must not be empty")
        for name in ("min_injection_fraction_in_source", "data_mask_threshold", "min_data_coverage"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"connectivity.{name} must lie in [0, 1], got {v}")


def open_cache(
    root: str | Path,
    resolution: int,
    *,
    offline: bool,
    base_uri: str | None = None,
    download_url: str | None = None,
):
    """Build allensdk's MouseConnectivityCache on ``root`` (manifest ``root/mouse_connectivity_manifest.json``).

    With ``offline=True`` (the embedded cache) the manifest must already exist: allensdk
    would otherwise write a fresh one and download every missing file. ``base_uri``
    replaces the API server (allensdk's supported ``base_uri`` argument: RMA queries and
    grid data); ``download_url`` replaces the informatics archive that serves the
    annotation volume (allensdk builds that address from ``Api.download_url``).
    """
    from allensdk.core.mouse_connectivity_cache import MouseConnectivityCache

    manifest = Path(root) / MANIFEST_NAME
    if offline and not manifest.exists():
        raise AllenCacheError(f"{manifest}: no Allen connectivity manifest (was the embedded cache written?)")
    Path(root).mkdir(parents=True, exist_ok=True)
    cache = MouseConnectivityCache(manifest_file=str(manifest), resolution=int(resolution), base_uri=base_uri)
    if download_url:
        cache.api.informatics_archive_endpoint = download_url.rstrip("/") + "/informatics-archive"
    return cache


def _cache_path(cache, kind: str, *args) -> Path:
    key = {
        "injection_density": cache.INJECTION_DENSITY_KEY,
        "injection_fraction": cache.INJECTION_FRACTION_KEY,
        "projection_density": cache.PROJECTION_DENSITY_KEY,
        "data_mask": cache.DATA_MASK_KEY,
        "annotation": cache.ANNOTATION_KEY,
        "structures": cache.STRUCTURE_TREE_KEY,
        "experiments": cache.EXPERIMENTS_KEY,
    }[kind]
    return Path(cache.get_cache_path(None, key, *args))


def read_volume(cache, kind: str, experiment_id: int, *, offline: bool) -> np.ndarray:
    """Read one experiment's grid volume through allensdk, naming the file on failure."""
    path = _cache_path(cache, kind, experiment_id, cache.resolution)
    if offline and not path.exists():
        raise AllenCacheError(f"{path}: missing {kind} volume of experiment {experiment_id} in an offline cache")
    try:
        volume, _ = getattr(cache, f"get_{kind}")(experiment_id)
    except Exception as err:  # nrrd raises several types on truncated/corrupt files
        raise AllenCacheError(f"{path}: cannot read {kind} of experiment {experiment_id}: {err}") from err
    return np.asarray(volume)


def read_annotation(cache, *, offline: bool):
    """Annotation volume and reference space (structure tree + annotation) via allensdk."""
    for kind, args in (("annotation", (cache.reference_space_key, cache.resolution)), ("structures", ())):
        path = _cache_path(cache, kind, *args)
        if offline and not path.exists():
            raise AllenCacheError(f"{path}: missing {kind} file in an offline cache")
    path = _cache_path(cache, "annotation", cache.reference_space_key, cache.resolution)
    try:
        rsp = cache.get_reference_space()
    except Exception as err:
        raise AllenCacheError(f"{path} (or structures.json beside it): cannot build the reference space: {err}") from err
    return rsp


def area_masks(rsp, acronyms: Iterable[str]) -> dict[str, np.ndarray]:
    """Boolean mask per area acronym (the area's own voxels and its descendants')."""
    tree = rsp.structure_tree
    masks = {}
    for acronym in acronyms:
        masks[acronym] = rsp.make_structure_mask([structure_id(tree, acronym)]).astype(bool)
    return masks


def structure_id(tree, acronym: str) -> int:
    """Id of the structure ``acronym`` in allensdk's StructureTree, with a clear error."""
    try:
        found = tree.get_structures_by_acronym([acronym])
    except KeyError:
        found = []
    if not found or found[0] is None:
        raise AllenCacheError(
            f"structure tree has no area {acronym!r} (check connectivity.source_areas/target_areas)")
    return int(found[0]["id"])


def _voxel_table(masks: dict[str, np.ndarray], hemi: np.ndarray):
    """Flat indices (C order) and area label of every voxel of the union of ``masks`` in ``hemi``."""
    label = np.full(hemi.shape, "", dtype=object)
    for acronym, mask in masks.items():
        label[mask & hemi & (label == "")] = acronym
    flat = np.flatnonzero((label != "").ravel())
    return flat, label.ravel()[flat].astype(str)


def hemisphere_mask(shape: tuple[int, int, int], hemisphere: str) -> np.ndarray:
    """Voxels of one hemisphere: the CCF's ML axis (last) runs left → right."""
    ml = np.arange(shape[2])
    side = ml >= shape[2] // 2 if hemisphere == "right" else ml < shape[2] // 2
    return np.broadcast_to(side[None, None, :], shape)


def build_connectivity_data(
    cache,
    selection: ConnectivitySelection,
    *,
    offline: bool,
    progress: bool = True,
) -> xr.Dataset:
    """Read the cache through allensdk and build X, Y, Ω as a labelled Dataset.

    ``offline`` makes missing files an error (embedded cache) instead of a download.
    The Dataset's attrs list every experiment dropped and why.
    """
    from tqdm import tqdm

    rsp = read_annotation(cache, offline=offline)
    shape = rsp.annotation.shape
    hemi = hemisphere_mask(shape, selection.hemisphere)
    src_masks = area_masks(rsp, selection.source_areas)
    tgt_masks = area_masks(rsp, selection.target_areas)
    src_flat, src_area = _voxel_table(src_masks, hemi)
    tgt_flat, tgt_area = _voxel_table(tgt_masks, hemi)
    if src_flat.size == 0 or tgt_flat.size == 0:
        raise AllenCacheError(f"no source or target voxels for areas {selection.source_areas} in the {selection.hemisphere} hemisphere")

    other = ~hemi
    ctgt_flat, ctgt_area = _voxel_table(tgt_masks, other) if selection.contralateral else (np.zeros(0, int), np.zeros(0, str))

    src_ids = [structure_id(rsp.structure_tree, a) for a in selection.source_areas]
    experiments, counts = query_experiments(cache, src_ids, selection.cre, offline=offline)
    log.info("experiments table: %d; structure query (injection_structure_ids=%s): %d; after cre=%r: %d",
             counts["n_experiments_table"], src_ids, counts["n_experiments_structure_query"], selection.cre,
             counts["n_experiments_query"])

    dropped: dict[str, list[int]] = {"injection_volume": [], "hemisphere": [], "fraction_in_source": [], "data_coverage": []}
    kept_ids, xs, ys, sites, omegas, fractions, volumes = [], [], [], [], [], [], []
    ys_c, omegas_c = [], []
    voxel_mm3 = (cache.resolution / 1000.0) ** 3
    for exp in tqdm(experiments, desc="experiments", disable=not progress, mininterval=2.0):
        eid = int(exp["id"])
        vols = {k: read_volume(cache, k, eid, offline=offline) for k in VOLUME_KINDS}
        for k, v in vols.items():
            if v.shape != shape:
                path = _cache_path(cache, k, eid, cache.resolution)
                raise AllenCacheError(f"{path}: volume shape {v.shape} differs from the annotation's {shape}")
        inj_d = np.clip(vols["injection_density"], 0.0, None)
        inj_f = np.clip(vols["injection_fraction"], 0.0, None)
        centroid = cache.api.calculate_injection_centroid(inj_d, inj_f, resolution=1)
        if centroid is None or not hemi[tuple(np.clip(np.round(centroid).astype(int), 0, np.array(shape) - 1))]:
            dropped["hemisphere"].append(eid)
            continue
        # the authors' injection mask: injection fraction above threshold where the data are valid
        inj_mask = ((inj_f > selection.injection_site_min_fraction)
                    & (vols["data_mask"] >= selection.data_mask_threshold)).ravel()
        frac = inj_f.ravel() * inj_mask
        volume_mm3 = float(frac.sum() * voxel_mm3)
        if volume_mm3 >= selection.max_injection_volume_mm3:
            dropped["injection_volume"].append(eid)
            continue
        frac_in = float(frac[src_flat].sum() / max(frac.sum(), 1e-300))
        if frac_in < selection.min_injection_fraction_in_source:
            dropped["fraction_in_source"].append(eid)
            continue
        proj = vols["projection_density"].ravel()
        valid = (vols["data_mask"].ravel() >= selection.data_mask_threshold) & (proj >= 0)
        coverage = float(valid[tgt_flat].mean())
        if coverage < selection.min_data_coverage:
            dropped["data_coverage"].append(eid)
            continue
        site = (inj_f.ravel() > selection.injection_site_min_fraction) & (inj_d.ravel() > 0)
        kept_ids.append(eid)
        fractions.append(frac_in)
        volumes.append(volume_mm3)
        xs.append(np.where(site[src_flat], inj_d.ravel()[src_flat], 0.0))
        ys.append(np.where(valid[tgt_flat], proj[tgt_flat], 0.0))
        sites.append(site[tgt_flat])
        omegas.append(valid[tgt_flat] & ~site[tgt_flat])
        if selection.contralateral:
            ys_c.append(np.where(valid[ctgt_flat], proj[ctgt_flat], 0.0))
            omegas_c.append(valid[ctgt_flat] & ~site[ctgt_flat])
        log.info("experiment %d kept: %.3f of injection in source areas, %.4f mm3, %.3f data coverage",
                 eid, frac_in, volume_mm3, coverage)
    if not kept_ids:
        raise AllenCacheError(f"no experiment passed the filters (dropped: {dropped}; {counts})")
    counts["n_experiments_kept"] = len(kept_ids)
    log.info("kept %d of the %d experiments the query returned (dropped: %s)", len(kept_ids),
             counts["n_experiments_query"], {k: len(v) for k, v in dropped.items()})

    def coords_of(flat: np.ndarray) -> np.ndarray:
        return np.array(np.unravel_index(flat, shape)).T.astype(np.int32)

    ds = xr.Dataset(
        {
            "X": (("source_voxel", "injection"), np.stack(xs, 1).astype(np.float64)),
            "Y": (("target_voxel", "injection"), np.stack(ys, 1).astype(np.float64)),
            "Omega": (("target_voxel", "injection"), np.stack(omegas, 1).astype(np.int8)),
            "injection_site": (("target_voxel", "injection"), np.stack(sites, 1).astype(np.int8)),
            "injection_fraction_in_source": (("injection",), np.array(fractions)),
            "injection_volume_mm3": (("injection",), np.array(volumes)),
        },
        coords={
            "experiment_id": ("injection", np.array(kept_ids, dtype=np.int64)),
            "axis": ["AP", "DV", "ML"],
            "source_coord": (("source_voxel", "axis"), coords_of(src_flat)),
            "target_coord": (("target_voxel", "axis"), coords_of(tgt_flat)),
            "source_flat_index": ("source_voxel", src_flat.astype(np.int64)),
            "target_flat_index": ("target_voxel", tgt_flat.astype(np.int64)),
            "source_area": ("source_voxel", src_area),
            "target_area": ("target_voxel", tgt_area),
        },
        attrs={
            "resolution_um": int(cache.resolution),
            "voxel_volume_mm3": voxel_mm3,
            "volume_shape": list(shape),
            "n_experiments_considered": len(experiments),
            **counts,
            "cre_query": repr(selection.cre),
            **{f"dropped_{k}": list(v) for k, v in dropped.items()},
            "selection": repr(asdict(selection)),
            "X": "injection density inside the injection site (injection fraction > injection_site_min_fraction), 0 elsewhere",
            "Y": "projection density where valid, 0 where the data mask or an error code marks the voxel invalid",
            "Omega": "1 = entry counts in the loss (outside the injection site, valid data); 0 = excluded",
            "convention": "Y ~ W X with W (target_voxel x source_voxel), W >= 0",
        },
    )
    if selection.contralateral and ctgt_flat.size:
        ds["Y_contra"] = (("contra_target_voxel", "injection"), np.stack(ys_c, 1).astype(np.float64))
        ds["Omega_contra"] = (("contra_target_voxel", "injection"), np.stack(omegas_c, 1).astype(np.int8))
        ds = ds.assign_coords(
            contra_target_coord=(("contra_target_voxel", "axis"), coords_of(ctgt_flat)),
            contra_target_flat_index=("contra_target_voxel", ctgt_flat.astype(np.int64)),
            contra_target_area=("contra_target_voxel", ctgt_area),
        )
        ds["Y_contra"].attrs.update(units="projection density (fraction of projecting pixels per voxel)",
                                    hemisphere="contralateral",
                                    description="projection density in the target areas of the other hemisphere")
        ds["Omega_contra"].attrs["hemisphere"] = "contralateral"
    ds["Y"].attrs["hemisphere"] = "ipsilateral"
    ds["X"].attrs["units"] = "injection density (fraction of injected pixels per voxel)"
    ds["Y"].attrs["units"] = "projection density (fraction of projecting pixels per voxel)"
    return ds


def query_experiments(cache, source_ids: list[int], cre, *, offline: bool) -> tuple[list[dict], dict]:
    """allensdk's structure query ``get_experiments(cre=cre, injection_structure_ids=source_ids)``.

    Returns the experiments (sorted by id) and the counts that provenance records: the
    experiments table, what the structure query returned (any Cre status) and what it
    returned with ``cre``.
    """
    exp_path = _cache_path(cache, "experiments")
    if offline and not exp_path.exists():
        raise AllenCacheError(f"{exp_path}: missing experiments table in an offline cache")
    try:
        table = cache.get_experiments()
        by_structure = cache.get_experiments(injection_structure_ids=source_ids)
        experiments = cache.get_experiments(cre=cre, injection_structure_ids=source_ids)
    except Exception as err:
        raise AllenCacheError(f"{exp_path}: cannot read the experiments table: {err}") from err
    experiments = sorted(experiments, key=lambda e: e["id"])
    left_out = sorted({int(e["id"]) for e in by_structure} - {int(e["id"]) for e in experiments})
    counts = {"n_experiments_table": len(table), "n_experiments_structure_query": len(by_structure),
              "n_experiments_query": len(experiments), "dropped_cre": left_out}
    return experiments, counts


def attach_truth(ds: xr.Dataset, truth: xr.Dataset) -> xr.Dataset:
    """Add the planted ``W_true`` restricted to the Dataset's target × source voxels (and
    ``W_true_contra`` for the contralateral targets when the Dataset has them)."""
    tpos = {int(f): i for i, f in enumerate(truth["target_flat_index"].values)}
    spos = {int(f): i for i, f in enumerate(truth["source_flat_index"].values)}
    ds = ds.copy()
    pairs = [("W_true", "target_flat_index", "target_voxel", "ipsilateral")]
    if "contra_target_flat_index" in ds.coords:
        pairs.append(("W_true_contra", "contra_target_flat_index", "contra_target_voxel", "contralateral"))
    try:
        si = [spos[int(f)] for f in ds["source_flat_index"].values]
        for name, flat, dim, side in pairs:
            ti = [tpos[int(f)] for f in ds[flat].values]
            ds[name] = ((dim, "source_voxel"), truth["W_true"].values[np.ix_(ti, si)])
            ds[name].attrs.update(description="planted connectivity of the embedded cache (ground truth)",
                                  hemisphere=side)
    except KeyError as err:
        raise AllenCacheError(f"W_true.nc has no voxel with flat index {err}: it does not match the cache") from err
    return ds


def read_truth(cache_dir: str | Path, *, key: str = "resources_dir") -> xr.Dataset:
    """The planted ``W_true.nc`` beside an embedded cache, with an error that names the file
    and the config key to fix when it is missing (another ``resources_dir``, a user's cache)."""
    path = Path(cache_dir) / "W_true.nc"
    if not path.exists():
        raise AllenCacheError(
            f"{path}: source: embedded needs the planted truth W_true.nc beside the cache, and {Path(cache_dir)} "
            f"has none. The embedded cache is written by rule connectivity_embedded_cache under "
            f"<{key}>/embedded/connectivity: delete that folder so it is rewritten, or check `{key}` "
            f"(a cache without W_true, e.g. one named by connectivity.cache_manifest, needs source: allen)")
    with xr.open_dataset(path) as t:
        return t.load()


#: (AP, DV, ML) shape of the CCF 2017 volumes at each grid resolution (µm).
CCF_SHAPES = {10: (1320, 800, 1140), 25: (528, 320, 456), 50: (264, 160, 228), 100: (132, 80, 114)}


def download_plan(n_experiments: int, resolution: int, *, annotation: bool = True) -> dict:
    """What a download of ``n_experiments`` experiments fetches: files and an upper bound of
    the bytes (float32 volumes before gzip; the served files are compressed and smaller)."""
    shape = CCF_SHAPES.get(int(resolution))
    n_vox = int(np.prod(shape)) if shape else None
    per_volume = 4 * n_vox if n_vox else None
    files = len(VOLUME_KINDS) * n_experiments + (1 if annotation else 0)
    gb = per_volume * files / 1e9 if per_volume else float("nan")
    return {"n_experiments": n_experiments, "volumes_per_experiment": len(VOLUME_KINDS), "files": files,
            "grid_shape": list(shape) if shape else None, "grid_voxels": n_vox, "gb_upper_bound": gb}


def download_connectivity(
    cache,
    selection: ConnectivitySelection,
    *,
    policy: RetryPolicy | None = None,
    progress: bool = True,
    keep_broken: bool = False,
    announce=None,
) -> tuple[list[int], dict]:
    """Download (through allensdk) and verify everything :func:`build_connectivity_data` reads.

    The allensdk calls, in order: ``get_structure_tree()``, then the structure query
    ``get_experiments(cre=<selection.cre>, injection_structure_ids=<source area ids>)``
    (both small JSON tables); then, before any volume is fetched, the plan is announced
    (``announce``, default the log: experiments, files, GB, the counts of the query);
    then ``get_annotation_volume()`` (after which the source/target voxel counts are
    announced) and for each experiment ``get_injection_density``,
    ``get_injection_fraction``, ``get_projection_density`` and ``get_data_mask``
    (allensdk's ``lazy`` strategy: existing files are read, missing ones fetched). Each file
    is verified after its call and fetched again (with backoff) when broken; see
    :mod:`neurorepro.allen.download` (``keep_broken``: a user's cache, broken files are
    moved aside, never deleted). Returns the experiment ids and the download counts.
    """
    from tqdm import tqdm

    policy = policy or RetryPolicy()
    say = announce or log.info
    stats = DownloadStats()
    url = UrlRecorder(cache.api)
    kw = dict(policy=policy, stats=stats, keep_broken=keep_broken)
    ontology_url = f"the structure ontology query at {cache.api.api_url}"
    tree = fetch_verified(cache.get_structure_tree, _cache_path(cache, "structures"), verify_json_table,
                          url=ontology_url, **kw)
    ids = [structure_id(tree, acronym) for acronym in selection.source_areas]
    fetch_verified(lambda: cache.get_experiments(injection_structure_ids=ids),
                   _cache_path(cache, "experiments"), verify_json_table, url=url, **kw)
    experiments, counts = query_experiments(cache, ids, selection.cre, offline=False)
    exp_ids = sorted(int(e["id"]) for e in experiments)
    plan = {**download_plan(len(exp_ids), cache.resolution), **counts}
    say(f"download plan: {plan['n_experiments']} experiments (structure query returned "
        f"{counts['n_experiments_structure_query']} of the {counts['n_experiments_table']} in the table; "
        f"cre={selection.cre!r} kept {counts['n_experiments_query']}), {plan['files']} volume files on a "
        f"{plan['grid_shape']} grid, at most {plan['gb_upper_bound']:.2f} GB (float32 before gzip)")
    fetch_verified(cache.get_annotation_volume,
                   _cache_path(cache, "annotation", cache.reference_space_key, cache.resolution),
                   verify_nrrd, url=url, **kw)
    rsp = cache.get_reference_space()
    hemi = hemisphere_mask(rsp.annotation.shape, selection.hemisphere)
    tgt = area_masks(rsp, selection.target_areas)
    n_src = int(_voxel_table(area_masks(rsp, selection.source_areas), hemi)[0].size)
    n_tgt = int(_voxel_table(tgt, hemi)[0].size)
    n_con = int(_voxel_table(tgt, ~hemi)[0].size) if selection.contralateral else 0
    plan.update(n_source_voxels=n_src, n_target_voxels=n_tgt, n_contra_target_voxels=n_con)
    say(f"voxels: {n_src} source x {n_tgt} ipsilateral target ({n_con} contralateral target) voxels; "
        f"a full-rank W is {8 * n_src * n_tgt / 1e9:.2f} GB in float64")
    for eid in tqdm(exp_ids, desc="download experiments", disable=not progress):
        for kind in VOLUME_KINDS:
            fetch_verified(lambda: getattr(cache, f"get_{kind}")(eid),
                           _cache_path(cache, kind, eid, cache.resolution), verify_nrrd, url=url, **kw)
    return exp_ids, {**stats.as_dict(), "plan": plan}
