"""The four-colour rule: exact behaviour at the thresholds, multiple testing, other modes."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from analytics.distributions import logpmf, p_exceed, quantile
from analytics.warning import (
    LEVEL_DTYPE,
    LEVELS,
    Thresholds,
    bh_reject,
    classify,
    expected_by_chance,
    expected_oranges,
    expected_reds,
    fdr_confirmed,
    forecast_levels,
    levels_from_p,
    reason,
    summary_line,
    yoy_levels,
)


def _pred(mu, alpha=0.0, n=1):
    return pd.DataFrame({"mu": np.full(n, mu, float), "alpha": np.full(n, alpha, float)})


def test_levels_are_ordered_categorical():
    lv = classify([0, 9], _pred(2.0, n=2))
    assert lv.dtype == LEVEL_DTYPE and list(LEVEL_DTYPE.categories) == list(LEVELS)
    assert lv[0] < lv[1] and lv.max() == "red"


@pytest.mark.parametrize("mu,alpha", [(2.0, 0.0), (7.3, 0.0), (4.0, 0.6), (20.0, 0.2)])
def test_exactly_at_the_quantile_thresholds(mu, alpha):
    """observed == q_level is NOT beyond it; observed == q_level + 1 is."""
    th = Thresholds(min_count=0)
    for level, name in ((0.80, "yellow"), (0.95, "orange"), (0.99, "red")):
        q = int(quantile(level, mu, alpha))
        at, above = classify([q, q + 1], _pred(mu, alpha, 2), th)
        assert LEVELS.index(at) < LEVELS.index(name)
        assert LEVELS.index(above) >= LEVELS.index(name)


def test_poisson2_hand_worked_levels():
    # Poisson(2): P(X>=4)=0.1429 -> yellow; P(X>=5)=0.0527 -> yellow; P(X>=6)=0.0166 -> orange;
    # P(X>=7)=0.0045 -> red
    got = list(classify([3, 4, 5, 6, 7], _pred(2.0, n=5)))
    assert got == ["green", "yellow", "yellow", "orange", "red"]


def test_p_exactly_at_threshold_and_min_count():
    th = Thresholds()
    got = list(levels_from_p([0.20, 0.2000001, 0.05, 0.0500001, 0.01, 0.0100001], [5] * 6, th,
                             expected=[1.0] * 6))
    assert got == ["yellow", "green", "orange", "yellow", "red", "orange"]
    # the old rule (no orange floor, no excess floor): red needs min_count, else orange
    old = Thresholds(min_count_orange=0, min_excess_red=0)
    assert list(levels_from_p([0.001, 0.001], [2, 3], old)) == ["orange", "red"]


def test_count_floors_demote_to_the_highest_level_met():
    th = Thresholds()
    p = [0.001] * 5
    obs = [1, 2, 3, 4, 6]
    exp = [0.1, 0.1, 0.5, 1.5, 2.9]
    # 1, 2 cases: below both floors -> yellow; 3 vs 0.5: excess 2.5 < 3 -> orange;
    # 4 vs 1.5: excess 2.5 -> orange; 6 vs 2.9: excess 3.1 -> red
    got = list(levels_from_p(p, obs, th, expected=exp))
    assert got == ["yellow", "yellow", "orange", "orange", "red"]
    # an orange-level p with 2 cases is yellow by default, orange under the old rule
    old = Thresholds(min_count_orange=0, min_excess_red=0)
    assert levels_from_p([0.03], [2], th, expected=[0.2])[0] == "yellow"
    assert levels_from_p([0.03], [2], old)[0] == "orange"
    with pytest.raises(ValueError, match="expected= is needed"):
        levels_from_p([0.001], [5], th)


def test_old_rule_reachable_by_config():
    rng = np.random.default_rng(3)
    mu = rng.gamma(0.5, 2.0, size=5000)
    y = rng.poisson(mu * rng.gamma(2.0, 0.5, size=mu.size))
    pred = pd.DataFrame({"mu": mu, "alpha": 0.1})
    th = Thresholds.from_config({"min_count_orange": 0, "min_excess_red": 0})
    got = np.asarray(classify(y, pred, th).codes)
    # the rule before issue 14, written out: red -> orange when it misses min_count
    p = stats.nbinom.sf(y - 1, 10.0, 1 / (1 + 0.1 * mu))
    old = np.select([p <= 0.01, p <= 0.05, p <= 0.2], [3, 2, 1], 0)
    old[(old == 3) & (y < 3)] = 2
    np.testing.assert_array_equal(got, old)
    new = np.asarray(classify(y, pred).codes)
    assert (new >= 2).sum() < (old >= 2).sum()


def test_zero_never_coloured_in_quiet_area():
    # q80 of Poisson(0.05) is 0; the literal ">= q80" would make 0 yellow
    assert quantile(0.8, 0.05, 0.0) == 0
    assert classify([0], _pred(0.05))[0] == "green"


def test_thresholds_from_config_and_validation():
    th = Thresholds.from_config({"red": 0.995, "min_count": 5, "fdr": True})
    assert th.red == 0.995 and th.min_count == 5 and th.fdr and th.orange == 0.95
    assert Thresholds().min_count_orange == 3 and Thresholds().min_excess_red == 3
    with pytest.raises(ValueError, match="min_excess_red must be >= 0"):
        Thresholds(min_excess_red=-1)
    with pytest.raises(ValueError, match="unknown key.*colour"):
        Thresholds.from_config({"colour": 1})
    with pytest.raises(ValueError, match="yellow < orange < red"):
        Thresholds(orange=0.999)
    with pytest.raises(AttributeError):
        th.red = 0.5  # frozen


def test_bh_matches_statsmodels():
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(size=300), rng.uniform(0, 0.001, size=20)])
    ours = bh_reject(p, 0.05)
    ref = multipletests(p, alpha=0.05, method="fdr_bh")[0]
    np.testing.assert_array_equal(ours, ref)
    assert 15 <= ours.sum() <= 40


def test_fdr_demotes_chance_reds():
    th = Thresholds(fdr=True, fdr_q=0.05, min_count=0, min_excess_red=0)
    p = np.r_[0.009, np.full(99, 0.5)]  # one p <= 0.01 among 100: BH cutoff 0.0005
    lv = levels_from_p(p, np.full(100, 5), th)
    assert lv[0] == "orange"
    p2 = np.r_[1e-6, np.full(99, 0.5)]
    assert levels_from_p(p2, np.full(100, 5), th)[0] == "red"


def test_expected_reds_by_chance_matches_simulation():
    rng = np.random.default_rng(1)
    mu = rng.gamma(1.0, 3.0, size=2000)
    pred = pd.DataFrame({"mu": mu, "alpha": 0.0})
    th = Thresholds()
    exp = expected_reds(pred, th)
    # hand check of one term: P(X >= max(q99+1, 3))
    k0 = max(int(stats.poisson.ppf(0.99, mu[0])) + 1, 3)
    assert math.isclose(stats.poisson.sf(k0 - 1, mu[0]),
                        expected_reds(pred.iloc[[0]], th), rel_tol=1e-9)
    sims = [int((classify(rng.poisson(mu), pred, th) == "red").sum()) for _ in range(200)]
    assert abs(np.mean(sims) - exp) < 4 * np.sqrt(exp / 200) + 0.2
    assert exp < 0.01 * len(mu)  # discrete tails keep chance reds below 1%


def _exact_by_enumeration(pred, th, kmax=3000):
    """sum over areas and over x = 0..kmax of pmf(x) * [level(x) == L]: the definition."""
    mu = pred["mu"].to_numpy(float)
    al = pred["alpha"].to_numpy(float)
    x = np.arange(kmax + 1)
    X = np.broadcast_to(x, (mu.size, x.size))
    M = np.broadcast_to(mu[:, None], X.shape)
    A = np.broadcast_to(al[:, None], X.shape)
    pmf = np.exp(logpmf(X, M, A))
    lv = np.asarray(levels_from_p(p_exceed(X, M, A).ravel(), X.ravel(), th,
                                  expected=M.ravel()).codes).reshape(X.shape)
    return {"orange": float((pmf * (lv == 2)).sum()), "red": float((pmf * (lv == 3)).sum())}


@pytest.mark.parametrize("th", [Thresholds(), Thresholds(min_count_orange=0, min_excess_red=0),
                                Thresholds(min_count=5, min_count_orange=1, min_excess_red=2.5,
                                           orange=0.9)])
def test_expected_by_chance_is_exact_and_matches_simulation(th):
    rng = np.random.default_rng(7)
    n = 600
    mu = np.r_[rng.gamma(0.6, 2.0, size=n - 5), 0.0, 1e-4, 40.0, 80.0, 120.0]
    alpha = np.where(rng.uniform(size=mu.size) < 0.5, 0.0, rng.uniform(0.05, 1.0, size=mu.size))
    pred = pd.DataFrame({"mu": mu, "alpha": alpha})
    got = expected_by_chance(pred, th)
    assert got["red"] == expected_reds(pred, th) and got["orange"] == expected_oranges(pred, th)
    exact = _exact_by_enumeration(pred, th)
    assert math.isclose(got["orange"], exact["orange"], rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(got["red"], exact["red"], rel_tol=1e-9, abs_tol=1e-12)
    # brute force: draw every area from its forecast, colour, count
    n_sim = 400
    r = np.where(alpha > 0, 1 / np.maximum(alpha, 1e-12), 1.0)
    lam = np.where(alpha > 0, rng.gamma(r, mu * alpha, size=(n_sim, mu.size)), mu)
    draws = rng.poisson(lam)
    codes = np.stack([np.asarray(classify(d, pred, th).codes) for d in draws])
    for code, name in ((2, "orange"), (3, "red")):
        sim = (codes == code).sum(1)
        assert abs(sim.mean() - got[name]) < 4 * sim.std(ddof=1) / np.sqrt(n_sim) + 0.05, name


def test_fdr_confirmed_matches_statsmodels_and_skips_nan():
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(size=300), rng.uniform(0, 0.001, size=20)])
    ref = multipletests(p, alpha=0.05, method="fdr_bh")[0]
    np.testing.assert_array_equal(fdr_confirmed(p, 0.05), ref)
    with_nan = fdr_confirmed(np.r_[p, np.nan], 0.05)
    np.testing.assert_array_equal(with_nan[:-1], ref)
    assert not with_nan[-1]


def test_forecast_mode_top_shares_and_ties():
    e = np.r_[np.arange(100, 0, -1), 0.0]  # 101 areas, one with zero risk
    ids = [f"a{i:03d}" for i in range(101)]
    lv = forecast_levels(e, ids)
    assert (lv == "red").sum() == 1 and lv[0] == "red"
    assert (lv == "orange").sum() == 4 and (lv == "yellow").sum() == 15
    assert lv[100] == "green"
    # ties broken by area_id: a001 before a002
    tie = forecast_levels([5.0, 5.0, 1.0], ["b", "a", "c"], Thresholds(forecast_red=0.34))
    assert list(tie) == ["green", "red", "green"]


def test_yoy_mode():
    lv = yoy_levels([15, 12, 21, 10, 2, 0, 4], [10, 10, 20, 10, 0, 0, 0])
    assert list(lv) == ["red", "orange", "yellow", "green", "orange", "green", "red"]


def test_reason_sentences():
    zh, en = reason([14, 3], [5.2, 2.99], [0.003, 0.0004], [1.8, np.nan], freq="W")
    assert zh[0] == "本周 14 起，预期 5.2 起（P=0.003），同比 +180%"
    assert en[0] == "14 this week, 5.2 expected (P=0.003), +180% year on year"
    assert zh[1] == "本周 3 起，预期 3.0 起（P<0.001）" and "year on year" not in en[1]
    assert reason([1], [1.0], [0.5], freq="M")[0][0].startswith("本月")


def test_summary_line_counts_chance_and_badge():
    rng = np.random.default_rng(5)
    mu = rng.gamma(1.0, 2.0, size=300)
    pred = pd.DataFrame({"mu": mu, "alpha": 0.0})
    y = rng.poisson(mu)
    y[:5] += 12
    table = pred.assign(level=classify(y, pred), p_exceed=p_exceed(y, mu, 0.0))
    line = summary_line(table)
    chance = expected_by_chance(pred)
    n_red = int((table["level"] == "red").sum())
    assert line.startswith(f"red {n_red} ({chance['red']:.2f} by chance), orange ")
    assert f"BH-confirmed (q=0.05): {int(fdr_confirmed(table['p_exceed']).sum())} of 300" in line
    # forecast mode: no p-values, so no chance figures and no badge
    fc = pred.assign(level=forecast_levels(mu), p_exceed=np.nan)
    assert "chance" not in summary_line(fc) and "BH" not in summary_line(fc)
