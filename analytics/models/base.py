"""The contract every forecasting model shares, and the helpers they all use.

A model is a scikit-learn-style estimator over tidy dense counts (``area_id, period,
category, count``):

- ``__init__`` takes keyword-only parameters and only stores them;
- ``fit(counts)`` learns from every period in ``counts`` (the last one is the *origin*) and
  returns ``self``; learned state lives in trailing-underscore attributes;
- ``predict(horizon=1)`` (or ``predict(periods=[...])``) never refits and returns the
  **predictive table** ``area_id, period, category, expected, dist, mu, alpha, q50, q80, q90,
  q95, q99`` for the periods after the origin: NB2 (``var = mu + alpha mu^2``) or Poisson
  (``alpha == 0``).

Subclasses implement two array-level hooks on a series × period matrix ``Y`` (one row per
(area_id, category)): ``_fit_matrix(Y)`` and ``_predict_matrix(horizon) -> (mu, alpha)``,
each of shape ``(n_series, horizon)``. Detectors additionally implement
``_statistic(y, mu, alpha)`` used by :meth:`CountModel.alarm_statistic`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd

from analytics.distributions import dist_name, p_exceed, quantile

__all__ = [
    "PREDICTIVE_COLUMNS",
    "QUANTILES",
    "CountModel",
    "calendar_features",
    "infer_freq",
    "mom_alpha",
    "next_periods",
    "predictive_table",
    "season_length",
    "spring_festival",
    "to_matrix",
]

#: Quantile levels of the predictive table (column ``q80`` is the 0.80 quantile …).
QUANTILES: tuple[float, ...] = (0.50, 0.80, 0.90, 0.95, 0.99)

PREDICTIVE_COLUMNS: tuple[str, ...] = (
    "area_id", "period", "category", "expected", "dist", "mu", "alpha",
    "q50", "q80", "q90", "q95", "q99",
)

# 春节 (Lunar New Year's Day). The public holiday runs from the eve for 7–8 days; crime
# and reporting patterns change over it (migrant workers go home, shops close).
_SPRING_FESTIVAL = pd.to_datetime([
    "2008-02-07", "2009-01-26", "2010-02-14", "2011-02-03", "2012-01-23", "2013-02-10",
    "2014-01-31", "2015-02-19", "2016-02-08", "2017-01-28", "2018-02-16", "2019-02-05",
    "2020-01-25", "2021-02-12", "2022-02-01", "2023-01-22", "2024-02-10", "2025-01-29",
    "2026-02-17", "2027-02-06", "2028-01-26", "2029-02-13", "2030-02-03", "2031-01-23",
    "2032-02-11", "2033-01-31", "2034-02-19", "2035-02-08",
])


def spring_festival(year: int) -> pd.Timestamp:
    """Date of 春节 (Lunar New Year's Day) in ``year`` (2008–2035)."""
    hit = _SPRING_FESTIVAL[_SPRING_FESTIVAL.year == year]
    if len(hit) == 0:
        raise ValueError(f"year {year}: Spring Festival table covers 2008–2035")
    return hit[0]


def infer_freq(periods: Sequence[pd.Timestamp]) -> str:
    """``"W"``, ``"M"`` or ``"D"`` from the spacing of sorted period starts."""
    p = pd.DatetimeIndex(periods)
    if len(p) < 2:
        return "W"
    step = float(np.median(np.diff(p.to_numpy()) / np.timedelta64(1, "D")))
    if step < 2:
        return "D"
    if step < 10:
        return "W"
    return "M"


def next_periods(last: pd.Timestamp, freq: str, horizon: int) -> pd.DatetimeIndex:
    """The ``horizon`` period starts after ``last``."""
    last = pd.Timestamp(last)
    if freq == "W":
        return pd.DatetimeIndex([last + pd.Timedelta(weeks=i) for i in range(1, horizon + 1)])
    if freq == "D":
        return pd.DatetimeIndex([last + pd.Timedelta(days=i) for i in range(1, horizon + 1)])
    if freq == "M":
        return pd.DatetimeIndex([last + pd.DateOffset(months=i) for i in range(1, horizon + 1)])
    raise ValueError(f"freq {freq!r}: expected 'W', 'M' or 'D'")


def season_length(freq: str) -> int:
    """Periods per year used for same-period-last-year lags (52 weeks keeps the weekday)."""
    return {"W": 52, "M": 12, "D": 364}[freq]


def calendar_features(periods: Sequence[pd.Timestamp], freq: str, fourier: int = 2,
                      holiday: bool = True) -> pd.DataFrame:
    """Annual Fourier terms and the 春节 share of each period.

    Columns ``sin1, cos1, …, sin{fourier}, cos{fourier}`` of the day of year of the period's
    middle, and ``spring`` = fraction of the period's days inside the Spring Festival holiday
    (eve to day 6). Results are memoised per period sequence (backtests and trend charts ask
    for the same periods hundreds of times).
    """
    p = pd.DatetimeIndex(periods)
    key = tuple(p.to_numpy().astype("datetime64[s]").astype(np.int64).tolist())
    cols, values = _calendar(key, freq, fourier, holiday)
    return pd.DataFrame(values, index=p, columns=list(cols))


@lru_cache(maxsize=512)
def _calendar(key: tuple, freq: str, fourier: int, holiday: bool):
    start = np.asarray(key, dtype=np.int64).astype("datetime64[s]")
    p = pd.DatetimeIndex(start)
    length = {"W": 7, "D": 1}.get(freq)
    days = np.full(len(p), float(length)) if length else np.asarray(p.days_in_month, dtype=float)
    mid = p + pd.to_timedelta(days / 2, unit="D")
    angle = 2 * np.pi * (mid.day_of_year.to_numpy() - 1) / 365.25
    cols, vals = [], []
    for k in range(1, fourier + 1):
        cols += [f"sin{k}", f"cos{k}"]
        vals += [np.sin(k * angle), np.cos(k * angle)]
    if holiday:
        s = start.astype("datetime64[s]").astype(np.int64)[:, None] / 86400.0
        e = s + days[:, None]
        sf = _SPRING_FESTIVAL.to_numpy().astype("datetime64[s]").astype(np.int64)[None, :] / 86400.0
        overlap = np.minimum(e, sf + 7) - np.maximum(s, sf - 1)  # holiday: eve .. day 6
        cols.append("spring")
        vals.append(np.clip(overlap, 0, None).sum(1) / days)
    out = np.column_stack(vals) if vals else np.zeros((len(p), 0))
    out.setflags(write=False)
    return tuple(cols), out


def mom_alpha(y: np.ndarray, f: np.ndarray, prior_weight: float = 50.0) -> np.ndarray:
    """NB2 dispersion per series by the method of moments, blended toward the pooled value.

    ``alpha = sum((y - f)^2 - f) / sum(f^2)`` over each row's periods (``f`` the forecasts or
    fitted means), and over all rows for the pooled value; a row's own estimate gets weight
    ``S / (S + prior_weight)`` with ``S = sum(f^2)``, so thin areas borrow the pooled
    dispersion. NaN entries are ignored. Returns a non-negative array of ``len(y)``.
    """
    ok = np.isfinite(y) & np.isfinite(f)
    y0 = np.where(ok, y, 0.0)
    f0 = np.where(ok, f, 0.0)
    num = ((y0 - f0) ** 2 - f0).sum(axis=1)
    den = (f0**2).sum(axis=1)
    pooled = max(num.sum() / den.sum(), 0.0) if den.sum() > 0 else 0.0
    own = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    w = den / (den + prior_weight)
    return np.maximum(w * own + (1 - w) * pooled, 0.0)


class CountModel:
    """Base class: tidy counts in, predictive table out (see module docstring)."""

    #: True for outbreak detectors that define their own alarm statistic.
    is_detector: bool = False

    # -- public API --------------------------------------------------------------------------
    def fit(self, counts: pd.DataFrame) -> CountModel:
        """Learn from ``counts`` (every period up to and including the origin)."""
        keys, periods, Y = to_matrix(counts)
        return self.fit_arrays(keys, periods, Y)

    def fit_arrays(self, keys: pd.DataFrame, periods: pd.DatetimeIndex, Y: np.ndarray,
                   freq: str | None = None) -> CountModel:
        """Same as :meth:`fit` from the dense matrix form (the backtest's fast path).

        ``keys`` has ``area_id, category`` (one row per series), ``periods`` the sorted period
        starts and ``Y`` the counts, shape ``(len(keys), len(periods))``.
        """
        periods = pd.DatetimeIndex(periods)
        if Y.shape != (len(keys), len(periods)):
            raise ValueError(f"Y: shape {Y.shape} does not match {len(keys)} series x "
                             f"{len(periods)} periods")
        self.keys_ = keys.reset_index(drop=True)
        self.periods_ = periods
        self.freq_ = freq or infer_freq(periods)
        self.origin_ = periods[-1]
        self._fit_matrix(np.asarray(Y, dtype=float))
        return self

    def predict(self, horizon: int = 1, *, periods: Sequence | None = None) -> pd.DataFrame:
        """Predictive table for the next ``horizon`` periods after the origin (or ``periods``)."""
        self._check_fitted()
        if periods is not None:
            wanted = pd.DatetimeIndex(pd.to_datetime(list(periods)))
            ahead = next_periods(self.origin_, self.freq_, 520 if self.freq_ != "D" else 3650)
            pos = ahead.get_indexer(wanted)
            if (pos < 0).any():
                bad = wanted[pos < 0][0]
                raise ValueError(f"periods: {bad.date()} is not a period after the origin "
                                 f"{self.origin_.date()} (freq {self.freq_})")
            horizon = int(pos.max()) + 1
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        mu, alpha = self._predict_matrix(int(horizon))
        ahead = next_periods(self.origin_, self.freq_, int(horizon))
        table = predictive_table(self.keys_, ahead, mu, alpha)
        if periods is not None:
            table = table[table["period"].isin(wanted)].reset_index(drop=True)
        return table

    def predict_params(self, horizon: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """``(mu, alpha)`` arrays of shape ``(len(keys_), horizon)`` without the quantiles.

        The fast path of the backtest; rows follow ``keys_``.
        """
        self._check_fitted()
        mu, alpha = self._predict_matrix(int(horizon))
        return (np.maximum(np.nan_to_num(np.asarray(mu, float)), 0.0),
                np.broadcast_to(np.maximum(np.nan_to_num(np.asarray(alpha, float)), 0.0),
                                np.shape(mu)))

    def alarm_statistic(self, observed: pd.DataFrame) -> pd.DataFrame:
        """Alarm statistic of observed counts of the first period after the origin.

        ``observed`` is tidy counts of that period. Returns ``area_id, category, statistic``
        (higher = more alarming). Forecasting models use ``-log10(p_exceed)``; detectors
        their own statistic (Farrington score, EARS C2, CUSUM).
        """
        self._check_fitted()
        mu, alpha = self._predict_matrix(1)
        obs = self.keys_.merge(observed[["area_id", "category", "count"]],
                               on=["area_id", "category"], how="left")
        y = obs["count"].fillna(0).to_numpy(float)
        stat = self._statistic(y, mu[:, 0], alpha[:, 0])
        return self.keys_.assign(statistic=stat)

    # -- hooks -------------------------------------------------------------------------------
    def _fit_matrix(self, Y: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict_matrix(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def _statistic(self, y: np.ndarray, mu: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        return -np.log10(np.maximum(p_exceed(y, mu, alpha), 1e-300))

    def _check_fitted(self) -> None:
        if not hasattr(self, "origin_"):
            raise ValueError(f"{type(self).__name__} is not fitted; call fit(counts) first")

    def get_params(self) -> dict:
        """Constructor parameters (as scikit-learn's ``get_params``)."""
        import inspect

        sig = inspect.signature(type(self).__init__)
        return {k: getattr(self, k) for k in sig.parameters if k != "self"}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()
                         if not isinstance(v, (dict, pd.Series, pd.DataFrame)))
        return f"{type(self).__name__}({args})"


def predictive_table(keys: pd.DataFrame, periods: pd.DatetimeIndex, mu: np.ndarray,
                     alpha: np.ndarray) -> pd.DataFrame:
    """Assemble the predictive table from ``(n_series, horizon)`` arrays of mu and alpha."""
    n, h = mu.shape
    mu = np.maximum(np.nan_to_num(np.asarray(mu, float), nan=0.0), 0.0)
    alpha = np.broadcast_to(np.nan_to_num(np.asarray(alpha, float), nan=0.0), mu.shape)
    mu_f, al_f = mu.T.ravel(), np.maximum(alpha.T.ravel(), 0.0)  # period-major order
    out = pd.DataFrame({
        "area_id": np.tile(keys["area_id"].to_numpy(), h),
        "period": np.repeat(periods.to_numpy(), n),
        "category": np.tile(keys["category"].to_numpy(), h),
        "expected": mu_f,
        "dist": dist_name(al_f),
        "mu": mu_f,
        "alpha": al_f,
    })
    for q in QUANTILES:
        out[f"q{round(q * 100)}"] = quantile(q, mu_f, al_f)
    return out


def to_matrix(counts: pd.DataFrame) -> tuple[pd.DataFrame, pd.DatetimeIndex, np.ndarray]:
    """Series keys (area_id, category) sorted, sorted periods, and the dense count matrix."""
    missing = {"area_id", "period", "category", "count"} - set(counts.columns)
    if missing:
        raise ValueError(f"counts: missing column(s) {', '.join(sorted(missing))}")
    if len(counts) == 0:
        raise ValueError("counts: empty table")
    periods = pd.DatetimeIndex(np.sort(pd.unique(pd.to_datetime(counts["period"]).to_numpy())))
    p_idx = periods.get_indexer(pd.to_datetime(counts["period"]))
    # Factorize the two key columns separately (much faster than a MultiIndex of strings).
    a_codes, a_uniq = pd.factorize(counts["area_id"].astype(str), sort=True)
    c_codes, c_uniq = pd.factorize(counts["category"].astype(str), sort=True)
    combo = a_codes.astype(np.int64) * len(c_uniq) + c_codes
    present, k_idx = np.unique(combo, return_inverse=True)
    Y = np.zeros((len(present), len(periods)))
    Y[k_idx, p_idx] = counts["count"].to_numpy(float)  # dense and unique by contract
    keys = pd.DataFrame({
        "area_id": pd.Series(np.asarray(a_uniq, dtype=object)[present // len(c_uniq)], dtype=str),
        "category": pd.Series(np.asarray(c_uniq, dtype=object)[present % len(c_uniq)], dtype=str),
    })
    return keys, periods, Y
