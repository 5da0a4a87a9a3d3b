"""Alignment measures against hand computations and an analytic tangent kernel."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from neurorepro.measures.alignment import (
    empirical_ntk,
    gram,
    kernel_alignment,
    matrix_alignment,
    relative_weight_change,
    representation_alignment,
)


def test_matrix_alignment_identical_scaled_orthogonal_opposite():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 3))
    assert matrix_alignment(A, A) == pytest.approx(1.0)
    assert matrix_alignment(A, 2.5 * A) == pytest.approx(1.0)
    assert matrix_alignment(A, -A) == pytest.approx(-1.0)
    assert matrix_alignment(np.array([[1.0, 0]]), np.array([[0.0, 1]])) == pytest.approx(0.0)
    assert np.isnan(matrix_alignment(A, np.zeros_like(A)))  # undefined for a zero matrix
    with pytest.raises(ValueError, match="shapes differ"):
        matrix_alignment(A, A.T)


def test_representation_and_kernel_alignment_by_hand():
    rng = np.random.default_rng(1)
    H = rng.standard_normal((5, 3))
    assert representation_alignment(H, 3 * H) == pytest.approx(1.0)
    Q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    assert representation_alignment(H, H @ Q) == pytest.approx(1.0)  # Gram ignores a rotation of features
    # H0 = I2 -> G0 = I; H = [[1, 1], [0, 1]] -> G = [[2, 1], [1, 1]]: <G0, G> = 3, ||G0|| = sqrt 2, ||G|| = sqrt 7
    H0, H1 = np.eye(2), np.array([[1.0, 1.0], [0.0, 1.0]])
    np.testing.assert_array_equal(gram(H1), [[2.0, 1.0], [1.0, 1.0]])
    assert representation_alignment(H0, H1) == pytest.approx(3 / np.sqrt(14))
    K = H @ H.T
    assert kernel_alignment(K, K) == pytest.approx(1.0)


def test_relative_weight_change():
    assert relative_weight_change(np.eye(2), 2 * np.eye(2)) == pytest.approx(1.0)
    W0 = np.array([[3.0, 0.0], [0.0, 4.0]])  # ||W0|| = 5
    assert relative_weight_change(W0, W0 + np.array([[0.0, 1.0], [0.0, 0.0]])) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="all zeros"):
        relative_weight_change(np.zeros((2, 2)), np.eye(2))


class _Linear(torch.nn.Module):
    """outputs[t, b] = W x[t, b]; returns (outputs, hidden) like the recurrent networks."""

    def __init__(self, W: torch.Tensor):
        super().__init__()
        self.W = torch.nn.Parameter(W)

    def forward(self, x):
        return x @ self.W.T, None


def test_empirical_ntk_of_a_linear_map_is_analytic():
    # y[t,b,k] = sum_d W[k,d] x[t,b,d]  =>  K[(t,b,k), (t',b',k')] = delta_kk' <x[t,b], x[t',b']>
    g = torch.Generator().manual_seed(0)
    T, B, D, K_out = 3, 2, 4, 2
    x = torch.randn(T, B, D, generator=g, dtype=torch.float64)
    model = _Linear(torch.randn(K_out, D, generator=g, dtype=torch.float64))
    K = empirical_ntk(model, x, param="W")
    X = x.reshape(T * B, D).numpy()
    expected = np.kron(X @ X.T, np.eye(K_out))  # rows in (t, b, k) C order
    assert K.shape == (T * B * K_out, T * B * K_out)
    np.testing.assert_allclose(K, expected, rtol=1e-12, atol=1e-12)
    with pytest.raises(KeyError, match="W_hh"):
        empirical_ntk(model, x)  # the default parameter name is the RNNs' W_hh
