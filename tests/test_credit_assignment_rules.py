"""Learning rules of `credit_assignment` against their defining equations.

References are computed independently of the rules' code: torch autograd on the same
network (with the recurrent path detached for e-prop, or the readout's backward pass
swapped for the random feedback in RFLO), and explicit scalar loops written from the
papers' equations on a 2-unit network over 3 steps.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from neurorepro.credit_assignment.rnn import LeakyReLURNN, last_step_weights, sequence_loss
from neurorepro.credit_assignment.rules import BPTT, MDGL, RFLO, EProp, make_rule, type_averaged

PARAMS = ("W_in", "W_rec", "W_out", "b_out")


def _net(alpha: float, n_in=3, n_hidden=5, n_out=4, seed=0) -> LeakyReLURNN:
    g = torch.Generator().manual_seed(seed)
    net = LeakyReLURNN(n_in, n_hidden, n_out, alpha=alpha, rec_gain=1.2, generator=g).double()
    with torch.no_grad():
        net.b_out.normal_(generator=g)
    return net


def _data(B=6, T=5, n_in=3, n_out=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, n_in, generator=g, dtype=torch.float64)
    labels = torch.randint(0, n_out, (B,), generator=g)
    return x, labels


def _autograd(net, loss) -> dict[str, torch.Tensor]:
    net.zero_grad()
    loss.backward()
    return {k: p.grad.clone() for k, p in net.named_parameters()}


@pytest.mark.parametrize("alpha", [1.0, 0.4])
@pytest.mark.parametrize("weights", ["last", "all"])
def test_bptt_equals_autograd(alpha, weights):
    net = _net(alpha)
    x, labels = _data()
    w = last_step_weights(5).double() if weights == "last" else torch.linspace(0.2, 1.0, 5, dtype=torch.float64)
    est, loss = BPTT(None)(net, x, labels, w)
    ref = _autograd(net, sequence_loss(net(x), labels, w))
    assert loss == pytest.approx(float(sequence_loss(net(x), labels, w).detach()))
    for k in PARAMS:
        torch.testing.assert_close(est[k], ref[k], rtol=1e-10, atol=1e-12)


def test_truncated_bptt_long_window_is_bptt_and_short_window_differs():
    net = _net(0.5)
    x, labels = _data()
    w = last_step_weights(5).double()
    full, _ = BPTT(None)(net, x, labels, w)
    long, _ = BPTT(truncation=5)(net, x, labels, w)
    short, _ = BPTT(truncation=2)(net, x, labels, w)
    torch.testing.assert_close(long["W_rec"], full["W_rec"])
    assert (short["W_rec"] - full["W_rec"]).abs().max() > 1e-3


@pytest.mark.parametrize("K", [1, 2, 3])
def test_truncated_bptt_equals_autograd_with_state_detached_K_steps_back(K):
    """Loss at the last step: K-step truncation == autograd with h_{T-K} treated as a constant."""
    net = _net(0.5)
    x, labels = _data()
    T = x.shape[1]
    h = x.new_zeros(x.shape[0], net.n_hidden)
    for t in range(T):
        if t == T - K:
            h = h.detach()
        v = x[:, t] @ net.W_in.T + h @ net.W_rec.T
        h = (1 - net.alpha) * h + net.alpha * torch.relu(v)
    y_last = h @ net.W_out.T + net.b_out
    ref = _autograd(net, torch.nn.functional.cross_entropy(y_last, labels))
    est, _ = BPTT(truncation=K)(net, x, labels, last_step_weights(T).double())
    for k in PARAMS:
        torch.testing.assert_close(est[k], ref[k], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_eprop_equals_gradient_with_recurrent_path_stopped(alpha):
    net = _net(alpha)
    x, labels = _data()
    w = torch.ones(5, dtype=torch.float64)  # a loss at every step exercises the traces' memory
    est, _ = EProp()(net, x, labels, w)
    ref = _autograd(net, sequence_loss(net.run(x, stop_recurrent=True).y, labels, w))
    for k in PARAMS:
        torch.testing.assert_close(est[k], ref[k], rtol=1e-10, atol=1e-12)
    exact, _ = BPTT(None)(net, x, labels, w)
    assert (est["W_rec"] - exact["W_rec"]).abs().max() > 1e-3  # not relabelled BPTT


def test_rflo_equals_stopped_gradient_with_random_feedback_in_the_backward_pass():
    net = _net(0.3)
    x, labels = _data()
    w = torch.ones(5, dtype=torch.float64)
    Bfb = torch.randn(5, 4, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    est, _ = RFLO(Bfb)(net, x, labels, w)
    # Independent reference: the readout's value is W_out h, its backward pass sends delta B^T to h.
    traj = net.run(x, stop_recurrent=True)
    h = traj.h[1:]
    y = h.detach() @ net.W_out.T + net.b_out + (h @ Bfb) - (h @ Bfb).detach()
    ref = _autograd(net, sequence_loss(y, labels, w))
    for k in PARAMS:
        torch.testing.assert_close(est[k], ref[k], rtol=1e-10, atol=1e-12)
    sym, _ = EProp()(net, x, labels, w)
    assert (est["W_rec"] - sym["W_rec"]).abs().max() > 1e-3
    torch.testing.assert_close(est["W_out"], sym["W_out"])  # readout keeps its exact delta rule


def _hand_forward(W_in, W_rec, W_out, b, x, alpha):
    """Scalar loops over the 2-unit network: v, h (h[0] = 0) and y for one trial."""
    T, N = len(x), W_rec.shape[0]
    h = [np.zeros(N)]
    v = []
    for t in range(T):
        vt = np.array([sum(W_in[i, k] * x[t][k] for k in range(len(x[t]))) + sum(W_rec[i, j] * h[t][j] for j in range(N)) for i in range(N)])
        v.append(vt)
        h.append(np.array([(1 - alpha) * h[t][i] + alpha * max(vt[i], 0.0) for i in range(N)]))
    y = [W_out @ h[t + 1] + b for t in range(T)]
    return v, h, y


def _hand_trace_rule(W_in, W_rec, W_out, b, x, label, alpha, feedback):
    """e-prop / RFLO written from the papers: e_t[i,j] = (1-a) e_{t-1}[i,j] + a f'(v_t[i]) h_{t-1}[j],
    dW_rec[i,j] = sum_t L_t[i] e_t[i,j],  L_t[i] = sum_k F[i,k] (p_t[k] - onehot[k]), loss at every step."""
    N, O = W_rec.shape[0], W_out.shape[0]
    v, h, y = _hand_forward(W_in, W_rec, W_out, b, x, alpha)
    e = np.zeros((N, N))
    e_in = np.zeros((N, len(x[0])))
    dW = np.zeros((N, N))
    dW_in = np.zeros_like(e_in)
    for t in range(len(x)):
        for i in range(N):
            fp = 1.0 if v[t][i] > 0 else 0.0
            for j in range(N):
                e[i, j] = (1 - alpha) * e[i, j] + alpha * fp * h[t][j]
            for k in range(len(x[0])):
                e_in[i, k] = (1 - alpha) * e_in[i, k] + alpha * fp * x[t][k]
        p = np.exp(y[t] - y[t].max())
        p /= p.sum()
        err = p - np.eye(O)[label]
        L = [sum(feedback[i, k] * err[k] for k in range(O)) for i in range(N)]
        for i in range(N):
            dW[i] += L[i] * e[i]
            dW_in[i] += L[i] * e_in[i]
    return dW, dW_in


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_eprop_and_rflo_against_hand_computed_update_two_units_three_steps(alpha):
    W_in = np.array([[0.5, -0.3], [0.8, 0.2]])
    W_rec = np.array([[0.4, -0.7], [0.6, 0.3]])
    W_out = np.array([[1.0, -0.5], [-0.4, 0.9]])
    b = np.array([0.1, -0.2])
    x = [[1.0, 0.5], [-0.5, 1.0], [0.3, -0.8]]
    label = 1
    Bfb = np.array([[0.7, -1.1], [-0.2, 0.5]])
    net = LeakyReLURNN(2, 2, 2, alpha=alpha).double()
    with torch.no_grad():
        for name, arr in (("W_in", W_in), ("W_rec", W_rec), ("W_out", W_out), ("b_out", b)):
            getattr(net, name).copy_(torch.as_tensor(arr))
    xt = torch.tensor([x], dtype=torch.float64)
    lab = torch.tensor([label])
    w = torch.ones(3, dtype=torch.float64)
    for rule, F in ((EProp(), W_out.T), (RFLO(torch.as_tensor(Bfb)), Bfb)):
        est, _ = rule(net, xt, lab, w)
        dW, dW_in = _hand_trace_rule(W_in, W_rec, W_out, b, x, label, alpha, F)
        np.testing.assert_allclose(est["W_rec"].numpy(), dW, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(est["W_in"].numpy(), dW_in, rtol=1e-12, atol=1e-14)
    if alpha == 1.0:
        # Leak-free cell, loss only at the last step: e-prop keeps only the last step,
        # dW_rec[i, j] = L_3[i] f'(v_3[i]) h_2[j]; check one entry with numbers written out.
        v, h, y = _hand_forward(W_in, W_rec, W_out, b, x, 1.0)
        est, _ = EProp()(net, xt, lab, last_step_weights(3).double())
        p = np.exp(y[2]) / np.exp(y[2]).sum()
        L = W_out.T @ (p - np.array([0.0, 1.0]))
        expected = L[0] * float(v[2][0] > 0) * h[2][1]
        assert float(est["W_rec"][0, 1]) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_mdgl_with_exact_weights_is_two_step_truncated_bptt_in_the_leak_free_cell():
    """With one cell type per unit (W_hat = W_rec), alpha = 1 and the loss at the last step,
    MDGL's extra term is exactly the second step of truncated BPTT."""
    net = _net(1.0)
    x, labels = _data()
    w = last_step_weights(5).double()
    mdgl, _ = MDGL(n_types=net.n_hidden)(net, x, labels, w)
    tb2, _ = BPTT(truncation=2)(net, x, labels, w)
    eprop, _ = EProp()(net, x, labels, w)
    tb1, _ = BPTT(truncation=1)(net, x, labels, w)
    for k in PARAMS:
        torch.testing.assert_close(mdgl[k], tb2[k], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(eprop[k], tb1[k], rtol=1e-10, atol=1e-12)


def test_type_averaged_replaces_blocks_by_their_means():
    W = torch.arange(16, dtype=torch.float64).reshape(4, 4)
    Wh = type_averaged(W, 2)
    assert float(Wh[0, 0]) == pytest.approx(np.mean([0, 1, 4, 5]))
    assert float(Wh[1, 3]) == pytest.approx(np.mean([2, 3, 6, 7]))
    assert float(Wh[3, 0]) == pytest.approx(np.mean([8, 9, 12, 13]))
    torch.testing.assert_close(type_averaged(W, 4), W)
    with pytest.raises(ValueError, match="n_types"):
        type_averaged(W, 5)


def test_make_rule_rejects_unknown_names_and_builds_random_feedback():
    with pytest.raises(ValueError, match="unknown learning rule"):
        make_rule("hebb", n_hidden=4, n_out=2)
    r1 = make_rule("rflo", n_hidden=4, n_out=2, generator=torch.Generator().manual_seed(0))
    r2 = make_rule("rflo", n_hidden=4, n_out=2, generator=torch.Generator().manual_seed(0))
    assert r1.feedback.shape == (4, 2)
    torch.testing.assert_close(r1.feedback, r2.feedback)
    with pytest.raises(ValueError, match="truncation"):
        BPTT(truncation=0)


def test_mdgl_with_leak_equals_eprop_plus_type_averaged_one_step_credit_by_autograd():
    """alpha < 1 (stored traces): MDGL = e-prop + sum_p c_p dh_{T-1,p}/dW along the e-prop graph,
    with c = (alpha f'_T * L_T) W_hat (W_hat: type-averaged W_rec)."""
    net = _net(0.4, n_hidden=6)
    x, labels = _data()
    T = x.shape[1]
    w = last_step_weights(T).double()
    est, _ = MDGL(n_types=2)(net, x, labels, w)
    traj = net.run(x, stop_recurrent=True)
    with torch.no_grad():
        delta = (torch.softmax(traj.y[-1], -1) - torch.nn.functional.one_hot(labels, 4)) / x.shape[0]
        L = delta @ net.W_out
        c = (net.alpha * (traj.v[-1] > 0).double() * L) @ type_averaged(net.W_rec, 2)
    surrogate = sequence_loss(traj.y, labels, w) + (c * traj.h[T - 1]).sum()
    ref = _autograd(net, surrogate)
    for k in ("W_rec", "W_in"):
        torch.testing.assert_close(est[k], ref[k], rtol=1e-10, atol=1e-12)


def test_with_leak_and_per_step_loss_traces_matter_two_units_three_steps():
    """Issue 31: with a leak and a loss at every step, e-prop and RFLO are no longer one-step
    truncated BPTT (their traces carry earlier steps), yet each still equals autograd through
    the network with its path stopped. Without the leak and with a last-step loss they collapse."""
    g = torch.Generator().manual_seed(5)
    net = LeakyReLURNN(2, 2, 2, alpha=0.5, rec_gain=1.0, generator=g).double()
    with torch.no_grad():
        net.W_in.copy_(torch.tensor([[0.9, -0.4], [0.5, 0.8]]))
        net.W_rec.copy_(torch.tensor([[0.3, -0.6], [0.7, 0.2]]))
    x = torch.tensor([[[1.0, 0.5], [-0.5, 1.0], [0.3, -0.8]], [[0.2, 1.0], [0.9, 0.1], [-0.4, 0.6]]], dtype=torch.float64)
    lab = torch.tensor([1, 0])
    w = torch.ones(3, dtype=torch.float64) / 3  # per-step loss
    Bfb = torch.tensor([[0.7, -1.1], [-0.2, 0.5]], dtype=torch.float64)
    tb1, _ = BPTT(truncation=1)(net, x, lab, w)
    ep, _ = EProp()(net, x, lab, w)
    rf, _ = RFLO(Bfb)(net, x, lab, w)
    # autograd with the recurrent path stopped (e-prop) and, for RFLO, the readout's backward pass through B
    ref_ep = _autograd(net, sequence_loss(net.run(x, stop_recurrent=True).y, lab, w))
    h = net.run(x, stop_recurrent=True).h[1:]
    y = h.detach() @ net.W_out.T + net.b_out + (h @ Bfb) - (h @ Bfb).detach()
    ref_rf = _autograd(net, sequence_loss(y, lab, w))
    for k in ("W_in", "W_rec"):
        torch.testing.assert_close(ep[k], ref_ep[k], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(rf[k], ref_rf[k], rtol=1e-10, atol=1e-12)
        assert (ep[k] - tb1[k]).abs().max() > 1e-3, f"e-prop's {k} update collapsed to one-step truncated BPTT"
        assert (rf[k] - tb1[k]).abs().max() > 1e-3, f"RFLO's {k} update collapsed to one-step truncated BPTT"
    # the collapse the issue names: no leak, loss at the last step -> e-prop == one-step truncated BPTT
    net.alpha = 1.0
    last = last_step_weights(3).double()
    ep1, _ = EProp()(net, x, lab, last)
    tb11, _ = BPTT(truncation=1)(net, x, lab, last)
    for k in ("W_in", "W_rec"):
        torch.testing.assert_close(ep1[k], tb11[k], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("rule_name", ["bptt", "eprop"])
def test_effective_curvature_is_the_rules_jacobian_along_v(rule_name):
    """eff_curv = v . J v with J the Jacobian of the rule's W_rec update: for BPTT it is v^T H v
    (H by autograd); for e-prop, a central difference of the update at a smooth point."""
    from neurorepro.credit_assignment.train import effective_curvature

    net = _net(0.5)
    x, labels = _data()
    w = torch.ones(5, dtype=torch.float64) / 5
    v = torch.randn(net.W_rec.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    v = v / v.norm()
    rule = make_rule(rule_name, n_hidden=5, n_out=4)
    got = effective_curvature(rule, net, x, labels, w, v)
    if rule_name == "bptt":
        f = lambda W: sequence_loss(net(x, W_rec=W), labels, w)  # noqa: E731
        H = torch.autograd.functional.hessian(lambda flat: f(flat.reshape(5, 5)), net.W_rec.detach().reshape(-1).clone())
        expected = float(v.reshape(-1) @ H @ v.reshape(-1))
    else:
        eps, base, out = 1e-6, net.W_rec.detach().clone(), []
        for s in (1.0, -1.0):
            with torch.no_grad():
                net.W_rec.copy_(base + s * eps * v)
            out.append(rule(net, x, labels, w)[0]["W_rec"])
        with torch.no_grad():
            net.W_rec.copy_(base)
        expected = float(((out[0] - out[1]) * v).sum() / (2 * eps))
    assert abs(expected) > 1e-4
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("rule_name", ["bptt", "eprop"])
def test_rules_with_regression_targets_equal_autograd_of_the_squared_error(rule_name):
    """Pattern generation: floating targets (B, T, O) switch the loss to 0.5 ||y - target||^2 at every step."""
    net = _net(0.4, n_out=2)
    x, _ = _data()
    target = torch.randn(6, 5, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    w = torch.ones(5, dtype=torch.float64) / 5
    est, loss = make_rule(rule_name, n_hidden=5, n_out=2)(net, x, target, w)
    traj = net.run(x, stop_recurrent=(rule_name == "eprop"))
    manual = ((0.5 * ((traj.y - target.transpose(0, 1)) ** 2).sum(-1)).mean(1) * w).sum()
    assert loss == pytest.approx(float(manual.detach()))
    ref = _autograd(net, manual)
    for k in PARAMS:
        torch.testing.assert_close(est[k], ref[k], rtol=1e-10, atol=1e-12)
