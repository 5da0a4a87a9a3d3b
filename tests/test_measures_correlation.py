"""Spearman's rho (and its partial form) against brute-force ranks with ties and scipy."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from neurorepro.measures.correlation import partial_spearman, rank, spearman, spearman_test


def _brute_ranks(v):
    """Average ranks by counting: rank = 1 + #smaller + (#equal - 1) / 2."""
    v = np.asarray(v, float)
    return np.array([1 + np.sum(v < x) + (np.sum(v == x) - 1) / 2 for x in v])


def _pearson(a, b):
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def test_rank_averages_ties():
    np.testing.assert_array_equal(rank([10, 20, 20, 50, 30]), [1, 2.5, 2.5, 5, 4])
    rng = np.random.default_rng(0)
    v = rng.integers(0, 5, size=40)
    np.testing.assert_array_equal(rank(v), _brute_ranks(v))


def test_spearman_is_pearson_of_brute_force_ranks_and_scipys_number():
    # hand: ranks [1, 2.5, 2.5, 5, 4] and [2, 1, 3.5, 3.5, 5]
    assert spearman([1, 2, 2, 5, 3], [2, 1, 4, 4, 9]) == pytest.approx(
        _pearson(np.array([1, 2.5, 2.5, 5, 4]), np.array([2, 1, 3.5, 3.5, 5])), rel=1e-14)
    # untied: 1 - 6 sum d^2 / (n (n^2 - 1)) = 1 - 6 * 4 / 120 = 0.8
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8, rel=1e-15)
    rng = np.random.default_rng(1)
    for k in range(300):
        n = int(rng.integers(3, 40))
        x = rng.integers(0, 6, size=n).astype(float) if k % 2 else rng.normal(size=n)
        y = rng.integers(0, 6, size=n).astype(float) if k % 3 else rng.normal(size=n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy warns on a constant draw
            ref = stats.spearmanr(x, y).correlation
        got = spearman(x, y)
        assert (got == ref) or (np.isnan(got) and np.isnan(ref))  # the same floating-point number
        if np.isfinite(got):
            assert got == pytest.approx(_pearson(_brute_ranks(x), _brute_ranks(y)), rel=1e-12, abs=1e-14)
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4], [1, 100, 1000, 1e6]) == pytest.approx(1.0)  # monotone, not linear


def test_edge_policies():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a constant input gives NaN without scipy's warning
        assert np.isnan(spearman([1, 1, 1], [3, 4, 5]))
        assert np.isnan(spearman([3, 4, 5], [2, 2, 2]))
    assert np.isnan(spearman([1, 2], [3, 4], min_n=3))
    assert spearman([1, 2], [4, 3]) == pytest.approx(-1.0)  # scipy's minimum: two pairs
    assert np.isnan(spearman([1], [3]))
    x, y = [1, 2, np.nan, 4, 5], [2, 1, 7, 4, 5]
    assert np.isnan(spearman(x, y))  # propagate (scipy's default)
    assert spearman(x, y, nan_policy="omit") == spearman([1, 2, 4, 5], [2, 1, 4, 5])
    assert spearman([1, 2, np.inf, 4], [1, 3, 2, 4], nan_policy="omit") == spearman([1, 2, 4], [1, 3, 4])
    assert np.isnan(spearman([1, 2, np.nan, 4], [1, 3, 2, 4], nan_policy="omit", min_n=4))
    with pytest.raises(ValueError, match="equal length"):
        spearman([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="nan_policy"):
        spearman([1, 2, 3], [1, 2, 3], nan_policy="raise")


def test_spearman_test_p_value_is_scipys_t_test():
    rng = np.random.default_rng(2)
    x = rng.normal(size=12)
    y = x + rng.normal(size=12)
    rho, p = spearman_test(x, y)
    ref = stats.spearmanr(x, y)
    assert rho == ref.correlation and p == pytest.approx(ref.pvalue, rel=1e-12)
    t = rho * np.sqrt((12 - 2) / (1 - rho**2))
    assert p == pytest.approx(2 * stats.t.sf(abs(t), 10), rel=1e-10)
    assert all(np.isnan(spearman_test([1, 2], [2, 1])))  # fewer than 3 pairs
    assert all(np.isnan(spearman_test([1, 1, 1, 1], [1, 2, 3, 4])))


def test_partial_spearman_against_brute_force_residuals():
    rng = np.random.default_rng(3)
    z = rng.normal(size=30)
    x = z + 0.5 * rng.normal(size=30)
    y = z + 0.5 * rng.normal(size=30)
    rx, ry, rz = _brute_ranks(x), _brute_ranks(y), _brute_ranks(z)
    res = [r - np.polyval(np.polyfit(rz, r, 1), rz) for r in (rx, ry)]
    assert partial_spearman(x, y, z) == pytest.approx(_pearson(*res), rel=1e-10)
    assert spearman(x, y) > 0.5 > abs(partial_spearman(x, y, z))  # the shared driver z explains it
    assert partial_spearman(x, x + 0.01 * rng.normal(size=30), rng.normal(size=30)) > 0.99
