"""Unit tests of neurorepro.sampling against analytic answers, brute force and scipy."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import torch
import xarray as xr
from neurorepro.sampling import (
    ScoreSampler,
    excess_kurtosis,
    langevin_sample,
    marginal_wasserstein,
    skew_matrix,
)
from neurorepro.sampling.claims import build_claims
from neurorepro.sampling.dsm import dsm_loss, geometric_sigmas, train_dsm
from neurorepro.sampling.metrics import (
    energy_distance,
    steps_to_reach,
    wasserstein_1d,
)
from neurorepro.sampling.models import (
    FiringRateScore,
    ReservoirScore,
    build_score_model,
)
from neurorepro.sampling.targets import (
    TORCHVISION_HELP,
    GaussianMixture1D,
    LaplaceCopulaMixture2D,
    LaplaceMixture2D,
    load_images,
)
from scipy.integrate import trapezoid
from torch import nn

torch.set_num_threads(1)


# ---------------------------------------------------------------- metrics vs scipy
def test_wasserstein_matches_scipy_unequal_sizes():
    rng = np.random.default_rng(0)
    u, v = rng.normal(0, 1, 300), rng.laplace(0.5, 2, 517)
    assert wasserstein_1d(u, v) == pytest.approx(scipy.stats.wasserstein_distance(u, v), rel=1e-10)


def test_wasserstein_of_shift_is_the_shift_and_marginals_average():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 2))
    y = x + np.array([0.3, 1.1])
    assert wasserstein_1d(x[:, 0], y[:, 0]) == pytest.approx(0.3)
    assert marginal_wasserstein(x, y) == pytest.approx(0.7)
    with pytest.raises(ValueError, match="dimension"):
        marginal_wasserstein(x, y[:, :1])


def test_energy_distance_matches_scipy_in_1d_and_sees_joint_structure():
    rng = np.random.default_rng(5)
    u, v = rng.normal(0, 1, 300), rng.laplace(0.5, 2, 200)
    assert energy_distance(u, v, unbiased=False) == pytest.approx(scipy.stats.energy_distance(u, v), rel=1e-8)
    # brute force U-statistic
    x, y = rng.normal(size=(30, 3)), rng.normal(1.0, 1.0, size=(20, 3))
    d = lambda p, q: np.linalg.norm(p[:, None] - q[None], axis=-1)
    u_stat = 2 * d(x, y).mean() - d(x, x).sum() / (30 * 29) - d(y, y).sum() / (20 * 19)
    assert energy_distance(x, y) == pytest.approx(np.sqrt(u_stat))
    # same marginals, different joint: correlated vs independent Gaussians
    c = rng.multivariate_normal([0, 0], [[1, 0.9], [0.9, 1]], size=1500)
    i = rng.normal(size=(1500, 2))
    assert marginal_wasserstein(c, i) < 0.1
    assert energy_distance(c, i) > 3 * abs(energy_distance(i, rng.normal(size=(1500, 2))))


def test_kurtosis_matches_scipy_and_laplace_value():
    rng = np.random.default_rng(2)
    x = rng.standard_t(6, size=(2000, 3))
    np.testing.assert_allclose(excess_kurtosis(x), scipy.stats.kurtosis(x, axis=0, fisher=True, bias=True), rtol=1e-10)
    assert excess_kurtosis(rng.laplace(size=400_000)) == pytest.approx(3.0, abs=0.1)
    assert excess_kurtosis(rng.normal(size=400_000)) == pytest.approx(0.0, abs=0.05)


def test_steps_to_reach():
    assert steps_to_reach(np.array([3, 2, 1, 0.5]), np.array([0, 10, 20, 30]), 1.0) == 20
    assert np.isnan(steps_to_reach(np.array([3, 2]), np.array([0, 10]), 1.0))


# ---------------------------------------------------------------- Langevin on Gaussians (analytic)
def test_langevin_reaches_gaussian_mean_and_euler_maruyama_variance():
    mu, s2, dt = 1.5, 0.49, 0.02
    gen = torch.Generator().manual_seed(0)
    x0 = torch.zeros(20000, 1, dtype=torch.float64)
    x, _, _ = langevin_sample(lambda x: -(x - mu) / s2, x0, 1500, dt, generator=gen)
    x = x.numpy()[:, 0]
    # Euler-Maruyama on the OU process has stationary variance s2 / (1 - dt / (2 s2)) exactly
    var_em = s2 / (1 - dt / (2 * s2))
    assert x.mean() == pytest.approx(mu, abs=4 * np.sqrt(var_em / x.size))
    assert x.var() == pytest.approx(var_em, rel=0.04)
    assert abs(x.var() - s2) > abs(x.var() - var_em)  # the discretised variance, not the continuous one, is hit


def test_accelerated_sampler_keeps_gaussian_and_speeds_the_slow_direction():
    lam = torch.tensor([1.0, 0.1], dtype=torch.float64)  # precisions: x2 relaxes 10x slower
    score = lambda x: -x * lam
    gen = torch.Generator().manual_seed(1)
    x0 = torch.full((4000, 2), 3.0, dtype=torch.float64)
    J = skew_matrix(2, 1.0)
    # long run: both dynamics leave N(0, diag(1/lam)) invariant
    for skew in (None, J):
        x, _, _ = langevin_sample(score, x0, 3000, 0.02, skew=skew, generator=gen)
        np.testing.assert_allclose(x.numpy().var(0), 1 / lam.numpy(), rtol=0.1)
    # the mean follows dm/dt = -(I+J) Lambda m; analytic slowest rates 0.1 (Langevin) vs 0.23
    T = 1000
    _, traj_l, _ = langevin_sample(score, x0, T, 0.01, record_every=T, generator=torch.Generator().manual_seed(2))
    _, traj_a, _ = langevin_sample(score, x0, T, 0.01, skew=J, record_every=T, generator=torch.Generator().manual_seed(2))
    A = np.array([[1.0, 0.0], [0.0, 1.0]]) + J
    import scipy.linalg

    m_exact = scipy.linalg.expm(-A @ np.diag(lam.numpy()) * T * 0.01) @ np.array([3.0, 3.0])
    np.testing.assert_allclose(traj_a[-1].numpy().mean(0), m_exact, atol=0.1)
    assert np.linalg.norm(traj_a[-1].numpy().mean(0)) < np.linalg.norm(traj_l[-1].numpy().mean(0))


def test_skew_matrix_and_validation():
    J = skew_matrix(4, 0.7)
    np.testing.assert_array_equal(J, -J.T)
    assert J[0, 1] == 0.7 and J[1, 0] == -0.7 and np.all(skew_matrix(1, 3.0) == 0)
    with pytest.raises(ValueError, match="skew-symmetric"):
        langevin_sample(lambda x: -x, torch.zeros(3, 2), 5, 0.1, skew=np.eye(2))
    with pytest.raises(ValueError, match="dt"):
        langevin_sample(lambda x: -x, torch.zeros(3, 2), 5, 0.0)


# ---------------------------------------------------------------- DSM (analytic optimum)
class _Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.zeros(1))
        self.c = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return self.a * x + self.c


@pytest.mark.parametrize("sigma", [0.3, 1.0])
def test_dsm_recovers_score_of_noised_gaussian(sigma):
    """For N(mu, s^2) the DSM optimum at noise sigma is -(x - mu)/(s^2 + sigma^2)."""
    mu, s = 0.8, 0.6
    torch.manual_seed(0)
    data = (mu + s * torch.randn(50000, 1)).float()
    model = _Linear()
    train_dsm(model, data, np.array([sigma]), 600, 1024, 0.05, torch.Generator().manual_seed(0))
    v = s**2 + sigma**2
    assert model.a.item() == pytest.approx(-1 / v, rel=0.05)
    assert model.c.item() == pytest.approx(mu / v, rel=0.06)


def test_dsm_loss_is_lowest_at_the_true_noised_score():
    torch.manual_seed(1)
    x = torch.randn(40000, 1, dtype=torch.float64)
    z = torch.randn(40000, 1, dtype=torch.float64)
    sigma = 0.5
    losses = {}
    for a in (-0.5, -1 / (1 + sigma**2), -1.2):
        m = _Linear().double()
        m.a.data[:] = a
        losses[a] = dsm_loss(m, x, sigma, z).item()
    assert min(losses, key=losses.get) == pytest.approx(-1 / (1 + sigma**2))


def test_geometric_sigmas():
    s = geometric_sigmas(2.0, 0.02, 5)
    assert s[0] == pytest.approx(2.0) and s[-1] == pytest.approx(0.02)
    np.testing.assert_allclose(s[1:] / s[:-1], s[1] / s[0])
    with pytest.raises(ValueError, match="sigma_max >= sigma_min"):
        geometric_sigmas(0.1, 1.0, 3)


# ---------------------------------------------------------------- targets (brute force)
def _fd_score(logp, x, h=1e-5):
    x = np.atleast_2d(x)
    out = np.zeros_like(x)
    for j in range(x.shape[1]):
        e = np.zeros(x.shape[1])
        e[j] = h
        out[:, j] = (logp(x + e) - logp(x - e)) / (2 * h)
    return out


def test_mixture_scores_match_finite_differences_and_normalise():
    g = GaussianMixture1D([-1.5, 2.0], [0.5, 0.8], [0.3, 0.7])
    x = np.linspace(-4, 4, 41)[:, None]
    np.testing.assert_allclose(g.score(x, 0.2), _fd_score(lambda y: g.log_prob(y, 0.2), x)[:, 0], atol=1e-5)
    grid = np.linspace(-10, 10, 20001)
    assert trapezoid(np.exp(g.log_prob(grid)), grid) == pytest.approx(1.0, abs=1e-6)

    lm = LaplaceMixture2D([0.8, -0.5], [[0, 0], [1, -1]], scale=1.3, weights=[1, 2])
    pts = np.random.default_rng(3).normal(size=(50, 2)) * 2
    np.testing.assert_allclose(lm.score(pts), _fd_score(lm.log_prob, pts), atol=1e-4)
    ax = np.linspace(-14, 14, 801)
    X, Y = np.meshgrid(ax, ax)
    dens = np.exp(lm.log_prob(np.c_[X.ravel(), Y.ravel()])).reshape(X.shape)
    assert trapezoid(trapezoid(dens, ax), ax) == pytest.approx(1.0, abs=2e-3)


def test_laplace_component_moments():
    lm = LaplaceMixture2D([0.7], scale=2.0)
    x = lm.sample(400_000, np.random.default_rng(4))
    np.testing.assert_allclose(np.cov(x.T), 4.0 * np.array([[1, 0.7], [0.7, 1]]), atol=0.06)
    k = excess_kurtosis(x)
    assert k[0] == pytest.approx(k[1], abs=0.1) and k[0] > 1.0  # heavy tails, equal marginals
    with pytest.raises(ValueError, match="laplace_rhos"):
        LaplaceMixture2D([1.2])


# ---------------------------------------------------------------- networks
def test_reservoir_simulation_reads_out_langevin_of_its_implied_score():
    torch.manual_seed(0)
    rsn = ReservoirScore(2, 40).double()
    x0 = torch.randn(64, 2, dtype=torch.float64)
    _, x_res = rsn.simulate_reservoir(x0, 200, 0.01, torch.Generator().manual_seed(5))
    x_lan, _, _ = langevin_sample(rsn, x0, 200, 0.01, generator=torch.Generator().manual_seed(5))
    np.testing.assert_allclose(x_res.numpy(), x_lan.numpy(), atol=1e-8)
    # the accelerated dynamics, built into the reservoir's leak and recurrence
    J = skew_matrix(2, 0.8)
    _, x_res = rsn.simulate_reservoir(x0, 200, 0.01, torch.Generator().manual_seed(6), skew=torch.tensor(J))
    x_lan, _, _ = langevin_sample(rsn, x0, 200, 0.01, skew=J, generator=torch.Generator().manual_seed(6))
    np.testing.assert_allclose(x_res.numpy(), x_lan.numpy(), atol=1e-8)
    W = rsn.reservoir()
    assert W["W_rec"].shape == (40, 40) and torch.linalg.matrix_rank(W["W_rec"]) == 2


def test_sampler_only_forms():
    torch.manual_seed(0)
    fr = FiringRateScore(3)
    x = 3 * torch.randn(100, 3, dtype=torch.float64)
    drive = fr.double()(x) + x  # phi(Wx + b) with tanh lies in [-1, 1]
    assert drive.abs().max() <= 1.0 and drive.abs().max() > 0.9
    with pytest.raises(ValueError, match="kind"):
        build_score_model("lstm", 2)
    with pytest.raises(ValueError, match="activation"):
        build_score_model("rsn", 2, act="sigmoid")


def test_trained_rsn_learns_the_mixture_score_and_is_deterministic(device):
    g = GaussianMixture1D([-1.0, 1.0], [0.5, 0.5])  # the authors' target
    X = g.sample(20000, np.random.default_rng(0))
    kw = dict(kind="rsn", n_hidden=64, n_iter=1500, batch_size=256, lr=1e-2, sigma_min=0.05, seed=3, device=device,
              activation="relu")
    est = ScoreSampler(**kw).fit(X)
    # relative Fisher divergence E_p|s - s_true|^2 / E_p|s_true|^2 (what score matching minimises)
    grid = g.sample(5000, np.random.default_rng(1))
    true = g.score(grid, est.sigmas_[-1])
    rel = np.mean((est.predict_score(grid)[:, 0] - true) ** 2) / np.mean(true**2)
    assert rel < 0.1, rel
    # a sampler-only network cannot, even with learned gamma and Sigma: its score is a (w relu(x) + b - x)
    so = ScoreSampler(**{**kw, "kind": "synaptic"}).fit(X)
    rel_so = np.mean((so.predict_score(grid)[:, 0] - true) ** 2) / np.mean(true**2)
    assert rel_so > 0.5 and rel_so > 5 * rel, (rel_so, rel)
    # same seed, same numbers
    again = ScoreSampler(**kw).fit(X)
    np.testing.assert_array_equal(again.predict_score(grid[:50]), est.predict_score(grid[:50]))


def test_estimator_validates_parameters():
    X = np.zeros((20, 1))
    with pytest.raises(ValueError, match="kind"):
        ScoreSampler(kind="gan").fit(X)
    with pytest.raises(ValueError, match="n_iter"):
        ScoreSampler(n_iter=0).fit(X)
    with pytest.raises(ValueError, match="sigma"):
        ScoreSampler(sigma_min=2.0, sigma_max=1.0).fit(X)


def test_mnist_without_torchvision_says_how_to_install(tmp_path):
    try:
        import torchvision  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"torchvision==0\.29\.1"):
            load_images("mnist", tmp_path)
        assert "scale: demo" in TORCHVISION_HELP
    else:  # pragma: no cover
        pytest.skip("torchvision is installed")
    X, side = load_images("digits")
    assert X.shape == (1797, 64) and side == 8 and 0 <= X.min() and X.max() <= 1


# ---------------------------------------------------------------- claims
def _seed_metrics(energy: dict[str, list[float]], task: str = "bimodal") -> pd.DataFrame:
    rows = []
    for net, vals in energy.items():
        for k, v in enumerate(vals):
            rows.append({"task": task, "seed": k, "network": net, "sampler": "langevin", "energy_distance": v,
                         "wasserstein": 2 * v, "energy_floor": 0.0, "far_fraction": 0.0})
    return pd.DataFrame(rows)


def test_build_claims_paired_differences_slopes_and_bounds():
    steps = np.arange(0, 100, 10)
    lang = np.r_[np.linspace(2, 0.1, 8), 0.1, 0.1]
    acc = np.r_[np.linspace(2, 0.1, 4), [0.1] * 6]
    lap = xr.Dataset({"wasserstein_time_accel": (("seed", "sampler", "step"), np.stack([np.stack([lang, acc])] * 3))},
                     coords={"sampler": ["langevin", "accelerated"], "step": steps, "seed": [0, 1, 2]})
    lap["wasserstein_time_accel"].attrs["skew"] = 1.0
    # error falls by 0.05 per doubling in every seed except noise
    sweep = pd.DataFrame({"task": "laplace", "n_hidden": [2, 8, 32] * 4, "seed": np.repeat(range(4), 3),
                          "energy_distance": [0.3, 0.2, 0.1, 0.31, 0.2, 0.12, 0.28, 0.19, 0.1, 0.3, 0.22, 0.1]})
    bim = _seed_metrics({"rsn": [0.05, 0.04, 0.06, 0.05], "synaptic": [0.3, 0.35, 0.28, 0.4],
                         "rate": [0.06, 0.03, 0.07, 0.04]})
    bim["fisher_rel"] = np.where(bim["network"] == "rsn", 0.05, np.where(bim["network"] == "synaptic", 0.71, 0.6))
    bim["fisher_floor_synaptic"], bim["fisher_floor_rate"] = 0.7, 0.59
    lapm = _seed_metrics({"rsn": [0.1, 0.12, 0.09, 0.1], "synaptic": [0.2, 0.25, 0.21, 0.22], "rate": [0.3, 0.3, 0.2, 0.3]},
                         "laplace")
    dig = _seed_metrics({"rsn": [0.5, 0.6, 0.55], "synaptic": [0.4, 0.5, 0.45], "rate": [0.9, 0.8, 1.0]}, "digits")
    claims = build_claims({"bimodal": bim, "laplace": lapm, "digits": dig}, sweep, lap, 0.1, "demo", "embedded", 7)
    out = {c.claim: c for c in claims}
    assert len(claims) == 10 and len(out) == 10
    assert [c.outcome for c in claims[:4]] == ["holds", "inconclusive", "holds", "holds"]
    assert claims[0].measured == pytest.approx(np.mean([0.05 - 0.3, 0.04 - 0.35, 0.06 - 0.28, 0.05 - 0.4]))
    assert claims[0].n == 4 and claims[0].ci[1] < 0 and claims[0].kind == "finding"
    size = claims[4]
    assert size.outcome == "holds" and size.measured == pytest.approx(-0.05, abs=0.01) and size.n == 4
    assert [c.outcome for c in claims[5:7]] == ["fails", "holds"]  # digits: the synaptic network wins here
    assert claims[7].measured == pytest.approx(0.05 - 0.59) and claims[7].outcome == "holds"
    assert claims[8].kind == "bound" and claims[8].measured == pytest.approx(0.01) and claims[8].outcome == "holds"
    assert claims[9].kind == "bound" and claims[9].measured == pytest.approx(30 / 70) and claims[9].outcome == "holds"
    # the same numbers give the same intervals (bootstrap seeded from the run seed)
    again = build_claims({"bimodal": bim, "laplace": lapm, "digits": dig}, sweep, lap, 0.1, "demo", "embedded", 7)
    assert [c.ci for c in again] == [c.ci for c in claims]


# ---------------------------------------------------------------- sampler-only baselines: learnable gamma and Sigma
def _gaussian(d=3, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d))
    C = A @ A.T + 0.5 * np.eye(d)  # a correlated covariance, far from the identity
    mu = rng.uniform(0.2, 0.8, size=d)  # in the range of relu and tanh
    return C, mu


@pytest.mark.parametrize("act", ["relu", "tanh"])
@pytest.mark.parametrize("kind", ["synaptic", "rate"])
def test_sampler_only_networks_represent_a_gaussian_score_exactly(kind, act):
    """With W = 0, Gamma = I, Sigma Sigma^T = C^-1 and b = mu (or phi(b) = mu) the score is -C^-1 (x - mu)."""
    C, mu = _gaussian()
    P = np.linalg.inv(C)
    net = build_score_model(kind, 3, act=act).double()
    with torch.no_grad():
        net.W.zero_()
        net.gamma.fill_(1.0)
        net.Sigma.copy_(torch.as_tensor(np.linalg.cholesky(P)))
        b = mu if kind == "synaptic" else (mu if act == "relu" else np.arctanh(mu))
        net.b.copy_(torch.as_tensor(b))
    x = np.random.default_rng(1).normal(size=(50, 3)) * 2
    hand = -(x - mu) @ P  # P symmetric: rows of -P (x - mu)
    np.testing.assert_allclose(net(torch.as_tensor(x)).detach().numpy(), hand, atol=1e-10)
    # without gamma and Sigma (the old fixed unit leak: s = -x + ...) the x-coefficient is -I, never -C^-1
    assert np.abs(P - np.eye(3)).max() > 0.3


def test_trained_sampler_only_network_learns_a_correlated_gaussian_score():
    """DSM on N(mu, C) data: the learned score approaches -(C + sigma^2 I)^-1 (x - mu), which needs Sigma."""
    C, mu = _gaussian(d=2, seed=3)
    X = np.random.default_rng(0).multivariate_normal(mu, C, size=20000)
    est = ScoreSampler(kind="synaptic", activation="relu", sigma_max=0.1, sigma_min=0.1, n_stages=1, n_iter=1000,
                       batch_size=512, lr=2e-2, seed=0, device="cpu").fit(X)
    pts = np.random.default_rng(2).multivariate_normal(mu, C, size=2000)
    hand = -(pts - mu) @ np.linalg.inv(C + 0.01 * np.eye(2))
    rel = np.mean((est.predict_score(pts) - hand) ** 2) / np.mean(hand**2)
    assert rel < 0.02, rel


# ---------------------------------------------------------------- ReLU RSN against autograd
def test_relu_rsn_score_is_the_autograd_gradient_of_its_log_density():
    """With W_out = W_in^T diag(a) the ReLU RSN's score is grad of log p = -|x|^2/2 + sum_k a_k relu(w_k x + b_k)^2 / 2."""
    torch.manual_seed(0)
    rsn = build_score_model("rsn", 3, n_hidden=20, act="relu").double()
    a = torch.rand(20, dtype=torch.float64) - 0.5
    with torch.no_grad():
        rsn.W_out.copy_(rsn.W_in.T * a)
    x = (2 * torch.randn(64, 3, dtype=torch.float64)).requires_grad_(True)
    logp = -0.5 * (x**2).sum(1) + 0.5 * (a * torch.relu(x @ rsn.W_in.T + rsn.b) ** 2).sum(1)
    (grad,) = torch.autograd.grad(logp.sum(), x)
    np.testing.assert_allclose(rsn(x).detach().numpy(), grad.numpy(), atol=1e-12)
    # and for any weights, its Jacobian is -I + W_out diag(1[W_in x + b > 0]) W_in
    torch.manual_seed(1)
    rsn = build_score_model("rsn", 3, n_hidden=20, act="relu").double()
    x0 = torch.randn(3, dtype=torch.float64)
    J = torch.autograd.functional.jacobian(lambda v: rsn(v[None])[0], x0)
    active = ((rsn.W_in @ x0 + rsn.b) > 0).double()
    np.testing.assert_allclose(J.detach().numpy(), (-torch.eye(3) + rsn.W_out @ torch.diag(active) @ rsn.W_in).detach().numpy(),
                               atol=1e-12)


def test_relu_reservoir_simulation_reads_out_langevin_of_its_score():
    torch.manual_seed(2)
    rsn = ReservoirScore(2, 30, "relu").double()
    x0 = torch.randn(32, 2, dtype=torch.float64)
    _, x_res = rsn.simulate_reservoir(x0, 100, 0.01, torch.Generator().manual_seed(3))
    x_lan, _, _ = langevin_sample(rsn, x0, 100, 0.01, generator=torch.Generator().manual_seed(3))
    np.testing.assert_allclose(x_res.numpy(), x_lan.numpy(), atol=1e-8)


# ---------------------------------------------------------------- the joint metric
def test_energy_distance_separates_the_x_mixture_from_its_marginal_matched_product():
    """Both Laplace components have zero mean: marginals coincide, only the X-shaped joint differs."""
    target = LaplaceCopulaMixture2D([0.9, -0.9])
    rng = np.random.default_rng(0)
    n = 3000
    x, z = target.sample(n, rng), target.sample(n, rng)
    product = np.c_[z[rng.permutation(n), 0], z[rng.permutation(n), 1]]  # same marginals, independent
    same = [energy_distance(target.sample(n, rng), x) for _ in range(3)]  # sampling noise of the estimate
    # the authors' marginal W1 cannot tell them apart: product vs X is within the spread of X vs X
    assert marginal_wasserstein(product, x) < 2 * max(marginal_wasserstein(target.sample(n, rng), x) for _ in range(3))
    diff = energy_distance(product, x)
    assert diff > 0.07 and diff**2 > 5 * max(v**2 for v in same), (diff, same)
    # and the RSN-style failure of keeping one arm of the X is seen as well
    half = LaplaceCopulaMixture2D([0.9]).sample(n, rng)
    assert energy_distance(half, x) ** 2 > 5 * max(v**2 for v in same)


def test_far_fraction_counts_escaped_chains():
    from neurorepro.sampling.experiment import far_fraction

    ref = np.array([[1.0, -2.0], [0.5, 0.5]])
    x = np.array([[0.0, 0.0], [3.9, 0.0], [0.0, -4.1], [100.0, 0.0]])
    assert far_fraction(x, ref) == pytest.approx(0.5)


# ---------------------------------------------------------------- the authors' Laplace target
def test_copula_laplace_mixture_score_density_and_marginals():
    lm = LaplaceCopulaMixture2D([0.9, -0.5], [[0, 0], [1, -1]], scale=1.3, weights=[1, 2])
    pts = np.random.default_rng(3).normal(size=(50, 2)) * 2
    np.testing.assert_allclose(lm.score(pts), _fd_score(lm.log_prob, pts), atol=1e-5)
    ax = np.linspace(-14, 14, 601)
    X, Y = np.meshgrid(ax, ax)
    dens = np.exp(lm.log_prob(np.c_[X.ravel(), Y.ravel()])).reshape(X.shape)
    assert trapezoid(trapezoid(dens, ax), ax) == pytest.approx(1.0, abs=2e-3)
    one = LaplaceCopulaMixture2D([0.9], scale=2.0)
    x = one.sample(200_000, np.random.default_rng(4))
    np.testing.assert_allclose(x.std(0), 2.0, rtol=0.02)
    np.testing.assert_allclose(excess_kurtosis(x), 3.0, atol=0.25)  # each marginal exactly Laplace
    assert scipy.stats.kstest(x[:20000, 0], scipy.stats.laplace(scale=2.0 / np.sqrt(2)).cdf).pvalue > 0.01
    assert 0.85 < np.corrcoef(x.T)[0, 1] < 0.9  # a Gaussian copula of 0.9 with Laplace marginals
    with pytest.raises(ValueError, match="laplace_rhos"):
        LaplaceCopulaMixture2D([1.0])


# ---------------------------------------------------------------- theory: what sampler-only networks can represent
def test_sampler_only_floors_vanish_on_a_gaussian_and_bound_every_network_on_the_mixture():
    from neurorepro.sampling.theory import (
        learned_floors,
        quadrature_weights,
        rate_floor,
        relative_fisher,
        synaptic_floor,
    )

    grid = np.linspace(-4, 5, 901)
    g = GaussianMixture1D([0.5], [0.7])
    w = quadrature_weights(grid, np.exp(g.log_prob(grid)))
    true = g.score(grid)
    assert synaptic_floor(grid, true, w, "relu")[0] < 1e-12  # -(x - mu)/s^2 is in span{relu(x), 1, x}
    assert rate_floor(grid, true, w, "relu")[0] < 1e-12  # a (relu(b) - x) with relu(b) = mu
    # bimodal: no synaptic-current network, whatever its weights, goes below the floor
    th = learned_floors(GaussianMixture1D([-1, 1], [0.5, 0.5]), 0.02, "relu")
    assert 0.5 < th["floor_synaptic"] < 0.9 and th["floor_rate"] < th["floor_synaptic"]
    torch.manual_seed(0)
    x = torch.as_tensor(th["grid"][:, None])
    for _ in range(200):
        net = build_score_model("synaptic", 1, act="relu").double()
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(3 * torch.randn_like(p))
            val = net(x).numpy()[:, 0]
        assert relative_fisher(val, th["score"], th["weights"]) >= th["floor_synaptic"] - 1e-12
    # and the floor is reached by a network of the class (so it is the class's minimum, not a loose bound)
    best = th["best_synaptic"]
    assert relative_fisher(best, th["score"], th["weights"]) == pytest.approx(th["floor_synaptic"])


# ---------------------------------------------------------------- the authors' optimiser settings
def test_authors_dsm_settings_reach_the_same_optimum():
    """Unweighted loss, constant rate, Adam restarted per stage, weight decay: still the noised Gaussian's score."""
    mu, s, sigma = 0.8, 0.6, 0.3
    torch.manual_seed(0)
    data = (mu + s * torch.randn(50000, 1)).float()
    model = _Linear()
    losses = train_dsm(model, data, np.array([1.0, sigma]), 1200, 1024, 0.02, torch.Generator().manual_seed(0),
                       weight_decay=1e-4, amsgrad=True, lr_schedule="constant", restart_per_stage=True, weighting="unit")
    v = s**2 + sigma**2
    assert model.a.item() == pytest.approx(-1 / v, rel=0.06)
    assert model.c.item() == pytest.approx(mu / v, rel=0.08)
    assert losses.shape == (1200,)
    # the unit weighting is the sigma^2 weighting divided by sigma^2
    x, z = torch.randn(100, 1), torch.randn(100, 1)
    assert dsm_loss(model, x, 0.5, z, weighting="unit").item() == pytest.approx(dsm_loss(model, x, 0.5, z).item() / 0.25)
    with pytest.raises(ValueError, match="lr_schedule"):
        train_dsm(model, data, np.array([1.0]), 5, 8, 0.1, torch.Generator(), lr_schedule="step")
    with pytest.raises(ValueError, match="loss_weighting"):
        dsm_loss(model, x, 0.5, z, weighting="snr")
