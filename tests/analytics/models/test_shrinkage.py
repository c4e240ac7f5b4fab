"""Empirical Bayes (analytics.models.shrinkage): no double use of data, the trend, kappa."""

import numpy as np
import pandas as pd
import pytest

from analytics.models import EmpiricalBayes
from analytics.models.shrinkage import seasonal_trend
from data.cube import CountMatrix

PERIODS = pd.date_range("2022-01-03", periods=156, freq="W-MON")


def _matrix(Y, periods=PERIODS):
    keys = pd.DataFrame({"area_id": [f"g{i:03d}" for i in range(len(Y))], "category": "x"})
    return CountMatrix(keys, periods[: Y.shape[1]], np.asarray(Y, float), "W")


def _parent(n, k=1):
    return {f"g{i:03d}": f"c{i % k}" for i in range(n)}


def test_prior_excludes_the_likelihood_window():
    rng = np.random.default_rng(0)
    Y = rng.poisson(rng.gamma(4, 0.5, 30)[:, None], (30, 104)).astype(float)
    kw = dict(parent=_parent(30, 3), window=52, seasonal=False, trend=False)
    base = EmpiricalBayes(**kw).fit(_matrix(Y))
    changed = Y.copy()
    changed[4, -52:] *= 5  # only area 4's window data
    other = EmpiricalBayes(**kw).fit(_matrix(changed))
    assert other.prior_[4] == base.prior_[4]  # its prior does not see its window
    assert other.rate_[4] > 2 * base.rate_[4]  # its posterior does
    earlier = Y.copy()
    earlier[4, :52] *= 5  # its data before the window: the prior moves
    assert EmpiricalBayes(**kw).fit(_matrix(earlier)).prior_[4] > 2 * base.prior_[4]


def test_weight_and_posterior_hand_worked():
    rng = np.random.default_rng(1)
    Y = rng.poisson(1.5, (20, 80)).astype(float)
    m = EmpiricalBayes(parent=_parent(20), window=26, seasonal=False, trend=False).fit(_matrix(Y))
    e = 26.0
    y = Y[:, -26:].sum(1)
    np.testing.assert_allclose(m.exposure_, e)
    np.testing.assert_allclose(m.weight_, e / (e + m.kappa_ / m.prior_))
    post = (m.kappa_ + y) / (m.kappa_ / m.prior_ + e)
    # benchmarked: the areas' rates add up to the parent's window cases
    np.testing.assert_allclose(m.rate_, post * y.sum() / (e * post).sum())
    assert (m.rate_ * e).sum() == pytest.approx(y.sum())


def test_kappa_recovers_the_between_area_variance():
    rng = np.random.default_rng(2)
    n, kappa = 600, 4.0
    before = rng.gamma(2.0, 1.0, n)  # first year's rates: the prior learns these
    change = rng.gamma(kappa, 1.0 / kappa, n)  # how far each area moves from them: var 1/kappa
    lam = np.c_[np.repeat(before[:, None], 52, 1), np.repeat((before * change)[:, None], 52, 1)]
    Y = rng.poisson(lam).astype(float)
    m = EmpiricalBayes(window=52, seasonal=False, trend=False).fit(_matrix(Y))
    # 1/kappa_ = var(change) + the prior's own noise (~1/104 cases an area): close to 4
    assert 2.5 < m.kappa_ < 5.0
    # stable areas: the prior from their own first year is good, so kappa_ is large
    steady = rng.poisson(np.repeat(before[:, None], 104, 1)).astype(float)
    assert EmpiricalBayes(window=52, seasonal=False, trend=False).fit(_matrix(steady)).kappa_ > 30


def test_trend_recovered_on_a_declining_city():
    rng = np.random.default_rng(3)
    n, T = 200, 156
    t_years = (np.arange(T) - (T - 1)) / 52.18
    level = 1.0 * np.exp(np.log(0.8) * t_years)  # -20 % a year, 1.0 a week at the origin
    risk = rng.gamma(5, 0.2, n)
    Y = rng.poisson(risk[:, None] * level[None, :]).astype(float)
    m = EmpiricalBayes(window=52, seasonal=False).fit(_matrix(Y))
    assert m.trend_[0] == pytest.approx(np.log(0.8), abs=0.03)
    # the forecast total is next week's true level, not the window's average
    truth = risk.sum() * np.exp(np.log(0.8) / 52.18)
    mu = m.predict(1, as_arrays=True)[0][:, 0].sum()
    assert mu == pytest.approx(truth, rel=0.04)
    flat = EmpiricalBayes(window=52, seasonal=False, trend=False).fit(_matrix(Y))
    assert flat.predict(1, as_arrays=True)[0][:, 0].sum() > 1.08 * truth  # the old bias
    # damped: 52 weeks ahead the trend has run for sum(phi^h) < 52 weeks
    far = m.predict(52, as_arrays=True)[0][:, -1].sum()
    assert truth * 0.8 < far < truth * np.exp(np.log(0.8) * 0.5)


def test_a_noisy_trend_is_shrunk_toward_zero():
    rng = np.random.default_rng(4)
    Y = rng.poisson(0.05, (10, 104)).astype(float)  # ~50 cases: no trend worth carrying
    profile, slope, se = seasonal_trend(Y.sum(0), PERIODS[:104], "W", seasonal=False)
    m = EmpiricalBayes(seasonal=False).fit(_matrix(Y))
    assert abs(m.trend_[0]) < abs(slope[0])
    assert abs(m.trend_[0]) == pytest.approx(abs(slope[0]) * slope[0] ** 2 / (slope[0] ** 2 + se[0] ** 2))
    # a category without any case: flat profile, no trend, a small positive forecast
    z = EmpiricalBayes().fit(_matrix(np.zeros((5, 104))))
    assert z.trend_[0] == 0 and (z.predict(1, as_arrays=True)[0] > 0).all()
