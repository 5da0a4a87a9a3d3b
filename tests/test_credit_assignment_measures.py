"""Curvature, tasks, trainer and summaries of `credit_assignment` against known answers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from neurorepro.credit_assignment.curvature import top_eigenvalue_wrt_W_rec
from neurorepro.credit_assignment.rnn import LeakyReLURNN, last_step_weights, sequence_loss
from neurorepro.credit_assignment.tasks import delayed_match_trials, evidence_trials, make_task
from neurorepro.credit_assignment.train import RuleTrainer


def _tiny(alpha=0.7, seed=3):
    g = torch.Generator().manual_seed(seed)
    net = LeakyReLURNN(2, 3, 3, alpha=alpha, rec_gain=1.5, generator=g).double()
    x = torch.randn(10, 4, 2, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 3, (10,), generator=g)
    return net, x, labels


@pytest.mark.parametrize("seed", [3, 11])
def test_top_hessian_eigenvalue_matches_explicit_hessian(seed):
    net, x, labels = _tiny(seed=seed)
    w = last_step_weights(4).double()

    def f(flat):
        return sequence_loss(net(x, W_rec=flat.reshape(3, 3)), labels, w)

    H = torch.autograd.functional.hessian(f, net.W_rec.detach().reshape(-1).clone())
    torch.testing.assert_close(H, H.T)
    expected = float(torch.linalg.eigvalsh(H)[-1])
    assert abs(expected) > 1e-3  # a real, non-degenerate check
    got = top_eigenvalue_wrt_W_rec(net, x, labels, w, n_iter=1000, tol=1e-12, seed=0)
    assert got == pytest.approx(expected, rel=1e-5)
    # the L2 penalty's Hessian, weight_decay * I, shifts the top eigenvalue exactly
    shifted = top_eigenvalue_wrt_W_rec(net, x, labels, w, n_iter=1000, tol=1e-12, seed=0, weight_decay=0.25)
    assert shifted == pytest.approx(got + 0.25, rel=1e-12)


def test_evidence_labels_are_the_majority_side():
    x, y = evidence_trials(200, n_cues=5, delay=3, p_major=0.8, noise=0.0, rng=np.random.default_rng(0))
    assert x.shape == (200, 2 * 5 + 3 + 1, 3)
    left, right = x[:, :, 0].sum(1), x[:, :, 1].sum(1)
    np.testing.assert_array_equal(left + right, 5)
    np.testing.assert_array_equal(y, (right > left).astype(int))
    assert np.all(x[:, -1, 2] == 1) and 0.3 < y.mean() < 0.7
    with pytest.raises(ValueError, match="n_cues"):
        evidence_trials(3, n_cues=4, delay=1, p_major=0.7, noise=0.0, rng=np.random.default_rng(0))


def test_pattern_task_and_its_r2_score():
    from neurorepro.credit_assignment.rnn import accuracy, window_weights

    task = make_task("pattern", n_train=40, n_test=20, seed=0, n_patterns=3, n_steps=12, n_clock=4, noise=0.0)
    assert task.x_train.shape == (40, 12, 7) and task.y_train.shape == (40, 12, 1) and task.loss_steps == 12
    cue = task.x_train[:, 0, :3].argmax(dim=1)
    for k in range(3):  # noise-free: the cue names the curve, and each curve has zero mean and unit SD
        same = task.y_train[cue == k]
        if len(same) > 1:
            torch.testing.assert_close(same[0], same[-1])
            assert float(same[0].mean()) == pytest.approx(0.0, abs=1e-5) and float(same[0].std(unbiased=False)) == pytest.approx(1.0, abs=1e-4)
    w = window_weights(12, 12)
    y_perfect = task.y_train.transpose(0, 1)
    assert accuracy(y_perfect, task.y_train, w) == pytest.approx(1.0)
    assert accuracy(torch.zeros_like(y_perfect), task.y_train, w) == pytest.approx(0.0, abs=1e-6)  # the targets' mean is 0


def test_delayed_match_labels():
    x, y = delayed_match_trials(300, n_stimuli=4, delay=2, noise=0.0, rng=np.random.default_rng(1))
    assert x.shape == (300, 4, 4)
    np.testing.assert_array_equal(y, (x[:, 0].argmax(1) == x[:, -1].argmax(1)).astype(int))
    assert np.all(x[:, 1:-1] == 0) and 0.4 < y.mean() < 0.6


def test_digits_are_images_read_row_by_row():
    from sklearn.datasets import load_digits

    task = make_task("digits", n_train=50, n_test=20, seed=0)
    assert task.x_train.shape == (50, 8, 8) and task.n_steps == 8 and task.n_in == 8
    images = load_digits().images / 16.0
    seq = task.x_train[0].numpy()
    match = np.flatnonzero(np.abs(images - seq[None]).max(axis=(1, 2)) < 1e-6)
    assert match.size >= 1  # time step t is image row t
    with pytest.raises(ValueError, match="unknown task"):
        make_task("xor", n_train=5, n_test=5, seed=0)


def _fit(rule, **kw):
    task = make_task("delayed_match", n_train=64, n_test=64, seed=0, n_stimuli=3, delay=1, noise=0.1)
    opts = dict(n_hidden=16, lr=0.2, batch_size=16, max_steps=100, check_every=50, hessian_samples=32, hessian_iter=10,
                hessian_tol=1e-4, seed=1)
    opts.update(kw)
    return RuleTrainer(rule, **opts).fit(task)


def test_trainer_learns_is_deterministic_and_records_history():
    a, b = _fit("bptt"), _fit("bptt")
    assert a.result_["train_acc"] > 0.75  # chance is 0.5
    assert a.history_["train_acc"].iloc[-1] > a.history_["train_acc"].iloc[0]
    pd.testing.assert_frame_equal(a.history_, b.history_)
    assert list(a.history_["step"]) == [0, 50, 100]
    assert a.result_["gap"] == pytest.approx(a.result_["train_acc"] - a.result_["test_acc"])
    assert a.history_["grad_alignment"].iloc[0] == pytest.approx(1.0)
    assert a.result_["eff_curv"] == pytest.approx(a.result_["top_eig"], rel=1e-3)  # BPTT sees the true curvature
    assert not a.result_["reached"] and a.result_["steps"] == 100  # no criterion: trained to the cap


def test_matched_performance_stopping_rule_stops_at_the_criterion():
    """Training stops at the first check whose training accuracy reaches the criterion; a run
    that never reaches it runs to the cap and is flagged."""
    from neurorepro.credit_assignment.train import criterion_reached

    assert criterion_reached(0.9, 0.9) and not criterion_reached(0.899, 0.9) and not criterion_reached(1.0, None)
    full = _fit("bptt", max_steps=120, check_every=5)  # no criterion: the whole trajectory of checks
    acc = full.history_.set_index("step")["train_acc"]
    target = float(acc.iloc[len(acc) // 2])  # a level this trajectory reaches part-way
    first = int(acc.index[np.flatnonzero(acc.to_numpy() >= target)[0]])
    tr = _fit("bptt", max_steps=120, check_every=5, target_train_acc=target)
    assert tr.result_["reached"] and tr.result_["steps"] == first
    assert tr.result_["train_acc"] >= target
    assert (tr.history_["train_acc"].iloc[:-1] < target).all()  # no earlier check met it
    assert np.isfinite(tr.result_["top_eig"]) and np.isfinite(tr.result_["test_acc_noisy"])
    never = _fit("rflo", max_steps=30, check_every=10, target_train_acc=1.0)
    assert not never.result_["reached"] and never.result_["steps"] == 30


def test_trainer_rejects_bad_settings():
    """``__init__`` stores what it is given (scikit-learn's convention); ``fit`` rejects it, naming the setting."""
    task = make_task("delayed_match", n_train=8, n_test=8, seed=0, n_stimuli=3, delay=1, noise=0.1)
    for rule, bad, match in [("hebbian", {}, "rule"), ("bptt", {"lr": 0}, "lr"), ("bptt", {"check_every": 0}, "check_every"),
                             ("bptt", {"target_train_acc": 1.5}, "target_train_acc"), ("bptt", {"max_steps": 2.5}, "max_steps")]:
        tr = RuleTrainer(rule, **bad)
        assert tr.rule == rule and all(getattr(tr, k) == v for k, v in bad.items())
        with pytest.raises(ValueError, match=match):
            tr.fit(task)


def test_partial_spearman_removes_a_shared_driver():
    from neurorepro.credit_assignment.analysis import partial_spearman

    rng = np.random.default_rng(0)
    z = rng.normal(size=400)
    x = z + 0.1 * rng.normal(size=400)
    y = z + 0.1 * rng.normal(size=400)  # x and y correlate only through z
    from scipy import stats

    assert stats.spearmanr(x, y)[0] > 0.9
    assert abs(partial_spearman(x, y, z)) < 0.2
    y2 = y + 3 * x  # a direct link survives
    assert partial_spearman(x, y2, z) > 0.5


def test_claims_from_planted_runs():
    """Claims on a planted table: paired gap difference, SD ratio, curvature ratio, correlations,
    the theorem's c, the stability bound and the remedy, each against numbers computed by hand."""
    import pandas as pd

    from neurorepro.credit_assignment.analysis import make_claims

    rows = []
    plant = {"bptt": (10.0, [0.05, 0.05, 0.06, 0.04, 0.05], 1.0), "eprop": (40.0, [0.10, 0.20, 0.15, 0.12, 0.18], 0.3),
             "rflo": (20.0, [0.08, 0.12, 0.10, 0.09, 0.11], 0.5)}
    for rule, (eig, gaps, c) in plant.items():
        for s, g in enumerate(gaps):
            rows.append(dict(task="t", rule=rule, variant="baseline", seed=s, reached=True, diverged=False, steps=100, lr=0.01,
                             top_eig=eig * (1 + g), eff_curv=c * eig * (1 + g), gap=g, gap_noisy=g, train_acc=0.9 + 0.001 * s,
                             test_acc=0.9 - g))
    rows.append(dict(rows[-1], seed=5, reached=False, gap_noisy=0.9, gap=0.9))  # never reached: left out
    for s, g in enumerate([0.05, 0.07, 0.06, 0.05, 0.06]):
        rows.append(dict(task="t", rule="eprop", variant="wd", seed=s, reached=True, diverged=False, steps=150, lr=0.01,
                         top_eig=15.0, eff_curv=5.0, gap=g, gap_noisy=g, train_acc=0.9, test_acc=0.9 - g))
    df = pd.DataFrame(rows)
    df["curv_ratio"] = df.eff_curv / df.top_eig
    claims = {c.claim.split("] ")[-1]: c for c in make_claims(df, scale="demo", source="embedded", seed=1, n_boot=300)}
    get = lambda prefix: next(c for k, c in claims.items() if k.startswith(prefix))  # noqa: E731
    G = {r: np.array(v[1]) for r, v in plant.items()}
    gap = get("At matched training accuracy, approximate rules generalise")
    assert gap.measured == pytest.approx(np.mean((G["eprop"] + G["rflo"]) / 2 - G["bptt"])) and gap.holds and gap.n == 5
    assert gap.details["runs_not_reached_per_rule"]["rflo"] == 1
    spread = get("At matched training accuracy, approximate rules' gen")
    assert spread.measured == pytest.approx(np.mean([G["eprop"].std(ddof=1), G["rflo"].std(ddof=1)]) / G["bptt"].std(ddof=1))
    curv = get("Approximate rules end at higher loss curvature")
    assert curv.measured == pytest.approx(np.mean([(40 * (1 + G["eprop"]) / (10 * (1 + G["bptt"])) + 20 * (1 + G["rflo"]) / (10 * (1 + G["bptt"]))) / 2]))
    assert curv.holds and curv.ci is not None
    corr = get("Generalisation gap correlates")
    assert corr.measured > 0.7 and corr.kind == "finding"  # planted: bigger curvature, bigger gap
    theo = get("Approximate rules' updates see less curvat")
    assert theo.measured == pytest.approx(0.4) and theo.holds
    edge = get("Every rule ends inside the linear-stability region")
    per_seed_max = [max(0.01 * c * eig * (1 + plant[r][1][s]) / 2 for r, (eig, _, c) in plant.items()) for s in range(5)]
    per_seed_max.append(0.01 * 0.5 * 20 * 1.11 / 2)  # the unreached RFLO run still counts: every finished run
    assert edge.measured == pytest.approx(np.mean(per_seed_max)) and edge.holds
    remedy = get("The remedy 'wd' narrows")
    assert remedy.measured == pytest.approx(np.mean(np.array([0.05, 0.07, 0.06, 0.05, 0.06]) - G["eprop"])) and remedy.holds
    lower = get("The remedy 'wd' lowers")
    assert lower.measured == pytest.approx(np.mean(15.0 / (40 * (1 + G["eprop"])))) and lower.holds
