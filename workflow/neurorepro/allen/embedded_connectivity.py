"""A small Allen Mouse Connectivity cache, written in allensdk's own on-disk formats.

The cache holds a toy brain: a cortical sheet of three layers on both hemispheres,
tiled into visual areas (real CCF 2017 structure ids, layers labelled as in the real
annotation volume) plus one non-visual area (SSp) that sources injections which leak
out of the visual areas. Injections are Gaussian blobs; their projections come from a
planted voxel connectivity ``W_true`` plus noise, so a fit can be scored against ground
truth. ``W_true`` is saved beside the cache (``W_true.nc``).

The planted connectivity is built so that neither the voxel model (smoothness prior) nor
the regional model (one weight per pair of areas) holds by construction
(:func:`planted_connectivity`): every area carries a retinotopy-like map of a visual field,
mirror-reversed at its border with VISp (as higher visual areas mirror V1), a source voxel
projects to the retinotopically matching place of every area with an area-pair-specific
gain, and to the homotopic place of the other hemisphere with a weaker gain
(contralateral). Within an area W varies smoothly; across area borders it has kinks (the
mirror reversals) and jumps (the gains), which the smoothness prior penalises and which
the regional model cannot represent inside an area.

Wild-type experiments (``transgenic_line`` null) are followed by ``n_cre_injections``
Cre-line experiments (layer-specific labelling: their projections come from a weaker,
layer-5-only version of ``W_true``), which the paper's query (``cre=False``) leaves out.

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
    # Visual areas of the paper's list that the toy sheet does not tile (no voxels): present in
    # the ontology so that the paper's area list resolves, as in the real structure tree.
    (425, "VISpl", "Posterolateral visual area", 669),
    (312782574, "VISli", "Laterointermediate area", 669),
    (312782628, "VISpor", "Postrhinal area", 669),
    (22, "PTLp", "Posterior parietal association areas", 315),
    (417, "VISrl", "Rostrolateral visual area", 22),
    (312782546, "VISa", "Anterior area", 22),
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
    n_cre_injections : Cre-line experiments written after the wild-type ones.
    kernel_width_mm : width of a source voxel's projection field around the retinotopically
        matching place of each target area (in mm of the reference area VISp).
    contra_gain : gain of the homotopic contralateral projection relative to the ipsilateral.
    gain_range : area-pair gains (target area != source area) are log-uniform in this range;
        within an area the gain is 1.
    """

    n_ap: int = 14
    n_ml: int = 10
    n_injections: int = 24
    injection_radius: float = 1.2
    noise: float = 0.1
    n_cre_injections: int = 4
    kernel_width_mm: float = 0.25
    contra_gain: float = 0.3
    gain_range: tuple[float, float] = (0.1, 0.8)
    invalid_fraction: float = 0.25
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("n_ap", "n_ml", "n_injections"):
            if int(getattr(self, name)) < 2:
                raise ValueError(f"embedded connectivity: {name} must be >= 2, got {getattr(self, name)}")
        if self.noise < 0 or self.injection_radius <= 0 or self.kernel_width_mm <= 0:
            raise ValueError("embedded connectivity: noise must be >= 0, radius and kernel width > 0")
        if int(self.n_cre_injections) < 0 or self.contra_gain < 0:
            raise ValueError("embedded connectivity: n_cre_injections and contra_gain must be >= 0")

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


def sheet_position_mm(coords: np.ndarray, n_ml: int, resolution: int) -> np.ndarray:
    """(AP, distance from the midline) of voxels ``coords`` (n, 3: AP, DV, ML index) in mm;
    the left hemisphere is mirrored onto the right, so homotopic voxels share a position."""
    ml = coords[:, 2].astype(float)
    m = np.where(ml >= n_ml, ml - n_ml, n_ml - 1 - ml)
    return np.stack([coords[:, 0].astype(float), m], 1) * resolution / 1000.0


def area_centres_mm(spec: "EmbeddedConnectivitySpec", resolution: int) -> dict[str, np.ndarray]:
    """AREA_CENTRES in mm on the (AP, distance from the midline) sheet."""
    ext = np.array([spec.n_ap, spec.n_ml], float) * resolution / 1000.0
    return {a: np.asarray(c, float) * ext for a, c in AREA_CENTRES.items()}


def retinotopic_position(pos_mm: np.ndarray, areas: np.ndarray, centres_mm: dict[str, np.ndarray],
                         reference: str = "VISp") -> np.ndarray:
    """Visual-field position (in mm of the reference area) of every voxel.

    The reference area's map is the identity on the sheet. Any other area's voxel is
    reflected across the perpendicular bisector of its centre and the reference's centre
    (the two areas' border on the Voronoi tiling): the map is continuous at the border and
    mirror-reversed beyond it, as the higher visual areas mirror VISp.
    """
    out = np.array(pos_mm, float, copy=True)
    c0 = centres_mm[reference]
    for area in set(np.asarray(areas).tolist()) - {reference}:
        sel = np.asarray(areas) == area
        u = centres_mm[area] - c0
        u = u / np.linalg.norm(u)
        mid = (centres_mm[area] + c0) / 2
        d = (out[sel] - mid) @ u
        out[sel] = out[sel] - 2.0 * d[:, None] * u[None, :]
    return out


def area_gains(names: list[str], spec: "EmbeddedConnectivitySpec", seed: int) -> np.ndarray:
    """Gain of every (target area, source area) pair: 1 within an area, log-uniform in
    ``spec.gain_range`` between areas (fixed by ``seed``)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 24]))
    lo, hi = (float(v) for v in spec.gain_range)
    G = np.exp(rng.uniform(np.log(lo), np.log(hi), size=(len(names), len(names))))
    np.fill_diagonal(G, 1.0)
    return G


def planted_connectivity(coords: np.ndarray, areas: np.ndarray, spec: "EmbeddedConnectivitySpec",
                         resolution: int = 100, seed: int = 0) -> np.ndarray:
    """Nonnegative ``W_true[target, source]`` over cortical voxels (both hemispheres).

    ``W(y, x) = g(y, x) G[area(y), area(x)] exp(-|r(y) - r(x)|^2 / (2 s^2))`` with ``r`` the
    retinotopic position (:func:`retinotopic_position`, the same on both hemispheres),
    ``G`` the area-pair gains (:func:`area_gains`), ``s = kernel_width_mm`` and ``g`` = 1
    within a hemisphere, ``contra_gain`` across (homotopic callosal projections).
    ``coords`` are (n, 3) voxel indices (AP, DV, ML), ``areas`` their area acronyms.
    """
    areas = np.asarray(areas).astype(str)
    pos = sheet_position_mm(coords, spec.n_ml, resolution)
    r = retinotopic_position(pos, areas, area_centres_mm(spec, resolution))
    names = sorted(set(areas.tolist()))
    idx = np.searchsorted(names, areas)
    G = area_gains(names, spec, seed)
    d2 = ((r[:, None, :] - r[None, :, :]) ** 2).sum(-1)
    W = G[idx[:, None], idx[None, :]] * np.exp(-d2 / (2 * spec.kernel_width_mm**2))
    right = coords[:, 2] >= spec.n_ml
    W *= np.where(right[:, None] == right[None, :], 1.0, float(spec.contra_gain))
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
    hemisphere; injections near SSp leak outside the visual areas; the last
    ``n_cre_injections`` are Cre-line experiments (left out by ``cre=False``).
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

    acr = _by_acronym()
    area_of_voxel = {}
    for area in AREA_CENTRES:
        ids = {acr[area][0]} | {row[0] for row in ONTOLOGY if row[3] == acr[area][0]}
        for flat in np.flatnonzero(np.isin(ann.ravel(), list(ids))):
            area_of_voxel[int(flat)] = area
    W = planted_connectivity(coords, np.array([area_of_voxel[int(f)] for f in cortical]), spec,
                             resolution=resolution, seed=seed)
    layer5 = (coords[:, 1] == CORTEX_TOP + 2).astype(float)  # Cre-labelled sources (layer 5)

    # Visual areas present on this grid (a tiny grid may lack some); SSp gets no injection.
    injected_areas = [a for a in AREA_CENTRES if a != "SSp" and a in area_of_voxel.values()]
    experiments = []
    signal_scale = None
    cre_lines = ["Rbp4-Cre_KL100", "Emx1-IRES-Cre", "Cux2-IRES-Cre"]
    for i in range(spec.n_injections + int(spec.n_cre_injections)):
        exp_id = 100_000_000 + 1_000 * seed % 1_000_000 + i
        is_cre = i >= spec.n_injections
        area = injected_areas[i % len(injected_areas)]
        on_left = i % 4 == 3
        members = [f for f, a in area_of_voxel.items() if a == area]
        members = [f for f in members if (np.unravel_index(f, shape)[2] < spec.n_ml) == on_left]
        centre = np.array(np.unravel_index(members[int(rng.integers(len(members)))], shape), dtype=float)
        centre[1] = CORTEX_TOP + 1
        density, fraction = _injection(centre, grid, spec.injection_radius, cortex)
        # Injection density already counts only injection-site pixels (Allen's definition).
        x = density.ravel()[cortical]
        # a Cre line labels one layer's neurons: only layer-5 sources project, half as strongly
        proj_c = W @ (0.5 * layer5 * x) if is_cre else W @ x
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
        centroid = np.asarray(centre) * resolution
        experiments.append(
            {
                "data_set_id": exp_id,
                "storage_directory": f"/external/ctyconn/prod{exp_id % 97}/image_series_{exp_id}/",
                "transgenic_line": {"name": cre_lines[i % len(cre_lines)]} if is_cre else None,
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
            "description": "planted voxel connectivity of the embedded cache (both hemispheres: ipsilateral and "
                           "contralateral blocks): projection of a wild-type experiment = W_true @ injection density + noise",
            "construction": "area-pair gains x Gaussian of retinotopic distance (maps mirror-reversed at area borders); "
                            "contralateral = homotopic x contra_gain",
            "volume_shape": list(shape),
            "resolution_um": resolution,
            "seed": seed,
            "noise": spec.noise,
        },
    )
    write_netcdf(truth, root / "W_true.nc")
    summary = {
        "experiment_ids": [e["data_set_id"] for e in experiments],
        "wild_type_ids": [e["data_set_id"] for e in experiments if not e["transgenic_line"]],
        "cre_ids": [e["data_set_id"] for e in experiments if e["transgenic_line"]],
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
