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
from neurorepro.flatness.measure import MeasureSettings, measure_network, mse_loss
from neurorepro.measures.hessian import dense_hessian
from neurorepro.measures.jacobian import parameter_jacobian_sqnorms
from neurorepro.nets import DeepNet


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
    assert m["volume"] <= m["volume_bound"]
    assert m["nmls"] <= m["nmls_bound"] <= m["nmls_bound_sharp"] * (1 + 1e-12)
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
    assert bounds.volume_bound(2.0, 3.0, 1.0, 4) == pytest.approx(2 * math.log(36 / 4))
    assert bounds.network_mls_bound([1.0, 2.0], [4.0, 1.0]) == pytest.approx(math.sqrt(8.0))
    assert bounds.network_mls_sharpness_bound([1.0, 2.0], 3.0) == pytest.approx(6.0)
    with pytest.raises(ValueError, match="min_input_norm"):
        bounds.mls_bound(1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="shape"):
        bounds.network_mls_bound([1.0], [1.0, 2.0])


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
    assert not c.holds and c.details["n_violations"] == 1


def test_final_rows_and_correlations():
    t = _planted(+1.0)
    f = final_rows(t)
    assert len(f) == 12 and (f["step"] == 20).all()
    corr = correlation_table(f)
    r = corr.query("sharpness_measure == 'sharpness' and measure == 'mls'")["spearman"].item()
    assert r == pytest.approx(1.0)
    assert math.isnan(spearman([1, 2], [3, 4]))
    assert math.isnan(spearman([1, 1, 1], [3, 4, 5]))
