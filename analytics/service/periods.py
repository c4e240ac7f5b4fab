"""Which periods the board may judge: the data's as-of time, complete periods, the running
period, and gaps (periods with implausibly few cases: missing data, not a quiet week).

A period is complete when its end plus the workspace's reporting lag is at or before the data's
as-of time (:func:`data.calendar.is_complete`, the one rule). A complete period whose city total is
zero or implausibly low under a forecast from the periods before it is a gap (:func:`gaps`): grey
on maps, named by ``pingan warn`` and the data page, imputed before any model is fitted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.distributions import cdf as _cdf
from analytics.service.cache import cached as _cached
from data.calendar import hour_profile, is_complete, period_end, period_range

__all__ = [
    "FESTIVAL_FLOOR",
    "GAP_P",
    "PARTIAL",
    "all_periods",
    "as_of",
    "default_level",
    "gap_periods",
    "gaps",
    "latest_period",
    "low_totals",
    "partial_period",
    "periods",
    "raw_counts",
    "weekly_profile",
]

#: A complete period whose city total has ``P(X <= total) <`` this under the city-level
#: forecast (or is zero) is a gap: missing data, not a quiet week.
GAP_P = 0.001
#: Share of the usual city total expected over 春节 by the gap rule (:func:`gaps`).
FESTIVAL_FLOOR = 0.4
#: ``period`` value meaning "the running, incomplete period" (``warning_table``, ``kpis``).
PARTIAL = "partial"


def default_level(ws) -> str:
    """The finest admin layer present (网格 > 社区 > 街道 > 区), else the first layer."""
    from data.workspace import ADMIN_LEVELS

    layers = ws.layers()
    if not layers:
        raise ValueError(f"{ws.path}: no area layers; build them with `pingan areas` or `pingan demo`")
    admin = [lv for lv in ADMIN_LEVELS if lv in layers]
    return admin[-1] if admin else layers[0]


def as_of(ws) -> pd.Timestamp:
    """The workspace's "data as of" time (:meth:`data.workspace.Workspace.as_of`)."""
    return _cached(ws, "as_of", (), ws.as_of)


def periods(ws, freq: str = "W") -> list[pd.Timestamp]:
    """Complete periods with counts, oldest first.

    A period is complete when its end plus the reporting lag (``[periods] lag_days``, default
    1 day) is at or before the workspace's as-of time (:func:`as_of`; the one rule,
    :func:`data.calendar.is_complete`). The running period and one still inside the lag are
    left out (see :func:`partial_period`). Gaps (:func:`gaps`) are complete periods too.
    """
    return list(_cached(ws, "periods", (freq,), lambda: _periods(ws, freq)))


def latest_period(ws, freq: str = "W") -> pd.Timestamp:
    """The last complete period (the default of the board, ``pingan warn`` and the brief)."""
    ps = periods(ws, freq)
    if not ps:
        raise ValueError(f"{ws.path}: no complete {freq} period with data")
    return ps[-1]


def partial_period(ws, freq: str = "W") -> pd.Timestamp | None:
    """The latest period with data that is not complete yet (the running one), else None."""
    ps = all_periods(ws, freq)
    done = set(periods(ws, freq))
    t = as_of(ws)
    running = [p for p in ps if p not in done and p < t]
    return running[-1] if running else None


def all_periods(ws, freq: str) -> pd.DatetimeIndex:
    """Every period with counts, complete or not, oldest first."""
    counts = raw_counts(ws, default_level(ws), freq)
    return pd.DatetimeIndex(sorted(pd.unique(counts["period"])))


def _periods(ws, freq: str) -> pd.DatetimeIndex:
    ps = all_periods(ws, freq)
    if len(ps) == 0:
        return ps
    return ps[is_complete(ps, freq, as_of(ws), ws.config.reporting_lag)]  # the one completeness rule


def gaps(ws, freq: str = "W") -> pd.DataFrame:
    """Complete periods and whether each is a gap in the data (missing, not a quiet period).

    Each complete period's city total (every category, every area of the default layer) is
    compared with a city-level forecast from the earlier non-gap periods: the median of the
    last 8 as the mean and an NB2 dispersion from their median absolute deviation (at least
    0.01, so ordinary weeks keep a ±10 % allowance). A period is missing when its total is zero
    or ``P(X <= total) <`` :data:`GAP_P`; a missing period does not enter later forecasts.
    Periods overlapping 春节 (a week before to three weeks after 正月初一) are expected at
    :data:`FESTIVAL_FLOOR` of that mean (the demo city falls to 55–60 %; real cities as much)
    and do not enter later baselines, so the holiday is not taken for missing data.

    Returns
    -------
    DataFrame
        ``period, total, expected, p_low, missing`` (expected and p_low NaN while fewer
        than 4 earlier periods exist), oldest first.
    """
    return _cached(ws, "gaps", (freq,), lambda: _gaps(ws, freq)).copy()


def _gaps(ws, freq: str) -> pd.DataFrame:
    ps = pd.DatetimeIndex(periods(ws, freq))
    if len(ps) == 0:
        return pd.DataFrame({"period": ps, "total": [], "expected": [], "p_low": [], "missing": []})
    counts = raw_counts(ws, default_level(ws), freq)
    by = counts.groupby("period")["count"].sum()
    full = period_range(ps[0], ps[-1], freq)
    totals = by.reindex(full, fill_value=0).reindex(ps).to_numpy(float)
    expected, p_low, missing = low_totals(totals, scale=_festival_scale(ps, freq))
    return pd.DataFrame({"period": ps, "total": totals.astype(np.int64), "expected": expected,
                         "p_low": p_low, "missing": missing})


def _festival_scale(ps: pd.DatetimeIndex, freq: str) -> np.ndarray:
    from data.calendar import SPRING_FESTIVAL

    start, end = ps, period_end(ps, freq)
    scale = np.ones(len(ps))
    for sf in SPRING_FESTIVAL:
        hit = (start < sf + pd.Timedelta(days=21)) & (end > sf - pd.Timedelta(days=7))
        scale[np.asarray(hit)] = FESTIVAL_FLOOR
    return scale


def low_totals(totals, *, scale=None, window: int = 8, min_history: int = 4, p_min: float = GAP_P,
               alpha_floor: float = 0.01) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Walk a city-total series and flag implausibly low values (the rule of :func:`gaps`).

    ``scale`` (one factor per period, default 1) multiplies the baseline mean where a holiday
    is known to lower the total; scaled periods do not enter later baselines.

    Returns
    -------
    expected, p_low, missing : ndarray
        The forecast from the earlier unflagged values, ``P(X <= total)`` under NB2 with that
        mean, and the flag (zero, or ``p_low < p_min``).

    Examples
    --------
    >>> _, _, miss = low_totals([100, 104, 97, 101, 99, 0, 12, 102])
    >>> miss.tolist()
    [False, False, False, False, False, True, True, False]
    """
    x = np.asarray(totals, float)
    sc = np.ones(len(x)) if scale is None else np.asarray(scale, float)
    if sc.shape != x.shape:
        raise ValueError(f"scale: {sc.shape[0] if sc.ndim else 'a scalar'} factors for {len(x)} totals")
    expected = np.full(len(x), np.nan)
    p_low = np.full(len(x), np.nan)
    missing = x <= 0
    good: list[float] = []
    for i, xi in enumerate(x):  # sequential: a flagged period leaves the later baselines
        h = np.asarray(good[-window:])
        if len(h) >= min_history:
            m = float(np.median(h))
            spread = 1.4826 * float(np.median(np.abs(h - m)))
            a = max((spread ** 2 - m) / m ** 2, alpha_floor) if m > 0 else alpha_floor
            expected[i] = m * sc[i]
            p_low[i] = float(_cdf(xi, expected[i], a))
            missing[i] = missing[i] or p_low[i] < p_min
        if not missing[i] and sc[i] == 1:
            good.append(float(xi))
    return expected, p_low, missing


def gap_periods(ws, freq: str) -> set:
    """The periods :func:`gaps` marks missing, as a set of period starts."""
    g = gaps(ws, freq)
    return set(pd.DatetimeIndex(g.loc[g["missing"], "period"]))


def weekly_profile(ws) -> np.ndarray:
    """The city's weekday × hour profile of incidents up to the as-of time (for pro-rating a
    partial period)."""
    def compute():
        t = pd.to_datetime(ws.incidents_frame(["occurred_at"])["occurred_at"])
        return hour_profile(t[t <= as_of(ws)])

    return _cached(ws, "hour_profile", (), compute)


def raw_counts(ws, level: str, freq: str) -> pd.DataFrame:
    """The layer's dense counts (``data.pipeline.counts``), cached per workspace version."""
    from data.pipeline import counts as pipeline_counts

    return _cached(ws, "raw_counts", (level, freq), lambda: pipeline_counts(ws, level, freq=freq))
