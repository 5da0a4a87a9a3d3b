"""mouse_vs_cnn: baseline feature models, planted-baseline recovery, disk guard, trial median,
CNN-to-CNN robustness, and the claims' significance / interval rules."""
from __future__ import annotations

from unittest import mock

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from neurorepro.allen import brain_observatory as bo
from neurorepro.allen import embedded_brain_observatory as ebo
from neurorepro.mouse_vs_cnn import analysis, cnn, features, pipeline

torch.set_num_threads(1)


def test_gabor_energy_peaks_at_the_grating_orientation_and_frequency():
    bank = features.GaborBank(orientations=8, frequencies=(0.06, 0.12, 0.24))
    for f in bank.frequencies:
        for t in bank.thetas:
            for phase in (0.0, 1.3):  # energy is phase invariant
                e = bank.energy(features.grating(64, t, f, phase)[None])[0].mean(axis=(2, 3))  # (freq, ori)
                i, j = np.unravel_index(np.argmax(e), e.shape)
                assert bank.frequencies[i] == f and np.isclose(bank.thetas[j], t), (f, t, phase)
    # the orthogonal orientation at the same frequency responds far less
    e = bank.energy(features.grating(64, 0.0, 0.12)[None])[0].mean(axis=(2, 3))
    assert e[1, 4] < 0.1 * e[1, 0]
    # a uniform image gives no energy (zero-mean filters)
    assert bank.energy(np.full((1, 32, 32), 0.7)).max() < 1e-4


def test_gabor_bank_validates_and_pixels_are_the_image():
    with pytest.raises(ValueError, match="frequencies"):
        features.GaborBank(frequencies=(0.6,))
    with pytest.raises(ValueError, match="unknown baseline"):
        features.baseline_features(np.zeros((2, 8, 8)), ["hog"])
    views = np.random.default_rng(0).uniform(0, 1, (3, 40, 40)).astype(np.float32)
    f = features.baseline_features(views, ["pixels"], input_size=40)
    np.testing.assert_allclose(f["pixels"].reshape(3, 40, 40), views, atol=2e-6)


def test_scene_images_task_labels_the_edge_orientation():
    x, y = features.scene_images(200, 32, np.random.default_rng(1))
    assert x.shape == (200, 32, 32) and x.min() >= 0 and x.max() <= 1
    assert set(np.unique(y)) <= set(range(8)) and len(np.unique(y)) == 8
    # the dominant Gabor orientation of an image predicts its label far above chance (1/8)
    bank = features.GaborBank(orientations=8, frequencies=(0.06,), stride=4)
    e = bank.energy(x).mean(axis=(3, 4))[:, 0]  # (n, ori); filter ori = direction of luminance change
    assert np.mean(np.argmax(e, axis=1) == y) > 0.4


def _planted_baseline_cache(root, rng, n_images=36, cells=50):
    template = ebo.synthetic_natural_images(n_images, (46, 59), rng)
    views = pipeline._views(template, 32, False)
    feats = features.baseline_features(views, ["pixels", "gabor"], 32)
    planted = {"VISp": "gabor", "VISl": "pixels"}
    planes = [("Cux2-CreERT2", 175), ("Rorb-IRES2-Cre", 275), ("Rbp4-Cre_KL100", 375)]
    containers, k = [], 0
    for area, name in planted.items():
        for cre, depth in planes:
            containers.append(ebo.EmbeddedContainer(600 + k, 900 + k, area, cre, depth,
                                                    ebo.plant_responses(feats[name], cells, rng, 0.1)))
            k += 1
    ebo.write_embedded_cache(root, template, containers, rng, n_repeats=8, frames_per_presentation=3,
                             trial_noise=0.3, frame_noise=0.3, attrs={"planted_layers": planted})
    return planted


def test_cache_planted_from_pixels_and_gabor_is_recovered_through_the_baselines(tmp_path):
    rng = np.random.default_rng(3)
    root = tmp_path / "brain_observatory"
    planted = _planted_baseline_cache(root, rng)
    manifest = str(root / "manifest.json")
    exps, plan = pipeline.select_and_plan(manifest, ["VISp", "VISl"], None, None, None, True, "embedded")
    assert len(exps) == 6 and plan["download_gb"] == 0
    pipeline.build_responses(manifest, exps, str(tmp_path / "responses"), str(tmp_path / "stimuli.nc"), 0, 0,
                             "embedded", "median")
    base = pipeline.baseline_rsms(str(tmp_path / "stimuli.nc"), False, 32, ["pixels", "gabor"], None)
    base.to_netcdf(tmp_path / "baselines.nc")
    cnn.save_model(cnn.TaskCNN("small", "random", 32, seed=0).fit(), tmp_path / "m.pt")
    pipeline.cnn_rsms(str(tmp_path / "stimuli.nc"), str(tmp_path / "m.pt"), False, 8, "cpu").to_netcdf(tmp_path / "r.nc")
    ssm, best, stab, boot = pipeline.compare(str(tmp_path / "responses"),
                                             {"random": str(tmp_path / "r.nc"), "baselines": str(tmp_path / "baselines.nc")},
                                             1, "spearman", 50, None, [0.5], 2, "random", n_boot=40)
    assert list(boot["stage"].values[:2]) == ["pixels", "gabor"] and boot["n_units"].values.tolist() == [3, 3]
    b = ssm[(ssm["weights"] == "baselines") & (ssm["cre_line"] == "all")]
    for area, name in planted.items():
        rows = b[b["area"] == area].set_index("layer")
        assert rows.loc[name, "ssm"] > rows.drop(name)["ssm"].max(), area
        assert rows.loc[name, "p_perm"] < 0.05
    claims = pipeline.build_claims(ssm, boot, None, "random", "embedded", "demo", planted, 0.05, 0)
    rec = [c for c in claims if "area -> model map" in c.claim]
    assert len(rec) == 1 and rec[0].kind == "recovery"
    assert rec[0].details["recovered"] == planted and rec[0].measured == 1.0
    # the hierarchy statistics need CNN-planted areas: none here, so no such claims are made
    assert not [c for c in claims if "planted gap" in c.claim]


def test_disk_guard_fires_on_a_too_small_quota(tmp_path):
    with pytest.raises(bo.DiskSpaceError, match=r"disk_quota_gb=0.5.*max_containers_per_group"):
        bo.download_plan(40, 0.3, keep_nwb=True, folder=tmp_path / "allen", quota_gb=0.5)
    # streaming (keep_nwb false): one NWB at a time plus the extracted NetCDFs fits the same quota
    plan = bo.download_plan(40, 0.3, keep_nwb=False, folder=tmp_path / "allen", quota_gb=0.5, extracted_gb_per_file=0.001)
    assert plan["download_gb"] == pytest.approx(12.0) and plan["peak_disk_gb"] == pytest.approx(0.34)
    with pytest.raises(bo.DiskSpaceError, match="free on the disk"):
        bo.download_plan(10, 1e9, keep_nwb=False, folder=tmp_path)


def test_selection_prints_the_plan_and_checks_the_disk_before_any_download(tmp_path, capsys):
    """source allen: the experiments step counts the missing NWBs, prints files and GB, and refuses a
    plan above the quota (no download is attempted: the NWBs are absent and the network is off)."""
    from allensdk.api.api import Api

    rng = np.random.default_rng(5)
    root = tmp_path / "allen"
    template = ebo.synthetic_natural_images(4, (20, 26), rng)
    cs = [ebo.EmbeddedContainer(700 + k, 800 + k, "VISp", "Cux2-CreERT2", 175,
                                ebo.plant_responses(rng.standard_normal((4, 10)), 3, rng)) for k in range(3)]
    ebo.write_embedded_cache(root, template, cs, rng, n_repeats=2, frames_per_presentation=2)
    for f in (root / "ophys_experiment_data").glob("*.nwb"):
        f.unlink()

    def boom(*a, **k):
        raise AssertionError("network used")

    manifest = str(root / "manifest.json")
    with mock.patch.object(Api, "retrieve_file_over_http", boom), mock.patch.object(Api, "retrieve_parsed_json_over_http", boom):
        with pytest.raises(bo.DiskSpaceError, match="mouse_vs_cnn.download.disk_quota_gb=0.5"):
            pipeline.select_and_plan(manifest, ["VISp"], None, None, None, True, "allen",
                                     {"nwb_gb": 0.3, "keep_nwb": True, "disk_quota_gb": 0.5})
        df, plan = pipeline.select_and_plan(manifest, ["VISp"], None, None, None, True, "allen",
                                            {"nwb_gb": 0.3, "keep_nwb": False, "disk_quota_gb": 0.5})
    assert len(df) == 3 and plan["n_files"] == 3 and plan["download_gb"] == pytest.approx(0.9)
    assert "3 NWB files to download, about 0.9 GB" in capsys.readouterr().out


def test_allen_source_keeps_only_the_extracted_responses(tmp_path):
    """source allen, keep_nwb false: each NWB is deleted after extraction; a rerun reuses the NetCDFs."""
    from allensdk.api.api import Api

    rng = np.random.default_rng(4)
    root = tmp_path / "allen"
    template = ebo.synthetic_natural_images(6, (20, 26), rng)
    feats = rng.standard_normal((6, 20))
    cs = [ebo.EmbeddedContainer(700 + k, 800 + k, "VISp", "Cux2-CreERT2", 175, ebo.plant_responses(feats, 5, rng))
          for k in range(2)]
    ebo.write_embedded_cache(root, template, cs, rng, n_repeats=4, frames_per_presentation=3)
    manifest = str(root / "manifest.json")
    exps = bo.select_experiments(bo.open_cache(manifest), ["VISp"])

    def boom(*a, **k):
        raise AssertionError("network used")

    with mock.patch.object(Api, "retrieve_file_over_http", boom), mock.patch.object(Api, "retrieve_parsed_json_over_http", boom):
        for run in range(2):
            idx = pipeline.build_responses(manifest, exps, str(tmp_path / f"resp{run}"), str(tmp_path / f"s{run}.nc"), 0, 0,
                                           "allen", "median", str(tmp_path / "extracted"), keep_nwb=False)
            assert int(idx["n_cells"].sum()) == 10
    assert not list((root / "ophys_experiment_data").glob("*.nwb"))
    assert sorted(p.name for p in (tmp_path / "extracted").glob("*.nc")) == [
        "800_median_lag0.nc", "801_median_lag0.nc", "natural_scenes_template.nc"]
    a = xr.open_dataset(tmp_path / "resp0" / "VISp_Cux2-CreERT2_L23.nc")["response"].values
    b = xr.open_dataset(tmp_path / "resp1" / "VISp_Cux2-CreERT2_L23.nc")["response"].values
    np.testing.assert_array_equal(a, b)


def test_trial_median_against_brute_force():
    rng = np.random.default_rng(0)
    frame = np.array([0, 1, 0, -1, 1, 0, 1, 0])
    resp = rng.standard_normal((8, 3))
    med, halves, n = bo.trial_average(resp, frame, 2, rng, "median")
    np.testing.assert_allclose(med[:, 0], np.median(resp[[0, 2, 5, 7]], axis=0))
    np.testing.assert_allclose(med[:, 1], np.median(resp[[1, 4, 6]], axis=0))
    assert n.tolist() == [4, 3] and np.isfinite(halves).all()
    with pytest.raises(ValueError, match="trial statistic"):
        bo.trial_average(resp, frame, 2, rng, "max")


def test_cnn_to_cnn_subsampling_identifies_the_layer_with_enough_units():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    m = cnn.VGGLike(cnn.SMALL_CFG).eval()
    x = features.scene_images(40, 32, rng)[0]
    xin = cnn._prep_grey(torch.as_tensor(x)[:, None], 32)
    names, mats = cnn.layer_rsms(m, xin)
    acts = cnn.layer_activations(m, xin, names, max_units=3000)
    t = analysis.cnn_subsampling(acts, mats, names, [3, 1000], [0.5], 6, rng)
    ok = t.assign(ok=t["distance"] <= 1).groupby(["axis", "size"])["ok"].mean()
    assert ok[("units", 1000)] >= 0.9
    self_ssm = t[t["axis"] == "units"].groupby("size")["ssm_self"].mean()
    assert self_ssm[1000] > 0.95 and self_ssm[1000] > self_ssm[3]
    assert ok[("images", 20)] >= 0.9


def _claims_inputs(best_idx: dict, p: dict, reps: dict, n_layers=8):
    """An SSM table and a bootstrap set whose best layers are given (peak of 1 at that index)."""
    layers = [f"conv{k + 1}_1" for k in range(n_layers)]
    rows = []
    for a, k in best_idx.items():
        for j, name in enumerate(layers):
            rows.append({"weights": "w", "group": f"{a}_all_all", "area": a, "cre_line": "all", "depth_layer": "all",
                         "n_cells": 50, "layer": name, "layer_index": j, "ssm": 0.5 - 0.05 * abs(j - k),
                         "p_perm": p[a]})
        for name, v in (("pixels", 0.1), ("gabor", 0.2)):
            rows.append({"weights": "baselines", "group": f"{a}_all_all", "area": a, "cre_line": "all",
                         "depth_layer": "all", "n_cells": 50, "layer": name, "layer_index": 0, "ssm": v, "p_perm": 0.01})
    areas = list(best_idx)
    B = len(next(iter(reps.values())))
    prof = np.zeros((B, len(areas), 2 + n_layers))
    for i, a in enumerate(areas):
        for b, k in enumerate(reps[a]):
            prof[b, i, 2 + k] = 1.0
    boot = xr.Dataset({"ssm": (("replicate", "area", "stage"), prof), "n_units": (("area",), [3] * len(areas))},
                      coords={"area": areas, "stage": ["pixels", "gabor"] + layers,
                              "stage_kind": ("stage", ["baseline"] * 2 + ["cnn"] * n_layers)}, attrs={"unit": "containers"})
    return pd.DataFrame(rows), boot


def test_hierarchy_claim_needs_significance_and_a_ci_clear_of_zero():
    best = {"VISp": 2, "VISl": 5, "VISam": 6}
    reps = {"VISp": [2] * 50, "VISl": [5] * 25 + [4] * 25, "VISam": [6] * 50}
    ssm, boot = _claims_inputs(best, {"VISp": 0.01, "VISl": 0.01, "VISam": 0.01}, reps)
    c = {k: v for k, v in ((cl.claim.split(" ")[0], cl) for cl in pipeline.build_claims(ssm, boot, None, "w", "allen", "paper", None))}
    gap = next(cl for cl in pipeline.build_claims(ssm, boot, None, "w", "allen", "paper", None) if "earlier" in cl.claim)
    assert gap.kind == "finding" and gap.measured == pytest.approx(2 - 5.5) and gap.outcome == "holds"
    assert gap.n == 9 and gap.ci[1] < 0
    assert c  # every claim has a sentence
    # the bootstrap straddles zero: inconclusive
    reps2 = {"VISp": [2] * 25 + [7] * 25, "VISl": [5] * 50, "VISam": [6] * 50}
    ssm, boot = _claims_inputs(best, {"VISp": 0.01, "VISl": 0.01, "VISam": 0.01}, reps2)
    gap = next(cl for cl in pipeline.build_claims(ssm, boot, None, "w", "allen", "paper", None) if "earlier" in cl.claim)
    assert gap.ci[0] < 0 < gap.ci[1] and gap.outcome == "inconclusive"
    # VISp's best layer is not significant: it does not count, the claim is inconclusive
    ssm, boot = _claims_inputs(best, {"VISp": 0.2, "VISl": 0.01, "VISam": 0.01}, reps)
    gap = next(cl for cl in pipeline.build_claims(ssm, boot, None, "w", "allen", "paper", None) if "earlier" in cl.claim)
    assert np.isnan(gap.measured) and gap.outcome == "inconclusive" and gap.details["not_significant"] == ["VISp"]
    # the baseline claim: CNN (0.5) beats the best baseline (0.2) in every area
    base = next(cl for cl in pipeline.build_claims(ssm, boot, None, "w", "allen", "paper", None) if "baselines" in cl.claim)
    assert base.measured == pytest.approx(0.3)


def test_embedded_hierarchy_claims_are_recoveries_of_the_planted_values():
    best = {"VISp": 0, "VISl": 2, "VISam": 6}
    reps = {a: [k] * 30 for a, k in best.items()}
    ssm, boot = _claims_inputs(best, {a: 0.01 for a in best}, reps)
    planted = {"VISp": "conv1_1", "VISl": "conv3_1", "VISam": "conv7_1"}
    claims = pipeline.build_claims(ssm, boot, None, "w", "embedded", "demo", planted)
    assert {c.kind for c in claims} == {"recovery"}
    gap = next(c for c in claims if "planted gap" in c.claim)
    assert gap.expected == [-4.0 - 1, -4.0 + 1] and gap.outcome == "holds"
    spread = next(c for c in claims if "planted spread" in c.claim)
    assert spread.details["planted_value"] == 4.0 and spread.outcome == "holds"
    # a planted map the analysis misses: the recovery fails
    wrong = {"VISp": "conv6_1", "VISl": "conv3_1", "VISam": "conv1_1"}
    gap = next(c for c in pipeline.build_claims(ssm, boot, None, "w", "embedded", "demo", wrong) if "planted gap" in c.claim)
    assert gap.outcome == "fails"


def test_resample_cells_by_container_keeps_containers_whole():
    g = analysis.NeuralGroup("g", "VISp", "all", "all", np.zeros((9, 4)), np.zeros((2, 9, 4)),
                             experiment=np.array([1, 1, 1, 2, 2, 2, 2, 3, 3]))
    rng = np.random.default_rng(0)
    for _ in range(20):
        idx = analysis.resample_cells(g, rng)
        assert len(idx) in range(6, 13)  # three containers drawn (sizes 3, 4, 2)
        assert analysis.n_units(g) == 3
    assert len(analysis.resample_cells(g, rng, "cells")) == 9
