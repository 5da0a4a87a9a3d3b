"""Jacobian measures against analytic linear maps and torch.autograd.functional.jacobian."""
from __future__ import annotations

import math

import pytest
import torch

from neurorepro.measures.jacobian import (
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
