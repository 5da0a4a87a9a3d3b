"""Hessian tools against explicit Hessians: quadratics with known spectra and tiny networks."""
from __future__ import annotations

import pytest
import torch

from neurorepro.measures.hessian import (
    dense_hessian,
    hessian_top_eigenvalue,
    hessian_trace,
    hvp,
    top_eigen,
)



@pytest.fixture(autouse=True)
def _float64_one_thread():
    """float64 for tight comparisons; one torch thread (the 2 shared cores thrash otherwise)."""
    dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    yield
    torch.set_default_dtype(dtype)
    torch.set_num_threads(threads)


def _quadratic(eigs, seed=0):
    """loss(w) = 1/2 w^T A w with A = Q diag(eigs) Q^T; returns (loss_fn, [w], A)."""
    g = torch.Generator().manual_seed(seed)
    n = len(eigs)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    A = Q @ torch.diag(torch.tensor(eigs, dtype=torch.float64)) @ Q.T
    w = torch.randn(n, generator=g, dtype=torch.float64).requires_grad_(True)
    return (lambda: 0.5 * w @ A @ w), [w], A


def _tiny_net(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(20, 3, generator=g)
    y = torch.randn(20, 2, generator=g)
    W1 = (torch.randn(4, 3, generator=g) * 0.8).requires_grad_(True)
    b1 = (torch.randn(4, generator=g) * 0.1).requires_grad_(True)
    W2 = (torch.randn(2, 4, generator=g) * 0.8).requires_grad_(True)
    params = [W1, b1, W2]

    def loss():
        return 0.5 * ((torch.tanh(x @ W1.T + b1) @ W2.T - y) ** 2).sum(1).mean()

    return loss, params


def test_hvp_matches_matrix_product_on_quadratic():
    loss, params, A = _quadratic([5.0, 2.0, -1.0, 0.5])
    v = torch.randn(4)
    (hv,) = hvp(loss, params, [v])
    torch.testing.assert_close(hv, A @ v)


@pytest.mark.parametrize("method", ["power", "lanczos"])
def test_top_eigenvalue_of_quadratic_with_known_spectrum(method):
    eigs = [10.0, 6.0, 3.0, 1.0, 0.1, -2.0]
    loss, params, _ = _quadratic(eigs, seed=1)
    res = top_eigen(loss, params, n_iter=500, tol=1e-10, seed=3, method=method)
    assert res.converged
    assert res.eigenvalue == pytest.approx(10.0, rel=1e-6)
    # the eigenvector is a unit vector with Rayleigh quotient = eigenvalue
    (hv,) = hvp(loss, params, res.eigenvector)
    torch.testing.assert_close(hv, 10.0 * res.eigenvector[0], atol=1e-3, rtol=1e-3)


def test_power_iteration_finds_largest_algebraic_when_dominant_is_negative():
    # |-8| dominates, but the top (largest algebraic) eigenvalue is 3
    loss, params, _ = _quadratic([3.0, 1.0, -8.0, -0.5], seed=2)
    lam = hessian_top_eigenvalue(loss, params, n_iter=2000, tol=1e-10, seed=0)
    assert lam == pytest.approx(3.0, rel=1e-5)


def test_lanczos_needs_fewer_hvps_than_power():
    eigs = list(torch.linspace(1.0, 10.0, 50).tolist())
    eigs[-1] = 10.0
    eigs[-2] = 9.5  # small gap: power iteration is slow
    loss, params, _ = _quadratic(eigs, seed=4)
    p = top_eigen(loss, params, n_iter=5000, tol=1e-9, method="power")
    l = top_eigen(loss, params, n_iter=5000, tol=1e-9, method="lanczos")
    assert l.eigenvalue == pytest.approx(10.0, rel=1e-6)
    assert p.eigenvalue == pytest.approx(10.0, rel=1e-3)
    assert l.n_hvp < p.n_hvp


def test_dense_hessian_matches_autograd_functional_on_tiny_network():
    loss, params = _tiny_net()
    H = dense_hessian(loss, params)
    sizes = [p.numel() for p in params]
    shapes = [p.shape for p in params]
    flat0 = torch.cat([p.detach().reshape(-1) for p in params])
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20, 3, generator=g)
    y = torch.randn(20, 2, generator=g)

    def f(flat):
        W1, b1, W2 = [c.reshape(s) for c, s in zip(torch.split(flat, sizes), shapes)]
        return 0.5 * ((torch.tanh(x @ W1.T + b1) @ W2.T - y) ** 2).sum(1).mean()

    H_ref = torch.autograd.functional.hessian(f, flat0)
    torch.testing.assert_close(H, H_ref)


@pytest.mark.parametrize("seed", [0, 1])
def test_top_eigenvalue_and_trace_of_tiny_network_match_explicit_hessian(seed):
    loss, params = _tiny_net(seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(20, 3, generator=g)
    y = torch.randn(20, 2, generator=g)
    sizes = [p.numel() for p in params]
    shapes = [p.shape for p in params]

    def f(flat):
        W1, b1, W2 = [c.reshape(s) for c, s in zip(torch.split(flat, sizes), shapes)]
        return 0.5 * ((torch.tanh(x @ W1.T + b1) @ W2.T - y) ** 2).sum(1).mean()

    H = torch.autograd.functional.hessian(f, torch.cat([p.detach().reshape(-1) for p in params]))
    evals = torch.linalg.eigvalsh(H)
    for method in ("power", "lanczos"):
        lam = hessian_top_eigenvalue(loss, params, n_iter=3000, tol=1e-10, seed=seed, method=method)
        assert lam == pytest.approx(float(evals[-1]), rel=1e-5)
    tr, se = hessian_trace(loss, params, n_samples=1000, seed=seed, return_stderr=True)
    exact = float(torch.trace(H))
    assert abs(tr - exact) < 5 * se + 1e-9
    assert se < 0.2 * abs(exact)  # the comparison above has power


def test_hutchinson_is_exact_for_diagonal_hessian():
    # Rademacher probes: v^T D v = tr D for every v
    w = torch.zeros(5, requires_grad=True)
    d = torch.tensor([1.0, -2.0, 3.0, 0.5, 4.0])
    tr = hessian_trace(lambda: 0.5 * (d * w**2).sum(), [w], n_samples=3, seed=7)
    assert tr == pytest.approx(float(d.sum()))


def test_deterministic_given_seed():
    loss, params = _tiny_net(5)
    a = hessian_top_eigenvalue(loss, params, n_iter=50, tol=1e-4, seed=11)
    b = hessian_top_eigenvalue(loss, params, n_iter=50, tol=1e-4, seed=11)
    assert a == b


def test_bad_arguments_raise_clear_errors():
    w = torch.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match="scalar"):
        hessian_top_eigenvalue(lambda: w**2, [w])
    with pytest.raises(ValueError, match="requires_grad"):
        hessian_top_eigenvalue(lambda: (w**2).sum(), [torch.zeros(3)])
    with pytest.raises(ValueError, match="method"):
        hessian_top_eigenvalue(lambda: (w**2).sum(), [w], method="qr")
    with pytest.raises(ValueError, match="n_iter"):
        hessian_top_eigenvalue(lambda: (w**2).sum(), [w], n_iter=0)


def test_absolute_tolerance_power_iteration_finds_largest_algebraic_eigenvalue():
    # the credit-assignment authors' stopping rule (absolute change, estimate starts at 0);
    # the dominant eigenvalue -7 is negative, so the shifted second pass must find 5
    loss, params, _ = _quadratic([5.0, -7.0, 1.0, 0.5], seed=0)
    res = top_eigen(loss, params, n_iter=2000, tol=1e-13, seed=0, tol_mode="absolute")
    assert res.converged
    assert res.eigenvalue == pytest.approx(5.0, rel=1e-6)
    assert res.n_hvp == len(res.history)  # one product per iteration, both passes counted


def test_absolute_tolerance_stops_at_the_first_step_below_tol():
    # H = 0.5 I: the first estimate is 0.5, within tol = 1 of the starting 0, so one product;
    # the relative rule needs a second estimate to compare with
    w = torch.zeros(3, requires_grad=True)
    loss = lambda: 0.25 * (w**2).sum()  # noqa: E731
    assert top_eigen(loss, [w], n_iter=50, tol=1.0, tol_mode="absolute").n_hvp == 1
    assert top_eigen(loss, [w], n_iter=50, tol=1.0, tol_mode="relative").n_hvp == 2
    with pytest.raises(ValueError, match="tol_mode"):
        top_eigen(loss, [w], tol_mode="abs")
    with pytest.raises(ValueError, match="power"):
        top_eigen(loss, [w], tol_mode="absolute", method="lanczos")


def test_operator_counts_products_and_one_tensor_norm_is_torchs():
    from neurorepro.measures.hessian import HessianVectorProduct, _norm

    loss, params, A = _quadratic([2.0, 1.0, -3.0])
    op = HessianVectorProduct(loss, params)
    v = [torch.randn(3)]
    torch.testing.assert_close(op(v)[0], A @ v[0])
    torch.testing.assert_close(op(v)[0], A @ v[0])
    assert op.n_calls == 2
    assert float(op.loss) == pytest.approx(float(loss().detach()))
    assert torch.equal(_norm(v), v[0].norm())  # one tensor: exactly torch's norm
    two = [torch.randn(4, 2), torch.randn(5)]
    torch.testing.assert_close(_norm(two), torch.cat([t.reshape(-1) for t in two]).norm())
