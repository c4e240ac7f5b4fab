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
    elapsed_share,
    hour_profile,
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


# -- completeness with a reporting lag, partial periods (issue 14, item 3) ----------------------
def test_completeness_with_lag_by_hand():
    """Week of Mon 2025-12-22 ends Mon 12-29 00:00; with a 1-day lag it is complete from Tue 00:00."""
    weeks = ["2025-12-15", "2025-12-22"]
    lag = pd.Timedelta(days=1)
    # data only to Sunday 00:30: the running week is not complete, the one before is
    assert is_complete(weeks, "W", "2025-12-28 00:30", lag).tolist() == [True, False]
    # a whole Sunday reported, but still inside the lag
    assert is_complete(weeks, "W", "2025-12-29 23:59", lag).tolist() == [True, False]
    assert is_complete(weeks, "W", "2025-12-30 00:00", lag).tolist() == [True, True]
    # without a lag the week is complete as soon as it ends
    assert is_complete(weeks, "W", "2025-12-29 00:00").tolist() == [True, True]
    # months: December 2025 with a 3-day lag is complete from 2026-01-04
    assert is_complete(["2025-12-01"], "M", "2026-01-03 23:59", "3D").tolist() == [False]
    assert is_complete(["2025-12-01"], "M", "2026-01-04", "3D").tolist() == [True]


def test_elapsed_share_uniform_by_hand():
    w = ["2025-12-22"]
    assert elapsed_share(w, "W", "2025-12-25 12:00")[0] == pytest.approx(0.5)       # Thu noon
    assert elapsed_share(w, "W", "2025-12-22 00:30")[0] == pytest.approx(0.5 / 168)  # half an hour
    assert elapsed_share(w, "W", "2025-12-21 23:00")[0] == 0.0                       # not begun
    assert elapsed_share(w, "W", "2026-01-05")[0] == 1.0                             # over
    # February 2024 has 29 days: by the 15th, 14 of them
    assert elapsed_share(["2024-02-01"], "M", "2024-02-15")[0] == pytest.approx(14 / 29)
    # days: 18:00 is three quarters of a day
    assert elapsed_share(["2024-02-01"], "D", "2024-02-01 18:00")[0] == pytest.approx(0.75)


def test_elapsed_share_follows_the_profile():
    """Half the week's expected cases gone → the expectation halves, whatever the clock says."""
    w = np.zeros((7, 24))
    w[0, :] = 1.0   # all Monday …
    w[6, :] = 1.0   # … and all Sunday
    week = ["2025-12-22"]
    assert elapsed_share(week, "W", "2025-12-23 00:00", w)[0] == pytest.approx(0.5)
    assert elapsed_share(week, "W", "2025-12-27 23:59", w)[0] == pytest.approx(0.5)  # Sat: nothing new
    assert elapsed_share(week, "W", "2025-12-28 12:00", w)[0] == pytest.approx(0.75)
    nights = np.zeros((7, 24))
    nights[:, 22:] = 1.0  # only 22:00–24:00 every day
    assert elapsed_share(week, "W", "2025-12-22 23:00", nights)[0] == pytest.approx(0.5 / 7)
    # several periods at once, each against its own span
    got = elapsed_share(["2025-12-15", "2025-12-22", "2025-12-29"], "W", "2025-12-25 12:00")
    assert got.tolist() == pytest.approx([1.0, 0.5, 0.0])


def test_hour_profile_counts_weekday_and_hour():
    times = pd.to_datetime(["2025-12-22 10:05", "2025-12-22 10:55", "2025-12-28 23:59", None])
    w = hour_profile(times, prior=0.0)
    assert w.shape == (7, 24)
    assert w.sum() == pytest.approx(1.0)
    assert w[0, 10] == pytest.approx(2 / 3)   # Monday 10:00–11:00
    assert w[6, 23] == pytest.approx(1 / 3)   # Sunday 23:00
    smooth = hour_profile(times)              # one pseudo-case per cell
    assert smooth.min() == pytest.approx(1 / (168 + 3))


def test_elapsed_share_rejects_bad_profiles():
    with pytest.raises(ValueError, match="profile"):
        elapsed_share(["2025-12-22"], "W", "2025-12-23", np.ones((24, 7)))
    with pytest.raises(ValueError, match="profile"):
        elapsed_share(["2025-12-22"], "W", "2025-12-23", -np.ones((7, 24)))
    with pytest.raises(ValueError, match="as_of"):
        elapsed_share(["2025-12-22"], "W", pd.NaT)
