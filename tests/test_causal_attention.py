"""Unit tests of the causal_attention package against known answers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from neurorepro.causal_attention import simulate as sim
from neurorepro.causal_attention.granger import GrangerCausality, pairwise_conditional_f
from neurorepro.causal_attention.metrics import auroc
from neurorepro.causal_attention.model import AttentionCausality, causal_scores, windows


def _single(a, b, c, d, current, steps=1000, variant="izhikevich2003"):
    pr = sim.NeuronParams(np.array([a]), np.array([b]), np.array([c]), np.array([d]), np.array([True]))
    v, s = sim.integrate(pr, np.zeros((1, 1)), steps, constant_input=current, variant=variant)
    return v[0][:, 0], s[0][:, 0]


# ---------------------------------------------------------------- simulator
def test_regular_spiking_neuron_rest_rheobase_and_adaptation():
    # RS cell (a, b, c, d) = (0.02, 0.2, -65, 8). Rest solves 0.04v^2 + 4.8v + 140 = 0 -> v = -70;
    # the saddle-node (rheobase) is at I = 4; well below it (I = 2, from the start state v = -65,
    # u = b v) the cell stays silent.
    v0, s0 = _single(0.02, 0.2, -65, 8, 0.0)
    assert not s0.any()
    assert v0[-1] == pytest.approx(-70.0, abs=0.05)
    _, s_low = _single(0.02, 0.2, -65, 8, 2.0)
    assert not s_low.any()
    v, s = _single(0.02, 0.2, -65, 8, 10.0)
    t = np.flatnonzero(s)
    isi = np.diff(t)
    assert len(t) >= 10  # tonic firing
    med = np.median(isi)
    assert isi[0] < 0.7 * med  # spike-frequency adaptation: a short first interval, then slower
    # then regular (the 1 ms Euler scheme jitters each interval by a few ms, no more)
    assert np.all(np.abs(isi[1:] - med) < 0.3 * med)
    assert 10 < 1000 / med < 40  # tonic firing at tens of Hz
    assert v.max() == sim.V_PEAK and v[t[0] + 1] < -60  # spikes cut at 30 mV, reset near c


def test_authors_variant_rests_at_analytic_fixed_point():
    # lu2023: 0.04v^2 + 4.1v + 108 - u with u = -0.1 v -> 0.04v^2 + 4.2v + 108 = 0 -> v = -60 (stable)
    v, s = _single(0.02, -0.1, -65, 8, 0.0, steps=3000, variant="lu2023")
    assert not s.any()
    assert v[-1] == pytest.approx(-60.0, abs=0.05)


def test_connectivity_statistics_match_p_without_self_loops():
    rng = np.random.default_rng(0)
    n, p, S = 300, 0.3, 5.0
    pr = sim.neuron_params(n, rng)
    W = sim.random_connectivity(n, p, S, pr.excitatory, rng)
    edges = W != 0
    assert not np.diag(edges).any()
    frac = edges[~np.eye(n, dtype=bool)].mean()
    se = np.sqrt(p * (1 - p) / (n * (n - 1)))
    assert abs(frac - p) < 4 * se
    assert np.all(W[:, pr.excitatory] >= 0) and np.all(W[:, ~pr.excitatory] <= 0)
    assert set(np.unique(np.abs(W[edges]))) == {S}
    assert pr.excitatory.sum() == 240  # 80 % excitatory, listed first
    assert np.all(pr.c[pr.excitatory] >= -65) and np.all(pr.c[pr.excitatory] <= -50)
    assert np.all(pr.d[~pr.excitatory] == 2) and np.all((pr.a[~pr.excitatory] >= 0.02) & (pr.a[~pr.excitatory] <= 0.1))


def test_batch_simulation_is_reproducible_and_independent_of_the_batch():
    kw = dict(n_steps=300, variant="lu2023", input_mean=10.0, seed=3)
    batch = sim.simulate_networks([5, 8], [0.3, 0.7], 2, **kw)
    alone = sim.simulate_networks([8], [0.7], 2, **kw)
    again = sim.simulate_networks([5, 8], [0.3, 0.7], 2, **kw)
    b = [nt for nt in batch if nt.n == 8 and nt.p == 0.7]
    for x, y in zip(b, alone):
        np.testing.assert_array_equal(x.voltage, y.voltage)
        np.testing.assert_array_equal(x.weights, y.weights)
    for x, y in zip(batch, again):
        np.testing.assert_array_equal(x.activity, y.activity)
    nt = batch[-1]
    assert nt.spikes.any()
    np.testing.assert_allclose(nt.activity.mean(0), 0, atol=1e-9)
    np.testing.assert_allclose(nt.activity.std(0), 1, atol=1e-9)
    assert nt.voltage.max() <= sim.V_PEAK


def test_bad_simulator_arguments_raise():
    with pytest.raises(ValueError, match="variant"):
        sim.neuron_params(5, np.random.default_rng(0), variant="hodgkin")
    with pytest.raises(ValueError, match="probability"):
        sim.random_connectivity(5, 1.5, 1.0, np.ones(5, bool), np.random.default_rng(0))


# ---------------------------------------------------------------- Granger
def _planted_var(n=6, T=4000, seed=0):
    rng = np.random.default_rng(seed)
    A1 = 0.3 * np.eye(n)
    A2 = np.zeros((n, n))
    truth = np.zeros((n, n), int)
    for tgt, src, lag, w in [(1, 0, 1, 0.4), (2, 1, 2, -0.4), (3, 0, 1, 0.35), (4, 3, 2, 0.4), (5, 2, 1, -0.35), (0, 5, 2, 0.3)]:
        (A1 if lag == 1 else A2)[tgt, src] = w
        truth[tgt, src] = 1
    x = np.zeros((T, n))
    for t in range(2, T):
        x[t] = A1 @ x[t - 1] + A2 @ x[t - 2] + rng.standard_normal(n)
    return x, truth


def test_granger_recovers_planted_var():
    x, truth = _planted_var()
    g = GrangerCausality(max_lag=6).fit(x)
    assert auroc(g.F_, truth) == pytest.approx(1.0)
    assert g.lag_ >= 2  # AIC finds the second lag
    off = ~np.eye(6, dtype=bool)
    assert np.all(g.pvalues_[(truth == 1)] < 1e-6)
    assert np.median(g.pvalues_[off & (truth == 0)]) > 0.05


def test_pairwise_f_equals_statsmodels_test_causality():
    from statsmodels.tsa.api import VAR

    x, _ = _planted_var(T=800, seed=1)
    res = VAR(x).fit(3, trend="c")
    F, P = pairwise_conditional_f(res)
    for i in range(6):
        for j in range(6):
            if i != j:
                t = res.test_causality(caused=i, causing=[j], kind="f")
                assert F[i, j] == pytest.approx(t.test_statistic, rel=1e-9)
                assert P[i, j] == pytest.approx(t.pvalue, rel=1e-6, abs=1e-12)


# ---------------------------------------------------------------- attention
def test_causal_scores_sum_normalise_and_zero_diagonal():
    att = np.zeros((2, 3, 2, 2, 4))  # samples, heads, target, source, steps
    att[:, :, 0, 1, :] = 0.25 / 2  # target 0 puts 1/2 of each head on source 1 ...
    att[:, :, 0, 0, :] = 0.25 / 2  # ... and 1/2 on itself
    att[:, :, 1, 0, 0] = 1.0  # target 1 reads only source 0
    c = causal_scores(att)
    np.testing.assert_allclose(c, [[0.0, 0.5], [1.0, 0.0]])


def test_windows_pairs_context_with_next_step():
    x = np.arange(12.0).reshape(6, 2)
    X, Y = windows(x, 3)
    assert X.shape == (3, 3, 2) and Y.shape == (3, 2)
    np.testing.assert_array_equal(X[1], x[1:4])
    np.testing.assert_array_equal(Y[1], x[4])


def test_attention_readout_finds_the_copied_source():
    # target 2 copies source 0 with lag 2, target 3 copies source 1 with lag 1; the rest is noise
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    T, n = 1500, 5
    x = rng.standard_normal((T, n))
    x[2:, 2] = x[:-2, 0]
    x[1:, 3] = x[:-1, 1]
    m = AttentionCausality(context=4, d_model=16, n_heads=2, d_ff=32, dropout=0.0, lr=3e-3, max_epochs=12,
                           patience=4, device="cpu", seed=0).fit(x)
    assert int(np.argmax(m.scores_[2])) == 0
    assert int(np.argmax(m.scores_[3])) == 1
    assert m.scores_[2, 0] > 0.5 and m.scores_[3, 1] > 0.5
    # the lag is readable too: target 2 reads source 0 at context step L-2, target 3 source 1 at L-1
    assert int(np.argmax(m.attention_lag_[2, 0])) == 4 - 2
    assert int(np.argmax(m.attention_lag_[3, 1])) == 4 - 1
    assert m.r2_ > 0.3  # two of five neurons are predictable


def test_attention_training_is_reproducible(device):
    x = np.random.default_rng(1).standard_normal((300, 3))
    kw = dict(context=3, d_model=8, n_heads=2, d_ff=8, max_epochs=2, device=device, seed=5)
    a, b = AttentionCausality(**kw).fit(x), AttentionCausality(**kw).fit(x)
    np.testing.assert_array_equal(a.scores_, b.scores_)
    assert a.r2_ == b.r2_


def test_model_rejects_bad_parameters():
    with pytest.raises(ValueError, match="train_frac"):
        AttentionCausality(train_frac=0.9, val_frac=0.2)
    with pytest.raises(ValueError, match="context"):
        AttentionCausality(context=0)


# ---------------------------------------------------------------- AUROC
def _brute_auc(y, s):
    pos, neg = s[y == 1], s[y == 0]
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def test_auroc_matches_sklearn_and_brute_force_off_diagonal():
    from sklearn.metrics import roc_auc_score

    adj = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]])
    perfect = adj * 2.0 + 0.1
    assert auroc(perfect, adj) == 1.0
    assert auroc(-perfect, adj) == 0.0
    scores = np.array([[9.0, 0.3, 0.5], [0.2, 9.0, 0.1], [0.4, 0.5, 9.0]])  # huge diagonal must be ignored
    off = ~np.eye(3, dtype=bool)
    expected = _brute_auc(adj[off], scores[off])
    assert auroc(scores, adj) == pytest.approx(expected)
    assert auroc(scores, adj) == pytest.approx(roc_auc_score(adj[off], scores[off]))
    assert np.isnan(auroc(scores, np.ones((3, 3))))  # every edge present: undefined
