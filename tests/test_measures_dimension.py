"""Dimension estimators against point clouds of known dimension."""
from __future__ import annotations

import numpy as np
import pytest

from neurorepro.measures import dimension as dm


def _embed(Z: np.ndarray, ambient: int, rng: np.random.Generator) -> np.ndarray:
    """Rotate points ``Z`` (n, m) into a random m-dim subspace of R^ambient."""
    Q = np.linalg.qr(rng.normal(size=(ambient, Z.shape[1])))[0]
    return Z @ Q.T


def linear_subspace(n: int, d: int, ambient: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return _embed(rng.normal(size=(n, d)), ambient, rng)


def sphere(n: int, d: int, ambient: int, seed: int) -> np.ndarray:
    """Uniform points on the unit d-sphere S^d (a curved d-manifold in R^(d+1)), embedded."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, d + 1))
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    return _embed(Z, ambient, rng)


def swiss_roll(n: int, seed: int, ambient: int = 20) -> np.ndarray:
    """A 2-manifold rolled up in 3-D (strongly curved), embedded in R^ambient."""
    rng = np.random.default_rng(seed)
    t = 1.5 * np.pi * (1 + 2 * rng.random(n))
    h = 10 * rng.random(n)
    Z = np.column_stack([t * np.cos(t), h, t * np.sin(t)])
    return _embed(Z, ambient, rng)


@pytest.mark.parametrize("d", [1, 3, 8])
def test_participation_ratio_of_isotropic_gaussian_is_its_dimension(d):
    X = linear_subspace(20000, d, 40, seed=d)
    assert dm.participation_ratio(X) == pytest.approx(d, rel=0.02)


def test_participation_ratio_of_known_spectrum():
    # eigenvalues (4, 1): PR = 25 / 17
    assert dm.participation_ratio_from_eigenvalues([4.0, 1.0, 0.0]) == pytest.approx(25 / 17)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50000, 2)) * np.array([2.0, 1.0])  # variances 4 and 1
    assert dm.participation_ratio(X) == pytest.approx(25 / 17, rel=0.02)
    assert np.isnan(dm.participation_ratio_from_eigenvalues([0.0, 0.0]))


def test_covariance_eigenvalues_match_numpy_when_features_exceed_points():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 100))
    ref = np.sort(np.linalg.eigvalsh(np.cov(X, rowvar=False)))[::-1][:30]
    assert np.allclose(dm.covariance_eigenvalues(X)[:30], ref, atol=1e-10)


def test_pca_dimension_counts_components_to_threshold():
    rng = np.random.default_rng(2)
    # variances 10, 5, 3, 1, 1 (total 20): 2 PCs hold 75%, 3 hold 90%, 4 hold 95%
    X = rng.normal(size=(200000, 5)) * np.sqrt([10, 5, 3, 1, 1])
    assert dm.pca_dimension(X, variance=0.7) == 2
    assert dm.pca_dimension(X, variance=0.85) == 3
    assert dm.pca_dimension(X, variance=0.93) == 4
    with pytest.raises(ValueError, match="variance"):
        dm.pca_dimension(X, variance=1.5)


@pytest.mark.parametrize("d", [2, 4, 6])
def test_pca_dimension_of_flat_subspace(d):
    # points on a d-dim linear subspace: 99.9% of the variance needs exactly d components
    X = linear_subspace(3000, d, 30, seed=10 + d)
    assert dm.pca_dimension(X, variance=0.999) == d


@pytest.mark.parametrize("d", [2, 4, 6])
@pytest.mark.parametrize("estimator", ["twonn", "mle", "local_pca"])
def test_intrinsic_estimators_on_linear_subspace(estimator, d):
    X = linear_subspace(2000, d, 30, seed=d)
    fn = dm.MEASURES[estimator]
    kw = {"variance": 0.95} if estimator == "local_pca" else {}
    assert fn(X, **kw) == pytest.approx(d, rel=0.15)


@pytest.mark.parametrize("d", [2, 3, 5])
@pytest.mark.parametrize("estimator", ["twonn", "mle", "local_pca"])
def test_intrinsic_estimators_on_sphere_see_d_not_d_plus_1(estimator, d):
    """S^d spans d+1 linear dimensions; intrinsic estimators must return d."""
    X = sphere(3000, d, 25, seed=100 + d)
    fn = dm.MEASURES[estimator]
    kw = {"variance": 0.95, "k": 30} if estimator == "local_pca" else {}
    assert fn(X, **kw) == pytest.approx(d, rel=0.15)
    # while the linear dimension sees the embedding's d+1 axes
    assert dm.pca_dimension(X, variance=0.999) == d + 1


def test_intrinsic_dimension_of_swiss_roll_is_two_while_linear_is_three():
    X = swiss_roll(3000, seed=3)
    assert dm.twonn_dimension(X) == pytest.approx(2, abs=0.3)
    assert dm.mle_dimension(X) == pytest.approx(2, abs=0.3)
    assert dm.local_pca_dimension(X, k=20) == pytest.approx(2, abs=0.3)
    assert dm.pca_dimension(X, variance=0.99) == 3


def test_duplicates_are_dropped_not_turned_into_zero_or_inf():
    X = linear_subspace(1000, 3, 10, seed=5)
    Xdup = np.concatenate([X, X[:300]])
    for name in ("twonn", "mle", "local_pca"):
        assert dm.MEASURES[name](Xdup) == pytest.approx(dm.MEASURES[name](X), rel=1e-9)


def test_torch_input_and_all_dimensions():
    torch = pytest.importorskip("torch")
    X = linear_subspace(1500, 3, 12, seed=6)
    res = dm.all_dimensions(torch.from_numpy(X), mle={"k": 15})
    assert set(res) == set(dm.MEASURES)
    assert res["pr"] == pytest.approx(3, rel=0.1)
    assert res["mle"] == pytest.approx(dm.mle_dimension(X, k=15))
    with pytest.raises(ValueError, match="unknown dimension measures"):
        dm.all_dimensions(X, measures=["nope"])


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="n_points"):
        dm.participation_ratio(np.ones((1, 5)))
    with pytest.raises(ValueError, match="NaN"):
        dm.participation_ratio(np.array([[np.nan, 1.0], [0.0, 1.0]]))
