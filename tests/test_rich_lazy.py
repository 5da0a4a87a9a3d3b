"""Unit tests of the rich_lazy package (Liu et al. 2024) against known answers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from neurorepro.rich_lazy.aligned import (
    aligned_map,
    lagged_cross_covariance,
    least_squares_statistic,
    recurrent_aligned_init,
)
from neurorepro.rich_lazy.experiment import build_inits, run_task
from neurorepro.rich_lazy.inits import (
    apply_sign,
    connectivity_block,
    dale_signs,
    effective_rank,
    gaussian_init,
    participation_ratio,
    shuffle_entries,
    truncate_rank,
)
from neurorepro.rich_lazy.model import LeakyReLURNN, RNNTrainer
from neurorepro.rich_lazy.summary import (
    build_claims,
    init_rank_table,
    paired_difference,
    rank_trend,
)
from neurorepro.rich_lazy.tasks import Task
from neurorepro.rich_lazy.theory import (
    closed_form,
    equal_singular_init,
    random_unit,
    simulate_flow,
)
from neurorepro.rich_lazy.theory import measures as theory_measures


def toy_connectivity(n_side: int = 4, seed: int = 0) -> xr.Dataset:
    """A W.nc-shaped Dataset: targets = a 3-D grid, sources = every other target voxel."""
    rng = np.random.default_rng(seed)
    grid = np.array([(a, d, m) for a in range(n_side) for d in range(n_side) for m in range(2)])
    src = grid[::2]
    dist = np.linalg.norm(grid[:, None, :] - src[None, :, :], axis=-1)
    W = np.exp(-dist) * rng.gamma(0.5, 1.0, size=dist.shape)
    return xr.Dataset(
        {"W": (("target_voxel", "source_voxel"), W)},
        coords={
            "target_coord": (("target_voxel", "axis"), grid),
            "source_coord": (("source_voxel", "axis"), src),
            "axis": ["AP", "DV", "ML"],
            "source_area": ("source_voxel", ["VISp"] * len(src)),
            "target_area": ("target_voxel", ["VISp"] * len(grid)),
        },
        attrs={"lambda": 1.0, "rank": "full", "units": "projection density per unit injection density"},
    )


# -- initialisations ----------------------------------------------------------------------
@pytest.mark.parametrize("r", [1, 3, 10, 20])
def test_truncate_rank_keeps_norm_and_gives_exact_rank(r):
    W = gaussian_init(20, 1.25, np.random.default_rng(1))
    Wr = truncate_rank(W, r)
    assert np.linalg.norm(Wr) == pytest.approx(np.linalg.norm(W), rel=1e-12)
    assert np.linalg.matrix_rank(Wr) == r
    # the kept singular directions are those of W
    U, s, Vt = np.linalg.svd(W)
    assert abs(U[:, 0] @ Wr @ Vt[0]) > 0


def test_truncate_rank_rejects_bad_rank():
    W = np.eye(4)
    for r in (0, 5):
        with pytest.raises(ValueError, match="rank"):
            truncate_rank(W, r)


def test_effective_rank_and_participation_ratio_known_spectra():
    Q1, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((10, 10)))
    Q2, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((10, 10)))
    for k in (1, 4, 10):
        s = np.r_[np.full(k, 3.0), np.zeros(10 - k)]
        W = Q1 @ np.diag(s) @ Q2
        assert effective_rank(W) == pytest.approx(k, rel=1e-9)
        assert participation_ratio(W) == pytest.approx(k, rel=1e-9)
    # unequal spectrum: hand computation, s = (2, 1)
    W = np.diag([2.0, 1.0])
    p = np.array([2, 1]) / 3
    assert effective_rank(W) == pytest.approx(np.exp(-(p * np.log(p)).sum()))
    assert participation_ratio(W) == pytest.approx((4 + 1) ** 2 / (16 + 1))


def test_connectivity_block_matched_is_recurrent_submatrix():
    ds = toy_connectivity()
    block, meta = connectivity_block(ds, 6, np.random.default_rng(3), "matched")
    assert block.shape == (6, 6) and meta["selection"] == "matched"
    tc, sc = ds.target_coord.values, ds.source_coord.values
    for i, (r, c) in enumerate(zip(meta["rows"], meta["cols"])):
        assert np.array_equal(tc[r], sc[c])  # the same voxel on both sides
        for j, c2 in enumerate(meta["cols"]):
            assert block[i, j] == ds.W.values[r, c2]


def test_connectivity_block_errors_name_the_key():
    ds = toy_connectivity()
    with pytest.raises(ValueError, match="rich_lazy.n_hidden"):
        connectivity_block(ds, 1000, np.random.default_rng(0), "matched")
    with pytest.raises(ValueError, match="rich_lazy.connectivity.selection"):
        connectivity_block(ds, 4, np.random.default_rng(0), "diagonal")
    assert connectivity_block(ds, 10, np.random.default_rng(0), "auto")[1]["selection"] == "matched"
    moved = ds.source_coord.values.copy()
    moved[8:] += 100  # only 8 sources also lie on the target grid now
    ds2 = ds.assign_coords(source_coord=(("source_voxel", "axis"), moved))
    block, meta = connectivity_block(ds2, 10, np.random.default_rng(0), "auto")
    assert meta["selection"] == "block" and block.shape == (10, 10)


def test_signs_and_shuffle_keep_the_weight_distribution():
    rng = np.random.default_rng(0)
    A = rng.gamma(0.5, size=(7, 7))
    S = apply_sign(A, "random", rng)
    assert np.allclose(np.abs(S), A) and (S < 0).any() and (S > 0).any()
    assert apply_sign(A, "centered", rng).mean() == pytest.approx(0, abs=1e-12)
    P = shuffle_entries(S, rng)
    assert np.array_equal(np.sort(P.ravel()), np.sort(S.ravel())) and not np.array_equal(P, S)
    with pytest.raises(ValueError, match="sign"):
        apply_sign(A, "shuffle", rng)


def test_dale_sign_is_one_sign_per_source_with_balance():
    A = np.random.default_rng(0).gamma(0.5, size=(10, 10)) + 0.01
    D = apply_sign(A, "dale", np.random.default_rng(1), inhibitory_fraction=0.2, balance=True)
    neg = (D < 0).all(axis=0)
    assert neg.sum() == 2 and ((D > 0).all(axis=0) | neg).all()  # every column one sign
    assert np.allclose(D[:, neg], -4.0 * A[:, neg]) and np.allclose(D[:, ~neg], A[:, ~neg])  # (1-f)/f = 4
    assert dale_signs(10, 0.2, True, np.random.default_rng(1)).sum() == pytest.approx(0)  # balanced
    U = apply_sign(A, "dale", np.random.default_rng(1), inhibitory_fraction=0.3, balance=False)
    # unbalanced Dale = A D with D = diag(+-1) orthogonal: exactly the singular values of A
    assert np.allclose(np.linalg.svd(U, compute_uv=False), np.linalg.svd(A, compute_uv=False))
    with pytest.raises(ValueError, match="inhibitory_fraction"):
        dale_signs(4, 1.0, True, np.random.default_rng(0))


@pytest.mark.parametrize("k", [1, 2, 5])
def test_sign_rules_keep_low_rank_of_a_rank_k_nonnegative_matrix(k):
    rng = np.random.default_rng(k)
    B = rng.random((40, k)) @ rng.random((k, 40))  # rank k, nonnegative
    assert np.linalg.matrix_rank(B) == k
    dale = apply_sign(B, "dale", np.random.default_rng(2), inhibitory_fraction=0.2)
    assert np.linalg.matrix_rank(dale) == k  # B times an invertible diagonal
    assert np.linalg.matrix_rank(apply_sign(B, "centered", rng)) <= k + 1
    # the +-1-per-entry rule destroys it: near full rank
    assert np.linalg.matrix_rank(apply_sign(B, "random", rng)) > 30
    assert effective_rank(apply_sign(B, "random", rng)) > 5 * effective_rank(dale)


def test_effective_rank_of_each_init_against_hand_computation():
    """Hand computation: exp(entropy of s / sum s) for the spectra each init family produces."""
    rng = np.random.default_rng(0)
    Q1, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    Q2, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    s = np.array([3.0, 2.0, 1.0, 0, 0, 0])
    hand = np.exp(-(0.5 * np.log(0.5) + np.log(1 / 3) / 3 + np.log(1 / 6) / 6))
    assert hand == pytest.approx(2.7495, abs=1e-4)
    assert effective_rank(Q1 @ np.diag(s) @ Q2) == pytest.approx(hand, rel=1e-10)
    # random SVD-truncated init: entropy of the kept singular values only
    G = gaussian_init(6, 1.25, rng)
    sv = np.linalg.svd(G, compute_uv=False)[:2]
    q = sv / sv.sum()
    assert effective_rank(truncate_rank(G, 2)) == pytest.approx(np.exp(-(q * np.log(q)).sum()), rel=1e-10)
    # rank-1 block: Dale (unbalanced) keeps erank 1; centring adds the uniform mode (2 singular values)
    B = np.outer(np.arange(1, 7.0), np.arange(1, 7.0))
    assert effective_rank(apply_sign(B, "dale", rng, 0.5, balance=False)) == pytest.approx(1.0)
    sc = np.linalg.svd(apply_sign(B, "centered", rng), compute_uv=False)
    sc = sc[sc > 1e-12 * sc[0]]
    assert sc.size == 2
    pc = sc / sc.sum()
    assert effective_rank(apply_sign(B, "centered", rng)) == pytest.approx(np.exp(-(pc * np.log(pc)).sum()))
    # connectivity (dale) and its shuffle from build_inits: the stored value is the hand formula
    ds = build_inits(8, [1, 8], 1.25, 1, 3, W_conn=toy_connectivity())
    for lab in ("connectivity", "shuffled", "rank_1", "rank_8"):
        sv = np.linalg.svd(ds.W0.sel(seed=0, init=lab).values, compute_uv=False)
        sv = sv[sv > 1e-12 * sv[0]]
        p = sv / sv.sum()
        assert float(ds.effective_rank.sel(seed=0, init=lab)) == pytest.approx(np.exp(-(p * np.log(p)).sum()))


def test_build_inits_equal_norms_and_ranks():
    ds = build_inits(12, [1, 3, 12], 1.25, 2, 5, W_conn=toy_connectivity(), sign="dale")
    assert list(ds.init.values) == ["rank_1", "rank_3", "rank_12", "connectivity", "shuffled"]
    norms = np.linalg.norm(ds.W0.values, axis=(-2, -1))
    assert np.allclose(norms, norms[:, :1])  # one norm per seed across families
    assert np.allclose(norms[:, 0], 1.25 * np.sqrt(12), rtol=0.3)
    for s in range(2):
        assert np.linalg.matrix_rank(ds.W0.sel(seed=s, init="rank_3").values) == 3
    c, sh = ds.W0.sel(init="connectivity").values, ds.W0.sel(init="shuffled").values
    assert np.allclose(np.sort(c.reshape(2, -1)), np.sort(sh.reshape(2, -1)))
    again = build_inits(12, [1, 3, 12], 1.25, 2, 5, W_conn=toy_connectivity(), sign="dale")
    assert np.array_equal(ds.W0.values, again.W0.values)  # seeded
    with pytest.raises(ValueError, match="rich_lazy.ranks"):
        build_inits(12, [1, 13], 1.25, 1, 5)


def test_rnn_forward_matches_update_rule():
    net = LeakyReLURNN(2, 3, 2, alpha=0.3)
    net.reset_io(torch.Generator().manual_seed(0))
    with torch.no_grad():
        net.W_hh.copy_(torch.randn(3, 3))
    x = torch.rand(3, 1, 2)
    out, hid = net(x)
    h = torch.zeros(3)
    for t in range(3):
        h = torch.relu(0.7 * h + 0.3 * (net.W_in @ x[t, 0] + net.W_hh @ h))
        assert torch.allclose(hid[t, 0], h, atol=1e-6)
        assert torch.allclose(out[t, 0], net.W_out @ h, atol=1e-6)


# -- tasks ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["2AF", "DMS", "CXT"])
def test_task_trials_have_the_documented_structure(name):
    task = Task(name, sigma=0.0)
    b = task.sample(64, np.random.default_rng(0))
    T = 8
    assert task.n_steps == T and b.x.shape == (T, 64, task.n_inputs) and b.y.shape == (T, 64)
    dec = b.decision
    assert (dec.start, dec.stop) == (7, 8)
    assert np.all(b.y[:dec.start] == 0) and np.all(b.y[dec] == b.ground_truth[None])
    assert set(np.unique(b.ground_truth)) == {1, 2}
    assert np.all(b.x[:dec.start, :, 0] == 1) and np.all(b.x[dec, :, 0] == 0)  # fixation cue
    if name == "2AF":
        stim = b.x[:7, :, 1:3]
        coh = b.info["coh"]
        sgn = np.where(b.ground_truth == 1, 1.0, -1.0)
        np.testing.assert_allclose(stim[..., 0], np.broadcast_to(0.5 + sgn * coh / 200, (7, 64)), atol=1e-6)
        np.testing.assert_allclose(stim[..., 0] + stim[..., 1], 1.0, atol=1e-6)
        assert np.all(b.x[dec, :, 1:] == 0)
    elif name == "DMS":
        p = task.periods
        assert (p["sample"], p["delay"], p["test"]) == ((0, 1), (1, 6), (6, 7))
        sample, test = b.x[0, :, 1:3], b.x[6, :, 1:3]
        match = np.all(np.isclose(sample, test), axis=1)
        assert np.array_equal(match, b.ground_truth == 1)
        assert np.all(b.x[1:6, :, 1:] == 0)  # nothing but fixation during the delay
    else:
        ctx = b.info["context"]
        assert np.all(b.x[:, np.arange(64), 5 + ctx] == 1) and np.all(b.x[:, np.arange(64), 6 - ctx] == 0)
        stim = b.x[:2]
        relevant = np.where(ctx[:, None] == 0, stim[0, :, 1:3], stim[0, :, 3:5])
        coh = np.where(ctx == 0, b.info["coh_1"], b.info["coh_2"])
        assert np.array_equal(np.argmax(relevant, axis=1) + 1, b.ground_truth)
        np.testing.assert_allclose(relevant.max(1), 0.5 + coh / 200, atol=1e-6)
        assert np.all(b.x[2:7, :, 1:5] == 0)  # delay


def test_task_noise_and_errors():
    b = Task("2AF").sample(2000, np.random.default_rng(0))
    resid = b.x[:7, :, 1] - (0.5 + np.where(b.ground_truth == 1, 1, -1) * b.info["coh"] / 200)
    assert resid.std() == pytest.approx(1.0 / np.sqrt(100), rel=0.05)
    with pytest.raises(ValueError, match="unknown task"):
        Task("GoNoGo")
    with pytest.raises(ValueError, match="unknown periods"):
        Task("DMS", timing={"stimulus": 100})


# -- training and the experiment -----------------------------------------------------------
def test_trainer_learns_and_is_deterministic():
    task = Task("2AF")
    W0 = truncate_rank(gaussian_init(16, 1.25, np.random.default_rng(0)), 16)
    kw = dict(n_hidden=16, n_iter=150, learning_rate=0.03, seed=3, log_every=25)
    a = RNNTrainer(task, **kw).fit(W0)
    b = RNNTrainer(task, **kw).fit(W0)
    assert np.array_equal(a.W_, b.W_)
    assert a.loss_curve_[-1] < 0.6 * a.loss_curve_[0]
    probe = task.sample(64, np.random.default_rng(9))
    m = a.laziness(probe, 8)
    assert 0 < m["weight_change"] < 1 and 0 < m["rep_alignment"] <= 1 and 0 < m["ntk_alignment"] <= 1
    assert m["accuracy"] > 0.75 > m["accuracy_init"]
    with pytest.raises(ValueError, match="W0 must be"):
        RNNTrainer(task, n_hidden=8).fit(W0)


def test_run_task_rows_aligned_init_from_statistics_and_warm_start():
    inits = build_inits(8, [1, 2, 8], 1.25, 2, 0, W_conn=toy_connectivity())
    kw = dict(n_hidden=8, n_iter=10, log_every=5)
    df, curves = run_task(Task("2AF"), inits, kw, 16, 2, 2, 0, warm_rank=8, stats_trials=200)
    assert len(df) == 2 * 7
    assert set(df.init) == {"rank_1", "rank_2", "rank_8", "connectivity", "shuffled", "aligned_2", "warm_8"}
    al = df[df.init == "aligned_2"]
    assert (al.family == "aligned").all() and (df[df.init == "warm_8"].family == "warm_start").all()
    assert np.allclose(al.w0_norm, df[df.init == "rank_2"].w0_norm)
    assert ((al.effective_rank > 1.0) & (al.effective_rank <= 2.0)).all()
    assert set(curves.iteration) == {5, 10}
    # the aligned init is W_out^T C W_in^T of that seed's own input/readout weights: no training involved
    stats = Task("2AF").sample(200, np.random.default_rng([0, 0, 98]))
    C = lagged_cross_covariance(stats.x, stats.y, 3)
    W_in, W_out = RNNTrainer(Task("2AF"), **dict(kw, seed=0)).initial_io()
    W_al = recurrent_aligned_init(C, W_in, W_out, 2, float(al.w0_norm.iloc[0]))
    assert effective_rank(W_al) == pytest.approx(al.effective_rank.iloc[0], rel=1e-6)
    with pytest.raises(ValueError, match="rich_lazy.aligned_rank"):
        run_task(Task("DMS"), inits, dict(n_hidden=8, n_iter=2), 16, 2, 4, 0)


def test_aligned_init_matches_the_analytic_student_teacher_solution():
    """Linear teacher y = beta^T x: the aligned first layer from data statistics is s u beta_hat^T."""
    rng = np.random.default_rng(0)
    d, h, norm = 10, 6, 3.0
    beta = rng.standard_normal(d)
    u = random_unit(h, rng)
    X = rng.standard_normal((500, d)) @ np.diag(np.linspace(0.5, 2.0, d))  # anisotropic inputs
    C_yx, C_inv = least_squares_statistic(X, X @ beta)
    W = aligned_map(C_yx, u[:, None], C_inv.T, 1, norm)
    analytic = norm * np.outer(u, beta / np.linalg.norm(beta))
    assert np.allclose(W, analytic, atol=1e-10)  # exact on noiseless data (least squares recovers beta)
    # without the input-covariance correction it is only right for whitened inputs
    Xw = rng.standard_normal((20000, d))
    W2 = aligned_map((Xw @ beta) @ Xw / len(Xw), u[:, None], np.eye(d), 1, norm)
    assert abs(np.sum(W2 * analytic)) / norm**2 > 0.99
    with pytest.raises(ValueError, match="aligned_rank=2"):
        aligned_map(C_yx, u[:, None], C_inv.T, 2, norm)


def test_lagged_cross_covariance_hand_example():
    # one input channel that equals the label one step later: Cov(y_t, x_{t-1}) only
    x = np.array([[[1.0], [0.0]], [[0.0], [0.0]]])  # (T=2, B=2, 1)
    y = np.array([[0, 0], [1, 0]])  # trial 0 decides 1 after x = 1
    C = lagged_cross_covariance(x, y, 2)
    # centred over the 4 (t, b): x mean 1/4, y one-hot means (3/4, 1/4); lag 1 pairs (t=1, b), b = 0, 1
    xc0 = np.array([0.75, -0.25])  # x at t = 0, trials 0 and 1
    yc1 = np.array([[-0.75, 0.75], [0.25, -0.25]])  # (b, out) at t = 1
    hand = (yc1.T @ xc0[:, None]) / 2
    assert np.allclose(C, hand)


# -- theory ---------------------------------------------------------------------------------
@pytest.mark.parametrize("r", [1, 3, 6])
def test_two_layer_closed_form_matches_gradient_flow(r):
    rng = np.random.default_rng(r)
    d, c = 6, 1.25**2 * 6
    beta = random_unit(d, rng)
    W0 = equal_singular_init(r, d, r, c, rng)
    cos = float(np.linalg.norm(np.linalg.svd(W0, full_matrices=False)[2][:r] @ beta))
    W, w, _ = simulate_flow(W0, np.zeros(r), beta)
    cf = closed_form(np.sqrt(c / r), cos, r, d)
    assert np.linalg.norm(W - W0) == pytest.approx(cf["weight_change"], rel=1e-4)
    assert np.linalg.norm(w) == pytest.approx(cf["readout_norm"], rel=1e-4)
    assert theory_measures(W0, np.zeros(r), W, w)["kernel_alignment"] == pytest.approx(cf["kernel_alignment"], abs=1e-5)


def test_closed_form_hand_values_and_aligned_minimum():
    # s -> 0: |P|^2 = (0 + 2) / 2 = 1, |w| = 1
    z = closed_form(1e-9, 0.3, 1, 4)
    assert z["P_norm"] == pytest.approx(1.0) and z["readout_norm"] == pytest.approx(1.0, abs=1e-6)
    # s = 1: |P|^2 = (1 + sqrt 5) / 2 (golden ratio); aligned |dW| = |P| - 1
    phi = (1 + np.sqrt(5)) / 2
    one = closed_form(1.0, 1.0, 2, 4)
    assert one["P_norm"] ** 2 == pytest.approx(phi) and one["weight_change"] == pytest.approx(np.sqrt(phi) - 1)
    assert all(closed_form(2.0, c, 2, 5)["weight_change"] > closed_form(2.0, 1.0, 2, 5)["weight_change"]
               for c in (0.0, 0.4, 0.9))


def _planted_table(sign: float, n_seeds: int = 4) -> pd.DataFrame:
    rows = []
    for task in ("2AF", "DMS"):
        for seed in range(n_seeds):
            for r in (1, 4, 16):
                rows.append(dict(task=task, seed=seed, init=f"rank_{r}", family="random", rank=r, effective_rank=r,
                                 participation_ratio=r, weight_change=1 / r ** sign + 0.001 * seed,
                                 ntk_alignment=1 - 1 / r ** sign, rep_alignment=1 - 0.5 / r ** sign))
            rows.append(dict(task=task, seed=seed, init="aligned_1", family="aligned", rank=1, effective_rank=1,
                             participation_ratio=1, weight_change=0.1 ** sign + 0.01 * seed,
                             ntk_alignment=0.99 ** sign, rep_alignment=0.99 ** sign + 0.001 * seed))
            for lab, er, dw in (("connectivity", 3.0, 1.5), ("shuffled", 12.0, 0.5)):
                rows.append(dict(task=task, seed=seed, init=lab, family=lab, rank=-1, effective_rank=er + 0.1 * seed,
                                 participation_ratio=er, weight_change=dw + 0.01 * seed, ntk_alignment=1 - dw / 2,
                                 rep_alignment=1 - dw / 3))
    return pd.DataFrame(rows)


def test_claims_follow_planted_trends_with_cis_over_seeds(monkeypatch):
    from neurorepro.rich_lazy import summary

    monkeypatch.setattr(summary, "N_BOOT", 300)  # fewer resamples: the planted effects are far from 0
    lazy = _planted_table(1.0)
    rho = rank_trend(lazy, "weight_change")
    assert len(rho) == 2 * 4 and np.allclose(rho.rho, -1.0)
    d = paired_difference(lazy, "aligned_1", "rank_1", "weight_change")
    assert np.allclose(d[d.task == "2AF"]["diff"], [0.1 - 1.0 + 0.009 * s for s in range(4)])
    claims = build_claims(lazy, "demo", "embedded", 1, run_seed=0)
    assert len(claims) == 3 * 3 + 1 + 3 + 3
    assert all(c.n == 4 and c.ci is not None for c in claims if c.kind == "finding")
    assert all(c.outcome == "holds" for c in claims), [c.claim for c in claims if c.outcome != "holds"]
    sanity = [c for c in claims if c.kind == "recovery"][0]
    assert sanity.details["effective_rank_connectivity"] < sanity.details["effective_rank_shuffled"]
    rich = _planted_table(-1.0)  # reversed: higher rank -> larger change
    outs = [c.outcome for c in build_claims(rich, "demo", "embedded", 1, run_seed=0)
            if "effective rank gives" in c.claim]
    assert outs and all(o == "fails" for o in outs)
    # sanity fails (connectivity as high-rank as its shuffle): the comparison is void -> inconclusive
    void = _planted_table(1.0)
    void.loc[void.init == "connectivity", "effective_rank"] = 12.0
    vc = build_claims(void, "demo", "embedded", 1, run_seed=0)
    assert [c.outcome for c in vc if c.kind == "recovery"] == ["fails"]
    conn = [c for c in vc if "connectivity-derived init learns" in c.claim]
    assert len(conn) == 3 and all(c.outcome == "inconclusive" and "void" in c.details for c in conn)
    tab = init_rank_table(lazy)
    assert set(tab.task) == {"all", "2AF", "DMS"} and (tab.n_seeds == 4).all()


def test_schema_refuses_unknown_and_out_of_range_keys():
    from pathlib import Path

    import jsonschema
    import yaml

    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    schemas = Path(__file__).parents[1] / "workflow/schemas"
    schema = yaml.safe_load((schemas / "rich_lazy.schema.yaml").read_text())
    # relative $refs (resources.schema.yaml) resolve in the schemas folder, as Snakemake's validate does
    registry = Registry(retrieve=lambda uri: Resource.from_contents(
        yaml.safe_load((schemas / uri).read_text()), default_specification=DRAFT202012))
    v = jsonschema.Draft202012Validator(schema, registry=registry)
    config = yaml.safe_load((Path(__file__).parents[1] / "config.yaml").read_text())["rich_lazy"]
    assert not list(v.iter_errors(config))
    for bad, word in (({"connectivity": {"sign": "signed"}}, "signed"), ({"demo": {"n_iter": 0}}, "minimum"),
                      ({"tasks": ["GoNoGo"]}, "GoNoGo"), ({"paper": {"n_hiden": 3}}, "n_hiden"),
                      ({"smnist": {"batchsize": 200}}, "batchsize"), ({"ntk_steps": "last"}, "last"),
                      ({"smnist": {"holdout": -1}}, "minimum")):
        errors = " ".join(e.message for e in v.iter_errors(bad))
        assert word in errors


def test_digits_task_rows_as_steps_and_target_at_the_end():
    from sklearn.datasets import load_digits

    task = Task("DIGITS")
    assert (task.n_steps, task.n_inputs, task.n_outputs) == (8, 8, 10)
    b = task.sample(5, np.random.default_rng(0))
    d = load_digits()
    for k, i in enumerate(b.info["image"]):
        assert np.allclose(b.x[:, k, :], d.images[i] / 16.0)  # row t of the image at step t
        assert b.ground_truth[k] == d.target[i]
    assert (b.y[:-1] == -100).all() and np.array_equal(b.y[-1], b.ground_truth)
    with pytest.raises(ValueError, match="DIGITS needs 8 steps"):
        Task("DIGITS", dt=50).sample(2, np.random.default_rng(0))
    # the aligned statistic ignores steps without a target; training runs end to end
    C = lagged_cross_covariance(b.x, b.y, 10)
    assert C.shape == (10, 8) and np.isfinite(C).all()
    inits = build_inits(8, [1, 2, 8], 1.25, 1, 0)
    df, _ = run_task(task, inits, dict(n_hidden=8, n_iter=5, log_every=5), 16, 2, 2, 0, stats_trials=50)
    assert set(df.init) == {"rank_1", "rank_2", "rank_8", "aligned_2"} and df.weight_change.notna().all()
