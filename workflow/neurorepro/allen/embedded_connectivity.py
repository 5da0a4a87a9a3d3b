"""A small Allen Mouse Connectivity cache, written in allensdk's own on-disk formats.

The cache holds a toy brain: a cortical sheet of three layers on both hemispheres,
tiled into visual areas (real CCF 2017 structure ids, layers labelled as in the real
annotation volume) plus one non-visual area (SSp) that sources injections which leak
out of the visual areas. Injections are Gaussian blobs; their projections come from a
planted, smooth, ipsilateral voxel connectivity ``W_true`` plus noise, so a fit can be
scored against ground truth. ``W_true`` is saved beside the cache (``W_true.nc``).

Every path comes from allensdk itself: the writer constructs a ``MouseConnectivityCache``
on the folder (allensdk writes ``mouse_connectivity_manifest.json``) and asks it for
the cache path of each file, so the layout is exactly the one allensdk reads.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import nrrd
import numpy as np
import xarray as xr

from neurorepro.io import write_json, write_netcdf

#: The structure ontology of the toy brain: (id, acronym, name, parent id). Real CCF ids.
ONTOLOGY: list[tuple[int, str, str, int | None]] = [
    (997, "root", "root", None),
    (8, "grey", "Basic cell groups and regions", 997),
    (567, "CH", "Cerebrum", 8),
    (688, "CTX", "Cerebral cortex", 567),
    (695, "CTXpl", "Cortical plate", 688),
    (315, "Isocortex", "Isocortex", 695),
    (669, "VIS", "Visual areas", 315),
    (385, "VISp", "Primary visual area", 669),
    (821, "VISp2/3", "Primary visual area, layer 2/3", 385),
    (721, "VISp4", "Primary visual area, layer 4", 385),
    (778, "VISp5", "Primary visual area, layer 5", 385),
    (409, "VISl", "Lateral visual area", 669),
    (973, "VISl2/3", "Lateral visual area, layer 2/3", 409),
    (573, "VISl4", "Lateral visual area, layer 4", 409),
    (613, "VISl5", "Lateral visual area, layer 5", 409),
    (402, "VISal", "Anterolateral visual area", 669),
    (905, "VISal2/3", "Anterolateral visual area, layer 2/3", 402),
    (1114, "VISal4", "Anterolateral visual area, layer 4", 402),
    (233, "VISal5", "Anterolateral visual area, layer 5", 402),
    (394, "VISam", "Anteromedial visual area", 669),
    (1066, "VISam2/3", "Anteromedial visual area, layer 2/3", 394),
    (401, "VISam4", "Anteromedial visual area, layer 4", 394),
    (433, "VISam5", "Anteromedial visual area, layer 5", 394),
    (533, "VISpm", "posteromedial visual area", 669),
    (41, "VISpm2/3", "posteromedial visual area, layer 2/3", 533),
    (501, "VISpm4", "posteromedial visual area, layer 4", 533),
    (565, "VISpm5", "posteromedial visual area, layer 5", 533),
    # VISrl sits under the posterior parietal association areas, not under VIS.
    (22, "PTLp", "Posterior parietal association areas", 315),
    (417, "VISrl", "Rostrolateral visual area", 22),
    (453, "SS", "Somatosensory areas", 315),
    (322, "SSp", "Primary somatosensory area", 453),
]
SUMMARY_STRUCTURE_SET_ID = 167587189

#: Area centres on the (AP, ML) sheet of one hemisphere, in fractions of its extent
#: (AP: 0 anterior → 1 posterior; ML: 0 midline → 1 lateral). Areas are the Voronoi
#: cells of these centres. VISrl and SSp voxels are labelled with the area id itself
#: (the real annotation does that for some structures); the others with layer ids.
AREA_CENTRES: dict[str, tuple[float, float]] = {
    "VISp": (0.75, 0.55),
    "VISl": (0.65, 0.90),
    "VISal": (0.35, 0.85),
    "VISrl": (0.15, 0.70),
    "VISam": (0.30, 0.35),
    "VISpm": (0.70, 0.15),
    "SSp": (0.00, 0.95),
}
LAYERS = ("2/3", "4", "5")
CORTEX_TOP = 1  # DV index of the first cortical layer (DV 0 is outside the brain)


@dataclass
class EmbeddedConnectivitySpec:
    """Size and noise of the toy brain.

    Parameters
    ----------
    n_ap : voxels along the anterior-posterior axis.
    n_ml : voxels from the midline to the lateral edge of one hemisphere.
    n_injections : experiments written (some are meant to fail the paper's filters).
    injection_radius : Gaussian radius of an injection, in voxels.
    noise : standard deviation of the additive noise, relative to the signal's.
    kernel_width_mm, shift_mm, shift_weight : the planted kernel
        ``W(y, x) = exp(-|y-x|^2/(2 s^2)) + w * exp(-|y-x-shift|^2/(2 s^2))`` (ipsilateral).
    """

    n_ap: int = 14
    n_ml: int = 10
    n_injections: int = 24
    injection_radius: float = 1.2
    noise: float = 0.1
    kernel_width_mm: float = 0.25
    shift_mm: tuple[float, float, float] = (0.4, 0.0, 0.3)
    shift_weight: float = 0.6
    invalid_fraction: float = 0.25
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("n_ap", "n_ml", "n_injections"):
            if int(getattr(self, name)) < 2:
                raise ValueError(f"embedded connectivity: {name} must be >= 2, got {getattr(self, name)}")
        if self.noise < 0 or self.injection_radius <= 0 or self.kernel_width_mm <= 0:
            raise ValueError("embedded connectivity: noise must be >= 0, radius and kernel width > 0")

    @property
    def volume_shape(self) -> tuple[int, int, int]:
        """(AP, DV, ML) shape: one empty DV row above and below the three layers."""
        return (self.n_ap, CORTEX_TOP + len(LAYERS) + 1, 2 * self.n_ml)


def _by_acronym() -> dict[str, tuple[int, str, str, int | None]]:
    return {row[1]: row for row in ONTOLOGY}


def area_of(structure_id: int) -> str:
    """Acronym of the area (a key of AREA_CENTRES) that a layer or area id belongs to."""
    by_id = {row[0]: row for row in ONTOLOGY}
    sid: int | None = int(structure_id)
    while sid is not None:
        if by_id[sid][1] in AREA_CENTRES:
            return by_id[sid][1]
        sid = by_id[sid][3]
    raise KeyError(f"structure {structure_id} is not inside an area of the embedded brain")


def structures_json() -> list[dict]:
    """The ontology as allensdk writes ``structures.json`` (after ``clean_structures``)."""
    by_id = {row[0]: row for row in ONTOLOGY}
    records = []
    for order, (sid, acronym, name, parent) in enumerate(ONTOLOGY):
        path = [sid]
        while by_id[path[0]][3] is not None:
            path.insert(0, by_id[path[0]][3])
        rng = np.random.default_rng(sid)
        is_area = acronym in AREA_CENTRES or acronym in ("VIS", "PTLp", "SS")
        records.append(
            {
                "acronym": acronym,
                "graph_id": 1,
                "graph_order": order,
                "id": sid,
                "name": name,
                "structure_id_path": path,
                "structure_set_ids": [SUMMARY_STRUCTURE_SET_ID] if is_area else [],
                "rgb_triplet": [int(v) for v in rng.integers(0, 256, 3)],
            }
        )
    return records


def annotation_volume(spec: EmbeddedConnectivitySpec) -> np.ndarray:
    """uint32 (AP, DV, ML) annotation: layer ids for most areas, area ids for VISrl/SSp."""
    n_ap, n_dv, n_ml2 = spec.volume_shape
    ann = np.zeros((n_ap, n_dv, n_ml2), dtype=np.uint32)
    acr = _by_acronym()
    names = list(AREA_CENTRES)
    centres = np.array([AREA_CENTRES[a] for a in names])
    for ap in range(n_ap):
        for m in range(spec.n_ml):
            p = np.array([(ap + 0.5) / n_ap, (m + 0.5) / spec.n_ml])
            area = names[int(np.argmin(((centres - p) ** 2).sum(axis=1)))]
            for li, layer in enumerate(LAYERS):
                sid = acr.get(f"{area}{layer}", acr[area])[0]
                dv = CORTEX_TOP + li
                ann[ap, dv, spec.n_ml + m] = sid  # right hemisphere (ML index above midline)
                ann[ap, dv, spec.n_ml - 1 - m] = sid  # its mirror image on the left
    return ann


def planted_connectivity(coords_mm: np.ndarray, right: np.ndarray, spec: EmbeddedConnectivitySpec) -> np.ndarray:
    """Smooth nonnegative ``W_true[target, source]`` over cortical voxels (ipsilateral only).

    ``coords_mm`` is (n, 3) positions; the lateral shift is mirrored on the left side so
    both hemispheres carry the same connectivity.
    """
    s2 = 2 * spec.kernel_width_mm**2
    shift = np.asarray(spec.shift_mm, dtype=float)
    side = np.where(right, 1.0, -1.0)
    d_local = ((coords_mm[:, None, :] - coords_mm[None, :, :]) ** 2).sum(-1)
    shifted = coords_mm + shift[None, :] * np.stack([np.ones_like(side), np.ones_like(side), side], 1)
    d_shift = ((coords_mm[:, None, :] - shifted[None, :, :]) ** 2).sum(-1)
    W = np.exp(-d_local / s2) + spec.shift_weight * np.exp(-d_shift / s2)
    W *= right[:, None] == right[None, :]
    return W


def _nrrd_header(resolution: int) -> dict:
    # The header fields of the Allen Institute's grid-data NRRD files.
    return {
        "space": "left-posterior-superior",
        "space directions": np.diag([float(resolution)] * 3),
        "kinds": ["domain", "domain", "domain"],
        "encoding": "gzip",
        "endian": "little",
    }


def write_nrrd(path: str | Path, volume: np.ndarray, resolution: int) -> None:
    """Write ``volume`` as an Allen-style NRRD (gzip, LPS space, µm spacing), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    nrrd.write(str(tmp), volume, _nrrd_header(resolution))
    tmp.replace(path)


def _injection(centre: np.ndarray, grid: np.ndarray, radius: float, cortex: np.ndarray):
    """Injection density and fraction volumes of a Gaussian blob restricted to cortex."""
    d = np.sqrt(((grid - centre) ** 2).sum(-1))
    fraction = np.where(d <= 1.5 * radius, 1.0, np.where(d <= 2.0 * radius, 0.5, 0.0)) * cortex
    density = np.exp(-(d**2) / (2 * radius**2)) * (fraction > 0)
    return density, fraction


def write_embedded_connectivity_cache(
    root: str | Path, spec: EmbeddedConnectivitySpec, *, resolution: int = 100, seed: int = 0
) -> dict:
    """Write the toy cache under ``root`` and return a summary (experiment ids, files).

    The experiments are drawn so that the paper's filters have work to do: most inject
    one visual area of the right hemisphere; one in four is centred in the left
    hemisphere; injections near SSp leak outside the visual areas; one has an
    injection volume above 0.7 mm³ in its metadata.
    """
    from allensdk.core.mouse_connectivity_cache import MouseConnectivityCache

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cache = MouseConnectivityCache(manifest_file=str(root / "mouse_connectivity_manifest.json"), resolution=resolution)
    key = MouseConnectivityCache

    ann = annotation_volume(spec)
    shape = ann.shape
    write_nrrd(cache.get_cache_path(None, key.ANNOTATION_KEY, cache.reference_space_key, resolution), ann, resolution)
    write_json(structures_json(), cache.get_cache_path(None, key.STRUCTURE_TREE_KEY))

    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1).astype(float)
    cortex = ann > 0
    cortical = np.flatnonzero(cortex.ravel())
    coords = np.array(np.unravel_index(cortical, shape)).T
    right = coords[:, 2] >= spec.n_ml
    W = planted_connectivity(coords * resolution / 1000.0, right, spec)

    acr = _by_acronym()
    area_of_voxel = {}
    for area in AREA_CENTRES:
        ids = {acr[area][0]} | {row[0] for row in ONTOLOGY if row[3] == acr[area][0]}
        for flat in np.flatnonzero(np.isin(ann.ravel(), list(ids))):
            area_of_voxel[int(flat)] = area

    # Visual areas present on this grid (a tiny grid may lack some); SSp gets no injection.
    injected_areas = [a for a in AREA_CENTRES if a != "SSp" and a in area_of_voxel.values()]
    experiments = []
    signal_scale = None
    for i in range(spec.n_injections):
        exp_id = 100_000_000 + 1_000 * seed % 1_000_000 + i
        area = injected_areas[i % len(injected_areas)]
        on_left = i % 4 == 3
        members = [f for f, a in area_of_voxel.items() if a == area]
        members = [f for f in members if (np.unravel_index(f, shape)[2] < spec.n_ml) == on_left]
        centre = np.array(np.unravel_index(members[int(rng.integers(len(members)))], shape), dtype=float)
        centre[1] = CORTEX_TOP + 1
        density, fraction = _injection(centre, grid, spec.injection_radius, cortex)
        # Injection density already counts only injection-site pixels (Allen's definition).
        x = density.ravel()[cortical]
        proj_c = W @ x
        if signal_scale is None:
            signal_scale = 0.5 / max(proj_c.max(), 1e-12)
        proj_c = proj_c * signal_scale
        noisy = proj_c + spec.noise * proj_c.std() * rng.standard_normal(proj_c.shape)
        projection = np.zeros(int(np.prod(shape)))
        projection[cortical] = np.clip(noisy, 0.0, None)
        projection = projection.reshape(shape)
        # Inside the injection site the projection channel also shows the injection itself.
        projection = np.where(fraction > 0, np.maximum(projection, density), projection)
        data_mask = np.ones(shape, dtype=np.float32)
        if rng.random() < spec.invalid_fraction:  # a lost section: a band of AP rows without data
            ap0 = int(rng.integers(0, shape[0] - 1))
            data_mask[ap0 : ap0 + 2] = 0.0
            projection[ap0 : ap0 + 2] = 0.0
        # Error codes of the grid service (-1..-3) on a few voxels of the projection volume.
        bad = rng.choice(cortical, size=3, replace=False)
        projection.ravel()[bad] = -rng.integers(1, 4, size=3)

        files = {
            key.INJECTION_DENSITY_KEY: density.astype(np.float32),
            key.INJECTION_FRACTION_KEY: fraction.astype(np.float32),
            key.PROJECTION_DENSITY_KEY: projection.astype(np.float32),
            key.DATA_MASK_KEY: data_mask,
        }
        for file_key, vol in files.items():
            write_nrrd(cache.get_cache_path(None, file_key, exp_id, resolution), vol, resolution)

        inj_ids = sorted({int(ann.ravel()[f]) for f in np.flatnonzero(fraction.ravel() > 0)})
        structs = sorted({acr[area_of_voxel[f]][0] for f in np.flatnonzero(fraction.ravel() > 0) if f in area_of_voxel})
        volume_mm3 = float(fraction.sum() * (resolution / 1000.0) ** 3)
        if i == 5:  # metadata of an over-sized injection (the paper's 0.7 mm³ cut)
            volume_mm3 = 0.9
        centroid = np.asarray(centre) * resolution
        experiments.append(
            {
                "data_set_id": exp_id,
                "storage_directory": f"/external/ctyconn/prod{exp_id % 97}/image_series_{exp_id}/",
                "transgenic_line": None if i % 3 == 0 else {"name": ["Emx1-IRES-Cre", "Rbp4-Cre_KL100"][i % 2]},
                "injection_structures": "/".join(str(s) for s in structs),
                "structure_id": acr[area][0],
                "structure_abbrev": area,
                "structure_name": acr[area][2],
                "injection_volume": volume_mm3,
                "injection_x": float(centroid[0]),
                "injection_y": float(centroid[1]),
                "injection_z": float(centroid[2]),
                "product_id": 5,
                "specimen_name": f"embedded-{i}",
                "gender": "M" if i % 2 else "F",
                "strain": "C57BL/6J",
                "injection_layer_ids": inj_ids,
            }
        )
    write_json(experiments, cache.get_cache_path(None, key.EXPERIMENTS_KEY))

    truth = xr.Dataset(
        {"W_true": (("target_voxel", "source_voxel"), W * signal_scale)},
        coords={
            "target_flat_index": ("target_voxel", cortical),
            "source_flat_index": ("source_voxel", cortical),
        },
        attrs={
            "description": "planted voxel connectivity of the embedded cache: projection = W_true @ injection density + noise",
            "volume_shape": list(shape),
            "resolution_um": resolution,
            "seed": seed,
            "noise": spec.noise,
        },
    )
    write_netcdf(truth, root / "W_true.nc")
    summary = {
        "experiment_ids": [e["data_set_id"] for e in experiments],
        "volume_shape": list(shape),
        "resolution_um": resolution,
        "seed": seed,
        "n_cortical_voxels": int(cortical.size),
    }
    write_json(summary, root / "embedded_summary.json")
    return summary


def read_summary(root: str | Path) -> dict:
    """The summary written by :func:`write_embedded_connectivity_cache`."""
    return json.loads((Path(root) / "embedded_summary.json").read_text())
