"""flatness: the bounds on random networks (where they must hold), the identities they
rest on, the sweep pieces and the claims on planted tables."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from neurorepro.flatness import bounds
from neurorepro.flatness.analysis import (
    correlation_table,
    final_rows,
    late_final_rows,
    late_phase_mask,
    late_run_table,
    make_claims,
    mark_late_phase,
    spearman,
)
from neurorepro.flatness.experiment import authors_mse, measure_iterations, select_classes, train_and_measure
from neurorepro.flatness.measure import (
    MeasureSettings,
    dense_input,
    feature_lipschitz,
    measure_network,
    mse_loss,
)
from neurorepro.measures.hessian import dense_hessian, hessian_trace
from neurorepro.measures.jacobian import (
    conv2d_operator_norm_bound,
    input_jacobian,
    jacobian_singular_values,
    parameter_jacobian_sqnorms,
    representation_volume,
)
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
    assert m["volume_k"] == 3  # the authors' top 3 (K = 4 outputs)
    assert m["volume"] >= m["volume_all"]  # dropping the smallest singular value (< 1 here) can only raise it
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


def test_measure_iterations_and_class_selection():
    assert measure_iterations(1000, 300) == [300, 600, 900]
    assert measure_iterations(20, 10) == [10, 20]
    with pytest.raises(ValueError, match="exceeds"):
        measure_iterations(10, 20)
    X = torch.arange(6.0)[:, None]
    y = torch.tensor([0, 1, 2, 1, 0, 2])
    Xs, ys = select_classes(X, y, [2, 0])  # labels kept: 10-dim one-hot targets as the authors
    assert Xs[:, 0].tolist() == [0.0, 2.0, 4.0, 5.0] and ys.tolist() == [0, 2, 0, 2]
    assert select_classes(X, y, [2, 0], relabel=True)[1].tolist() == [1, 0, 1, 0]
    with pytest.raises(ValueError, match="do not occur"):
        select_classes(X, y, [0, 7])


def test_authors_mse_is_torch_mseloss_on_ten_dim_one_hot_targets():
    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(7, 10, generator=g), torch.tensor([0, 1, 1, 0, 1, 0, 0])  # two classes, 10 outputs
    target = torch.zeros(7, 10)
    target[torch.arange(7), y] = 1.0
    assert float(authors_mse(logits, y)) == pytest.approx(float(torch.nn.MSELoss()(logits, target)))
    assert float(authors_mse(logits, y)) == pytest.approx(2 / 10 * float(mse_loss(logits, y)))


def test_hutchinson_trace_matches_the_exact_hessian_trace_of_a_small_network():
    """The paper's sharpness tr H: Hutchinson's estimate (as measure_network takes it) against the
    trace of the explicit Hessian of the same loss, on a small tanh MLP away from a minimum."""
    torch.manual_seed(5)
    net = DeepNet(4, [5], 3, activation="tanh").double()
    x = torch.randn(12, 4, dtype=torch.float64)
    y = torch.randint(0, 3, (12,))
    params = list(net.parameters())
    loss = lambda: mse_loss(net(x), y)  # noqa: E731
    H = dense_hessian(loss, params)
    exact = float(torch.trace(H))
    # Rademacher probes: variance 2 sum_{i != j} H_ij^2 per probe; 2000 probes -> a few % at most
    sd = math.sqrt(2 * float((H**2).sum() - (torch.diagonal(H) ** 2).sum()) / 2000)
    m = measure_network(net, x, y, MeasureSettings(trace_samples=2000, hessian_iters=200, hessian_tol=1e-10, seed=0))
    assert abs(m["sharpness"] - exact) < 4 * sd and sd < 0.05 * abs(exact)
    assert m["sharpness"] == hessian_trace(loss, params, n_samples=2000, seed=1)  # the shared estimator, its seed
    assert m["sharpness_train"] == pytest.approx(2 / 3 * m["sharpness"])  # Hessian of MSELoss = (2/K) H
    lam = float(torch.linalg.eigvalsh(H).max())
    assert m["lambda_max"] == pytest.approx(lam, rel=1e-4)
    assert m["lambda_max_train"] == pytest.approx(2 / 3 * lam, rel=1e-4)
    assert m["trace_minus_gn"] == pytest.approx(m["sharpness"] - m["grad_norm"] ** 2)


def test_top3_log_volume_is_the_authors_cal_logvol_by_hand():
    """volume = mean over probes of sum_{i<=3} log s_i of the input-Jacobian; the authors'
    cal_logvol halves the sum of the logs of the top-3 eigenvalues s_i^2. A linear network's
    Jacobian is its weight product, whose singular values numpy gives."""
    torch.manual_seed(6)
    net = DeepNet(6, [5], 4, activation="linear").double()
    x = torch.randn(9, 6, dtype=torch.float64)
    A = (net.readout.weight @ net.hidden[0].weight).detach().numpy()  # the Jacobian at every x
    s = np.linalg.svd(A, compute_uv=False)
    by_hand = float(np.sum(np.log(s[:3] ** 2)) / 2)  # cal_logvol(eig_val = s^2)
    m = measure_network(net, x, torch.zeros(9, dtype=torch.int64), FAST)
    assert m["volume_k"] == 3
    assert m["volume"] == pytest.approx(by_hand, rel=1e-10)
    assert m["volume_all"] == pytest.approx(float(np.sum(np.log(s))), rel=1e-10)
    assert m["mls"] == pytest.approx(float(s[0]), rel=1e-10)
    assert m["local_dim"] == pytest.approx(float(np.sum(s**2) ** 2 / np.sum(s**4)), rel=1e-10)
    sv = jacobian_singular_values(input_jacobian(net, x).detach())
    assert float(representation_volume(sv, 3)[0]) == pytest.approx(by_hand, rel=1e-10)


def test_late_phase_rule_on_a_planted_loss_curve():
    """Loss 1.0 at init decaying as exp(-t/10) with a bump back above 5% at t = 40: the late phase
    (<= 5% of the initial loss from there to the end) starts after the bump, not at the first dip."""
    t = np.arange(0, 101, 5.0)[1:]
    loss = np.exp(-t / 10)
    loss[t == 40] = 0.2  # a spike above the threshold after the first dip below it (t = 30, 35)
    mask = late_phase_mask(loss, 1.0, 0.05)
    assert mask.tolist() == (t > 40).tolist()
    assert not late_phase_mask(np.full(5, 0.5), 1.0, 0.05).any()  # never got there
    assert late_phase_mask(np.full(5, 0.01), 1.0, 0.05).all()
    assert not late_phase_mask([0.01, np.nan, 0.01], 1.0, 0.05)[:2].any()  # a NaN breaks the tail
    with pytest.raises(ValueError, match="late_loss_frac"):
        late_phase_mask(loss, 1.0, 1.5)
    frame = pd.DataFrame({"lr": 0.1, "batch_size": 20, "seed": 0, "diverged": False, "iteration": t,
                          "train_loss": loss, "init_train_loss": 1.0})
    marked = mark_late_phase(frame.sample(frac=1.0, random_state=0), 0.05, 3)  # row order does not matter
    assert marked.sort_values("iteration")["late"].tolist() == (t > 40).tolist()
    assert marked["run_reached_late"].all()
    assert not mark_late_phase(frame, 0.05, 20)["run_reached_late"].any()  # 12 late points < 20


def _toy_data(seed=0, n=120, d=6, k=3):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, d, generator=g) * 2
    y = torch.randint(0, k, (n,), generator=g)
    X = centres[y] + 0.5 * torch.randn(n, d, generator=g)
    return X[:90], y[:90], X[90:], y[90:]


def test_train_and_measure_is_deterministic_and_bounded():
    kw = dict(lr=0.1, batch_size=16, seed=3, n_iters=60, measure_every=30, n_probe=32,
              model_kwargs={"widths": [8, 8], "activation": "tanh"}, settings=FAST)
    a = train_and_measure(_toy_data(), **kw)
    b = train_and_measure(_toy_data(), **kw)
    pd.testing.assert_frame_equal(a, b)
    assert a["iteration"].tolist() == [30, 60] and a["epoch"].tolist() == [30 * 16 / 90, 60 * 16 / 90]
    assert (a["mls"] <= a["mls_bound"]).all() and (a["volume"] <= a["volume_bound"]).all()
    assert (a["train_loss"].iloc[-1] < a["train_loss"].iloc[0] < a["init_train_loss"].iloc[0])
    assert a["n_params"].iloc[0] == 6 * 8 + 8 + 8 * 8 + 8 + 8 * 10 + 10  # 10 outputs for 3 classes (authors)
    with pytest.raises(ValueError, match="n_outputs"):
        train_and_measure(_toy_data(), **{**kw, "n_outputs": 2})


def _toy_images(seed=0, n=80, k=2):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, 1, 8, 8, generator=g)
    y = torch.randint(0, k, (n,), generator=g)
    X = centres[y] + 0.3 * torch.randn(n, 1, 8, 8, generator=g)
    return X[:60], y[:60], X[60:], y[60:]


def test_train_and_measure_a_vgg():
    kw = dict(lr=0.05, batch_size=16, seed=1, n_iters=20, measure_every=10, n_probe=20, model_kind="vgg",
              model_kwargs={"cfg": [4, "M", 4, "M"], "head_widths": [8], "activation": "relu"}, settings=FAST)
    a = train_and_measure(_toy_images(), **kw)
    pd.testing.assert_frame_equal(a, train_and_measure(_toy_images(), **kw))
    assert a["iteration"].tolist() == [10, 20] and not a["diverged"].any()
    assert (a["mls"] <= a["mls_bound"]).all() and (a["volume"] <= a["volume_bound_gm"]).all()
    assert (a["nmls"] <= a["nmls_bound"]).all() and (a["feature_lipschitz"] > 0).all()
    assert a["volume_k"].tolist() == [3, 3]


def test_divergent_run_is_recorded_not_raised():
    out = train_and_measure(_toy_data(), lr=1e6, batch_size=8, seed=0, n_iters=20, measure_every=20, n_probe=8,
                            model_kwargs={"widths": [8], "activation": "linear"}, settings=FAST)
    assert out["diverged"].tolist() == [True]


def _planted(sign: float, n_seeds: int = 3) -> pd.DataFrame:
    """A sweep table with a late phase (loss below 5% of init from iteration 60 on) in which tr H
    and volume fall together (sign=+1) or rise (sign=-1); across runs the final tr H orders the
    volume and MLS (sign=+1) or reverses them (sign=-1); local dimensionality is noise."""
    rows = []
    rng = np.random.default_rng(0)
    for lr in (0.05, 0.1, 0.2):
        for bs in (8, 32):
            for seed in range(n_seeds):
                level = float(np.exp(rng.normal()))  # the run's sharpness level
                for it in range(20, 201, 20):
                    loss = 1.0 * np.exp(-it / 15)
                    drift = 1.0 - sign * 0.001 * it  # tr H and volume fall (or rise) over the run
                    sharp = level * drift
                    vol = sign * np.log(level) + np.log(drift)
                    rows.append({"lr": lr, "batch_size": bs, "seed": seed, "diverged": False, "iteration": it,
                                 "init_train_loss": 1.0, "train_loss": loss, "sharpness": sharp,
                                 "lambda_max": 0.3 * sharp, "lambda_max_train": 0.5 / lr, "grad_norm": np.sqrt(sharp),
                                 "trace_minus_gn": 0.0, "mls": 0.1 * level ** sign, "mls_gm": 0.1,
                                 "mls_bound": 10 * level, "mls_bound_gm": 1.0, "mls_bound_trace": 10 * level,
                                 "mls_bound_gm_trace": 1.0, "volume": vol, "volume_all": vol - 3,
                                 "volume_bound": vol + 1, "volume_bound_gm": vol + 1, "volume_bound_trace": vol + 1,
                                 "volume_bound_gm_trace": vol + 1, "nmls": 1.0, "nmls_bound": 2.0,
                                 "nmls_bound_sharp": 3.0, "nmls_bound_trace": 3.0, "nmls_mean": 1.0,
                                 "nmls_mean_bound": 2.0, "nmls_mean_bound_sharp": 2.0,
                                 "local_dim": 2.0 + rng.random(), "gen_gap_loss": 0.0, "gen_gap_acc": 0.0})
    rows.append({"lr": 5.0, "batch_size": 8, "seed": 0, "diverged": True, "iteration": 3})
    return pd.DataFrame(rows)


def _by_words(claims):
    return {c.claim.split(" (measured")[0]: c for c in claims}


def test_claims_hold_on_planted_table_and_fail_when_reversed():
    good = _by_words(make_claims(_planted(+1.0), scale="demo", source="embedded", seed=1))
    assert len(good) == 11
    assert all(c.outcome == "holds" for c in good.values()), [(k, c.measured, c.ci) for k, c in good.items()
                                                              if c.outcome != "holds"]
    first = next(iter(good.values()))
    assert first.details["n_diverged_runs"] == 1 and first.details["n_runs_reached_late_phase"] == 18
    findings = [c for c in good.values() if c.kind == "finding"]
    assert len(findings) == 6 and all(c.n == 18 and c.unit == "runs" and c.ci is not None for c in findings)
    assert sum(c.kind == "bound" for c in good.values()) == 5
    bad = _by_words(make_claims(_planted(-1.0), scale="demo", source="embedded", seed=1, n_boot=500))
    for words in ("In the late phase of training sharpness (tr H) decreases",
                  "Across learning rates and batch sizes flatter minima have lower volume",
                  "Across learning rates and batch sizes flatter minima have lower maximum local sensitivity (MLS)"):
        assert bad[words].outcome == "fails", (words, bad[words].measured, bad[words].ci)
    # one point above its gradient-norm bound: the bound claim fails, counted per point
    broken = _planted(+1.0)
    broken.loc[3, "mls"] = 1e9
    c = make_claims(broken, scale="demo", source="embedded", n_boot=50)[0]
    assert c.outcome == "fails" and c.details["min"]["n_violations"] == 1
    assert c.measured == pytest.approx(1 - 1 / 180)
    # an early-phase point above the sqrt(tr H) form does not count (only late points are checked) ...
    early = _planted(+1.0)
    early.loc[0, "mls_bound_trace"] = 0.0
    trace = [c for c in make_claims(early, scale="demo", source="embedded", n_boot=50) if "sqrt(tr H)" in c.claim][0]
    assert trace.outcome == "holds" and trace.n == 18 * 8
    # ... a late one does; and lambda_max_train above 2/lr breaks linear stability
    early.loc[9, "mls_bound_trace"] = 0.0
    early.loc[9, "lambda_max_train"] = 100.0
    cl = make_claims(early, scale="demo", source="embedded", n_boot=50)
    assert [c.outcome for c in cl if "sqrt(tr H)" in c.claim or "Linear stability" in c.claim] == ["fails", "fails"]


def test_findings_use_late_phase_points_only_and_need_three_runs():
    t = _planted(+1.0)
    t.loc[t["iteration"] < 60, "sharpness"] = 1e6  # early points: huge, would dominate slopes if used
    per_run = late_run_table(mark_late_phase(t, 0.05, 3))
    assert len(per_run) == 18 and (per_run["n_late_points"] == 8).all()
    assert (per_run["late_from_iteration"] == 60).all() and (per_run["slope_log_sharpness"] < 0).all()
    few = t[t["seed"] == 0].query("lr == 0.05 and batch_size == 8")  # one run: no CI, inconclusive
    fl = [c for c in make_claims(few, scale="demo", source="embedded") if c.kind == "finding"]
    assert all(c.ci is None and c.outcome == "inconclusive" for c in fl)
    never = t.assign(train_loss=0.5)  # no run reaches the late phase
    cl = make_claims(never, scale="demo", source="embedded")
    assert all(c.outcome == "inconclusive" for c in cl if c.kind == "finding")
    assert cl[0].details["n_runs_reached_late_phase"] == 0


def test_claims_are_made_per_experiment_with_their_own_rule():
    a, b = _planted(+1.0), _planted(-1.0)
    a.insert(0, "experiment", "mlp")
    b.insert(0, "experiment", "vgg")
    both = pd.concat([a, b], ignore_index=True)
    claims = make_claims(both, scale="paper", source="allen", seed=3, n_boot=500)
    assert len(claims) == 22
    assert [c.claim[:5] for c in claims] == ["[mlp]"] * 11 + ["[vgg]"] * 11
    assert all(c.details["experiment"] == c.claim[1:4] for c in claims)
    assert all(c.outcome == "holds" for c in claims[:11])
    across = [c for c in claims[11:] if "flatter minima" in c.claim]
    assert across and all(c.outcome == "fails" for c in across)
    strict = make_claims(both, scale="paper", source="allen", late={"vgg": {"late_loss_frac": 1e-9}}, n_boot=50)
    assert strict[11].details["n_runs_reached_late_phase"] == 0 and strict[0].details["late_loss_frac"] == 0.05
    final = late_final_rows(mark_late_phase(a, 0.05, 3))
    assert len(final) == 18 and (final["iteration"] == 200).all()
    corr = correlation_table(final)
    assert set(corr["experiment"]) == {"mlp"}


def test_final_rows_and_correlations():
    t = _planted(+1.0)
    f = final_rows(t)
    assert len(f) == 18 and (f["iteration"] == 200).all()
    corr = correlation_table(f)
    r = corr.query("sharpness_measure == 'sharpness' and measure == 'volume'")["spearman"].item()
    assert r == pytest.approx(1.0)
    assert spearman([1, 2, 2, 5, 3], [2, 1, 4, 4, 9]) == pytest.approx(
        __import__("scipy").stats.spearmanr([1, 2, 2, 5, 3], [2, 1, 4, 4, 9]).correlation)
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
