"""mouse_vs_cnn: CNN layers and RSMs, mouse-view images, planted mapping recovery, claims, workflow."""
from __future__ import annotations

import json
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import torch

from neurorepro.allen.embedded_brain_observatory import plant_responses
from neurorepro.measures.similarity import rsm
from neurorepro.mouse_vs_cnn import analysis, cnn, images, pipeline

from conftest import tiny_config

torch.set_num_threads(1)


def test_vgg16_has_torchvision_feature_layout():
    m = cnn.VGGLike(cnn.VGG16_CFG)
    assert len(m.layer_names) == 18
    assert m.layer_names[:3] == ["conv1_1", "conv1_2", "pool1"] and m.layer_names[-1] == "pool5"
    convs = [k for k in m.state_dict() if k.endswith("weight")]
    # torchvision's vgg16().features: conv weights at these Sequential indices
    idx = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    assert convs == [f"features.{i}.weight" for i in idx]


def test_layer_rsms_match_brute_force_forward():
    torch.manual_seed(0)
    m = cnn.VGGLike(cnn.SMALL_CFG).eval()
    x = torch.randn(9, 3, 32, 32)
    names, mats = cnn.layer_rsms(m, x, batch_size=4)
    assert names == m.layer_names
    with torch.no_grad():
        h, brute = x, []
        for layer in m.features:
            h = layer(h)
            if isinstance(layer, (torch.nn.ReLU, torch.nn.MaxPool2d)):
                brute.append(rsm(h.flatten(1).double().numpy()))
    np.testing.assert_allclose(mats, np.stack(brute), atol=1e-6)
    acts = cnn.layer_activations(m, x, ["pool2"], batch_size=4)
    assert acts["pool2"].shape == (9, 32 * 8 * 8)
    with pytest.raises(ValueError, match="unknown layers"):
        cnn.layer_activations(m, x, ["fc7"])


def test_gram_pearson_chunks_equal_corrcoef():
    x = torch.randn(6, 1000) + 3.0
    np.testing.assert_allclose(cnn._gram_pearson(x, chunk=128), np.corrcoef(x.double().numpy()), atol=1e-9)


def test_imagenet_weights_offline_give_a_clear_error():
    from urllib.error import URLError

    with mock.patch("torch.hub.load_state_dict_from_url", side_effect=URLError("no network")):
        with pytest.raises(cnn.WeightsUnavailable, match="weights: random"):
            cnn.TaskCNN("vgg16", "imagenet", 224).fit()


def test_task_cnn_validates_parameters():
    """``__init__`` stores what it is given (scikit-learn's convention); ``fit`` rejects it, naming the parameter."""
    for args, match in [(("alexnet", "random"), "arch"), (("small", "imagenet"), "weights"),
                        (("small", "random", 8), "input_size")]:
        model = cnn.TaskCNN(*args)
        assert (model.arch, model.weights) == args[:2]
        with pytest.raises(ValueError, match=match):
            model.fit()


def test_random_cnn_is_seeded_and_saved(tmp_path):
    a = cnn.TaskCNN("small", "random", 32, seed=3).fit()
    b = cnn.TaskCNN("small", "random", 32, seed=3).fit()
    for (k, va), vb in zip(a.model_.state_dict().items(), b.model_.state_dict().values()):
        assert torch.equal(va, vb), k
    cnn.save_model(a, tmp_path / "m.pt")
    m, meta = cnn.load_model(str(tmp_path / "m.pt"))
    assert meta["weights"] == "random" and meta["layers"] == m.layer_names
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(m.features(x), a.model_.features(x))


def test_mouse_view_unwarped_is_the_template_and_warp_matches_allensdk():
    from allensdk.brain_observatory.stimulus_info import NATURAL_SCENES_PIXELS, BrainObservatoryMonitor

    rng = np.random.default_rng(0)
    t = rng.integers(0, 256, (1, *NATURAL_SCENES_PIXELS)).astype(np.uint8)
    flat = images.mouse_view(t, warp=False)
    np.testing.assert_allclose(flat[0], t[0] / 255.0, atol=1e-6)  # placed, then cropped back exactly
    smooth = np.clip(rng.normal(127, 1, (1, *NATURAL_SCENES_PIXELS)), 0, 255).astype(np.uint8)
    smooth[0, :, 600:] = 220  # an edge
    s = 8
    fast = images.mouse_view(smooth, warp=True, downsample=s)[0]
    mon = BrainObservatoryMonitor()
    ref = mon.warp_image(mon.natural_scene_image_to_screen(smooth[0], origin="upper")).astype(float) / 255
    h, w = ref.shape[0] // s, ref.shape[1] // s
    ref = ref[: h * s, : w * s].reshape(h, s, w, s).mean(axis=(1, 3))
    assert fast.shape == ref.shape  # the warped image fills the monitor: no crop
    assert np.corrcoef(fast.ravel(), ref.ravel())[0, 1] > 0.98
    x = images.cnn_input(fast[None], 32)
    assert tuple(x.shape) == (1, 3, 32, 32)


def _group(name, area, rates, rng, trial_sd=0.02):
    halves = np.stack([rates + trial_sd * rng.standard_normal(rates.shape) for _ in range(2)])
    return analysis.NeuralGroup(name, area, "Cux2-CreERT2", "L23", halves.mean(0), halves)


def test_planted_area_to_layer_mapping_is_recovered():
    """Cells planted from CNN layer k of a random CNN best match layer k (well-separated layers)."""
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    m = cnn.VGGLike(cnn.SMALL_CFG).eval()
    x = images.cnn_input(rng.uniform(0, 1, (30, 40, 40)).astype(np.float32), 32)
    names, mats = cnn.layer_rsms(m, x)
    planted = {"VISp": "conv1_1", "VISam": "pool4"}
    acts = cnn.layer_activations(m, x, list(planted.values()))
    best = []
    for area, layer in planted.items():
        g = _group(f"{area}_g", area, plant_responses(acts[layer], 400, rng), rng)
        t = analysis.compare_group(g, mats, names, rng, n_permutations=20)
        assert t["p_perm"].min() < 0.1
        best.append(t.loc[t["ssm"].idxmax()])
    best = pd.DataFrame(best).assign(weights="random")
    assert dict(zip(best["area"], best["layer"])) == planted
    gap = analysis.hierarchy_gap(best.assign(cre_line="all"))
    assert gap["gap"] < 0


def test_bad_config_names_the_key(tmp_path):
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate
    import yaml
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    cfg = yaml.safe_load((repo / "config.yaml").read_text())
    cfg["mouse_vs_cnn"]["demo"]["cnn"]["input_size"] = 4
    with pytest.raises(WorkflowError, match="input_size"):
        validate(cfg, str(repo / "workflow/schemas/config.schema.yaml"))
    cfg = yaml.safe_load((repo / "config.yaml").read_text())
    cfg["mouse_vs_cnn"]["n_permutation"] = 5
    with pytest.raises(WorkflowError, match="n_permutation"):
        validate(cfg, str(repo / "workflow/schemas/config.schema.yaml"))


TINY = tiny_config("mouse_vs_cnn")  # tests/configs/mouse_vs_cnn.yaml


@pytest.mark.workflow
def test_workflow_mouse_vs_cnn(snakemake_run):
    snakemake_run("mouse_vs_cnn", config=TINY)
    out = snakemake_run.workdir / "results/mouse_vs_cnn"
    claims = json.loads((out / "claims.json").read_text())
    assert {c["source"] for c in claims} == {"embedded"}
    # planted data: the hierarchy statements are recoveries; the CNN-to-CNN robustness is a finding
    kinds = {c["claim"].split(":")[0]: c["kind"] for c in claims}
    assert kinds["the analysis recovers the planted area -> model map"] == "recovery"
    rec = next(c for c in claims if "area -> model map" in c["claim"])
    assert {"VISp", "VISam"} == set(rec["details"]["planted"]) and rec["ci"] is not None
    assert any(c["kind"] == "finding" and "units of a CNN layer" in c["claim"] for c in claims)
    for c in claims:
        assert c["outcome"] in ("holds", "fails", "inconclusive") and c["n"]
    assert sorted(p.name for p in (out / "responses").glob("*.nc")) == ["VISam_Cux2-CreERT2_L23.nc", "VISp_Cux2-CreERT2_L23.nc"]
    ssm = pd.read_csv(out / "ssm.tsv", sep="\t")
    assert set(ssm["group"]) == {"VISp_all_all", "VISam_all_all", "VISp_Cux2-CreERT2_L23", "VISam_Cux2-CreERT2_L23"}
    assert ssm["ssm"].between(-1, 1).all()
    exps = pd.read_csv(out / "experiments.tsv", sep="\t")
    assert len(exps) == 2  # the epileptiform and the failed containers were skipped
    assert {"pixels", "gabor"} <= set(ssm["layer"])  # the baselines beside every CNN layer
    rob = pd.read_csv(out / "cnn_subsampling.tsv", sep="\t")
    assert set(rob["axis"]) == {"units", "images"}
    for name in ("ssm_vs_layer", "best_layer_heatmap", "stability", "cnn_subsampling"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000
        assert (out / "figures" / f"{name}.pdf").exists()


def test_planting_layer_not_in_the_cnn_names_the_config_key(tmp_path):
    cnn.save_model(cnn.TaskCNN("small", "random", 32, seed=0).fit(), tmp_path / "m.pt")
    template = np.zeros((2, 10, 12), np.uint8)
    with pytest.raises(ValueError, match="mouse_vs_cnn.embedded.planted_layers.*conv5_3"):
        pipeline.planting_features(template, str(tmp_path / "m.pt"), ["conv5_3"], False, 2, None, 0, "cpu")



def test_cnn_features_memory_guard(tmp_path):
    import xarray as xr

    from neurorepro.runtime import MemoryBudgetError

    cnn.save_model(cnn.TaskCNN("small", "random", 32, seed=0).fit(), tmp_path / "m.pt")
    model, _ = cnn.load_model(str(tmp_path / "m.pt"), "cpu")
    per_image = cnn.largest_layer_size(model, torch.zeros(1, 3, 32, 32))
    assert per_image >= 32 * 32  # the first conv layer keeps the full 32 x 32 grid
    xr.Dataset({"template": (("image", "y", "x"), np.zeros((4, 10, 12), np.uint8))}).to_netcdf(tmp_path / "s.nc")
    ds = pipeline.cnn_rsms(str(tmp_path / "s.nc"), str(tmp_path / "m.pt"), False, 2, "cpu", memory_limit_gb=1.0)
    assert ds["rsm"].shape[1:] == (4, 4)
    with pytest.raises(MemoryBudgetError, match=r"CNN features of 4 images.*memory_limit_gb=1e-09"):
        pipeline.cnn_rsms(str(tmp_path / "s.nc"), str(tmp_path / "m.pt"), False, 2, "cpu", memory_limit_gb=1e-9)
