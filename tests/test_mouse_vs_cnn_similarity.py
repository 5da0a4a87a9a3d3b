"""RSM / SSM / nulls / ceilings (neurorepro.measures.similarity) against scipy and known answers."""
import numpy as np
import pytest
from scipy import stats

from neurorepro.measures import similarity as sim


def test_rsm_is_pearson_between_stimuli():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 30))
    np.testing.assert_allclose(sim.rsm(x), np.corrcoef(x), atol=1e-12)
    with pytest.raises(ValueError, match="2-D"):
        sim.rsm(x[0])


@pytest.mark.parametrize("method,ref", [("spearman", stats.spearmanr), ("pearson", stats.pearsonr),
                                        ("kendall", stats.kendalltau)])
def test_ssm_against_scipy(method, ref):
    rng = np.random.default_rng(1)
    a = sim.rsm(rng.standard_normal((9, 20)))
    b = sim.rsm(rng.standard_normal((9, 20)) + 0.5 * rng.standard_normal((9, 1)))
    iu = np.triu_indices(9, k=1)
    want = ref(a[iu], b[iu])[0]
    assert sim.ssm(a, b, method) == pytest.approx(want, abs=1e-10)
    np.testing.assert_allclose(sim.ssm_many(a, np.stack([b, a]), method), [want, 1.0], atol=1e-10)


def test_ssm_rejects_unknown_method_and_sizes():
    with pytest.raises(ValueError, match="method"):
        sim.ssm(np.eye(3), np.eye(3), "cosine")
    with pytest.raises(ValueError, match="differ"):
        sim.ssm(np.eye(3), np.eye(4))


def test_permutation_null_is_centred_and_the_true_pairing_is_extreme():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((25, 40))
    a, b = sim.rsm(x), sim.rsm(x + 0.3 * rng.standard_normal(x.shape))
    null = sim.ssm_permutation_null(a, b, 300, rng)
    assert abs(null.mean()) < 0.05
    assert sim.ssm(a, b) > np.quantile(null, 0.999)
    # permuting both RSMs with the same relabelling leaves the SSM unchanged
    p = rng.permutation(25)
    assert sim.ssm(sim.permute_rsm(a, p), sim.permute_rsm(b, p)) == pytest.approx(sim.ssm(a, b))


def test_spearman_brown_and_split_half_reliability():
    assert sim.spearman_brown(0.5) == pytest.approx(2 / 3)
    assert sim.spearman_brown(0.0) == 0.0
    rng = np.random.default_rng(3)
    signal = rng.standard_normal((50, 200))
    noise_sd = 1.0
    h1 = signal + noise_sd * rng.standard_normal(signal.shape)
    h2 = signal + noise_sd * rng.standard_normal(signal.shape)
    rel = sim.split_half_reliability(h1, h2)
    # each half has reliability 1/(1+1) = 0.5; the full data 2/3
    assert np.median(rel) == pytest.approx(2 / 3, abs=0.05)


def test_noise_ceiling_of_noise_free_halves_is_one():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((12, 30))
    c = sim.rsm_noise_ceiling(x, x)
    assert c["r_half"] == pytest.approx(1.0) and c["ceiling"] == pytest.approx(1.0)
    noisy = sim.rsm_noise_ceiling(x + rng.standard_normal(x.shape), x + rng.standard_normal(x.shape))
    assert 0 < noisy["ceiling"] < 1


def test_subsample_ssm_shapes_and_full_fraction():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((15, 40))
    models = np.stack([sim.rsm(x), sim.rsm(rng.standard_normal((15, 40)))])
    full = sim.subsample_ssm(x, models, 1.0, 2, rng, axis="units")
    np.testing.assert_allclose(full[:, 0], 1.0)
    s = sim.subsample_ssm(x, models, 0.5, 3, rng, axis="stimuli")
    assert s.shape == (3, 2) and (s[:, 0] == pytest.approx(1.0))
    with pytest.raises(ValueError, match="fraction"):
        sim.subsample_ssm(x, models, 0.0, 1, rng)


@pytest.mark.parametrize("method", ["spearman", "pearson", "kendall"])
def test_permutation_null_many_equals_one_permutation_at_a_time(method):
    rng = np.random.default_rng(6)
    a = sim.rsm(rng.standard_normal((8, 20)))
    a[0, 1] = a[1, 0] = a[0, 2] = a[2, 0]  # a tie
    bs = np.stack([sim.rsm(rng.standard_normal((8, 20))) for _ in range(3)])
    got = sim.ssm_permutation_null_many(a, bs, 7, np.random.default_rng(1), method)
    r2 = np.random.default_rng(1)
    perms = [r2.permutation(8) for _ in range(7)]
    want = np.array([[sim.ssm(sim.permute_rsm(a, p), b, method) for b in bs] for p in perms])
    np.testing.assert_allclose(got, want, atol=1e-10)
