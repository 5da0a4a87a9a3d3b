"""Curvature, tasks, trainer and summaries of `credit_assignment` against known answers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from neurorepro.credit_assignment.curvature import power_iteration_top_eigenvalue, top_eigenvalue_wrt_W_rec
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
    own = power_iteration_top_eigenvalue(
        lambda W: sequence_loss(net(x, W_rec=W), labels, w), net.W_rec.detach().clone(), n_iter=1000, tol=1e-12
    )
    assert own == pytest.approx(expected, rel=1e-5)


def test_power_iteration_on_a_quadratic_with_known_spectrum():
    A = torch.diag(torch.tensor([5.0, -7.0, 1.0, 0.5], dtype=torch.float64))
    Q, _ = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    M = Q @ A @ Q.T
    lam = power_iteration_top_eigenvalue(lambda w: 0.5 * w @ M @ w, torch.zeros(4, dtype=torch.float64), n_iter=2000, tol=1e-13)
    assert lam == pytest.approx(5.0, rel=1e-6)  # largest algebraic, not the -7 of largest magnitude


def test_evidence_labels_are_the_majority_side():
    x, y = evidence_trials(200, n_cues=5, delay=3, p_major=0.8, noise=0.0, rng=np.random.default_rng(0))
    assert x.shape == (200, 2 * 5 + 3 + 1, 3)
    left, right = x[:, :, 0].sum(1), x[:, :, 1].sum(1)
    np.testing.assert_array_equal(left + right, 5)
    np.testing.assert_array_equal(y, (right > left).astype(int))
    assert np.all(x[:, -1, 2] == 1) and 0.3 < y.mean() < 0.7
    with pytest.raises(ValueError, match="n_cues"):
        evidence_trials(3, n_cues=4, delay=1, p_major=0.7, noise=0.0, rng=np.random.default_rng(0))


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
    opts = dict(n_hidden=16, lr=0.2, batch_size=16, n_epochs=25, n_checkpoints=3, hessian_samples=32, hessian_iter=10, seed=1)
    opts.update(kw)
    return RuleTrainer(rule, **opts).fit(task)


def test_trainer_learns_is_deterministic_and_records_history():
    a, b = _fit("bptt"), _fit("bptt")
    assert a.result_["train_acc"] > 0.75  # chance is 0.5
    assert a.history_["train_acc"].iloc[-1] > a.history_["train_acc"].iloc[0]
    np.testing.assert_array_equal(a.history_.to_numpy(), b.history_.to_numpy())
    assert list(a.history_["step"]) == [0, 50, 100]
    assert a.result_["gap"] == pytest.approx(a.result_["train_acc"] - a.result_["test_acc"])
    assert a.history_["grad_alignment"].iloc[0] == pytest.approx(1.0)


def test_trainer_rejects_bad_settings():
    with pytest.raises(ValueError, match="rule"):
        RuleTrainer("hebbian")
    with pytest.raises(ValueError, match="lr"):
        RuleTrainer("bptt", lr=0)
    with pytest.raises(ValueError, match="n_checkpoints"):
        RuleTrainer("bptt", n_checkpoints=1)


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
    import pandas as pd

    from neurorepro.credit_assignment.analysis import make_claims

    rows = []
    for rule, eig, gaps in (("bptt", 10.0, [0.05, 0.05, 0.06]), ("eprop", 40.0, [0.10, 0.20, 0.15]), ("rflo", 20.0, [0.08, 0.12, 0.10])):
        for s, g in enumerate(gaps):
            rows.append(dict(task="t", rule=rule, variant="baseline", seed=s, top_eig=eig * (1 + g), gap=g, gap_noisy=g,
                             train_acc=0.9, test_acc=0.9 - g))
    for s, g in enumerate([0.05, 0.07, 0.06]):
        rows.append(dict(task="t", rule="eprop", variant="wd", seed=s, top_eig=15.0, gap=g, gap_noisy=g, train_acc=0.9, test_acc=0.9 - g))
    claims = {c.claim.split("] ")[1][:30]: c for c in make_claims(pd.DataFrame(rows), scale="demo", source="embedded")}
    assert len(claims) == 5
    curv = next(c for k, c in claims.items() if k.startswith("Bio-plausible"))
    expected_ratio = np.mean([np.mean([40 * 1.10, 40 * 1.20, 40 * 1.15]), np.mean([20 * 1.08, 20 * 1.12, 20 * 1.10])]) / np.mean([10 * 1.05, 10 * 1.05, 10 * 1.06])
    assert curv.measured == pytest.approx(expected_ratio) and curv.holds
    corr = next(c for k, c in claims.items() if k.startswith("Generalisation gap correlates"))
    assert corr.measured > 0.8 and corr.holds  # planted: bigger curvature, bigger gap
    spread = next(c for k, c in claims.items() if k.startswith("Approximate rules' generalisa"))
    sd_b = np.std([0.05, 0.05, 0.06], ddof=1)
    assert spread.measured == pytest.approx(np.mean([np.std([0.1, 0.2, 0.15], ddof=1), np.std([0.08, 0.12, 0.10], ddof=1)]) / sd_b)
    remedy = next(c for k, c in claims.items() if k.startswith("The remedy 'wd'"))
    assert remedy.measured == pytest.approx(0.06 - 0.15) and remedy.holds
