"""Outbreak detection on an analyst's own series: Farrington, EARS C1/C2/C3, Poisson CUSUM.

``pingan detect --series FILE.csv --method …`` calls :func:`detect`. The input is one row per
period (a ``period`` column of period starts, weekly or monthly, evenly spaced) and one column
of counts per series; the output is one row per (series, period) with ``observed``,
``expected``, ``upper`` (the alarm threshold) and ``alarm``. Periods the method cannot judge
yet (too little history before them, or withheld by ``limit54``) have ``expected``/``upper``
NaN and no alarm.

The methods are R's ``surveillance`` algorithms, with R's defaults, and agree with R to
floating-point precision on the reference series in ``tests/analytics/reference/``:

- ``farrington``: :func:`analytics.models.farrington.farrington_flexible` (``farringtonFlexible``:
  ``b = 5`` years, ``w = 3``, ``alpha = 0.05``, trend considered, ``limit54 = (5, 4)``,
  ``noPeriods = 1``, ``thresholdMethod = "delta"``).
- ``ears_c1``, ``ears_c2``, ``ears_c3``: :func:`analytics.models.ears.ears_c` (``earsC``:
  7 baseline periods, ``alpha`` 0.001, 0.025 for C3).
- ``cusum``: :func:`analytics.models.ears.poisson_cusum` (the board's Poisson CUSUM; R's
  ``algo.cusum`` is a different statistic, so there is no R reference for it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.models.ears import ears_c, poisson_cusum
from analytics.models.farrington import THRESHOLD_METHODS, farrington_flexible
from data.calendar import infer_freq, season_length

__all__ = ["METHODS", "OUTPUT_COLUMNS", "detect", "parse_limit54"]

#: Methods of :func:`detect` (the ``--method`` choices).
METHODS: tuple[str, ...] = ("farrington", "ears_c1", "ears_c2", "ears_c3", "cusum")
#: Columns of the output table.
OUTPUT_COLUMNS: tuple[str, ...] = ("series", "period", "observed", "expected", "upper", "alarm")


def detect(series: pd.DataFrame, method: str = "farrington", *, b: int = 5, w: int = 3,
           alpha: float | None = None, trend: bool = True, no_periods: int = 1,
           limit54: tuple[int, int] | None = (5, 4), threshold_method: str = "delta",
           past_weeks_not_included: int | None = None,
           population: pd.DataFrame | None = None) -> pd.DataFrame:
    """Run one detector over every count column of ``series``.

    Parameters
    ----------
    series : DataFrame
        A ``period`` column (period starts; weekly or monthly, evenly spaced, no repeats) and
        one column of non-negative integer counts per series.
    method : {"farrington", "ears_c1", "ears_c2", "ears_c3", "cusum"}
    b, w, trend, no_periods, limit54, threshold_method, past_weeks_not_included
        Farrington's settings (R's ``b``, ``w``, ``trend``, ``noPeriods``, ``limit54``,
        ``thresholdMethod``, ``pastWeeksNotIncluded``); ignored by the other methods.
    alpha : float, optional
        Farrington's and EARS's level (default: the method's R default — 0.05 for Farrington,
        0.001 for C1/C2, 0.025 for C3).
    population : DataFrame, optional
        Farrington's population offset (R's ``populationOffset = TRUE``): the same ``period``
        column and one column per series, positive.

    Returns
    -------
    DataFrame
        ``series, period, observed, expected, upper, alarm``, one row per series and period.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> s = pd.DataFrame({"period": pd.date_range("2020-01-06", periods=40, freq="7D"),
    ...                   "A": rng.poisson(3, 40)})
    >>> s.loc[39, "A"] = 20
    >>> out = detect(s, "ears_c1")
    >>> out.tail(1)[["observed", "alarm"]].to_dict("records")
    [{'observed': 20, 'alarm': True}]
    """
    if method not in METHODS:
        raise ValueError(f"--method {method!r}: expected one of {', '.join(METHODS)}")
    periods, names, Y = _matrix(series, "series")
    freq = infer_freq(periods)
    if method == "farrington":
        if threshold_method not in THRESHOLD_METHODS:
            raise ValueError(f"--threshold-method {threshold_method!r}: expected one of "
                             f"{', '.join(THRESHOLD_METHODS)}")
        if freq not in ("W", "M"):
            raise ValueError("--series: farrington needs weekly or monthly periods")
        L = season_length(freq)
        need = L * b + w + 1
        if Y.shape[1] < need:
            raise ValueError(f"--series: farrington with --b {b} --w {w} needs at least {need} "
                             f"periods ({b} years of {L} + {w + 1}); the file has {Y.shape[1]}")
        pop = None
        if population is not None:
            p_periods, p_names, pop = _matrix(population, "population", counts=False)
            if not p_periods.equals(periods) or list(p_names) != list(names):
                raise ValueError("--population: needs the same periods and series columns as "
                                 "--series")
        res = farrington_flexible(Y, L=L, b=b, w=w, trend=trend,
                                  alpha=0.05 if alpha is None else alpha, limit54=limit54,
                                  no_periods=no_periods, threshold_method=threshold_method,
                                  past_weeks_not_included=past_weeks_not_included,
                                  population=pop)
    elif method.startswith("ears_"):
        res = ears_c(Y, method[-2:].upper(), alpha=alpha)
    else:
        res = poisson_cusum(Y)
    A, T = Y.shape
    return pd.DataFrame({
        "series": np.repeat(np.asarray(names, dtype=object), T),
        "period": np.tile(periods.to_numpy(), A),
        "observed": Y.ravel().astype(np.int64),
        "expected": res["expected"].ravel(),
        "upper": res["upper"].ravel(),
        "alarm": res["alarm"].ravel().astype(bool),
    })


def parse_limit54(text: str | None) -> tuple[int, int] | None:
    """``"5,4"`` → ``(5, 4)``; ``"none"`` or ``"off"`` → None (the ``--limit54`` argument)."""
    if text is None or str(text).strip().lower() in ("none", "off"):
        return None
    parts = str(text).split(",")
    try:
        cases, span = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f"--limit54 {text!r}: expected CASES,PERIODS such as 5,4 (or none)") from None
    if cases < 0 or span < 1:
        raise ValueError(f"--limit54 {text!r}: need CASES >= 0 and PERIODS >= 1")
    return cases, span


def _matrix(frame: pd.DataFrame, what: str,
            counts: bool = True) -> tuple[pd.DatetimeIndex, list[str], np.ndarray]:
    """``(periods, column names, values (series, periods))`` from a wide frame, checked."""
    if "period" not in frame.columns:
        raise ValueError(f"--{what}: no 'period' column (columns: {', '.join(map(str, frame.columns))})")
    names = [c for c in frame.columns if c != "period"]
    if not names:
        raise ValueError(f"--{what}: no count column besides 'period'")
    try:
        periods = pd.DatetimeIndex(pd.to_datetime(frame["period"]))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"--{what}: column 'period' has values that are not dates ({exc})") from None
    order = np.argsort(periods.to_numpy(), kind="stable")
    periods = periods[order]
    if periods.has_duplicates:
        raise ValueError(f"--{what}: column 'period' repeats {periods[periods.duplicated()][0].date()}")
    if len(periods) > 2:
        freq = infer_freq(periods)
        want = pd.date_range(periods[0], periods=len(periods),
                             freq={"W": "7D", "M": "MS", "D": "D"}[freq])
        if not want.equals(periods):
            raise ValueError(f"--{what}: periods must be evenly spaced ({freq}); "
                             f"first gap or shift at {periods[~periods.isin(want)][0].date()}")
    cols = []
    for c in names:
        v = pd.to_numeric(frame[c], errors="coerce").to_numpy(float)[order]
        bad = ~np.isfinite(v) | ((v < 0) | (v != np.round(v)) if counts else v <= 0)
        if bad.any():
            row = int(order[np.argmax(bad)])
            raise ValueError(f"--{what}: column {c!r} row {row + 2} is {frame[c].iloc[row]}, "
                             f"not {'a count >= 0' if counts else 'a number > 0'}")
        cols.append(v)
    return periods, [str(c) for c in names], np.vstack(cols)
