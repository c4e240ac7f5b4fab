"""The one calendar: period starts and ends, frequencies, the completeness rule and 春节.

Periods are named by their start (design.md, "counts"): ``"D"`` days, ``"W"`` weeks starting
Monday, ``"M"`` months starting on the 1st. A period runs from its start up to (excluding)
the next period's start, :func:`period_end`.

**Completeness** (design.md, "Warning levels"): a period is complete when its end plus the
reporting lag is at or before the data's "as of" time — :func:`is_complete`. The board, the
trend chart and the backtest all decide "complete" by this one function. The board takes the
as-of time the workspace recorded at ingest (``Workspace.as_of``: the declared ``--as-of`` of
each source, else the time of its latest incident; the latest source wins) and the reporting
lag of ``[periods] lag_days`` (default 1 day), so one incident early on a Sunday no longer
makes the week complete. :func:`data_as_of` (the end of the last day with a record, no lag) is
the rule for bare incident files without a workspace (the backtest).

**Partial periods** are compared with the share of their expected cases that should already
have happened by the as-of time: :func:`hour_profile` (weekday × hour weights from the history)
and :func:`elapsed_share`.

**春节** (Lunar New Year's Day, 正月初一) is tabulated for 1990–2050; the public holiday runs
from the eve for 7–8 days, and crime and reporting patterns change over it (migrant workers go
home, shops close). Outside the table :func:`spring_festival` raises ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "FREQS",
    "SPRING_FESTIVAL",
    "SPRING_FESTIVAL_YEARS",
    "check_freq",
    "complete_through",
    "data_as_of",
    "elapsed_share",
    "hour_profile",
    "infer_freq",
    "is_complete",
    "next_periods",
    "period_end",
    "period_range",
    "period_start",
    "season_length",
    "spring_festival",
]

#: Period frequencies understood everywhere.
FREQS: tuple[str, ...] = ("D", "W", "M")

#: Years covered by :data:`SPRING_FESTIVAL` (inclusive).
SPRING_FESTIVAL_YEARS: tuple[int, int] = (1990, 2050)

#: 春节 (正月初一, Beijing date) of every year 1990–2050, oldest first. Checked in the tests
#: against the ``lunardate`` package and against the astronomical new moon (Meeus ch. 49).
SPRING_FESTIVAL: pd.DatetimeIndex = pd.DatetimeIndex(pd.to_datetime([
    "1990-01-27", "1991-02-15", "1992-02-04", "1993-01-23", "1994-02-10", "1995-01-31",
    "1996-02-19", "1997-02-07", "1998-01-28", "1999-02-16", "2000-02-05", "2001-01-24",
    "2002-02-12", "2003-02-01", "2004-01-22", "2005-02-09", "2006-01-29", "2007-02-18",
    "2008-02-07", "2009-01-26", "2010-02-14", "2011-02-03", "2012-01-23", "2013-02-10",
    "2014-01-31", "2015-02-19", "2016-02-08", "2017-01-28", "2018-02-16", "2019-02-05",
    "2020-01-25", "2021-02-12", "2022-02-01", "2023-01-22", "2024-02-10", "2025-01-29",
    "2026-02-17", "2027-02-06", "2028-01-26", "2029-02-13", "2030-02-03", "2031-01-23",
    "2032-02-11", "2033-01-31", "2034-02-19", "2035-02-08", "2036-01-28", "2037-02-15",
    "2038-02-04", "2039-01-24", "2040-02-12", "2041-02-01", "2042-01-22", "2043-02-10",
    "2044-01-30", "2045-02-17", "2046-02-06", "2047-01-26", "2048-02-14", "2049-02-02",
    "2050-01-23",
]).as_unit("ns"))

_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)
_NAT_D = np.datetime64("NaT", "D")


def spring_festival(year: int) -> pd.Timestamp:
    """Date of 春节 (Lunar New Year's Day) in ``year``.

    Raises
    ------
    ValueError
        If ``year`` is outside 1990–2050 (the message names the year and the range).

    Examples
    --------
    >>> spring_festival(2024)
    Timestamp('2024-02-10 00:00:00')
    """
    lo, hi = SPRING_FESTIVAL_YEARS
    if not lo <= int(year) <= hi:
        raise ValueError(f"year {year}: the 春节 (Spring Festival) table covers {lo}–{hi}")
    return SPRING_FESTIVAL[int(year) - lo]


def period_start(times, freq: str = "W") -> pd.DatetimeIndex:
    """Start of the period holding each time (NaT stays NaT).

    Parameters
    ----------
    times : array_like of datetime64 / Timestamps
    freq : {"D", "W", "M"}
        Day, week starting Monday, month starting on the 1st.

    Returns
    -------
    pandas.DatetimeIndex (ns)

    Examples
    --------
    >>> period_start(["2024-05-09 13:00", "2024-05-12 23:59"], "W").strftime("%Y-%m-%d").tolist()
    ['2024-05-06', '2024-05-06']
    >>> period_start(["2024-02-29 08:00"], "M")[0]
    Timestamp('2024-02-01 00:00:00')
    """
    check_freq(freq)
    t = pd.DatetimeIndex(pd.to_datetime(np.asarray(times) if not isinstance(times, pd.Series) else times))
    if t.tz is not None:
        raise ValueError("times must be naive local times (occurred_at); got a time-zone-aware column")
    days = t.to_numpy().astype("datetime64[D]")
    if freq == "M":
        out = days.astype("datetime64[M]").astype("datetime64[D]")
    elif freq == "W":
        nat = np.isnat(days)
        d = days.astype(np.int64)
        out = (d - (d + _EPOCH_WEEKDAY) % 7).astype("datetime64[D]")
        out[nat] = _NAT_D
    else:
        out = days
    return pd.DatetimeIndex(out.astype("datetime64[ns]"))


def period_end(periods, freq: str = "W") -> pd.DatetimeIndex:
    """Exclusive end of each period (= the next period's start).

    Examples
    --------
    >>> period_end(["2024-02-01"], "M")[0]
    Timestamp('2024-03-01 00:00:00')
    >>> period_end(["2024-05-06"], "W")[0]
    Timestamp('2024-05-13 00:00:00')
    """
    check_freq(freq)
    p = pd.DatetimeIndex(pd.to_datetime(np.asarray(periods) if not isinstance(periods, pd.Series) else periods))
    days = p.to_numpy().astype("datetime64[D]")
    if freq == "M":
        out = (days.astype("datetime64[M]") + 1).astype("datetime64[D]")
    else:
        out = days + (7 if freq == "W" else 1)
    return pd.DatetimeIndex(out.astype("datetime64[ns]"))


def period_range(start, end, freq: str = "W") -> pd.DatetimeIndex:
    """Every period start from the period of ``start`` to the period of ``end`` (inclusive)."""
    check_freq(freq)
    p0, p1 = period_start([start, end], freq)
    if pd.isna(p0) or pd.isna(p1) or p1 < p0:
        return pd.DatetimeIndex([], dtype="datetime64[ns]")
    step = {"D": "D", "W": "7D", "M": "MS"}[freq]
    return pd.date_range(p0, p1, freq=step).as_unit("ns")


def data_as_of(last_time) -> pd.Timestamp:
    """The data's "as of" time from its last record: the end of that record's day.

    A record at any time of a day means the day has been reported (the source's export ran
    after it), so the day counts in full.

    Examples
    --------
    >>> data_as_of("2024-05-12 09:30")
    Timestamp('2024-05-13 00:00:00')
    """
    t = pd.Timestamp(last_time)
    if pd.isna(t):
        raise ValueError("last_time: no valid time (the data has no dated record)")
    return t.normalize() + pd.Timedelta(days=1)


def is_complete(periods, freq: str, as_of, lag=None) -> np.ndarray:
    """The completeness rule: ``period_end + lag <= as_of``, elementwise.

    Parameters
    ----------
    periods : array_like of period starts
    freq : {"D", "W", "M"}
    as_of : time
        What the data covers (e.g. :func:`data_as_of` of the last incident, or now).
    lag : Timedelta or str, optional
        Reporting lag: cases of a period keep arriving for this long after it ends (default 0).

    Returns
    -------
    ndarray of bool

    Examples
    --------
    >>> is_complete(["2024-05-06", "2024-05-13"], "W", "2024-05-13").tolist()
    [True, False]
    >>> is_complete(["2024-05-06"], "W", "2024-05-14", lag=pd.Timedelta(days=2)).tolist()
    [False]
    """
    if pd.isna(pd.Timestamp(as_of)):
        raise ValueError("as_of: not a time")
    end = period_end(periods, freq)
    lag = pd.Timedelta(0) if lag is None else pd.Timedelta(lag)
    if pd.isna(lag) or lag < pd.Timedelta(0):
        raise ValueError(f"lag: must be a non-negative duration, got {lag!r}")
    return np.asarray(end + lag <= pd.Timestamp(as_of), dtype=bool)


def complete_through(periods, freq: str, as_of, lag=None) -> pd.DatetimeIndex:
    """The periods of ``periods`` that are complete (:func:`is_complete`), in their order."""
    p = pd.DatetimeIndex(periods)
    return p[is_complete(p, freq, as_of, lag)]


def hour_profile(times, *, prior: float = 1.0) -> np.ndarray:
    """Weekday × hour profile of event times: a (7, 24) array summing to 1 (Monday = row 0).

    Parameters
    ----------
    times : array_like of datetime64 / Timestamps
        Event times (naive local); NaT is ignored.
    prior : float
        Pseudo-count added to each of the 168 cells, so an hour never seen still has a small
        weight (default 1).

    Examples
    --------
    >>> w = hour_profile(["2024-05-06 10:15", "2024-05-06 10:45"], prior=0.0)
    >>> float(w[0, 10])
    1.0
    """
    t = pd.DatetimeIndex(pd.to_datetime(np.asarray(times) if not isinstance(times, pd.Series) else times))
    t = t[~t.isna()]
    if prior < 0:
        raise ValueError(f"prior: must be >= 0, got {prior}")
    cell = t.day_of_week.to_numpy() * 24 + t.hour.to_numpy()
    w = np.bincount(cell, minlength=168).astype(float) + float(prior)
    if w.sum() <= 0:
        w[:] = 1.0
    return (w / w.sum()).reshape(7, 24)


def elapsed_share(periods, freq: str, as_of, profile=None) -> np.ndarray:
    """Share of each period's expected cases that falls before ``as_of``, elementwise.

    Every hour of the period is weighted by ``profile[weekday, hour]`` (uniform when
    ``None``); the share is the weight of the hours before ``as_of`` (the running hour
    counted pro rata) over the weight of the whole period. 0 before the period starts,
    1 once it has ended.

    Parameters
    ----------
    periods : array_like of period starts
    freq : {"D", "W", "M"}
    as_of : time
    profile : (7, 24) array, optional
        From :func:`hour_profile`.

    Examples
    --------
    >>> elapsed_share(["2024-05-06"], "W", "2024-05-09 12:00").round(4).tolist()
    [0.5]
    >>> w = np.zeros((7, 24)); w[5:] = 1.0   # only weekends have cases
    >>> elapsed_share(["2024-05-06"], "W", "2024-05-11 00:00", w).tolist()
    [0.0]
    """
    as_of = pd.Timestamp(as_of)
    if pd.isna(as_of):
        raise ValueError("as_of: not a time")
    w = np.ones((7, 24)) if profile is None else np.asarray(profile, float)
    if w.shape != (7, 24) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError("profile: expected a (7, 24) array of non-negative weights (weekday × hour)")
    start = period_start(periods, freq)
    end = period_end(start, freq)
    # cumulative weight of every hour since a Monday 00:00, so a span's weight is two lookups
    flat = w.ravel()
    week_total = flat.sum()
    cum = np.concatenate([[0.0], np.cumsum(flat)])

    def weight_before(t: pd.DatetimeIndex) -> np.ndarray:
        hours = (t.to_numpy().astype("datetime64[s]").astype(np.int64) / 3600.0)
        hours = hours + 24 * _EPOCH_WEEKDAY  # hours since the Monday before the epoch
        whole = np.floor(hours)
        weeks, within = np.divmod(whole, 168)
        frac = hours - whole
        k = within.astype(np.int64)
        return weeks * week_total + cum[k] + frac * flat[k]

    lo = weight_before(start)
    total = weight_before(end) - lo
    clipped = pd.DatetimeIndex(np.clip(np.datetime64(as_of.to_datetime64(), "ns"),
                                       start.to_numpy(), end.to_numpy()))
    done = weight_before(clipped) - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, done / total, 0.0)
    return np.clip(share, 0.0, 1.0)


def infer_freq(periods: Sequence[pd.Timestamp]) -> str:
    """``"W"``, ``"M"`` or ``"D"`` from the spacing of sorted period starts (``"W"`` if < 2)."""
    p = pd.DatetimeIndex(periods)
    if len(p) < 2:
        return "W"
    step = float(np.median(np.diff(p.to_numpy()) / np.timedelta64(1, "D")))
    if step < 2:
        return "D"
    if step < 10:
        return "W"
    return "M"


def next_periods(last, freq: str, horizon: int) -> pd.DatetimeIndex:
    """The ``horizon`` period starts after ``last``."""
    check_freq(freq)
    last = pd.Timestamp(last)
    step = {"W": pd.Timedelta(weeks=1), "D": pd.Timedelta(days=1), "M": None}[freq]
    if step is None:
        return pd.DatetimeIndex([last + pd.DateOffset(months=i) for i in range(1, horizon + 1)])
    return pd.DatetimeIndex([last + step * i for i in range(1, horizon + 1)])


def season_length(freq: str) -> int:
    """Periods per year for same-period-last-year lags: 52 weeks, 12 months, 364 days.

    52 weeks and 364 days keep the weekday (a Monday is compared with a Monday).
    """
    check_freq(freq)
    return {"W": 52, "M": 12, "D": 364}[freq]


def check_freq(freq: str) -> None:
    if freq not in FREQS:
        raise ValueError(f"freq {freq!r}: use one of {', '.join(FREQS)} (day, week from Monday, month)")
