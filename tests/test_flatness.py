"""flatness: the bounds on random networks (where they must hold), the identities they
rest on, the sweep pieces and the claims on planted tables."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from neurorepro.flatness import bounds
from neurorepro.flatness.analysis import correlation_table, final_rows, make_claims, spearman
from neurorepro.flatness.experiment import select_classes, snapshot_epochs, train_and_measure
from neurorepro.flatness.measure import (
    MeasureSettings,
    dense_input,
    feature_lipschitz,
    measure_network,
    mse_loss,
)
from neurorepro.measures.hessian import dense_hessian
from neurorepro.measures.jacobian import conv2d_operator_norm_bound, parameter_jacobian_sqnorms
from neurorepro.nets import VGG, DeepNet


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


FAST = MeasureSettings(hessian_iters=30, hessian_tol=1e-3, trace_samples=5, seed=0)


@pytest.mark.parametrize(
    "seed,widths,activation,init_scale",
    [(0, [12, 12], "tanh", 1.0), (1, [20], "tanh", 3.0), (2, [8, 16, 8], "relu", 0.5), (3, [10, 10], "linear", 2.0)],
)
def test_bounds_hold_on_random_networks(seed, widths, activation, init_scale):
    torch.manual_seed(seed)
    net = DeepNet(9, widths, 4, activation=activation, init_scale=init_scale)
    x = torch.randn(40, 9) * (1 + torch.rand(40, 1) * 3)  # inputs of varied norm
    y = torch.randint(0, 4, (40,))
    m = measure_network(net, x, y, FAST)
    assert m["mls"] <= m["mls_bound"]
    assert m["mls_gm"] <= m["mls_bound_gm"] <= m["mls_bound"]  # geometric mean >= min
    assert m["volume"] <= m["volume_bound_gm"] <= m["volume_bound"]
    assert m["nmls"] <= m["nmls_bound"] <= m["nmls_bound_sharp"] * (1 + 1e-12)
    assert m["nmls_mean"] <= m["nmls_mean_bound"] <= m["nmls_mean_bound_sharp"] * (1 + 1e-12)
    assert m["feature_lipschitz"] == 1.0
    assert m["volume_k"] == 4
    # the input-Jacobian's spectral norm cannot exceed the product of weight norms (tanh, relu, linear are 1-Lipschitz)
    prod = np.prod([float(torch.linalg.matrix_norm(l.weight.detach().double(), ord=2)) for l in [*net.hidden, net.readout]])
    assert m["mls"] <= prod * (1 + 1e-9)


def test_mls_bound_is_tight_for_a_rank_one_linear_readout():
    # f(x) = w^T x (K = 1, no hidden nonlinearity) with x parallel to w: the bound chain is an equality
    # except for ||df/dW1|| <= G, so with a single linear map MLS = ||w|| and ||x|| = min ||x||.
    net = DeepNet(3, [3], 1, activation="linear", bias=False)
    with torch.no_grad():
        net.hidden[0].weight.copy_(torch.eye(3))
        net.readout.weight.copy_(torch.tensor([[1.0, 2.0, 2.0]]))
    x = torch.tensor([[1.0, 2.0, 2.0]])
    m = measure_network(net, x, torch.zeros(1, dtype=torch.int64), FAST)
    assert m["mls"] == pytest.approx(3.0)
    # ||W1||=1, G^2 = ||d f/d W1||^2 + ||d f/d w||^2 = 9*9 + 9 = 90, min||x|| = 3
    assert m["grad_norm"] == pytest.approx(math.sqrt(90.0))
    assert m["mls_bound"] == pytest.approx(math.sqrt(90.0) / 3.0)


def test_readout_gradient_identity_and_gauss_newton_trace():
    """||df/dW||_F = ||df/dz||_F ||h|| for the readout (d f/d z = I), and at zero residual tr H = G^2."""
    torch.manual_seed(4)
    net = DeepNet(5, [6], 3, activation="tanh").double()
    x = torch.randn(7, 5, dtype=torch.float64)
    sq = parameter_jacobian_sqnorms(net, x)
    h = net.layers(x)["hidden1"]
    torch.testing.assert_close(sq["readout.weight"], 3 * (h**2).sum(1).detach())
    targets = net(x).detach()  # zero residual: H = Gauss-Newton part only
    params = list(net.parameters())
    H = dense_hessian(lambda: 0.5 * ((net(x) - targets) ** 2).sum(1).mean(), params)
    G2 = float(sum(sq.values()).mean())
    assert float(torch.trace(H)) == pytest.approx(G2, rel=1e-10)


def test_bound_formulas():
    assert bounds.mls_bound(2.0, 3.0, 4.0) == pytest.approx(1.5)
    assert bounds.mls_bound(2.0, 3.0, 4.0, lipschitz=5.0) == pytest.approx(7.5)
    assert bounds.volume_bound(2.0, 3.0, 1.0, 4) == pytest.approx(2 * math.log(36 / 4))
    assert bounds.volume_bound(2.0, 3.0, 1.0, 4, lipschitz=2.0) == pytest.approx(2 * math.log(144 / 4))
    assert bounds.network_mls_bound([1.0, 2.0], [4.0, 1.0]) == pytest.approx(math.sqrt(8.0))
    assert bounds.network_mls_sharpness_bound([1.0, 2.0], 3.0) == pytest.approx(6.0)
    assert bounds.network_mls_mean_bound([1.0, 2.0], [4.0, 1.0]) == pytest.approx((2.0 + 2.0) / 2)
    assert bounds.network_mls_mean_sharpness_bound([1.0, 2.0], 3.0) == pytest.approx(math.sqrt(5.0) * 3 / 2)
    # a zero input norm makes the bound infinite (it holds trivially), a negative one is an error
    assert bounds.mls_bound(1.0, 1.0, 0.0) == math.inf and bounds.volume_bound(1.0, 1.0, 0.0, 2) == math.inf
    with pytest.raises(ValueError, match="input_norm"):
        bounds.mls_bound(1.0, 1.0, -1.0)
    with pytest.raises(ValueError, match="shape"):
        bounds.network_mls_bound([1.0], [1.0, 2.0])


def _random_vgg(seed, activation, batch_norm, head_widths, init_scale=1.0):
    torch.manual_seed(seed)
    net = VGG((2, 8, 8), 3, cfg=[4, "M", 6, 5, "M"], head_widths=head_widths, activation=activation,
              batch_norm=batch_norm, init_scale=init_scale).double()
    if batch_norm:  # random running statistics and affine parameters, as after training
        for mod in net.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.normal_()
                mod.running_var.uniform_(0.2, 3.0)
                mod.weight.data.normal_()
                mod.bias.data.normal_()
    return net.eval()


@pytest.mark.parametrize(
    "seed,activation,batch_norm,head_widths,init_scale",
    [(0, "relu", False, [], 1.0), (1, "tanh", True, [7], 2.0), (2, "gelu", True, [6, 5], 1.0),
     (3, "linear", False, [4], 3.0), (4, "relu", True, [], 0.5)],
)
def test_vgg_bounds_hold_per_sample_and_on_average(seed, activation, batch_norm, head_widths, init_scale):
    """Per probe: s_max(df/dx) <= L_phi ||W_1||_2 ||grad_theta f(x)||_F / ||phi(x)|| (a theorem for any
    input); the aggregated min, geometric-mean and network-wide forms of measure_network."""
    net = _random_vgg(seed, activation, batch_norm, head_widths, init_scale)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(12, 2, 8, 8, generator=g, dtype=torch.float64) * (1 + 3 * torch.rand(12, 1, 1, 1, generator=g))
    y = torch.randint(0, 3, (12,), generator=g)
    lip = feature_lipschitz(net)
    w1 = float(torch.linalg.matrix_norm((net.hidden[0] if head_widths else net.readout).weight.detach(), ord=2))
    params = list(net.parameters())
    for i in range(len(x)):
        xi = x[i : i + 1]
        J = torch.autograd.functional.jacobian(lambda z: net(z)[0], xi).reshape(3, -1)
        mls_i = float(torch.linalg.matrix_norm(J, ord=2))
        grad_sq = 0.0
        for k in range(3):  # ||d f / d theta||_F^2 summed over the outputs
            grads = torch.autograd.grad(net(xi)[0, k], params, allow_unused=True)
            grad_sq += sum(float((gr**2).sum()) for gr in grads if gr is not None)
        h_norm = float(dense_input(net, xi).detach().norm())
        assert mls_i <= lip * w1 * math.sqrt(grad_sq) / h_norm * (1 + 1e-10)
    m = measure_network(net, x, y, FAST)
    assert m["feature_lipschitz"] == pytest.approx(lip)
    assert m["mls"] <= m["mls_bound"] and m["mls_gm"] <= m["mls_bound_gm"]
    assert m["volume"] <= m["volume_bound_gm"] <= m["volume_bound"]
    assert m["nmls"] <= m["nmls_bound"] <= m["nmls_bound_sharp"] * (1 + 1e-12)
    assert m["nmls_mean"] <= m["nmls_mean_bound"] <= m["nmls_mean_bound_sharp"] * (1 + 1e-12)
    assert m["volume_k"] == 3


def test_feature_lipschitz_is_the_product_of_layer_constants():
    net = _random_vgg(5, "tanh", True, [])
    convs = [mod for mod in net.features if isinstance(mod, torch.nn.Conv2d)]
    bns = [mod for mod in net.features if isinstance(mod, torch.nn.BatchNorm2d)]
    shapes = [(2, 8, 8), (4, 4, 4), (6, 4, 4)]  # conv inputs: pooling halves 8x8 once before conv 2
    expected = np.prod([conv2d_operator_norm_bound(c.weight, s, padding=1) for c, s in zip(convs, shapes)])
    expected *= np.prod([float((b.weight.detach() / torch.sqrt(b.running_var + b.eps)).abs().max()) for b in bns])
    assert feature_lipschitz(net) == pytest.approx(expected, rel=1e-12)
    net.features[2] = torch.nn.MaxPool2d(3, stride=1)  # overlapping windows: not 1-Lipschitz
    with pytest.raises(TypeError, match="overlapping"):
        feature_lipschitz(net)
    with pytest.raises(TypeError, match="eval mode"):
        feature_lipschitz(_random_vgg(5, "tanh", True, []).train())


def test_vgg_mls_bound_is_nearly_tight_and_needs_the_conv_norm():
    """A delta-kernel conv (A_K = k I, L_phi = k = 2), linear activation and a small readout w = eps u
    along x: MLS = k eps and the bound k eps G / ||h|| with G ~ ||h|| = k ||x|| (the readout-weight
    gradient dominates), so MLS <= bound <= 1.01 MLS; without L_phi the bound would be k times too low."""
    net = VGG((1, 1, 6), 1, cfg=[1], activation="linear").double()
    k, eps = 2.0, 1e-3
    x = 10 * (0.5 + torch.rand(1, 1, 1, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    with torch.no_grad():
        net.features[0].weight.zero_()
        net.features[0].weight[0, 0, 1, 1] = k
        net.features[0].bias.zero_()
        net.readout.weight.copy_(eps * x.reshape(1, -1) / x.norm())
        net.readout.bias.zero_()
    m = measure_network(net, x, torch.zeros(1, dtype=torch.int64), FAST)
    assert m["feature_lipschitz"] == pytest.approx(k, rel=1e-12)
    assert m["mls"] == pytest.approx(k * eps, rel=1e-9)
    assert m["mls"] <= m["mls_bound"] <= 1.01 * m["mls"]
    assert m["mls_bound"] / m["feature_lipschitz"] < m["mls"]


def test_weight_gradient_bound_fails_at_a_shared_conv_kernel():
    """Why the VGG bounds sit at the first dense layer: at a conv layer the kernel is shared, so
    df/dK = sum_p J_z[p] x[p + offset] can vanish while J_z != 0. Here (1x4 image, 3x3 delta kernel k,
    linear activation, readout w = [0, 1, -1, 0], x = 1) df/dK = 0 and df/db_conv = 0, so the MLP
    formula ||A_K|| G / ||x|| applied at the conv layer (with the full G!) falls below the MLS; the
    dense-layer bound L_phi ||W|| G / ||h|| holds."""
    net = VGG((1, 1, 4), 1, cfg=[1], activation="linear").double()
    k = 0.5
    with torch.no_grad():
        net.features[0].weight.zero_()
        net.features[0].weight[0, 0, 1, 1] = k
        net.features[0].bias.zero_()
        net.readout.weight.copy_(torch.tensor([[0.0, 1.0, -1.0, 0.0]]))
        net.readout.bias.zero_()
    x = torch.ones(1, 1, 1, 4, dtype=torch.float64)
    sq = parameter_jacobian_sqnorms(net, x)
    assert float(sq["features.0.weight"][0]) == 0.0 and float(sq["features.0.bias"][0]) == 0.0
    m = measure_network(net, x, torch.zeros(1, dtype=torch.int64), FAST)
    assert m["mls"] == pytest.approx(k * math.sqrt(2.0))
    naive = k * m["grad_norm"] / float(x.norm())  # ||A_K||_2 = k for a delta kernel
    assert m["mls"] > 1.9 * naive
    assert m["feature_lipschitz"] == pytest.approx(k)
    assert m["mls"] <= m["mls_bound"] == pytest.approx(k * math.sqrt(2.0) * m["grad_norm"] / (k * 2.0))


def test_measure_settings_validate():
    with pytest.raises(ValueError, match="hessian_method"):
        MeasureSettings(hessian_method="qr")
    with pytest.raises(ValueError, match="trace_samples"):
        MeasureSettings(trace_samples=0)


def test_snapshot_epochs_and_class_selection():
    assert snapshot_epochs(30, 5) == [1, 2, 5, 13, 30]
    assert snapshot_epochs(3, 10) == [1, 2, 3]
    X = torch.arange(6.0)[:, None]
    y = torch.tensor([0, 1, 2, 1, 0, 2])
    Xs, ys = select_classes(X, y, [2, 0])
    assert Xs[:, 0].tolist() == [0.0, 2.0, 4.0, 5.0] and ys.tolist() == [1, 0, 1, 0]
    with pytest.raises(ValueError, match="do not occur"):
        select_classes(X, y, [0, 7])


def _toy_data(seed=0, n=120, d=6, k=3):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, d, generator=g) * 2
    y = torch.randint(0, k, (n,), generator=g)
    X = centres[y] + 0.5 * torch.randn(n, d, generator=g)
    return X[:90], y[:90], X[90:], y[90:]


def test_train_and_measure_is_deterministic_and_bounded():
    kw = dict(lr=0.1, batch_size=16, seed=3, epochs=4, n_snapshots=2, n_probe=32,
              model_kwargs={"widths": [8, 8], "activation": "tanh"}, settings=FAST)
    a = train_and_measure(_toy_data(), **kw)
    b = train_and_measure(_toy_data(), **kw)
    pd.testing.assert_frame_equal(a, b)
    assert a["epoch"].tolist() == [1.0, 4.0]
    assert (a["mls"] <= a["mls_bound"]).all() and (a["volume"] <= a["volume_bound"]).all()
    assert (a["train_loss"].iloc[-1] < a["train_loss"].iloc[0])


def _toy_images(seed=0, n=80, k=2):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, 1, 8, 8, generator=g)
    y = torch.randint(0, k, (n,), generator=g)
    X = centres[y] + 0.3 * torch.randn(n, 1, 8, 8, generator=g)
    return X[:60], y[:60], X[60:], y[60:]


def test_train_and_measure_a_vgg():
    kw = dict(lr=0.05, batch_size=16, seed=1, epochs=3, n_snapshots=2, n_probe=20, model_kind="vgg",
              model_kwargs={"cfg": [4, "M", 4, "M"], "head_widths": [8], "activation": "relu"}, settings=FAST)
    a = train_and_measure(_toy_images(), **kw)
    pd.testing.assert_frame_equal(a, train_and_measure(_toy_images(), **kw))
    assert a["epoch"].tolist() == [1.0, 3.0] and not a["diverged"].any()
    assert (a["mls"] <= a["mls_bound"]).all() and (a["volume"] <= a["volume_bound_gm"]).all()
    assert (a["nmls"] <= a["nmls_bound"]).all() and (a["feature_lipschitz"] > 0).all()
    assert a["volume_k"].tolist() == [2, 2]


def test_divergent_run_is_recorded_not_raised():
    out = train_and_measure(_toy_data(), lr=1e6, batch_size=8, seed=0, epochs=2, n_snapshots=1, n_probe=8,
                            model_kwargs={"widths": [8], "activation": "linear"}, settings=FAST)
    assert out["diverged"].tolist() == [True]


def _planted(sign: float) -> pd.DataFrame:
    """A sweep table where sharpness falls (sign=+1) or rises (sign=-1) with lr/batch noise."""
    rows = []
    for lr in (0.01, 0.1, 1.0):
        for bs in (8, 64):
            for seed in (0, 1):
                noise = lr / bs
                sharp = float(np.exp(-sign * np.log(noise))) * (1 + 0.01 * seed)
                for step, frac in ((10, 0.5), (20, 1.0)):
                    rows.append({"lr": lr, "batch_size": bs, "seed": seed, "diverged": False, "step": step,
                                 "sharpness": sharp * frac, "hessian_trace": 3 * sharp, "grad_norm": sharp,
                                 "mls": 0.1 * sharp, "mls_bound": sharp, "mls_bound_trace": sharp,
                                 "volume": np.log(sharp), "volume_bound": np.log(sharp) + 1,
                                 "volume_bound_trace": np.log(sharp) + 1, "nmls": sharp, "nmls_bound": 2 * sharp,
                                 "nmls_bound_trace": 2 * sharp, "local_dim": 2.0 + (seed + step) % 3,
                                 "gen_gap_loss": 0.0, "gen_gap_acc": 0.01 * seed, "train_loss": 0.1})
    rows.append({"lr": 5.0, "batch_size": 8, "seed": 0, "diverged": True})
    return pd.DataFrame(rows)


def test_claims_hold_on_planted_table_and_fail_when_reversed():
    good = {c.claim.split(" (")[0]: c for c in make_claims(_planted(+1.0), scale="demo", source="embedded")}
    assert all(c.holds for c in good.values()), [(k, c.measured) for k, c in good.items() if not c.holds]
    assert next(iter(good.values())).details["n_diverged_runs"] == 1
    bad = make_claims(_planted(-1.0), scale="demo", source="embedded")
    lr_claims = [c for c in bad if "learning rate" in c.claim or "smaller batch" in c.claim]
    assert lr_claims and not any(c.holds for c in lr_claims)
    broken = _planted(+1.0)
    broken.loc[3, "mls"] = 1e9  # one point above its bound
    c = make_claims(broken, scale="demo", source="embedded")[0]
    assert not c.holds and c.details["min"]["n_violations"] == 1
    assert c.measured == pytest.approx(1 - 1 / 24)
    broken["mls_gm"], broken["mls_bound_gm"] = 0.1, 1.0  # the geometric-mean form counts too
    broken.loc[5, "mls_gm"] = 2.0
    c = make_claims(broken, scale="demo", source="embedded")[0]
    assert c.details["gm"]["n_violations"] == 1 and c.measured == pytest.approx(1 - 2 / 24)


def test_claims_are_made_per_experiment():
    a, b = _planted(+1.0), _planted(-1.0)
    a.insert(0, "experiment", "mlp")
    b.insert(0, "experiment", "vgg")
    claims = make_claims(pd.concat([a, b], ignore_index=True), scale="paper", source="allen")
    assert len(claims) == 16
    assert [c.claim[:5] for c in claims] == ["[mlp]"] * 8 + ["[vgg]"] * 8
    assert all(c.details["experiment"] == c.claim[1:4] for c in claims)
    lr_vgg = [c for c in claims[8:] if "learning rate" in c.claim]
    assert lr_vgg and not any(c.holds for c in lr_vgg)  # the reversed experiment fails on its own
    assert all(c.holds for c in claims[:8])
    final = final_rows(pd.concat([a, b], ignore_index=True))
    assert len(final) == 24 and list(final["experiment"].unique()) == ["mlp", "vgg"]
    corr = correlation_table(final)
    assert set(corr["experiment"]) == {"mlp", "vgg"}
    r = corr.query("experiment == 'vgg' and sharpness_measure == 'lr' and measure == 'sharpness'")["spearman"].item()
    assert r > 0


def test_final_rows_and_correlations():
    t = _planted(+1.0)
    f = final_rows(t)
    assert len(f) == 12 and (f["step"] == 20).all()
    corr = correlation_table(f)
    r = corr.query("sharpness_measure == 'sharpness' and measure == 'mls'")["spearman"].item()
    assert r == pytest.approx(1.0)
    assert math.isnan(spearman([1, 2], [3, 4]))
    assert math.isnan(spearman([1, 1, 1], [3, 4, 5]))


def test_vgg_layers_match_forward_and_bad_configs_fail():
    torch.manual_seed(0)
    net = VGG((3, 8, 8), 4, cfg=[4, "M", 6, 6, "M"], head_widths=[5], activation="relu", batch_norm=True).eval()
    x = torch.randn(3, 3, 8, 8)
    layers = net.layers(x)
    assert list(layers) == net.layer_names == ["input", "conv1", "pool1", "conv2", "conv3", "pool2", "hidden1", "output"]
    assert [v.shape[1] for v in layers.values()] == [192, 256, 64, 96, 96, 24, 5, 4]
    assert torch.allclose(layers["output"], net(x)) and torch.allclose(layers["pool2"], net.features_flat(x))
    assert net.n_features == 24 and dense_input(net, x).shape == (3, 24)
    with pytest.raises(ValueError, match="too many 'M'"):
        VGG((1, 8, 8), 2, cfg=[2, "M", "M", "M", "M"])
    with pytest.raises(ValueError, match="at least one conv"):
        VGG((1, 8, 8), 2, cfg=["M"])
