"""Jacobian measures against analytic linear maps and torch.autograd.functional.jacobian."""
from __future__ import annotations

import math

import pytest
import torch

from neurorepro.measures.jacobian import (
    conv2d_operator_norm,
    conv2d_operator_norm_bound,
    gradient_norm_sharpness,
    input_jacobian,
    jacobian_measures,
    jacobian_singular_values,
    local_dimensionality,
    max_local_sensitivity,
    parameter_jacobian_sqnorms,
    representation_volume,
)


@pytest.fixture(autouse=True)
def _float64_one_thread():
    dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    yield
    torch.set_default_dtype(dtype)
    torch.set_num_threads(threads)


def _linear_with_singular_values(s, d, seed=0):
    """A (K x d) matrix A = U diag(s) V^T with the given singular values."""
    g = torch.Generator().manual_seed(seed)
    K = len(s)
    U, _ = torch.linalg.qr(torch.randn(K, K, generator=g))
    V, _ = torch.linalg.qr(torch.randn(d, K, generator=g))
    return U @ torch.diag(torch.tensor(s)) @ V.T


def test_linear_map_measures_are_analytic():
    s = [4.0, 2.0, 1.0, 0.5]
    A = _linear_with_singular_values(s, d=7)
    x = torch.randn(5, 7)
    m = jacobian_measures(lambda z: z @ A.T, x)
    lam = torch.tensor(s) ** 2
    for i in range(5):  # a linear map has the same Jacobian everywhere
        assert float(m["mls"][i]) == pytest.approx(4.0)
        assert float(m["volume"][i]) == pytest.approx(sum(math.log(v) for v in s))
        assert float(m["local_dim"][i]) == pytest.approx(float(lam.sum() ** 2 / (lam**2).sum()))
        assert float(m["frobenius"][i]) == pytest.approx(float(torch.linalg.norm(A)))


def test_volume_top_k_and_isotropic_dimensionality():
    sv = torch.tensor([[3.0, 3.0, 3.0, 3.0], [2.0, 1.0, 0.0, 0.0]])
    assert representation_volume(sv, k=2).tolist() == pytest.approx([2 * math.log(3.0), math.log(2.0)])
    # isotropic stretch: PR = number of directions; rank one: PR = 1
    assert local_dimensionality(sv)[0].item() == pytest.approx(4.0)
    assert local_dimensionality(torch.tensor([[5.0, 0.0, 0.0]]))[0].item() == pytest.approx(1.0)
    assert max_local_sensitivity(sv).tolist() == [3.0, 2.0]
    assert torch.isfinite(representation_volume(sv)).all()  # rank-deficient: floored, finite
    with pytest.raises(ValueError, match="k must be"):
        representation_volume(sv, k=5)


def test_input_jacobian_matches_autograd_functional_for_a_tanh_mlp():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    x = torch.randn(4, 6)
    J = input_jacobian(net, x, chunk_size=3)
    assert J.shape == (4, 3, 6)
    for i in range(4):
        ref = torch.autograd.functional.jacobian(lambda z: net(z.unsqueeze(0)).squeeze(0), x[i])
        torch.testing.assert_close(J[i], ref)
    sv = jacobian_singular_values(J)
    ref_sv = torch.stack([torch.linalg.svdvals(J[i]) for i in range(4)])
    torch.testing.assert_close(sv, ref_sv)


def test_input_jacobian_flattens_image_inputs():
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(2 * 3 * 3, 2))
    J = input_jacobian(conv, torch.randn(3, 1, 5, 5))
    assert J.shape == (3, 2, 25)


def test_parameter_jacobian_norms_match_per_output_backward():
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3))
    x = torch.randn(6, 5)
    sq = parameter_jacobian_sqnorms(net, x, chunk_size=4)
    assert set(sq) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    total = torch.zeros(6)
    for i in range(6):
        for j in range(3):
            net.zero_grad()
            net(x[i : i + 1])[0, j].backward()
            total[i] += sum((p.grad**2).sum() for p in net.parameters())
    torch.testing.assert_close(sum(sq.values()), total)
    assert gradient_norm_sharpness(net, x) == pytest.approx(float(torch.sqrt(total.mean())))
    # the bias of the readout gets d f_j / d b_j = e_j: squared norm K per sample
    torch.testing.assert_close(sq["2.bias"], torch.full((6,), 3.0))


def _conv_matrix(W, input_shape, **kw):
    """The explicit matrix of x -> conv2d(x, W) on inputs of ``input_shape`` (brute force)."""
    n = math.prod(input_shape)
    f = lambda v: torch.nn.functional.conv2d(v.reshape(1, *input_shape), W, **kw).reshape(-1)  # noqa: E731
    return torch.autograd.functional.jacobian(f, torch.zeros(n))


@pytest.mark.parametrize(
    "c_in,c_out,hw,k,kw",
    [(2, 3, (5, 6), 3, {"padding": 1}), (3, 4, (7, 7), 3, {"padding": 1, "stride": 2}),
     (1, 2, (6, 5), 2, {}), (2, 2, (4, 4), 3, {"padding": (0, 1)}), (4, 4, (6, 6), 3, {"padding": 2, "dilation": 2}),
     (4, 6, (5, 5), 3, {"padding": 1, "groups": 2})],
)
def test_conv_operator_norm_matches_the_explicit_matrix(c_in, c_out, hw, k, kw):
    g = torch.Generator().manual_seed(c_in * 10 + c_out)
    W = torch.randn(c_out, c_in // kw.get("groups", 1), k, k, generator=g)
    shape = (c_in, *hw)
    exact = float(torch.linalg.matrix_norm(_conv_matrix(W, shape, **kw), ord=2))
    r = conv2d_operator_norm(W, shape, n_iter=5000, **kw)
    assert r.converged
    assert r.norm == pytest.approx(exact, rel=1e-6)
    assert r.norm <= exact * (1 + 1e-12)  # power iteration approaches from below
    if kw.get("stride", 1) == 1 and kw.get("dilation", 1) == 1 and kw.get("groups", 1) == 1:
        ub = conv2d_operator_norm_bound(W, shape, padding=kw.get("padding", 0))
        assert exact <= ub * (1 + 1e-12)


def test_conv_norm_bound_is_exact_for_a_circular_convolution_and_a_delta_kernel():
    # the bound is the norm of the circular convolution on the padded grid: check that against brute force
    g = torch.Generator().manual_seed(7)
    W = torch.randn(3, 2, 3, 3, generator=g)
    n = (6, 6)  # H + 2p for a 4x4 input with padding 1
    circ = lambda v: torch.nn.functional.conv2d(  # noqa: E731
        torch.nn.functional.pad(v.reshape(1, 2, *n), (1, 1, 1, 1), mode="circular"), W).reshape(-1)
    C = torch.autograd.functional.jacobian(circ, torch.zeros(2 * 36))
    assert conv2d_operator_norm_bound(W, (2, 4, 4), padding=1) == pytest.approx(float(torch.linalg.matrix_norm(C, ord=2)))
    delta = torch.zeros(1, 1, 3, 3)
    delta[0, 0, 1, 1] = -2.5
    assert conv2d_operator_norm_bound(delta, (1, 5, 5), padding=1) == pytest.approx(2.5)
    assert conv2d_operator_norm(delta, (1, 5, 5), padding=1).norm == pytest.approx(2.5)
    with pytest.raises(ValueError, match="input_shape"):
        conv2d_operator_norm_bound(W, (3, 4, 4), padding=1)


def test_vgg_input_jacobian_matches_autograd():
    from neurorepro.nets import VGG

    torch.manual_seed(0)
    net = VGG((3, 8, 8), 4, cfg=[5, "M", 6, "M"], head_widths=[7], activation="tanh", batch_norm=True).eval()
    for mod in net.modules():  # non-trivial eval-mode statistics
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.normal_()
            mod.running_var.uniform_(0.5, 2.0)
    x = torch.randn(5, 3, 8, 8)
    J = input_jacobian(net, x, chunk_size=2)
    assert J.shape == (5, 4, 192)
    for i in range(5):
        ref = torch.autograd.functional.jacobian(lambda z: net(z[None])[0], x[i]).reshape(4, -1)
        torch.testing.assert_close(J[i], ref)
    sv = jacobian_singular_values(J)
    torch.testing.assert_close(sv[:, 0], torch.linalg.matrix_norm(J, ord=2))
