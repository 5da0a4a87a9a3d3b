"""Allen Brain Observatory (Visual Coding 2P) through allensdk's BrainObservatoryCache.

The same functions read the embedded cache (``source: embedded``) and the real data
(``source: allen``): everything goes through allensdk (``BrainObservatoryCache``,
``BrainObservatoryNwbDataSet``). The only allensdk call avoided is
``BrainObservatoryCache.get_ophys_experiments``: in allensdk 2.16.2 it always sends an
uncached warehouse query for eye-tracking files (to set ``fail_eye_tracking``), even when
``ophys_experiments.json`` is cached, so it cannot run offline. :func:`ophys_experiments`
reads the same cached JSON with the same allensdk reader and filter and skips only that
eye-tracking query, whose flag this pipeline does not use.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import h5py
import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

NATURAL_SCENES = "natural_scenes"
NATURAL_SCENES_SESSION = "three_session_B"
EPILEPTIFORM_TAG = "Epileptiform Events"
PIPELINE = "processing/brain_observatory_pipeline"
DFF_PATH = f"{PIPELINE}/DfOverF/imaging_plane_1"
CELL_IDS_PATH = f"{PIPELINE}/ImageSegmentation/cell_specimen_ids"
TEMPLATE_PATH = "stimulus/templates/natural_scenes_image_stack/data"
REQUIRED_NWB_PATHS = (
    f"{DFF_PATH}/data",
    f"{DFF_PATH}/timestamps",
    CELL_IDS_PATH,
    TEMPLATE_PATH,
    "general/session_type",
)
# Depth bins of the Brain Observatory imaging planes (µm below pia) -> cortical layer.
DEPTH_LAYER_BINS = ((250, "L23"), (360, "L4"), (500, "L5"), (np.inf, "L6"))


class CorruptNWBError(OSError):
    """An NWB file that cannot be opened or lacks a dataset the analysis reads."""


def depth_layer(imaging_depth_um: float) -> str:
    """Cortical layer of an imaging depth: <250 µm L23, <360 L4, <500 L5, else L6.

    (Brain Observatory planes: 175 µm L2/3; 265-350 µm L4; 365-375 µm L5; 550-625 µm L6.)
    """
    d = float(imaging_depth_um)
    if not np.isfinite(d) or d < 0:
        raise ValueError(f"imaging depth must be a non-negative number of µm, got {imaging_depth_um!r}")
    for upper, name in DEPTH_LAYER_BINS:
        if d < upper:
            return name
    raise AssertionError("unreachable")


def group_name(area: str, cre_line: str, layer: str) -> str:
    """File-name-safe label of a neural group, e.g. ``VISp_Cux2-CreERT2_L23``."""
    safe = lambda s: "".join(c if c.isalnum() or c in "-." else "-" for c in str(s))  # noqa: E731
    return f"{safe(area)}_{safe(cre_line)}_{safe(layer)}"


def open_cache(manifest_path: str | os.PathLike):
    """A ``BrainObservatoryCache`` on ``manifest_path`` (created by allensdk if missing)."""
    from allensdk.core.brain_observatory_cache import BrainObservatoryCache

    manifest_path = Path(manifest_path)
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    return BrainObservatoryCache(manifest_file=str(manifest_path))


def ophys_experiments(boc, **filters) -> list[dict]:
    """Ophys experiments from the cache's ``ophys_experiments.json`` (downloaded lazily).

    Same reader and filter as ``BrainObservatoryCache.get_ophys_experiments`` (keyword
    ``filters`` are passed to ``BrainObservatoryApi.filter_ophys_experiments``), minus its
    uncached eye-tracking warehouse query (see the module docstring).
    """
    from allensdk.api.warehouse_cache.cache import Cache

    path = boc.get_cache_path(None, boc.EXPERIMENTS_KEY)
    exps = boc.api.get_ophys_experiments(path=path, strategy="lazy", **Cache.cache_json())
    filters.setdefault("simple", True)
    return boc.api.filter_ophys_experiments(exps, **filters)


def select_experiments(
    boc,
    areas: Sequence[str],
    cre_lines: Sequence[str] | None = None,
    imaging_depths: Sequence[int] | None = None,
    max_containers_per_group: int | None = None,
    skip_epileptiform: bool = True,
    session_type: str = NATURAL_SCENES_SESSION,
) -> pd.DataFrame:
    """Natural-scenes experiments, one per experiment container, grouped by area × Cre × depth.

    Containers the Allen Institute marks as failed are left out by allensdk; those tagged
    ``Epileptiform Events`` are left out when ``skip_epileptiform``. Within each
    (area, Cre line, imaging depth) group the containers are taken in id order, at most
    ``max_containers_per_group`` of them. Returns one row per experiment.
    """
    containers = boc.get_experiment_containers(
        targeted_structures=list(areas),
        cre_lines=list(cre_lines) if cre_lines else None,
        imaging_depths=list(imaging_depths) if imaging_depths else None,
        simple=True,
    )
    rows = []
    for c in containers:
        if skip_epileptiform and EPILEPTIFORM_TAG in (c.get("tags") or []):
            log.info("skipping container %d (%s)", c["id"], EPILEPTIFORM_TAG)
            continue
        rows.append(c)
    cols = ["experiment_id", "experiment_container_id", "area", "cre_line", "reporter_line",
            "imaging_depth", "depth_layer", "group", "specimen_name"]
    if not rows:
        return pd.DataFrame(columns=cols)
    cont = pd.DataFrame(rows).sort_values("id")
    cont = cont.rename(columns={"id": "experiment_container_id", "targeted_structure": "area"})
    if max_containers_per_group is not None:
        cont = cont.groupby(["area", "cre_line", "imaging_depth"], sort=False).head(int(max_containers_per_group))
    exps = ophys_experiments(
        boc, experiment_container_ids=[int(i) for i in cont["experiment_container_id"]], session_types=[session_type]
    )
    if not exps:
        return pd.DataFrame(columns=cols)
    ex = pd.DataFrame(exps)[["id", "experiment_container_id"]].rename(columns={"id": "experiment_id"})
    df = ex.merge(cont, on="experiment_container_id", how="inner")
    df["depth_layer"] = [depth_layer(d) for d in df["imaging_depth"]]
    df["group"] = [group_name(a, c, l) for a, c, l in zip(df["area"], df["cre_line"], df["depth_layer"])]
    return df[cols].sort_values(["area", "cre_line", "imaging_depth", "experiment_id"]).reset_index(drop=True)


def verify_nwb(path: str | os.PathLike) -> None:
    """Check that ``path`` opens as HDF5 and holds what the analysis reads; else CorruptNWBError.

    Reads the last column of the dF/F data so that a truncated download is caught.
    """
    path = str(path)
    try:
        with h5py.File(path, "r") as f:
            missing = [p for p in REQUIRED_NWB_PATHS if p not in f]
            if missing:
                raise CorruptNWBError(f"{path}: NWB file lacks {missing}")
            if "stimulus/presentation" not in f or not any(
                k in f["stimulus/presentation"] for k in (NATURAL_SCENES, NATURAL_SCENES + "_stimulus")
            ):
                raise CorruptNWBError(f"{path}: NWB file has no natural_scenes presentation")
            data = f[f"{DFF_PATH}/data"]
            if data.ndim != 2 or data.shape[1] == 0:
                raise CorruptNWBError(f"{path}: dF/F data has shape {data.shape}")
            np.asarray(data[:, -1])
    except CorruptNWBError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError) as err:
        raise CorruptNWBError(f"{path}: cannot be read as an NWB (HDF5) file ({err})") from err


def ensure_nwb(boc, experiment_id: int, allow_download: bool, max_tries: int = 2) -> str:
    """Path of the experiment's NWB file, verified; download it (again) if allowed.

    A file that exists but does not verify (e.g. a partial download, a known allensdk
    trap) is deleted and downloaded again when ``allow_download``; otherwise a
    :class:`CorruptNWBError` naming the file is raised.
    """
    path = boc.get_cache_path(None, boc.EXPERIMENT_DATA_KEY, int(experiment_id))
    last_err: Exception | None = None
    for attempt in range(max_tries):
        if os.path.exists(path):
            try:
                verify_nwb(path)
                return path
            except CorruptNWBError as err:
                if not allow_download:
                    raise
                last_err = err
                log.warning("%s; deleting it and downloading again (try %d)", err, attempt + 1)
                os.remove(path)
        elif not allow_download:
            raise FileNotFoundError(f"{path}: NWB file of ophys experiment {experiment_id} is missing from the cache")
        try:
            boc.get_ophys_experiment_data(int(experiment_id))
        except (OSError, KeyError) as err:  # the file arrived broken: retry
            last_err = err
    if os.path.exists(path):
        verify_nwb(path)
        return path
    raise CorruptNWBError(f"{path}: could not obtain a readable NWB file ({last_err})")


@dataclass
class PresentationResponses:
    """Per-presentation mean dF/F of every cell of one experiment."""

    experiment_id: int
    cell_specimen_ids: np.ndarray  # (n_cells,)
    frame: np.ndarray  # (n_presentations,) image index, -1 = blank
    start: np.ndarray  # (n_presentations,) first 2P frame of the window
    end: np.ndarray  # (n_presentations,) 2P frame after the window
    responses: np.ndarray  # (n_presentations, n_cells)


def window_means(traces: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Mean of ``traces`` (cells × frames) over frames ``[start, end)`` per window: (windows × cells)."""
    traces = np.asarray(traces, dtype=np.float64)
    start = np.asarray(start, dtype=np.int64)
    end = np.asarray(end, dtype=np.int64)
    n_frames = traces.shape[1]
    if np.any(end <= start):
        raise ValueError("every response window needs end > start")
    if np.any(start < 0) or np.any(end > n_frames):
        raise ValueError(f"response windows reach outside the {n_frames} frames of the traces")
    csum = np.concatenate([np.zeros((traces.shape[0], 1)), np.cumsum(traces, axis=1)], axis=1)
    return ((csum[:, end] - csum[:, start]) / (end - start)).T


def natural_scene_responses(data_set, experiment_id: int, lag_frames: int = 0) -> PresentationResponses:
    """Mean dF/F of each cell in each natural-scene presentation window of ``data_set``.

    ``data_set`` is an allensdk ``BrainObservatoryNwbDataSet``. The window of a
    presentation is frames ``[start + lag, end + lag)`` of the stimulus table
    (``get_stimulus_table('natural_scenes')``) on the dF/F traces (``get_dff_traces``).
    """
    table = data_set.get_stimulus_table(NATURAL_SCENES)
    _, dff = data_set.get_dff_traces()
    cell_ids = np.asarray(data_set.get_cell_specimen_ids()).astype(np.int64)
    start = table["start"].to_numpy(np.int64) + int(lag_frames)
    end = table["end"].to_numpy(np.int64) + int(lag_frames)
    try:
        resp = window_means(dff, start, end)
    except ValueError as err:
        raise ValueError(f"{data_set.nwb_file}: {err}") from err
    return PresentationResponses(int(experiment_id), cell_ids, table["frame"].to_numpy(np.int64), start, end, resp)


TRIAL_STATISTICS = ("mean", "median")


def trial_average(
    responses: np.ndarray, frame: np.ndarray, n_images: int, rng: np.random.Generator, statistic: str = "mean"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Response per image over its trials, and the same over two random halves of the trials.

    ``responses``: (n_presentations, n_cells); ``frame``: image index per presentation
    (−1, the blank, is dropped). ``statistic``: ``mean`` or ``median`` over trials (Shi et
    al.'s code takes the median of the window-mean dF/F over trials). Returns ``mean``
    (n_cells, n_images; the chosen statistic), ``halves`` (2, n_cells, n_images) and
    ``n_trials`` (n_images,). Each image's trials are shuffled with ``rng`` and dealt
    alternately to the two halves.
    """
    if statistic not in TRIAL_STATISTICS:
        raise ValueError(f"trial statistic must be one of {TRIAL_STATISTICS}, got {statistic!r}")
    agg = np.mean if statistic == "mean" else np.median
    responses = np.asarray(responses, float)
    n_cells = responses.shape[1]
    mean = np.full((n_cells, n_images), np.nan)
    halves = np.full((2, n_cells, n_images), np.nan)
    n_trials = np.zeros(n_images, dtype=np.int64)
    for img in range(n_images):
        idx = np.flatnonzero(frame == img)
        n_trials[img] = idx.size
        if idx.size == 0:
            continue
        mean[:, img] = agg(responses[idx], axis=0)
        if idx.size >= 2:
            idx = rng.permutation(idx)
            halves[0, :, img] = agg(responses[idx[0::2]], axis=0)
            halves[1, :, img] = agg(responses[idx[1::2]], axis=0)
    return mean, halves, n_trials


def iter_experiment_responses(
    boc, experiment_ids: Iterable[int], lag_frames: int = 0
) -> Iterable[tuple[PresentationResponses, np.ndarray | None]]:
    """Stream (responses, template-or-None) per experiment, one NWB file open at a time.

    The natural-scene template is returned for the first experiment only (the stimulus
    set is the same in every three_session_B session).
    """
    first = True
    for eid in experiment_ids:
        ds = boc.get_ophys_experiment_data(int(eid))
        template = np.asarray(ds.get_stimulus_template(NATURAL_SCENES)) if first else None
        first = False
        yield natural_scene_responses(ds, int(eid), lag_frames), template


class DiskSpaceError(OSError):
    """The planned download does not fit the free disk space (or the configured quota)."""


def download_plan(n_files: int, gb_per_file: float, keep_nwb: bool, folder: str | os.PathLike,
                  quota_gb: float | None = None, extracted_gb_per_file: float = 0.01) -> dict:
    """Files and GB a download will transfer and hold at its peak, checked against the disk.

    With ``keep_nwb`` false each NWB is deleted once its responses are extracted, so the
    peak is one NWB plus the extracted NetCDFs; with ``keep_nwb`` true it is every NWB.
    The space available is the free space of ``folder``'s disk, or ``quota_gb`` when that
    is smaller. Raises :class:`DiskSpaceError` naming the config keys to change.
    """
    import shutil

    folder = Path(folder)
    probe = folder
    while not probe.exists():
        probe = probe.parent
    free_gb = shutil.disk_usage(probe).free / 1e9
    total_gb = n_files * float(gb_per_file)
    peak_gb = (total_gb if keep_nwb else min(n_files, 1) * float(gb_per_file)) + n_files * extracted_gb_per_file
    avail = free_gb if quota_gb is None else min(free_gb, float(quota_gb))
    plan = {"n_files": int(n_files), "gb_per_file": float(gb_per_file), "download_gb": round(total_gb, 3),
            "peak_disk_gb": round(peak_gb, 3), "free_gb": round(free_gb, 3), "quota_gb": quota_gb,
            "keep_nwb": bool(keep_nwb), "folder": str(folder)}
    if peak_gb > avail:
        what = f"the quota mouse_vs_cnn.download.disk_quota_gb={quota_gb}" if quota_gb is not None and quota_gb < free_gb \
            else f"the {free_gb:.1f} GB free on the disk of {folder}"
        raise DiskSpaceError(
            f"the Brain Observatory download needs {peak_gb:.1f} GB at its peak ({n_files} NWB files of about "
            f"{gb_per_file} GB = {total_gb:.1f} GB transferred, keep_nwb={keep_nwb}), more than {what}. Reduce "
            "mouse_vs_cnn.max_containers_per_group (or list fewer mouse_vs_cnn.cre_lines / imaging_depths / areas), "
            "set mouse_vs_cnn.download.keep_nwb: false, or free disk space.")
    return plan
