"""Outbreak detection on an analyst's series: Farrington and EARS against R, the detect table.

The references are R ``surveillance`` 1.20 (``farringtonFlexible``, ``earsC``) on seeded
simulated weekly series, made by ``tests/analytics/reference/farrington_reference.R``; the
tests read the CSVs and never call R.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.detect import OUTPUT_COLUMNS, detect, parse_limit54
from analytics.models import Farrington, PoissonCUSUM
from analytics.models.ears import ears_c, poisson_cusum
from analytics.models.farrington import baseline_blocks, farrington_flexible

REF = Path(__file__).parent / "reference"
NAMES = ["flat", "trend", "overdisp", "sparse"]
#: R control lists of farrington_reference.R, as our keywords
CONFIGS = {
    "default": {},
    "no_trend": {"trend": False},
    "noPeriods10": {"no_periods": 10},
    "noPeriods10_pw": {"no_periods": 10, "past_weeks_not_included": 26, "trend": False},
    "nbPlugin_b3": {"threshold_method": "nbPlugin", "b": 3},
    "muan_b3_nolimit": {"threshold_method": "muan", "b": 3, "limit54": (0, 4)},
    "delta_alpha01": {"alpha": 0.01, "w": 2, "reweight": False},
    "population": {"population": True},
}


@pytest.fixture(scope="module")
def series():
    s = pd.read_csv(REF / "detect_series.csv")
    return s[NAMES].to_numpy(float).T, s[[f"pop_{n}" for n in NAMES]].to_numpy(float).T


def _agreement(ours, ref_upper, ref_alarm):
    both_nan = np.isnan(ours["upper"]) & np.isnan(ref_upper)
    close = np.abs(ours["upper"] - ref_upper) <= 1e-6 * np.abs(ref_upper)
    return float(np.mean(both_nan | close)), float(np.mean(ours["alarm"] == ref_alarm))


def _pick(out, ref):
    i = ref["series"].map({n: k for k, n in enumerate(NAMES)}).to_numpy()
    t = ref["t"].to_numpy() - 1
    return {k: v[i, t] for k, v in out.items()}


@pytest.mark.parametrize("config", list(CONFIGS))
def test_farrington_equals_r_farringtonflexible(series, config):
    Y, pop = series
    kw = dict(CONFIGS[config])
    if kw.pop("population", False):
        kw["population"] = pop
    ref = pd.read_csv(REF / "farrington_reference.csv")
    ref = ref[ref["config"] == config]
    ours = _pick(farrington_flexible(Y, **kw), ref)
    equal_upper, equal_alarm = _agreement(ours, ref["upper"].to_numpy(), ref["alarm"].to_numpy())
    assert equal_upper == 1.0 and equal_alarm == 1.0
    ok = ref["expected"].notna().to_numpy()
    np.testing.assert_allclose(ours["expected"][ok], ref["expected"].to_numpy()[ok], rtol=1e-9)
    assert ref["alarm"].sum() > 0  # the comparison includes alarms, not only quiet weeks


def test_reference_exercises_trend_limit54_and_seasonal_factor(series):
    """The configs differ where they should, so agreeing on all of them means something."""
    Y, _ = series
    ref = pd.read_csv(REF / "farrington_reference.csv").set_index(["config", "series", "t"])
    assert (ref.loc["default", "upper"] != ref.loc["no_trend", "upper"]).any()  # trend kept
    assert (ref.loc["default", "upper"] != ref.loc["noPeriods10", "upper"]).any()
    assert ref.loc["default", "upper"].isna().sum() > 0  # limit54 withheld some bounds
    assert ref.loc["muan_b3_nolimit", "upper"].isna().sum() == 0


@pytest.mark.parametrize("method", ["C1", "C2", "C3"])
def test_ears_equals_r_earsc(series, method):
    Y, _ = series
    ref = pd.read_csv(REF / "ears_reference.csv")
    ref = ref[ref["method"] == method]
    ours = _pick(ears_c(Y, method), ref)
    equal_upper, equal_alarm = _agreement(ours, ref["upper"].to_numpy(), ref["alarm"].to_numpy())
    assert equal_upper == 1.0 and equal_alarm == 1.0 and ref["alarm"].sum() > 10


def test_baseline_blocks_hand_worked():
    # noPeriods = 1: the windows t0 - 52 j ± w, the current window left out (pastWeeks = w)
    idx, lev, years = baseline_blocks(t0=2 * 52 + 3, L=52, b=5, w=3)
    assert years == 2  # (t0 - w) // L: the old (t0 - w - 1) // L gave 1
    np.testing.assert_array_equal(idx, np.r_[0:7, 52:59])
    assert (lev == 1).all()
    # noPeriods = 10: the 45 periods between windows in 9 blocks of 5, windows at level 10
    idx, lev, _ = baseline_blocks(t0=52 + 3, L=52, b=1, w=3, no_periods=10)
    np.testing.assert_array_equal(idx, np.arange(0, 52))  # 0 … 51; 52 … 55 left out
    assert (lev[:7] == 10).all()
    assert [int((lev == k).sum()) for k in range(1, 10)] == [5] * 9
    assert (lev[7:12] == 1).all() and (lev[47:52] == 9).all()
    # pastWeeksNotIncluded = 26 drops the last 27 periods up to t0
    idx26, _, _ = baseline_blocks(t0=52 + 3, L=52, b=1, w=3, no_periods=10,
                                  past_weeks_not_included=26)
    assert idx26.max() == 52 + 3 - 27
    with pytest.raises(ValueError, match="noPeriods=60"):
        baseline_blocks(t0=55, L=52, b=1, w=3, no_periods=60)


def test_board_farrington_uses_full_years_and_limit54():
    rng = np.random.default_rng(2)
    T = 2 * 52 + 3  # exactly two years plus w before the judged period T
    Y = rng.poisson(4.0, size=(3, T))
    periods = pd.date_range("2020-01-06", periods=T, freq="7D")
    counts = pd.DataFrame({"area_id": np.repeat(["a", "b", "c"], T),
                           "period": np.tile(periods, 3), "category": "x",
                           "count": Y.ravel()})
    m = Farrington(trend=False).fit(counts)
    assert m.years_ == 2
    np.testing.assert_array_equal(m.baseline_index_, np.r_[T - 104 - 3:T - 104 + 4, T - 52 - 3:T - 52 + 4])
    # limit54: a quiet area (0.2 a week) with 1 case in the last 3 periods and 3 now has 4 < 5
    # cases in 4 periods: no alarm, though 3 cases are far above its bound
    Y2 = Y.copy()
    Y2[0] = rng.poisson(0.2, size=T)
    Y2[0, -3:] = [0, 1, 0]
    c2 = counts.assign(count=Y2.ravel())
    obs = pd.DataFrame({"area_id": ["a", "b", "c"], "category": "x", "count": [3, 40, 3]})
    stat = Farrington(trend=False).fit(c2).alarm_statistic(obs)["statistic"].to_numpy()
    assert stat[0] <= 0 and stat[1] > 1
    off = Farrington(trend=False, limit54=None).fit(c2).alarm_statistic(obs)["statistic"]
    assert off.to_numpy()[0] > 1
    four = obs.assign(count=[4, 40, 3])  # 1 + 4 = 5 cases: the rule lets it through
    assert Farrington(trend=False).fit(c2).alarm_statistic(four)["statistic"].to_numpy()[0] > 1


def test_poisson_cusum_matches_the_board_detector():
    rng = np.random.default_rng(4)
    Y = rng.poisson(2.0, size=(5, 80)).astype(float)
    Y[2, 75:] += 6
    out = poisson_cusum(Y, ratio=2.0, h=2.0, baseline=52, run=8)
    periods = pd.date_range("2020-01-06", periods=80, freq="7D")
    for t in (60, 70, 77):
        counts = pd.DataFrame({"area_id": np.repeat([f"a{i}" for i in range(5)], t),
                               "period": np.tile(periods[:t], 5), "category": "x",
                               "count": Y[:, :t].ravel()})
        m = PoissonCUSUM(ratio=2.0, h=2.0, baseline=52, run=8).fit(counts)
        obs = pd.DataFrame({"area_id": [f"a{i}" for i in range(5)], "category": "x",
                            "count": Y[:, t]})
        stat = m.alarm_statistic(obs)["statistic"].to_numpy()
        np.testing.assert_array_equal(out["alarm"][:, t], stat > 2.0)
        np.testing.assert_allclose(out["expected"][:, t], m.mu0_)
    assert out["alarm"][2, 76:].any()


def _frame(series_arr, start="2019-12-30"):
    return pd.DataFrame({"period": pd.date_range(start, periods=series_arr.shape[1], freq="7D"),
                         **{n: series_arr[i].astype(int) for i, n in enumerate(NAMES)}})


def test_detect_table_matches_r_and_shape(series):
    Y, _ = series
    frame = _frame(Y).sample(frac=1.0, random_state=1)  # row order does not matter
    out = detect(frame, "farrington")
    assert list(out.columns) == list(OUTPUT_COLUMNS) and len(out) == Y.size
    ref = pd.read_csv(REF / "farrington_reference.csv")
    ref = ref[ref["config"] == "default"]
    mine = out.assign(t=out.groupby("series").cumcount() + 1).merge(ref, on=["series", "t"],
                                                                     suffixes=("", "_r"))
    assert len(mine) == len(ref)
    assert (mine["alarm"] == mine["alarm_r"]).all()
    np.testing.assert_allclose(mine["upper"], mine["upper_r"], rtol=1e-9)
    assert out.loc[out["expected"].isna(), "alarm"].eq(False).all()
    c3 = detect(_frame(Y), "ears_c3")
    assert c3["alarm"].sum() == pd.read_csv(REF / "ears_reference.csv").query("method == 'C3'")["alarm"].sum()


def test_detect_input_errors(series):
    Y, _ = series
    good = _frame(Y)
    with pytest.raises(ValueError, match="no 'period' column"):
        detect(good.rename(columns={"period": "week"}), "ears_c1")
    bad = good.copy()
    bad.loc[5, "trend"] = -1
    with pytest.raises(ValueError, match="column 'trend' row 7 is -1"):
        detect(bad, "ears_c1")
    with pytest.raises(ValueError, match="evenly spaced"):
        detect(good.drop(index=10), "ears_c1")
    with pytest.raises(ValueError, match="repeats"):
        detect(pd.concat([good, good.iloc[[3]]]), "ears_c1")
    with pytest.raises(ValueError, match="needs at least 264 periods"):
        detect(good.iloc[:200], "farrington")
    with pytest.raises(ValueError, match="--method 'glm'"):
        detect(good, "glm")
    with pytest.raises(ValueError, match="--threshold-method"):
        detect(good, "farrington", threshold_method="exact")
    assert parse_limit54("5,4") == (5, 4) and parse_limit54("none") is None
    with pytest.raises(ValueError, match="--limit54 '5'"):
        parse_limit54("5")


@pytest.mark.slow
def test_cli_detect_subprocess(series, tmp_path):
    Y, _ = series
    src = tmp_path / "series.csv"
    _frame(Y).to_csv(src, index=False)
    out = tmp_path / "alarms.csv"
    run = subprocess.run([sys.executable, "-m", "app", "detect", "--series", str(src), "--method",
                          "farrington", "--b", "3", "--threshold-method", "nbPlugin",
                          "--out", str(out)], capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert run.returncode == 0, run.stderr
    table = pd.read_csv(out, encoding="utf-8-sig")
    ref = pd.read_csv(REF / "farrington_reference.csv").query("config == 'nbPlugin_b3'")
    assert int(table["alarm"].sum()) == int(ref["alarm"].sum())
    assert f"{int(ref['alarm'].sum())} alarms in 4 series" in run.stdout
    bad = subprocess.run([sys.executable, "-m", "app", "detect", "--series", str(src), "--method",
                          "farrington", "--limit54", "x", "--out", str(out)],
                         capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert bad.returncode == 2 and "--limit54" in bad.stderr and "Traceback" not in bad.stderr


def test_board_farrington_trend_test_keeps_its_level():
    """Trendless Poisson series: the board model keeps a trend in about p_trend of them; R's
    post-reweighting dispersion (kept for ``pingan detect``) keeps far more."""
    from analytics.models.farrington import fit_baseline

    rng = np.random.default_rng(8)
    Y = rng.poisson(rng.gamma(2.0, 2.0, size=(800, 1)), size=(800, 3 * 52 + 4)).astype(float)
    T = Y.shape[1]
    board = fit_baseline(Y, T, 52, b=3, r_compatible=False).trend_kept.mean()
    r_like = fit_baseline(Y, T, 52, b=3, r_compatible=True).trend_kept.mean()
    assert board <= 0.07 and r_like > 2 * board
