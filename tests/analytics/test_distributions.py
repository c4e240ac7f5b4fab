"""Poisson / NB2 quantiles, CDF and tails against hand-worked values and scipy."""

import math

import numpy as np
import pytest
from scipy import stats

from analytics.distributions import POISSON_ALPHA, cdf, crps, dist_name, logpmf, p_exceed, quantile


def test_poisson_tail_hand_worked():
    # P(X >= 5) for Poisson(2) = 1 - e^-2 (1 + 2 + 2 + 4/3 + 2/3)
    expected = 1 - math.exp(-2) * (1 + 2 + 2 + 4 / 3 + 2 / 3)
    assert p_exceed(5, 2.0, 0.0) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.052653, abs=1e-6)
    assert p_exceed(0, 2.0, 0.0) == 1.0
    assert p_exceed(1, 2.0, 0.0) == pytest.approx(1 - math.exp(-2))


def test_poisson_quantile_hand_worked():
    # Poisson(2) cdf: 0.1353, 0.4060, 0.6767, 0.8571, 0.9473, 0.9834
    assert quantile(0.5, 2.0, 0.0) == 2
    assert quantile(0.8, 2.0, 0.0) == 3
    assert quantile(0.95, 2.0, 0.0) == 5
    assert quantile(0.99, 2.0, 0.0) == 6
    # exactly at a cdf value the quantile is that k (smallest k with F(k) >= q)
    assert quantile(float(stats.poisson.cdf(3, 2.0)), 2.0, 0.0) == 3


def test_nbinom_matches_scipy():
    rng = np.random.default_rng(1)
    mu = rng.gamma(2, 3, size=200)
    alpha = rng.uniform(0.05, 2, size=200)
    n, p = 1 / alpha, 1 / (1 + alpha * mu)
    for q in (0.5, 0.8, 0.9, 0.95, 0.99):
        np.testing.assert_array_equal(quantile(q, mu, alpha), stats.nbinom.ppf(q, n, p).astype(int))
    k = rng.integers(0, 30, size=200)
    np.testing.assert_allclose(cdf(k, mu, alpha), stats.nbinom.cdf(k, n, p))
    np.testing.assert_allclose(p_exceed(k, mu, alpha), stats.nbinom.sf(k - 1, n, p))
    np.testing.assert_allclose(logpmf(k, mu, alpha), stats.nbinom.logpmf(k, n, p))
    # NB2 variance: mu + alpha mu^2
    np.testing.assert_allclose(stats.nbinom.var(n, p), mu + alpha * mu**2)


def test_vectorised_mixed_and_dist_name():
    mu = np.array([2.0, 2.0, 0.0])
    alpha = np.array([0.0, 0.5, 0.0])
    q = quantile(0.99, mu, alpha)
    assert q[0] == 6 and q[1] == stats.nbinom.ppf(0.99, 2, 0.5) and q[2] == 0
    assert list(dist_name(alpha)) == ["poisson", "nbinom", "poisson"]
    assert p_exceed(1, 0.0, 0.0) < 1e-8  # a zero forecast makes any case surprising


def test_crps_against_brute_force():
    rng = np.random.default_rng(2)
    mu = rng.gamma(1.5, 2, size=50)
    alpha = np.where(rng.random(50) < 0.5, 0.0, 0.7)
    y = rng.poisson(mu)
    got = crps(y, mu, alpha)
    k = np.arange(400)
    for i in range(50):
        F = cdf(k, mu[i], alpha[i])
        ref = np.sum((F - (y[i] <= k)) ** 2)
        assert got[i] == pytest.approx(ref, rel=1e-8, abs=1e-10)
    # a point mass at the outcome scores ~0; Poisson(1) with y=0: sum_k (F(k)-1)^2
    assert crps([0], [1e-9], [0.0])[0] < 1e-8
    ref = sum((stats.poisson.cdf(j, 1.0) - 1) ** 2 for j in range(60))
    assert crps([0], [1.0], [0.0])[0] == pytest.approx(ref)


# -- crps: the closed form against the definition ------------------------------------------------
def _crps_reference(y, mu: float, alpha: float) -> np.ndarray:
    """``sum_k (F(k) - 1{k >= y})**2`` with F the running sum of scipy's pmf, to a far quantile."""
    ys = np.atleast_1d(np.asarray(y, dtype=float))
    if alpha <= POISSON_ALPHA:  # the module's convention: Poisson
        dist = stats.poisson(mu)
    else:
        dist = stats.nbinom(1 / alpha, 1 / (1 + alpha * mu))
    far = dist.isf(1e-17)
    far = far if np.isfinite(far) else dist.ppf(1 - 1e-16)
    k = np.arange(int(max(far, ys.max())) + 50)
    F = np.cumsum(dist.pmf(k))
    F = np.where(F > 0.5, 1 - dist.sf(k), F)  # the upper half from sf: no rounding of 1 - F
    # sum_k (F - 1{k >= y})^2 = sum_{k < y} F^2 + sum_{k >= y} (1 - F)^2, by cumulative sums
    low, high = np.concatenate([[0.0], np.cumsum(F**2)]), np.cumsum(((1 - F) ** 2)[::-1])[::-1]
    high = np.concatenate([high, [0.0]])
    j = np.ceil(ys).astype(int)
    return low[j] + high[j]


@pytest.mark.parametrize("alpha", [0.0, 1e-9, 1e-6, 5e-4, 2e-3, 0.05, 0.7, 3.0, 25.0])
@pytest.mark.parametrize("mu", [1e-6, 0.02, 0.8, 4.5, 60.0, 900.0])
def test_crps_closed_form_matches_the_definition(mu, alpha):
    ys = np.array([0, 1, 2, 7, round(mu), round(3 * mu) + 5, 4000])
    got = crps(ys, mu, alpha)
    ref = _crps_reference(ys, mu, alpha)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)


def test_crps_heavy_tails_and_shapes():
    # a hot cell's wide NB2 costs no more than a quiet one: no sum over a support of ~1e6
    y = np.array([[0, 3], [2000, 40]])
    got = crps(y, np.array([[5000.0, 0.1], [5000.0, 2.0]]), np.array([[8.0, 0.0], [8.0, 0.3]]))
    assert got.shape == (2, 2) and np.isfinite(got).all()
    assert got[0, 1] == pytest.approx(_crps_reference(3, 0.1, 0.0)[0], rel=1e-9)
    assert got[1, 1] == pytest.approx(_crps_reference(40, 2.0, 0.3)[0], rel=1e-9)
    # E|X - y| - E|X - X'|/2 with y = 0: mu - half; an exponential-like tail keeps it below mu
    assert 0 < got[0, 0] < 5000
    # scalars in, a 0-d array out; NaN in, NaN out; a bigger miss scores worse
    assert np.ndim(crps(3, 2.0, 0.5)) == 0
    assert np.isnan(crps([1, 1], [np.nan, 1.0], [0.1, np.nan])).all()
    assert crps(10, 2.0, 0.1) > crps(4, 2.0, 0.1) > crps(2, 2.0, 0.1)


@pytest.mark.parametrize("alpha", [0.0, 2e-5, 0.01])
def test_crps_large_means_match_the_definition(alpha):
    # 2 mu = 1e5: the Poisson part takes the Bessel functions' asymptotic series
    ys = np.array([0, 49_000, 50_000, 50_400])
    np.testing.assert_allclose(crps(ys, 5e4, alpha), _crps_reference(ys, 5e4, alpha), rtol=1e-9)


def test_crps_wide_near_poisson_support_is_integrated_like_the_sum(monkeypatch):
    import analytics.distributions as dist

    mu, alpha = np.array([3e4, 1e6, 2e5]), np.array([5e-4, 1e-4, 1e-6])
    y = np.array([3e4, 9.9e5, 2.001e5])
    integrated = crps(y, mu, alpha)  # supports of 16 sd > 20,000 terms: Gauss-Legendre
    monkeypatch.setattr(dist, "_MAX_TERMS", 10**9)
    np.testing.assert_allclose(integrated, crps(y, mu, alpha), rtol=1e-11)
    # a GLM extrapolating to exp(30): finite in milliseconds, never a sum over 1e13 terms
    monkeypatch.undo()
    assert np.isfinite(crps([0, 1e13], 1e13, [0.0, 1e-4])).all()
