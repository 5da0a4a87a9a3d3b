"""Embedded Allen Brain Observatory cache: allensdk's on-disk formats with planted responses.

Writes, under one folder, exactly what ``BrainObservatoryCache`` and
``BrainObservatoryNwbDataSet`` (allensdk 2.16.2) read:

- ``manifest.json`` (written by allensdk's own ``build_manifest``; version string "1.3"),
- ``experiment_containers.json``, ``ophys_experiments.json``, ``cell_specimens.json``,
  ``stimulus_mappings.json`` (warehouse records with the fields allensdk's filters use),
- ``ophys_experiment_data/<id>.nwb``: HDF5 files with metadata as fixed-length byte
  strings, dF/F traces and timestamps under ``processing/brain_observatory_pipeline``,
  ``ImageSegmentation/cell_specimen_ids``, the ``natural_scenes_stimulus`` presentation
  (image index per presentation, −1 blank, ``frame_duration`` start/end 2P frames) and
  the ``natural_scenes_image_stack`` template (uint8).

Responses are planted: each cell's mean response to an image is a random readout of
given model features of that image (:func:`plant_responses`), and dF/F traces carry
trial-to-trial gain variability and per-frame noise (:func:`simulate_session`).
Nothing here knows about CNNs: the caller passes the features.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np

FRAME_RATE_HZ = 30.0
# Real driver -> reporter pairing in the Brain Observatory (GCaMP6f reporter Ai93 or Ai148).
REPORTER = "Ai93(TITL-GCaMP6f)"
STRUCTURE_IDS = {"VISp": 385, "VISl": 409, "VISal": 402, "VISam": 394, "VISpm": 533, "VISrl": 417}


@dataclass
class EmbeddedContainer:
    """One experiment container (one imaging plane) of the embedded cache."""

    container_id: int
    experiment_id: int
    area: str
    cre_line: str
    imaging_depth: int
    rates: np.ndarray  # (n_cells, n_images) planted mean dF/F per image
    failed: bool = False
    tags: list[str] = field(default_factory=list)  # donor conditions, e.g. "Epileptiform Events"
    session_type: str = "three_session_B"


def synthetic_natural_images(n_images: int, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Natural-like grey images (uint8, ``(n, H, W)``): 1/f amplitude spectra with random
    phases, plus a few random oriented edges and blobs so images differ in content."""
    h, w = shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    f[0, 0] = 1.0
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    out = np.empty((n_images, h, w), dtype=np.uint8)
    for k in range(n_images):
        alpha = rng.uniform(0.8, 1.6)
        spec = (rng.standard_normal((h, w)) + 1j * rng.standard_normal((h, w))) / f**alpha
        spec[0, 0] = 0
        img = np.real(np.fft.ifft2(spec))
        img = (img - img.mean()) / (img.std() + 1e-12)
        for _ in range(rng.integers(1, 4)):  # oriented edges
            theta = rng.uniform(0, np.pi)
            off = rng.uniform(0.2, 0.8)
            d = np.cos(theta) * xx + np.sin(theta) * yy - off
            img += rng.uniform(0.5, 1.5) * np.tanh(d * rng.uniform(20, 80))
        for _ in range(rng.integers(0, 3)):  # blobs
            cy, cx, r = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.2)
            img += rng.choice([-1, 1]) * 1.5 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r**2))
        img = (img - img.mean()) / (img.std() + 1e-12) * rng.uniform(35, 60) + 127
        out[k] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def plant_responses(
    features: np.ndarray,
    n_cells: int,
    rng: np.random.Generator,
    amplitude: float = 0.1,
) -> np.ndarray:
    """Mean dF/F per image of ``n_cells`` cells that read out ``features`` (images × units).

    Each image's feature vector is centred and scaled to unit norm across units (the
    geometry the RSM's Pearson correlation sees); each cell takes a Gaussian random
    weighted sum of it, z-scored across images, passed through a softplus, times a
    log-normal cell amplitude (mean ``amplitude``). The population RSM of these cells
    then approximates the RSM of ``features``.
    """
    x = np.asarray(features, float)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"features must be (images, units) with >= 2 units, got {x.shape}")
    x = x - x.mean(axis=1, keepdims=True)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
    w = rng.standard_normal((x.shape[1], n_cells))
    drive = x @ w
    drive = (drive - drive.mean(0)) / (drive.std(0) + 1e-12)
    amp = amplitude * rng.lognormal(0.0, 0.4, size=n_cells)
    return (amp[None, :] * np.log1p(np.exp(1.5 * drive - 0.5))).T  # (n_cells, n_images)


def simulate_session(
    rates: np.ndarray,
    n_repeats: int,
    frames_per_presentation: int,
    rng: np.random.Generator,
    trial_noise: float = 0.3,
    frame_noise: float = 0.05,
    blank_every: int = 10,
    lead_frames: int = 30,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """dF/F traces of one natural-scenes session with known per-image mean responses.

    Every image is shown ``n_repeats`` times in random order, with a blank (−1) after
    about every ``blank_every`` presentations; presentations are back to back, each
    ``frames_per_presentation`` 2P frames long, after ``lead_frames`` grey frames. A
    trial's response is ``rate * gain`` with a log-normal gain (sd ``trial_noise``), held
    over the window, plus Gaussian frame noise (sd ``frame_noise`` × the cell's mean rate).

    Returns ``dff`` (cells × frames, float32), ``timestamps`` (s), ``frame_index`` (the
    image per presentation) and ``frame_duration`` ((N, 2) start/end frames, end exclusive).
    """
    rates = np.asarray(rates, float)
    n_cells, n_images = rates.shape
    order = np.concatenate([rng.permutation(n_images) for _ in range(n_repeats)])
    seq: list[int] = []
    for k, img in enumerate(order):
        seq.append(int(img))
        if blank_every and (k + 1) % blank_every == 0:
            seq.append(-1)
    seq_arr = np.array(seq, dtype=np.int64)
    n_pres = seq_arr.size
    fpp = int(frames_per_presentation)
    n_frames = lead_frames + n_pres * fpp + lead_frames
    scale = rates.mean(axis=1, keepdims=True) + 1e-6
    dff = frame_noise * scale * rng.standard_normal((n_cells, n_frames))
    starts = lead_frames + fpp * np.arange(n_pres)
    gains = rng.lognormal(0.0, trial_noise, size=(n_cells, n_pres))
    for p, (img, s) in enumerate(zip(seq_arr, starts)):
        if img >= 0:
            dff[:, s : s + fpp] += (rates[:, img] * gains[:, p])[:, None]
    frame_duration = np.stack([starts, starts + fpp], axis=1).astype(np.float64)
    timestamps = np.arange(n_frames) / FRAME_RATE_HZ + 8.0
    return dff.astype(np.float32), timestamps, seq_arr, frame_duration


def _b(s: str) -> np.bytes_:
    """A fixed-length byte string (allensdk's get_metadata crashes on variable-length)."""
    return np.bytes_(s.encode("utf-8"))


def _genotype(cre: str) -> str:
    return f"{cre}/wt;Camk2a-tTA/wt;{REPORTER}/wt"


def write_nwb(
    path: str | Path,
    *,
    experiment_id: int,
    container_id: int,
    area: str,
    cre_line: str,
    imaging_depth: int,
    session_type: str,
    cell_specimen_ids: np.ndarray,
    dff: np.ndarray,
    timestamps: np.ndarray,
    frame_index: np.ndarray,
    frame_duration: np.ndarray,
    template: np.ndarray,
) -> None:
    """Write one Brain Observatory NWB (1.x) file with the paths allensdk reads."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with h5py.File(tmp, "w") as f:
        f["nwb_version"] = _b("NWB-1.0.5")
        f["identifier"] = _b(f"neurorepro embedded ophys experiment {experiment_id}")
        f["session_start_time"] = _b("Mon Feb 13 11:38:12 2017")
        g = f.create_group("general")
        g["session_type"] = _b(session_type)
        g["session_id"] = _b(str(experiment_id))
        g["experiment_container_id"] = _b(str(container_id))
        g["specimen_name"] = _b(f"{cre_line.split('-')[0]};{REPORTER.split('(')[0]}-{container_id}")
        g["fov"] = _b("400x400 microns (512 x 512 pixels)")
        g["generated_by"] = np.array([_b("neurorepro"), _b("embedded_brain_observatory"), _b("3.0")])
        g["devices/2-photon microscope"] = _b(
            "Embedded synthetic microscope. Simulated by neurorepro. Please see the neurorepro documentation."
        )
        subj = g.create_group("subject")
        subj["age"] = _b("95 days")
        subj["sex"] = _b("male")
        subj["genotype"] = _b(_genotype(cre_line))
        plane = g.create_group("optophysiology/imaging_plane_1")
        plane["imaging depth"] = _b(f"{int(imaging_depth)} microns")
        plane["location"] = _b(area)
        plane["excitation_lambda"] = _b("910 nanometers")
        plane["indicator"] = _b("GCaMP6f")
        proc = f.create_group("processing/brain_observatory_pipeline")
        d = proc.create_group("DfOverF/imaging_plane_1")
        d.create_dataset("data", data=np.asarray(dff, np.float32), chunks=True)
        d["timestamps"] = np.asarray(timestamps, np.float64)
        seg = proc.create_group("ImageSegmentation")
        seg["cell_specimen_ids"] = np.asarray(cell_specimen_ids, np.int64)
        seg["roi_ids"] = np.array([_b(str(i)) for i in range(len(cell_specimen_ids))])
        pres = f.create_group("stimulus/presentation/natural_scenes_stimulus")
        pres["data"] = np.asarray(frame_index, np.int64)
        pres["frame_duration"] = np.asarray(frame_duration, np.float64)
        pres["timestamps"] = np.asarray(timestamps)[np.asarray(frame_duration[:, 0], int)]
        f["stimulus/templates/natural_scenes_image_stack/data"] = np.asarray(template, np.uint8)
    tmp.replace(path)


def _specimen(c: EmbeddedContainer) -> dict:
    return {
        "id": c.container_id + 7,
        "name": f"{c.cre_line.split('-')[0]}-{c.container_id}",
        "donor": {
            "external_donor_name": str(c.container_id + 11),
            "date_of_birth": "2016-11-10T00:00:00Z",
            "conditions": [{"name": t} for t in c.tags],
            "transgenic_lines": [
                {"name": c.cre_line, "transgenic_line_type_name": "driver"},
                {"name": "Camk2a-tTA", "transgenic_line_type_name": "driver"},
                {"name": REPORTER, "transgenic_line_type_name": "reporter"},
            ],
        },
    }


def _structure(area: str) -> dict:
    return {"id": STRUCTURE_IDS.get(area, 0), "acronym": area, "name": area}


def write_embedded_cache(
    root: str | Path,
    template: np.ndarray,
    containers: Sequence[EmbeddedContainer],
    rng: np.random.Generator,
    n_repeats: int = 10,
    frames_per_presentation: int = 7,
    trial_noise: float = 0.3,
    frame_noise: float = 0.05,
    attrs: dict | None = None,
) -> Path:
    """Write the embedded cache to ``root`` (replaced atomically: written beside, then renamed).

    ``template``: (n_images, H, W) uint8 natural-scene stack (the same in every session);
    ``containers``: one imaging plane each, with its planted ``rates``. ``attrs`` (e.g. the
    planted area → layer map) go to ``embedded_ground_truth.json``, which allensdk ignores.
    """
    from allensdk.core.brain_observatory_cache import BrainObservatoryCache

    root = Path(root)
    tmp = root.with_name(f".{root.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    BrainObservatoryCache(manifest_file=str(tmp / "manifest.json"))  # allensdk writes its manifest
    template = np.asarray(template, np.uint8)
    containers_json, exps_json, cells_json = [], [], []
    next_cell = 500_000_000
    for c in containers:
        if c.rates.shape[1] != template.shape[0]:
            raise ValueError(f"container {c.container_id}: rates cover {c.rates.shape[1]} images, template has {template.shape[0]}")
        spec = _specimen(c)
        containers_json.append({
            "id": c.container_id, "imaging_depth": int(c.imaging_depth), "targeted_structure": _structure(c.area),
            "specimen": spec, "failed": bool(c.failed), "failed_facet": None,
        })
        exps_json.append({
            "id": c.experiment_id, "imaging_depth": int(c.imaging_depth), "targeted_structure": _structure(c.area),
            "specimen": spec, "experiment_container_id": c.container_id, "stimulus_name": c.session_type,
            "date_of_acquisition": "2017-02-13T11:38:12Z", "experiment_container": {"failed": bool(c.failed)},
            "fail_eye_tracking": True,
        })
        n_cells = c.rates.shape[0]
        ids = np.arange(next_cell, next_cell + n_cells, dtype=np.int64)
        next_cell += n_cells
        for cid in ids:
            cells_json.append({
                "cell_specimen_id": int(cid), "experiment_container_id": c.container_id, "area": c.area,
                "imaging_depth": int(c.imaging_depth), "tld1_name": c.cre_line, "tlr1_name": REPORTER,
                "donor_full_genotype": _genotype(c.cre_line), "specimen_id": spec["id"],
                "failed_experiment_container": bool(c.failed),
            })
        dff, ts, frame_index, frame_duration = simulate_session(
            c.rates, n_repeats, frames_per_presentation, rng, trial_noise, frame_noise
        )
        write_nwb(
            tmp / "ophys_experiment_data" / f"{c.experiment_id}.nwb",
            experiment_id=c.experiment_id, container_id=c.container_id, area=c.area, cre_line=c.cre_line,
            imaging_depth=c.imaging_depth, session_type=c.session_type, cell_specimen_ids=ids, dff=dff,
            timestamps=ts, frame_index=frame_index, frame_duration=frame_duration, template=template,
        )
    mappings = [{"id": 1, "item": "p_ns", "item_type": "M", "level": "R", "stimulus": "natural_scenes"}]
    for name, obj in [("experiment_containers.json", containers_json), ("ophys_experiments.json", exps_json),
                      ("cell_specimens.json", cells_json), ("stimulus_mappings.json", mappings),
                      ("embedded_ground_truth.json", attrs or {})]:
        (tmp / name).write_text(json.dumps(obj, indent=1))
    if root.exists():
        shutil.rmtree(root)
    tmp.replace(root)
    return root
