"""Unit tests of the rich_lazy package (Liu et al. 2024) against known answers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from neurorepro.rich_lazy.experiment import build_inits, run_task
from neurorepro.rich_lazy.inits import (
    apply_sign,
    connectivity_block,
    effective_rank,
    gaussian_init,
    participation_ratio,
    shuffle_entries,
    truncate_rank,
)
from neurorepro.rich_lazy.measures import (
    empirical_ntk,
    kernel_alignment,
    matrix_alignment,
    relative_weight_change,
    representation_alignment,
)
from neurorepro.rich_lazy.model import LeakyReLURNN, RNNTrainer
from neurorepro.rich_lazy.summary import build_claims, paired_difference, rank_trend
from neurorepro.rich_lazy.tasks import Task


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
        apply_sign(A, "dale", rng)


def test_build_inits_equal_norms_and_ranks():
    ds = build_inits(12, [1, 3, 12], 1.25, 2, 5, W_conn=toy_connectivity(), sign="random")
    assert list(ds.init.values) == ["rank_1", "rank_3", "rank_12", "connectivity", "shuffled"]
    norms = np.linalg.norm(ds.W0.values, axis=(-2, -1))
    assert np.allclose(norms, norms[:, :1])  # one norm per seed across families
    assert np.allclose(norms[:, 0], 1.25 * np.sqrt(12), rtol=0.3)
    for s in range(2):
        assert np.linalg.matrix_rank(ds.W0.sel(seed=s, init="rank_3").values) == 3
    c, sh = ds.W0.sel(init="connectivity").values, ds.W0.sel(init="shuffled").values
    assert np.allclose(np.sort(c.reshape(2, -1)), np.sort(sh.reshape(2, -1)))
    again = build_inits(12, [1, 3, 12], 1.25, 2, 5, W_conn=toy_connectivity(), sign="random")
    assert np.array_equal(ds.W0.values, again.W0.values)  # seeded
    with pytest.raises(ValueError, match="rich_lazy.ranks"):
        build_inits(12, [1, 13], 1.25, 1, 5)


# -- measures ------------------------------------------------------------------------------
def test_alignment_measures_identity_and_hand_computation():
    rng = np.random.default_rng(0)
    H = rng.standard_normal((5, 3))
    assert representation_alignment(H, H) == pytest.approx(1.0)
    assert representation_alignment(H, 3 * H) == pytest.approx(1.0)
    K = H @ H.T
    assert kernel_alignment(K, K) == pytest.approx(1.0)
    # hand computation: H0 = I2 -> G0 = I; H = [[1, 1], [0, 1]] -> G = [[2, 1], [1, 1]]
    # <G0, G> = 3, ||G0|| = sqrt 2, ||G|| = sqrt 7
    H0, H1 = np.eye(2), np.array([[1.0, 1.0], [0.0, 1.0]])
    assert representation_alignment(H0, H1) == pytest.approx(3 / np.sqrt(14))
    assert matrix_alignment(np.array([[1.0, 0]]), np.array([[0.0, 1]])) == pytest.approx(0.0)
    assert relative_weight_change(np.eye(2), 2 * np.eye(2)) == pytest.approx(1.0)


def test_empirical_ntk_matches_explicit_per_example_gradients():
    torch.manual_seed(0)
    net = LeakyReLURNN(3, 5, 2, alpha=0.5).double()
    net.reset_io(torch.Generator().manual_seed(1))
    with torch.no_grad():
        net.W_hh.copy_(torch.randn(5, 5, dtype=torch.float64) * 0.5)
    net.double()
    x = torch.rand(4, 3, 3, dtype=torch.float64)  # T=4, B=3
    K = empirical_ntk(net, x)
    out, _ = net(x)
    grads = []
    for t in range(4):
        for b in range(3):
            for k in range(2):
                (g,) = torch.autograd.grad(out[t, b, k], net.W_hh, retain_graph=True)
                grads.append(g.reshape(-1))
    J = torch.stack(grads)
    assert K.shape == (24, 24)
    np.testing.assert_allclose(K, (J @ J.T).numpy(), rtol=1e-10, atol=1e-12)


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


def test_run_task_rows_and_aligned_init():
    inits = build_inits(8, [1, 8], 1.25, 2, 0, W_conn=toy_connectivity())
    df, curves = run_task(Task("DMS"), inits, dict(n_hidden=8, n_iter=10, log_every=5), 16, 2, 1, 0)
    assert len(df) == 2 * 5 and set(df.init) == {"rank_1", "rank_8", "connectivity", "shuffled", "aligned_1"}
    al = df[df.init == "aligned_1"]
    assert np.allclose(al.effective_rank, 1.0) and np.allclose(al.w0_norm, df[df.init == "rank_8"].w0_norm)
    assert set(curves.iteration) == {5, 10}
    with pytest.raises(ValueError, match="rich_lazy.aligned_rank"):
        run_task(Task("DMS"), inits, dict(n_hidden=8, n_iter=2), 16, 2, 4, 0)
    # aligned rank 8: the rank-8 truncation of the W learned from the rank-1 init (pilot)
    only = inits.sel(init=["rank_1", "rank_8"], seed=[0])
    df8, _ = run_task(Task("DMS"), only, dict(n_hidden=8, n_iter=10, log_every=5), 16, 2, 8, 0)
    a8 = df8[df8.init == "aligned_8"].iloc[0]
    assert a8["rank"] == 8 and 1.0 < a8.effective_rank < 2.0  # pilot's direction + small learned part
    assert a8.w0_norm == pytest.approx(df8[df8.init == "rank_8"].w0_norm.iloc[0])


def _planted_table(sign: float) -> pd.DataFrame:
    rows = []
    for task in ("2AF", "DMS"):
        for seed in range(3):
            for r in (1, 4, 16):
                rows.append(dict(task=task, seed=seed, init=f"rank_{r}", family="random", rank=r, effective_rank=r,
                                 weight_change=1 / r ** sign + 0.001 * seed, ntk_alignment=1 - 1 / r ** sign,
                                 rep_alignment=1 - 0.5 / r ** sign))
            rows.append(dict(task=task, seed=seed, init="aligned_1", family="aligned", rank=1, effective_rank=1,
                             weight_change=0.1 ** sign, ntk_alignment=0.99 ** sign, rep_alignment=0.99))
    return pd.DataFrame(rows)


def test_claims_follow_planted_trends():
    lazy = _planted_table(1.0)
    rho = rank_trend(lazy, "weight_change")  # ties within a rank across seeds keep |rho| just below 1
    assert set(rho) == {"2AF", "DMS"} and all(-1.0 <= v < -0.9 for v in rho.values())
    assert paired_difference(lazy, "aligned_1", "rank_1", "weight_change")["2AF"] == pytest.approx(0.1 - 1.001)  # rank_1 has +0.001 * seed
    claims = build_claims(lazy, "demo", "embedded", 1)
    assert len(claims) == 5 and all(c.holds for c in claims)
    rich = _planted_table(-1.0)  # reversed: higher rank -> larger change
    held = [c.holds for c in build_claims(rich, "demo", "embedded", 1)]
    assert not any(held[:3])


def test_schema_refuses_unknown_and_out_of_range_keys():
    from pathlib import Path

    import jsonschema
    import yaml

    schema = yaml.safe_load((Path(__file__).parents[1] / "workflow/schemas/rich_lazy.schema.yaml").read_text())
    v = jsonschema.Draft202012Validator(schema)
    config = yaml.safe_load((Path(__file__).parents[1] / "config.yaml").read_text())["rich_lazy"]
    assert not list(v.iter_errors(config))
    for bad, word in (({"connectivity": {"sign": "dale"}}, "dale"), ({"demo": {"n_iter": 0}}, "minimum"),
                      ({"tasks": ["GoNoGo"]}, "GoNoGo"), ({"paper": {"n_hiden": 3}}, "n_hiden")):
        errors = " ".join(e.message for e in v.iter_errors(bad))
        assert word in errors
