"""Shared nets layer: data, models, training loop, snapshots."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from neurorepro.nets import (
    DatasetUnavailable,
    DeepNet,
    SGDTrainer,
    build_model,
    load_dataset,
    load_snapshot,
    load_snapshots,
    probe_activations,
    save_snapshots,
)
from neurorepro.nets.train import evaluate
from neurorepro.runtime import seed_everything


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0)


def test_digits_split_shapes_and_standardisation(digits):
    Xtr, ytr, Xte, yte = digits
    assert Xtr.shape == (1437, 1, 8, 8) and Xte.shape == (360, 1, 8, 8)
    assert Xtr.dtype == torch.float32 and ytr.dtype == torch.int64
    assert set(ytr.tolist()) == set(range(10))
    assert abs(float(Xtr.mean())) < 1e-5 and float(Xtr.std()) == pytest.approx(1.0, rel=1e-3)
    # subsets are reproducible and disjoint between train and test
    a = load_dataset("digits", n_train=100, n_test=50, seed=3, standardize=False)
    b = load_dataset("digits", n_train=100, n_test=50, seed=3, standardize=False)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    tr = {x.numpy().tobytes() for x in a[0]}
    assert not any(x.numpy().tobytes() in tr for x in a[2]) or len(tr) < 100  # digits has a few duplicate images


def test_unknown_and_unavailable_datasets_fail_clearly(tmp_path):
    with pytest.raises(ValueError, match="unknown data set"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="n_train"):
        load_dataset("digits", n_train=10_000)
    try:
        import torchvision  # noqa: F401
    except ImportError:
        with pytest.raises(DatasetUnavailable, match="digits"):
            load_dataset("fashion_mnist", tmp_path)


def test_deepnet_layers_match_forward():
    seed_everything(0)
    net = DeepNet(64, [20, 30], 10, activation="tanh")
    x = torch.randn(7, 1, 8, 8)
    layers = net.layers(x)
    assert list(layers) == net.layer_names == ["input", "hidden1", "hidden2", "output"]
    assert [v.shape[1] for v in layers.values()] == [64, 20, 30, 10]
    assert torch.allclose(layers["output"], net(x))
    # hidden1 is tanh(W1 x + b1), computed by hand
    W, b = net.hidden[0].weight, net.hidden[0].bias
    assert torch.allclose(layers["hidden1"], torch.tanh(x.reshape(7, -1) @ W.T + b))


def test_resnet_layers_match_forward_in_eval_mode():
    seed_everything(0)
    net = build_model("resnet", (1, 8, 8), 10, widths=[4, 8], blocks_per_stage=1).eval()
    x = torch.randn(5, 1, 8, 8)
    layers = net.layers(x)
    assert list(layers) == net.layer_names == ["input", "stem", "block1", "block2", "pool", "output"]
    assert layers["block2"].shape == (5, 8 * 4 * 4)  # second stage halves 8x8 to 4x4
    assert torch.allclose(layers["output"], net(x), atol=1e-6)
    with pytest.raises(ValueError, match="model kind"):
        build_model("transformer", (1, 8, 8), 10)


def _train(digits, epochs=8, seed=0, **kw):
    Xtr, ytr, Xte, yte = digits
    seed_everything(seed)
    net = build_model("deepnet", Xtr.shape[1:], 10, widths=[64, 64])
    trainer = SGDTrainer(lr=0.05, batch_size=32, momentum=0.9, epochs=epochs, seed=seed, **kw)
    trainer.fit(net, Xtr, ytr, X_test=Xte, y_test=yte, probe=Xte[:100], probe_labels=yte[:100])
    return net, trainer


def test_training_on_digits_reaches_stated_test_accuracy(digits):
    torch.set_num_threads(1)
    net, trainer = _train(digits)
    h = trainer.history_
    assert list(h["epoch"]) == list(range(9))
    assert h["test_acc"].iloc[0] < 0.25  # chance level at initialisation
    assert h["test_acc"].iloc[-1] >= 0.93  # stated: an MLP reaches >= 93% on held-out digits
    assert h["train_loss"].iloc[-1] < 0.3 * h["train_loss"].iloc[0]
    ds = trainer.activations_
    assert ds.sizes["snapshot"] == 9 and ds.sizes["image"] == 100
    assert ds.attrs["layers"] == "input,hidden1,hidden2,output"
    assert ds["hidden1"].shape == (9, 100, 64)


def test_same_seed_same_numbers_and_snapshots_reload_identically(digits, tmp_path):
    net_a, tr_a = _train(digits, epochs=2, snapshot_steps=[0, 10, 90])
    _, tr_b = _train(digits, epochs=2, snapshot_steps=[0, 10, 90])
    assert tr_a.history_.drop(columns="seconds").equals(tr_b.history_.drop(columns="seconds"))
    assert np.array_equal(tr_a.activations_["hidden2"].values, tr_b.activations_["hidden2"].values)

    path = tmp_path / "snaps.pt"
    save_snapshots(tr_a, path, meta={"seed": 0})
    saved = load_snapshots(path)
    assert sorted(saved["snapshots"]) == [0, 10, 90] and saved["meta"] == {"seed": 0}
    Xte = digits[2]
    dev = next(net_a.parameters()).device  # the trainer's device (auto: CUDA where present)
    for k, step in enumerate([0, 10, 90]):
        fresh = build_model("deepnet", Xte.shape[1:], 10, widths=[64, 64]).to(dev)
        load_snapshot(fresh, path, step)
        acts = probe_activations(fresh, Xte[:100])
        for layer in ("hidden1", "output"):  # bitwise on the same device (not across CPU and GPU)
            assert np.array_equal(acts[layer], tr_a.activations_[layer].values[k])
    # final snapshot reloads to the trained net's outputs and accuracy
    fresh = load_snapshot(build_model("deepnet", Xte.shape[1:], 10, widths=[64, 64]).to(dev), path)
    assert torch.equal(fresh(Xte.to(dev)), net_a(Xte.to(dev)))
    assert evaluate(fresh, Xte, digits[3])[1] == tr_a.history_["test_acc"].iloc[-1]


def test_trainer_validates_parameters():
    """``__init__`` stores what it is given (scikit-learn's convention); ``fit`` rejects it, naming the parameter."""
    net = DeepNet(4, [3], 2)
    X, y = torch.randn(10, 4), torch.randint(0, 2, (10,))
    for bad, match in [({"lr": 0}, "lr"), ({"momentum": 1.0}, "momentum"), ({"loss": "hinge"}, "loss"),
                       ({"batch_size": 2.5}, "batch_size"), ({"snapshot_epochs": [1], "snapshot_steps": [1]}, "not both")]:
        tr = SGDTrainer(**bad)
        assert all(getattr(tr, k) == v for k, v in bad.items())
        with pytest.raises(ValueError, match=match):
            tr.fit(net, X, y)
    with pytest.raises(ValueError, match="outside"):
        SGDTrainer(epochs=1, snapshot_steps=[0, 99]).fit(net, X, y)


def test_mse_loss_trains_and_diverging_lr_is_reported():
    seed_everything(1)
    X = torch.randn(200, 5)
    y = (X[:, 0] > 0).long()
    net = DeepNet(5, [16], 2)
    tr = SGDTrainer(lr=0.1, batch_size=20, epochs=20, loss="mse", seed=1).fit(net, X, y)
    assert tr.history_["train_acc"].iloc[-1] > 0.9
    with pytest.raises(FloatingPointError, match="lower lr"):
        SGDTrainer(lr=1e6, batch_size=20, epochs=5, loss="mse").fit(DeepNet(5, [16], 2), X * 100, y)


def test_probe_projection_keeps_distances_and_is_fixed():
    from neurorepro.nets.train import projection_matrix

    seed_everything(2)
    net = build_model("resnet", (1, 8, 8), 10, widths=[16], blocks_per_stage=1)  # stem/block1: 16*8*8 = 1024 units
    X = torch.randn(60, 1, 8, 8)
    full = probe_activations(net, X)
    proj = probe_activations(net, X, max_features=256, projection_seed=5, batch_size=25)  # batches share the matrix
    assert full["block1"].shape == (60, 1024) and proj["block1"].shape == (60, 256)
    assert np.array_equal(proj["pool"], full["pool"])  # narrow layers are kept as they are
    P = projection_matrix(1024, 256, 5).numpy()
    assert np.allclose(proj["block1"], full["block1"] @ P, atol=1e-4)
    # Johnson-Lindenstrauss: pairwise distances survive within ~25%
    from scipy.spatial.distance import pdist

    ratio = pdist(proj["block1"]) / pdist(full["block1"])
    assert 0.75 < ratio.min() and ratio.max() < 1.25
    assert np.array_equal(projection_matrix(1024, 256, 5).numpy(), P)
