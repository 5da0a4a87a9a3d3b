"""Paper `dimensionality` (Recanatesi et al. 2019): experiment, analysis, claims, figures, workflow."""
from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neurorepro.dimensionality import MeasureSettings, early_layers, hidden_layers, late_layer, layer_dimensions
from neurorepro.dimensionality.analysis import (
    build_claims,
    class_gap,
    compression_over_training,
    expansion_compression,
    sgd_noise_effect,
)
from neurorepro.dimensionality.experiment import train_network, training_dimensions
from neurorepro.dimensionality.figures import plot_dimension_over_training, plot_dimension_per_layer, plot_sgd_noise
from neurorepro.nets import load_dataset

LAYERS = ["input", "hidden1", "hidden2", "hidden3", "hidden4", "output"]


def test_layer_roles():
    assert hidden_layers(LAYERS) == ["hidden1", "hidden2", "hidden3", "hidden4"]
    assert late_layer(LAYERS) == "hidden4"
    assert early_layers(LAYERS) == ["hidden1", "hidden2"]
    assert early_layers(["input", "stem", "block1", "block2", "pool", "output"]) == ["stem", "block1"]
    with pytest.raises(ValueError, match="no hidden layer"):
        late_layer(["input", "output"])


def _planted_activations(dims_by_snapshot: list[dict[str, int]], n: int = 600, seed: int = 0) -> xr.Dataset:
    """Activations where layer L at snapshot s lies on a random linear subspace of planted dimension."""
    rng = np.random.default_rng(seed)
    layers = list(dims_by_snapshot[0])
    width = 40
    data = {}
    for layer in layers:
        stack = []
        for planted in dims_by_snapshot:
            Z = rng.normal(size=(n, planted[layer]))
            Q = np.linalg.qr(rng.normal(size=(width, planted[layer])))[0]
            stack.append(Z @ Q.T)
        data[layer] = (("snapshot", "image", f"{layer}_unit"), np.stack(stack).astype(np.float32))
    ds = xr.Dataset(data, coords={"step": ("snapshot", [0, 10, 20]), "epoch": ("snapshot", [0.0, 1.0, 2.0])})
    ds.attrs["layers"] = ",".join(layers)
    return ds


PLANTED = [  # expansion then compression, late layer compressing over training
    {"input": 6, "hidden1": 10, "hidden2": 9, "hidden3": 8, "hidden4": 8, "output": 5},
    {"input": 6, "hidden1": 12, "hidden2": 10, "hidden3": 6, "hidden4": 5, "output": 4},
    {"input": 6, "hidden1": 12, "hidden2": 9, "hidden3": 5, "hidden4": 3, "output": 3},
]


@pytest.fixture(scope="module")
def planted_dims():
    ds = _planted_activations(PLANTED)
    settings = MeasureSettings(measures=["pr", "pca90", "twonn", "mle"], mle_k=15)
    dims = layer_dimensions(ds, settings)
    dims["network"] = "toy"
    return ds, dims


def test_layer_dimensions_recover_planted_dimensions(planted_dims):
    _, dims = planted_dims
    assert len(dims) == 3 * 6 * 4
    for s, planted in zip([0, 10, 20], PLANTED):
        for layer, d in planted.items():
            row = dims[(dims["step"] == s) & (dims["layer"] == layer)].set_index("measure")["dimension"]
            assert row["pr"] == pytest.approx(d, rel=0.15)
            assert row["pca90"] == pytest.approx(np.ceil(0.9 * d), abs=1)  # isotropic: 90% needs ~0.9 d axes
            assert row["twonn"] == pytest.approx(d, rel=0.25)
            assert row["mle"] == pytest.approx(d, rel=0.25)


def test_training_dimensions_ends_measures_late_layer_in_between(planted_dims):
    ds, dims_all = planted_dims
    settings = MeasureSettings(measures=["pr"])
    ends = training_dimensions(ds, settings, all_layers_at="ends")
    assert set(ends.loc[ends["step"] == 10, "layer"]) == {"hidden4"}
    assert set(ends.loc[ends["step"] == 0, "layer"]) == set(LAYERS) == set(ends.loc[ends["step"] == 20, "layer"])
    merged = ends.merge(dims_all[dims_all["measure"] == "pr"], on=["step", "layer", "measure"])
    assert np.allclose(merged["dimension_x"], merged["dimension_y"])
    with pytest.raises(ValueError, match="all_layers_at"):
        training_dimensions(ds, settings, all_layers_at="some")


def test_analysis_on_planted_dims(planted_dims):
    _, dims = planted_dims
    ec = expansion_compression(dims, "pr")
    assert ec["late_layer"] == "hidden4" and ec["early_layers"] == "hidden1,hidden2"
    assert ec["ratio"] == pytest.approx(3 / 12, rel=0.2)  # planted late 3 vs early peak 12
    assert ec["ratio_init"] == pytest.approx(8 / 10, rel=0.2)
    ct = compression_over_training(dims, "twonn")
    assert ct["ratio"] == pytest.approx(3 / 8, rel=0.3) and ct["spearman"] == pytest.approx(-1.0)
    cg = class_gap(dims, "pr", n_classes=3)
    assert cg["final_over_classes"] == pytest.approx(1.0, rel=0.15)


def test_claims_hold_for_planted_compression_and_fail_for_planted_expansion(planted_dims):
    _, dims = planted_dims
    sweep = pd.DataFrame(
        {"lr": [0.01, 0.1, 0.01, 0.1], "batch_size": [128, 128, 16, 16], "measure": "twonn",
         "dimension": [6.0, 4.0, 5.0, 3.0]}  # noise lr/batch ranks: 1, 3, 2, 4
    )
    kw = dict(linear_measure="pr", intrinsic_measure="twonn", n_classes=3, class_band=[0.5, 1.5],
              scale="demo", source="embedded")
    claims = build_claims({"toy": dims}, sweep, **kw)
    assert len(claims) == 2 + 2 + 1 + 1
    assert all(c.holds for c in claims), [(c.claim, c.measured) for c in claims if not c.holds]
    # the same network with training reversed (late layer expanding) must fail claims 1-2
    rev = dims.copy()
    rev["step"] = 20 - rev["step"]
    rev["epoch"] = 2.0 - rev["epoch"]
    sweep_rev = sweep.assign(dimension=sweep["dimension"][::-1].to_numpy())
    failed = [c for c in build_claims({"toy": rev}, sweep_rev, **kw) if not c.holds]
    assert {c.details["measure"] for c in failed if "decreases over training" in c.claim} == {"pr", "twonn"}
    assert any("SGD noise" in c.claim for c in failed)
    assert sgd_noise_effect(sweep, "twonn")["spearman"] == pytest.approx(-1.0)


def test_figures_draw(planted_dims):
    _, dims = planted_dims
    hist = pd.DataFrame({"step": [0, 10, 20], "epoch": [0.0, 1.0, 2.0], "test_acc": [0.1, 0.8, 0.9]})
    sweep = pd.DataFrame(
        {"lr": [0.01, 0.1] * 2, "batch_size": [16, 16, 128, 128], "measure": "twonn", "layer": "hidden4",
         "dimension": [4.0, 3.0, 6.0, 5.0], "test_acc": [0.9, 0.92, 0.85, 0.9]}
    )
    for fig in (
        plot_dimension_per_layer({"toy": dims}),
        plot_dimension_over_training({"toy": dims}, {"toy": hist}, ["pr", "twonn"], n_classes=3),
        plot_sgd_noise(sweep, ["twonn"]),
    ):
        assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) >= 2
        matplotlib.pyplot.close(fig)


def test_train_network_records_probe_and_validates():
    import torch

    torch.set_num_threads(1)
    data = load_dataset("digits", n_train=300, n_test=100, seed=1)
    _, tr = train_network(data, kind="deepnet", model_kwargs={"widths": [32, 32]}, lr=0.05, batch_size=32,
                          momentum=0.9, weight_decay=0.0, epochs=2, snapshot_epochs=[0, 2, 50], n_probe=80, seed=1)
    acts = tr.activations_
    assert list(acts["epoch"].values) == [0.0, 2.0]  # snapshot epochs past `epochs` are dropped
    assert acts.sizes["image"] == 80 and acts.attrs["n_classes"] == 10
    with pytest.raises(ValueError, match="n_probe"):
        train_network(data, kind="deepnet", model_kwargs={"widths": [8]}, lr=0.05, batch_size=32, momentum=0.0,
                      weight_decay=0.0, epochs=1, snapshot_epochs=[0, 1], n_probe=1000, seed=1)


TINY = {
    "dimensionality": {
        "networks": {"deepnet": {"widths": [24, 24, 24]}},
        "run_networks": ["deepnet"],  # the ResNet path is covered by the unit tests of nets/
        "n_train": 300,
        "n_test": 120,
        "n_probe": 100,
        "epochs": 2,
        "snapshot_epochs": [0, 1, 2],
        "measures": ["pr", "twonn"],
        "sgd_sweep": {"lr": [0.05, 0.2, 0.5], "batch_size": [64], "epochs": 1},
    }
}


@pytest.mark.workflow
def test_dimensionality_workflow_tiny(snakemake_run):
    snakemake_run("dimensionality", config=TINY)
    out = snakemake_run.workdir / "results" / "dimensionality"
    claims = json.loads((out / "claims.json").read_text())
    assert {c["target"] for c in claims} == {"dimensionality"}
    assert len(claims) == 5 + 1
    assert all(np.isfinite(c["measured"]) for c in claims)
    assert all(c["scale"] == "demo" and c["details"]["seed"] == 2016 for c in claims)
    table = pd.read_csv(out / "dimensions.tsv", sep="\t")
    assert set(table["network"]) == {"deepnet"} and set(table["measure"]) == {"pr", "twonn"}
    assert set(table["layer"]) == {"input", "hidden1", "hidden2", "hidden3", "output"}
    assert table["dimension"].between(0.5, 100).all()
    sweep = pd.read_csv(out / "sgd_sweep.tsv", sep="\t")
    assert len(sweep) == 3 * 2 and set(sweep["layer"]) == {"hidden3"}
    for name in ("dimension_per_layer", "dimension_over_training", "sgd_noise"):
        for ext in ("pdf", "png"):
            assert (out / "figures" / f"{name}.{ext}").stat().st_size > 1000
    # deterministic: retraining from scratch gives the same dimensions, byte for byte
    first = (out / "deepnet" / "dimensions.tsv").read_text()
    snakemake_run("results/dimensionality/deepnet/dimensions.tsv", "--forcerun", "dimensionality_train", config=TINY)
    assert (out / "deepnet" / "dimensions.tsv").read_text() == first


def test_load_network_data_splits_settings_and_names_the_config_key(tmp_path):
    from neurorepro.dimensionality import load_network_data
    from neurorepro.nets import DatasetUnavailable

    train = {"dataset": "digits", "n_train": 50, "n_test": 20, "kind": "deepnet", "lr": 0.1}
    data, rest = load_network_data(train, tmp_path, seed=0, network="mlp")
    assert rest == {"kind": "deepnet", "lr": 0.1} and "dataset" in train  # the input is left as it was
    assert len(data[0]) == 50 and len(data[2]) == 20
    try:
        import torchvision  # noqa: F401
    except ImportError:
        with pytest.raises(DatasetUnavailable, match=r"dimensionality\.networks\.cnn\.dataset"):
            load_network_data({**train, "dataset": "mnist"}, tmp_path, seed=0, network="cnn")
