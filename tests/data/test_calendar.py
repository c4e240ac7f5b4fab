"""The one calendar (data/calendar.py): 春节 1990–2050, period ends, the completeness rule."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from data.calendar import (
    SPRING_FESTIVAL,
    complete_through,
    data_as_of,
    infer_freq,
    is_complete,
    next_periods,
    period_end,
    period_start,
    season_length,
    spring_festival,
)


# -- 春节 --------------------------------------------------------------------------------------------
def test_spring_festival_1990_and_2050_against_lunardate():
    lunardate = pytest.importorskip("lunardate")
    for year in (1990, 2050):
        ref = lunardate.LunarDate(year, 1, 1).to_solar_date()
        assert spring_festival(year).date() == ref
    # the two ends of the table, written out
    assert spring_festival(1990) == pd.Timestamp("1990-01-27")
    assert spring_festival(2050) == pd.Timestamp("2050-01-23")


def test_every_year_of_the_table_against_lunardate():
    lunardate = pytest.importorskip("lunardate")
    assert list(SPRING_FESTIVAL.year) == list(range(1990, 2051))
    ours = [d.date() for d in SPRING_FESTIVAL]
    ref = [lunardate.LunarDate(y, 1, 1).to_solar_date() for y in range(1990, 2051)]
    assert ours == ref


def test_every_date_is_a_new_moon_in_beijing():
    # an independent reference: each 正月初一 is the Beijing date of an astronomical new moon
    # (Meeus, Astronomical Algorithms ch. 49), between Jan 21 and Feb 20, 12 or 13 months apart
    dates = [d.date() for d in SPRING_FESTIVAL]
    assert all(dt.date(d.year, 1, 21) <= d <= dt.date(d.year, 2, 20) for d in dates)
    assert {(b - a).days for a, b in zip(dates, dates[1:])} <= {354, 355, 383, 384, 385}
    for d in dates:
        assert d in _new_moon_dates_near(d), d


@pytest.mark.parametrize("year", [1989, 2051])
def test_spring_festival_outside_the_table_names_year_and_range(year):
    with pytest.raises(ValueError, match=rf"year {year}: .*1990–2050"):
        spring_festival(year)


# -- periods -------------------------------------------------------------------------------------
def test_period_end_is_the_next_start():
    assert period_end(["2024-05-06"], "W")[0] == pd.Timestamp("2024-05-13")
    assert period_end(["2024-02-01"], "M")[0] == pd.Timestamp("2024-03-01")  # leap February
    assert period_end(["2023-12-01"], "M")[0] == pd.Timestamp("2024-01-01")
    assert period_end(["2024-05-06"], "D")[0] == pd.Timestamp("2024-05-07")
    for freq in ("D", "W", "M"):
        p = period_start(["2024-05-09 13:00"], freq)
        assert period_start(period_end(p, freq), freq)[0] == next_periods(p[0], freq, 1)[0]
    with pytest.raises(ValueError, match="freq 'Q'"):
        period_end(["2024-01-01"], "Q")


def test_season_length_and_infer_freq():
    assert [season_length(f) for f in ("W", "M", "D")] == [52, 12, 364]
    assert infer_freq(pd.date_range("2024-01-01", periods=5, freq="MS")) == "M"
    assert infer_freq(pd.date_range("2024-01-01", periods=5, freq="7D")) == "W"
    assert infer_freq(pd.date_range("2024-01-01", periods=5, freq="D")) == "D"
    assert list(next_periods("2024-01-31", "M", 2)) == [pd.Timestamp("2024-02-29"), pd.Timestamp("2024-03-31")]


# -- completeness ----------------------------------------------------------------------------------
def test_completeness_rule_hand_worked():
    weeks = pd.DatetimeIndex(["2024-04-29", "2024-05-06", "2024-05-13"])
    # the week of 05-06 ends 05-13 00:00; as of Sunday 05-12 23:00 it is still running
    assert is_complete(weeks, "W", "2024-05-12 23:00").tolist() == [True, False, False]
    assert is_complete(weeks, "W", "2024-05-13").tolist() == [True, True, False]
    # a 2-day reporting lag: complete only from Wednesday 00:00
    assert is_complete(weeks, "W", "2024-05-14 23:59", lag=pd.Timedelta(days=2)).tolist() == [True, False, False]
    assert is_complete(weeks, "W", "2024-05-15", lag="2D").tolist() == [True, True, False]
    months = pd.DatetimeIndex(["2024-01-01", "2024-02-01"])
    assert is_complete(months, "M", "2024-02-29 12:00").tolist() == [True, False]
    assert is_complete(months, "M", "2024-03-01").tolist() == [True, True]
    assert list(complete_through(weeks, "W", "2024-05-13")) == list(weeks[:2])


def test_as_of_is_the_end_of_the_last_reported_day():
    # the board's rule: a week is complete once the incidents reach its Sunday (any hour)
    assert data_as_of("2024-05-12 00:05") == pd.Timestamp("2024-05-13")
    weeks = pd.DatetimeIndex(["2024-05-06"])
    assert is_complete(weeks, "W", data_as_of("2024-05-12 00:05")).tolist() == [True]
    assert is_complete(weeks, "W", data_as_of("2024-05-11 23:59")).tolist() == [False]
    with pytest.raises(ValueError, match="last_time"):
        data_as_of(pd.NaT)


def test_completeness_errors_name_the_argument():
    with pytest.raises(ValueError, match="lag"):
        is_complete(["2024-05-06"], "W", "2024-06-01", lag="-1D")
    with pytest.raises(ValueError, match="as_of"):
        is_complete(["2024-05-06"], "W", pd.NaT)
    assert is_complete(np.array([], dtype="datetime64[ns]"), "W", "2024-06-01").shape == (0,)


def _new_moon_dates_near(day: dt.date) -> set[dt.date]:
    jd_day = (day - dt.date(2000, 1, 1)).days + 2451544.5
    k0 = round((jd_day - 2451550.09766) / 29.530588861)
    out = set()
    for k in (k0 - 1, k0, k0 + 1):
        t = k / 1236.85
        jde = 2451550.09766 + 29.530588861 * k + 0.00015437 * t * t
        m = math.radians(2.5534 + 29.10535670 * k)
        mp = math.radians(201.5643 + 385.81693528 * k + 0.0107582 * t * t)
        f = math.radians(160.7108 + 390.67050284 * k - 0.0016118 * t * t)
        om = math.radians(124.7746 - 1.56375588 * k)
        e = 1 - 0.002516 * t
        jde += (-0.40720 * math.sin(mp) + 0.17241 * e * math.sin(m) + 0.01608 * math.sin(2 * mp)
                + 0.01039 * math.sin(2 * f) + 0.00739 * e * math.sin(mp - m) - 0.00514 * e * math.sin(mp + m)
                + 0.00208 * e * e * math.sin(2 * m) - 0.00111 * math.sin(mp - 2 * f) - 0.00057 * math.sin(mp + 2 * f)
                + 0.00056 * e * math.sin(2 * mp + m) - 0.00042 * math.sin(3 * mp) + 0.00042 * e * math.sin(m + 2 * f)
                + 0.00038 * e * math.sin(m - 2 * f) - 0.00024 * e * math.sin(2 * mp - m) - 0.00017 * math.sin(om))
        beijing = dt.datetime(2000, 1, 1, 12) + dt.timedelta(days=jde - 2451545.0, hours=8, seconds=-69)
        out.add(beijing.date())
    return out
