"""The Allen connectivity cache: embedded writer in allensdk's formats, read back through allensdk."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from allen_helpers import NetworkAccessed, no_network
from neurorepro.allen import connectivity as conn
from neurorepro.allen import embedded_connectivity as emb

AREAS = ["VISp", "VISl", "VISal", "VISam", "VISpm", "VISrl"]


@pytest.fixture(scope="module")
def clean_cache(tmp_path_factory) -> Path:
    """A noise-free embedded cache (no lost sections) whose data equal W_true @ x exactly."""
    root = tmp_path_factory.mktemp("emb_clean")
    spec = emb.EmbeddedConnectivitySpec(n_ap=8, n_ml=6, n_injections=12, noise=0.0, invalid_fraction=0.0)
    emb.write_embedded_connectivity_cache(root, spec, seed=3)
    return root


def test_network_is_really_blocked(monkeypatch):
    from allensdk.api.api import Api

    with no_network(monkeypatch):
        with pytest.raises(NetworkAccessed):
            Api().retrieve_parsed_json_over_http("http://api.brain-map.org/api/v2/data/query.json")


def test_manifest_written_by_allensdk_is_relative_and_versioned(clean_cache):
    manifest = json.loads((clean_cache / conn.MANIFEST_NAME).read_text())
    entries = manifest["manifest"]
    version = [e for e in entries if e.get("type") == "manifest_version"][0]["value"]
    assert version == 1.3
    basedir = [e for e in entries if e.get("key") == "BASEDIR"][0]
    assert basedir["spec"] == "."


def test_embedded_cache_reads_through_allensdk_offline(clean_cache, monkeypatch):
    spec = emb.EmbeddedConnectivitySpec(n_ap=8, n_ml=6, n_injections=12, noise=0.0, invalid_fraction=0.0)
    with no_network(monkeypatch):
        cache = conn.open_cache(clean_cache, 100, offline=True)
        annotation, _ = cache.get_annotation_volume()
        np.testing.assert_array_equal(annotation, emb.annotation_volume(spec))
        tree = cache.get_structure_tree()
        # VISrl sits under PTLp (22), not under VIS (669): filtering on VIS would drop it.
        visrl = tree.get_structures_by_acronym(["VISrl"])[0]
        assert 22 in visrl["structure_id_path"] and 669 not in visrl["structure_id_path"]
        experiments = cache.get_experiments(dataframe=True)
        assert len(experiments) == 12 + spec.n_cre_injections
        assert experiments["transgenic_line"].notna().sum() == spec.n_cre_injections
        assert set(experiments["injection_structures"].iloc[0]) <= {385, 409, 402, 394, 533, 417, 322}
        eid = int(experiments["id"].iloc[0])
        proj, header = cache.get_projection_density(eid)
        assert proj.shape == annotation.shape and header["encoding"] == "gzip"
        # the make_structure_mask path (offline) finds VISp voxels through its layers
        rsp = cache.get_reference_space()
        visp = rsp.make_structure_mask([385])
        assert visp.sum() > 0 and not np.isin(annotation[visp.astype(bool)], [385]).any()


def test_noise_free_data_equal_the_planted_connectivity(clean_cache, monkeypatch):
    sel = conn.ConnectivitySelection(AREAS, AREAS)
    with no_network(monkeypatch):
        cache = conn.open_cache(clean_cache, 100, offline=True)
        ds = conn.build_connectivity_data(cache, sel, offline=True, progress=False)
    with xr.open_dataset(clean_cache / "W_true.nc") as truth:
        ds = conn.attach_truth(ds, truth.load())
    X, Y, W = ds.X.values, ds.Y.values, ds.W_true.values
    omega = ds.Omega.values.astype(bool)
    assert ds.sizes["injection"] >= 4
    # Sources outside X's voxels (other areas, other hemisphere) can receive injection
    # signal only through leaks below 5%: the planted model holds on Omega up to those.
    pred = W @ X
    rel = np.linalg.norm((pred - Y)[omega]) / np.linalg.norm(Y[omega])
    assert rel < 0.06, rel
    # X, Y, Omega are consistent: excluded entries are exactly site or invalid ones
    assert not (omega & ds.injection_site.values.astype(bool)).any()
    assert (W >= 0).all() and W.shape == (ds.sizes["target_voxel"], ds.sizes["source_voxel"])


def _write_tiny_cache(root: Path) -> tuple[Path, dict]:
    """A 2 x 5 x 4 brain with four hand-made experiments; returns (root, volumes by id)."""
    spec = emb.EmbeddedConnectivitySpec(n_ap=2, n_ml=2, n_injections=2)
    emb.write_embedded_connectivity_cache(root, spec, seed=0)  # ontology, annotation, manifest
    from allensdk.core.mouse_connectivity_cache import MouseConnectivityCache as M

    cache = conn.open_cache(root, 100, offline=True)
    ann, _ = cache.get_annotation_volume()
    shape = ann.shape
    vols: dict[int, dict[str, np.ndarray]] = {}
    exps = []
    # Voxel choices by hand: a right-hemisphere layer-2/3 voxel and its neighbours.
    for k, (eid, volume_mm3, ml) in enumerate([(1, 0.1, 3), (2, 0.9, 3), (3, 0.1, 0), (4, 0.1, 2)]):
        inj_d = np.zeros(shape, np.float32)
        inj_f = np.zeros(shape, np.float32)
        proj = np.zeros(shape, np.float32)
        mask = np.ones(shape, np.float32)
        inj_d[0, 1, ml] = 0.8
        inj_f[0, 1, ml] = 1.0
        inj_d[1, 1, ml] = 0.4
        inj_f[1, 1, ml] = 0.5
        if eid == 2:  # a large injection: fraction 1 on six more voxels (no density: outside the site)
            inj_f[:, 2:5, ml] = 1.0
        proj[:, 1:4, :] = 0.1 * (k + 1)
        proj[0, 1, ml] = 0.9  # injection's own signal
        proj[1, 2, 3] = -2  # an error code of the grid service
        mask[1, 3, :] = 0.4  # below the 0.5 data-mask threshold
        vols[eid] = {"injection_density": inj_d, "injection_fraction": inj_f, "projection_density": proj, "data_mask": mask}
        for key, name in [(M.INJECTION_DENSITY_KEY, "injection_density"), (M.INJECTION_FRACTION_KEY, "injection_fraction"),
                          (M.PROJECTION_DENSITY_KEY, "projection_density"), (M.DATA_MASK_KEY, "data_mask")]:
            emb.write_nrrd(cache.get_cache_path(None, key, eid, 100), vols[eid][name], 100)
        area_id = emb._by_acronym()[emb.area_of(int(ann[0, 1, ml]))][0]
        exps.append({"data_set_id": eid, "storage_directory": f"/x/{eid}/", "transgenic_line": None,
                     "injection_structures": str(area_id), "structure_id": area_id, "injection_volume": volume_mm3})
    (root / "experiments.json").write_text(json.dumps(exps))
    return root, vols


def test_tiny_cache_matches_hand_computation(tmp_path, monkeypatch):
    root, vols = _write_tiny_cache(tmp_path / "tiny")
    with no_network(monkeypatch):
        cache = conn.open_cache(root, 100, offline=True)
        ann, _ = cache.get_annotation_volume()
        # one area for everything: the whole cortical sheet of the right hemisphere
        areas = sorted({a for a in emb.AREA_CENTRES})
        # injection volume = injection fraction over the injection mask x 0.001 mm3 (the authors'):
        # 1.5 voxels for experiments 1, 3, 4; 7.5 for experiment 2 (its metadata volume is ignored)
        sel = conn.ConnectivitySelection(areas, areas, hemisphere="right", max_injection_volume_mm3=0.005)
        ds = conn.build_connectivity_data(cache, sel, offline=True, progress=False)
    np.testing.assert_allclose(ds.injection_volume_mm3.values, [0.0015, 0.0015])
    # experiment 2: injection volume 0.0075 >= 0.005 mm³; experiment 3: ML index 0 is left
    assert list(ds.experiment_id.values) == [1, 4]
    assert ds.attrs["dropped_injection_volume"] == [2]
    assert ds.attrs["dropped_hemisphere"] == [3]
    # Right-hemisphere cortical voxels: ML in {2, 3}, DV in {1, 2, 3}, AP in {0, 1}, C order.
    expected_flat = [np.ravel_multi_index((ap, dv, ml), ann.shape) for ap in range(2) for dv in (1, 2, 3) for ml in (2, 3)]
    assert list(ds.source_flat_index.values) == expected_flat
    for j, eid in enumerate([1, 4]):
        v = vols[eid]
        for i, flat in enumerate(expected_flat):
            ap, dv, ml = np.unravel_index(flat, ann.shape)
            in_site = v["injection_fraction"][ap, dv, ml] > 0 and v["injection_density"][ap, dv, ml] > 0
            x = v["injection_density"][ap, dv, ml] if in_site else 0.0
            p = v["projection_density"][ap, dv, ml]
            valid = v["data_mask"][ap, dv, ml] >= 0.5 and p >= 0
            assert ds.X.values[i, j] == pytest.approx(x)
            assert ds.Y.values[i, j] == pytest.approx(p if valid else 0.0)
            assert ds.Omega.values[i, j] == int(valid and not in_site)
            assert ds.injection_site.values[i, j] == int(in_site)
    # the error code (-2) at (1, 2, 3) and the masked row DV 3 of AP 1 are out of the loss
    i_code = expected_flat.index(np.ravel_multi_index((1, 2, 3), ann.shape))
    assert ds.Omega.values[i_code].tolist() == [0, 0]


def test_fraction_in_source_filter(tmp_path, monkeypatch):
    root, _ = _write_tiny_cache(tmp_path / "tiny")
    with no_network(monkeypatch):
        cache = conn.open_cache(root, 100, offline=True)
        ann, _ = cache.get_annotation_volume()
        # sources: only the area holding voxel (0, 1, 3); experiment 1 also injects (1, 1, 3)
        a0, a1 = emb.area_of(int(ann[0, 1, 3])), emb.area_of(int(ann[1, 1, 3]))
        assert (a0, a1) == ("VISrl", "VISl")  # the toy geometry this test relies on
        sel = conn.ConnectivitySelection([a0], [a0], min_injection_fraction_in_source=0.95)
        with pytest.raises(conn.AllenCacheError, match="no experiment passed"):
            conn.build_connectivity_data(cache, sel, offline=True, progress=False)
        # injection fraction 1 in a0 and 0.5 in a1 (the authors' measure, not density x fraction):
        # share 2/3 passes a 0.6 threshold
        sel = conn.ConnectivitySelection([a0], [a0], min_injection_fraction_in_source=0.6)
        ds = conn.build_connectivity_data(cache, sel, offline=True, progress=False)
        np.testing.assert_allclose(ds.injection_fraction_in_source.values, 2 / 3)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_nrrd_names_the_file(tmp_path, monkeypatch, damage):
    root, _ = _write_tiny_cache(tmp_path / "tiny")
    bad = root / "experiment_4" / "projection_density_100.nrrd"
    raw = bad.read_bytes()
    bad.write_bytes(raw[: len(raw) - 40] if damage == "truncate" else raw[:200] + b"\x00garbage" * 10)
    with no_network(monkeypatch):
        cache = conn.open_cache(root, 100, offline=True)
        sel = conn.ConnectivitySelection(list(emb.AREA_CENTRES), list(emb.AREA_CENTRES))
        with pytest.raises(conn.AllenCacheError, match=str(bad)):
            conn.build_connectivity_data(cache, sel, offline=True, progress=False)


def test_missing_file_offline_is_an_error_not_a_download(tmp_path, monkeypatch):
    root, _ = _write_tiny_cache(tmp_path / "tiny")
    missing = root / "experiment_1" / "data_mask_100.nrrd"
    missing.unlink()
    with no_network(monkeypatch):
        cache = conn.open_cache(root, 100, offline=True)
        sel = conn.ConnectivitySelection(list(emb.AREA_CENTRES), list(emb.AREA_CENTRES))
        with pytest.raises(conn.AllenCacheError, match=str(missing)):
            conn.build_connectivity_data(cache, sel, offline=True, progress=False)


def test_offline_without_manifest_is_an_error(tmp_path):
    with pytest.raises(conn.AllenCacheError, match="mouse_connectivity_manifest.json"):
        conn.open_cache(tmp_path, 100, offline=True)


def test_download_path_makes_the_documented_allensdk_calls(tmp_path, monkeypatch):
    """source: allen runs allensdk's real download code up to the network."""
    calls = []
    from allensdk.api.api import Api

    def record(self, url, *a, **k):
        calls.append(url)
        raise NetworkAccessed(url)

    monkeypatch.setattr(Api, "retrieve_parsed_json_over_http", record)
    monkeypatch.setattr(Api, "retrieve_file_over_http", record)
    from neurorepro.allen.download import DownloadError, RetryPolicy

    cache = conn.open_cache(tmp_path / "allen", 100, offline=False)
    assert (tmp_path / "allen" / conn.MANIFEST_NAME).exists()
    with pytest.raises(DownloadError, match="structure ontology query at http://api.brain-map.org"):
        conn.download_connectivity(cache, conn.ConnectivitySelection(AREAS, AREAS),
                                   policy=RetryPolicy(attempts=2, backoff_s=0.0), progress=False)
    # the first request is the structure ontology query of the reference space, tried twice
    assert len(calls) == 2 and "api.brain-map.org" in calls[0] and "Structure" in calls[0]
    assert not (tmp_path / "allen" / "structures.json").exists()


def test_unknown_area_names_the_config_key(clean_cache, monkeypatch):
    sel = conn.ConnectivitySelection(["VISp", "VISxx"], AREAS)
    with no_network(monkeypatch):
        cache = conn.open_cache(clean_cache, 100, offline=True)
        with pytest.raises(conn.AllenCacheError, match=r"no area 'VISxx'.*connectivity.source_areas"):
            conn.build_connectivity_data(cache, sel, offline=True, progress=False)


# -- the authors' data selection: wild-type only, contralateral targets, provenance counts ----------
PAPER_YAML = Path(__file__).resolve().parents[1] / "config" / "paper.yaml"
SELECTION_KEYS = ("source_areas", "target_areas", "hemisphere", "min_injection_fraction_in_source",
                  "max_injection_volume_mm3", "injection_site_min_fraction", "data_mask_threshold",
                  "min_data_coverage", "cre", "contralateral")


def _paper_selection() -> conn.ConnectivitySelection:
    """The selection config/paper.yaml asks for (over config.yaml's defaults, as Snakemake merges them)."""
    import yaml

    base = yaml.safe_load((PAPER_YAML.parent.parent / "config.yaml").read_text())["connectivity"]
    paper = yaml.safe_load(PAPER_YAML.read_text())["connectivity"]
    merged = {**base, **paper, **(paper.get("paper") or {})}
    return conn.ConnectivitySelection(**{k: merged[k] for k in SELECTION_KEYS if k in merged})


def test_paper_config_is_the_authors_selection():
    sel = _paper_selection()
    assert sel.cre is False and sel.contralateral is True
    # the paper's §5 list and filters (the authors' run_setup.py -> run_setup_extra_vis.py agrees)
    assert sorted(sel.source_areas) == sorted(["VISal", "VISam", "VISl", "VISp", "VISpl", "VISpm", "VISli",
                                               "VISpor", "VISrl", "VISa"]) == sorted(sel.target_areas)
    assert sel.min_injection_fraction_in_source == 0.95 and sel.max_injection_volume_mm3 == 0.7


def test_paper_query_is_wild_type_only_on_a_cache_with_cre_lines(clean_cache, monkeypatch):
    """The paper config's experiment query asks allensdk for cre=False: the Cre-line experiments
    added to the embedded cache are left out, and provenance counts what the query returned."""
    summary = emb.read_summary(clean_cache)
    assert len(summary["cre_ids"]) > 0
    calls = []
    with no_network(monkeypatch):
        cache = conn.open_cache(clean_cache, 100, offline=True)
        original = cache.get_experiments

        def spy(*a, **k):
            calls.append(k)
            return original(*a, **k)

        cache.get_experiments = spy
        ds = conn.build_connectivity_data(cache, _paper_selection(), offline=True, progress=False)
    assert any(k.get("cre") is False and k.get("injection_structure_ids") for k in calls)
    kept = set(int(i) for i in ds.experiment_id.values)
    assert kept and kept <= set(summary["wild_type_ids"]) and not kept & set(summary["cre_ids"])
    assert sorted(ds.attrs["dropped_cre"]) == sorted(summary["cre_ids"])
    n_all = len(summary["experiment_ids"])
    assert ds.attrs["n_experiments_table"] == n_all
    assert ds.attrs["n_experiments_query"] == ds.attrs["n_experiments_structure_query"] - len(summary["cre_ids"])
    assert ds.attrs["n_experiments_kept"] == len(kept) <= ds.attrs["n_experiments_query"]
    # with cre=None the same query keeps Cre-line experiments
    with no_network(monkeypatch):
        sel = _paper_selection()
        sel.cre = None
        ds_all = conn.build_connectivity_data(conn.open_cache(clean_cache, 100, offline=True), sel, offline=True,
                                              progress=False)
    assert set(int(i) for i in ds_all.experiment_id.values) & set(summary["cre_ids"])


def test_contralateral_targets_built_and_labelled(clean_cache, monkeypatch):
    sel = conn.ConnectivitySelection(AREAS, AREAS)
    with no_network(monkeypatch):
        ds = conn.build_connectivity_data(conn.open_cache(clean_cache, 100, offline=True), sel, offline=True,
                                          progress=False)
    ds = conn.attach_truth(ds, conn.read_truth(clean_cache))
    n_ml = 6
    assert ds["Y_contra"].dims == ("contra_target_voxel", "injection")
    assert ds["Y_contra"].attrs["hemisphere"] == "contralateral" and ds["Y"].attrs["hemisphere"] == "ipsilateral"
    assert (ds.contra_target_coord.values[:, 2] < n_ml).all() and (ds.target_coord.values[:, 2] >= n_ml).all()
    assert ds.sizes["contra_target_voxel"] == ds.sizes["target_voxel"]  # the toy brain is left-right symmetric
    assert set(ds.contra_target_area.values) == set(ds.target_area.values)
    # noise-free data: the contralateral projections are the planted contralateral block times X
    X, Yc, Wc = ds.X.values, ds.Y_contra.values, ds.W_true_contra.values
    om = ds.Omega_contra.values.astype(bool)
    assert Wc.max() > 0 and Wc.max() < ds.W_true.values.max()  # weaker than ipsilateral (contra_gain)
    rel = np.linalg.norm((Wc @ X - Yc)[om]) / np.linalg.norm(Yc[om])
    assert rel < 0.06, rel


def test_missing_truth_names_the_file_and_the_key(tmp_path):
    with pytest.raises(conn.AllenCacheError, match=r"W_true\.nc.*resources_dir"):
        conn.read_truth(tmp_path / "elsewhere")


def test_planted_maps_mirror_at_area_borders_and_gains_differ():
    spec = emb.EmbeddedConnectivitySpec(n_ap=14, n_ml=10)
    centres = emb.area_centres_mm(spec, 100)
    c0, c1 = centres["VISp"], centres["VISl"]
    u = (c1 - c0) / np.linalg.norm(c1 - c0)
    border = (c0 + c1) / 2
    step = 0.05 * u
    pts = np.array([border - step, border + step])
    r = emb.retinotopic_position(pts, np.array(["VISp", "VISl"]), centres)
    # continuous at the border, mirror-reversed beyond it: both sides map to the same field point
    np.testing.assert_allclose(r[0], r[1], atol=1e-12)
    G = emb.area_gains(["VISal", "VISl", "VISp"], spec, seed=1)
    assert np.allclose(np.diag(G), 1) and len(set(np.round(G[~np.eye(3, dtype=bool)], 6))) == 6


def test_planted_w_is_not_regional_by_construction():
    """At the demo's size W_true is far from block-constant over area pairs: the regional model
    cannot be exact (its mirror reversals and gain jumps at borders keep the smoothness prior
    from being exact too); a narrower kernel makes it less regional still."""
    def block_residual(kernel_width_mm):
        spec = emb.EmbeddedConnectivitySpec(n_ap=14, n_ml=10, kernel_width_mm=kernel_width_mm)
        ann = emb.annotation_volume(spec)
        cort = np.flatnonzero(ann.ravel() > 0)
        coords = np.array(np.unravel_index(cort, ann.shape)).T
        areas = np.array([emb.area_of(int(ann.ravel()[f])) for f in cort])
        W = emb.planted_connectivity(coords, areas, spec, 100, seed=2016)
        keep = (coords[:, 2] >= spec.n_ml) & (areas != "SSp")
        W, ar = W[np.ix_(keep, keep)], areas[keep]
        block = np.zeros_like(W)
        for a in set(ar):
            for b in set(ar):
                m = np.ix_(ar == a, ar == b)
                block[m] = W[m].mean()
        return np.linalg.norm(W - block) / np.linalg.norm(W)

    assert 0.3 < block_residual(0.25) < block_residual(0.15)
