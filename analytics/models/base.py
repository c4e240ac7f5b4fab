"""The contract every forecasting model shares, and the helpers they all use.

A model is a scikit-learn estimator (:class:`sklearn.base.BaseEstimator`: ``get_params``,
``set_params``, ``sklearn.base.clone``) over dense counts:

- ``__init__`` takes keyword-only parameters and only stores them;
- ``fit(X)`` learns from every period in ``X`` — tidy counts (``area_id, period, category,
  count``) or a :class:`data.cube.CountMatrix` — (the last period is the *origin*) and returns
  ``self``; learned state lives in trailing-underscore attributes;
- ``predict(horizon=1)`` (or ``predict(periods=[...])``) never refits and returns the
  **predictive table** ``area_id, period, category, expected, dist, mu, alpha, q50, q80, q90,
  q95, q99`` for the periods after the origin: NB2 (``var = mu + alpha mu^2``) or Poisson
  (``alpha == 0``). ``predict(horizon, as_arrays=True)`` returns the same forecast as the two
  arrays ``(mu, alpha)`` of shape ``(n_series, horizon)``, rows following ``keys_`` (the
  backtest and the trend chart score thousands of series without building tables).

Subclasses implement two array-level hooks on a series × period matrix ``Y`` (one row per
(area_id, category)): ``_fit_matrix(Y)`` and ``_predict_matrix(horizon) -> (mu, alpha)``, each
of shape ``(n_series, horizon)`` or ``(n_series,)`` when constant over the horizon. Detectors
additionally implement ``_statistic(y, mu, alpha)`` used by :meth:`CountModel.alarm_statistic`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from analytics.distributions import dist_name, p_exceed, quantile
from data.calendar import SPRING_FESTIVAL, next_periods
from data.cube import CountMatrix, to_matrix

__all__ = [
    "PREDICTIVE_COLUMNS",
    "QUANTILES",
    "CountModel",
    "calendar_features",
    "fill_missing",
    "mom_alpha",
    "predictive_table",
]

#: Quantile levels of the predictive table (column ``q80`` is the 0.80 quantile …).
QUANTILES: tuple[float, ...] = (0.50, 0.80, 0.90, 0.95, 0.99)

PREDICTIVE_COLUMNS: tuple[str, ...] = (
    "area_id", "period", "category", "expected", "dist", "mu", "alpha",
    "q50", "q80", "q90", "q95", "q99",
)


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
        sf = SPRING_FESTIVAL.to_numpy().astype("datetime64[s]").astype(np.int64)[None, :] / 86400.0
        overlap = np.minimum(e, sf + 7) - np.maximum(s, sf - 1)  # holiday: eve .. day 6
        cols.append("spring")
        vals.append(np.clip(overlap, 0, None).sum(1) / days)
    out = np.column_stack(vals) if vals else np.zeros((len(p), 0))
    out.setflags(write=False)
    return tuple(cols), out


def fill_missing(Y: np.ndarray) -> np.ndarray:
    """``Y`` with each row's NaN (missing periods) replaced by the mean of its other periods.

    A row with no period at all becomes zeros. Returns ``Y`` itself when nothing is missing.
    """
    Y = np.asarray(Y, float)
    miss = np.isnan(Y)
    if not miss.any():
        return Y
    n = (~miss).sum(1)
    mean = np.divide(np.where(miss, 0.0, Y).sum(1), n, out=np.zeros(len(Y)), where=n > 0)
    return np.where(miss, mean[:, None], Y)


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


class CountModel(BaseEstimator):
    """Base class: dense counts in, predictive table out (see module docstring)."""

    #: True for outbreak detectors that define their own alarm statistic.
    is_detector: bool = False
    #: True for models whose ``_fit_matrix`` reads NaN as a missing period (an area before its
    #: ``valid_from``); the others get each row's NaN filled with the mean of its other periods.
    handles_missing: bool = False

    # -- public API --------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame | CountMatrix, y=None) -> CountModel:
        """Learn from every period of ``X`` (tidy counts or a :class:`~data.cube.CountMatrix`).

        ``y`` is ignored (scikit-learn signature): the counts are both features and target.
        """
        m = X if isinstance(X, CountMatrix) else to_matrix(X)
        self.keys_ = m.keys
        self.periods_ = m.periods
        self.freq_ = m.freq
        self.origin_ = m.periods[-1]
        self._fit_matrix(m.Y if self.handles_missing else fill_missing(m.Y))
        return self

    def predict(self, horizon: int = 1, *, periods: Sequence | None = None,
                as_arrays: bool = False) -> pd.DataFrame | tuple[np.ndarray, np.ndarray]:
        """Predictive table for the next ``horizon`` periods after the origin (or ``periods``).

        With ``as_arrays=True``: ``(mu, alpha)``, each ``(len(keys_), horizon)``, instead of the
        table (``periods`` is then not allowed).
        """
        self._check_fitted()
        if periods is not None:
            if as_arrays:
                raise ValueError("periods: not allowed with as_arrays=True (use horizon)")
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
        mu, alpha = self._arrays(int(horizon))
        if as_arrays:
            return mu, alpha
        table = predictive_table(self.keys_, next_periods(self.origin_, self.freq_, int(horizon)),
                                 mu, alpha)
        if periods is not None:
            table = table[table["period"].isin(wanted)].reset_index(drop=True)
        return table

    def alarm_statistic(self, observed: pd.DataFrame) -> pd.DataFrame:
        """Alarm statistic of observed counts of the first period after the origin.

        ``observed`` is tidy counts of that period. Returns ``area_id, category, statistic``
        (higher = more alarming). Forecasting models use ``-log10(p_exceed)``; detectors
        their own statistic (Farrington score, EARS C2, CUSUM).
        """
        self._check_fitted()
        mu, alpha = self._arrays(1)
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

    # -- helpers -----------------------------------------------------------------------------
    def _arrays(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """The hook's ``(mu, alpha)`` as clean ``(n_series, horizon)`` arrays (>= 0, no NaN)."""
        n = len(self.keys_)
        mu, alpha = self._predict_matrix(horizon)
        return _columns(mu, n, horizon), _columns(alpha, n, horizon)

    def _check_fitted(self) -> None:
        if not hasattr(self, "origin_"):
            raise ValueError(f"{type(self).__name__} is not fitted; call fit(counts) first")


def _columns(x, n: int, horizon: int) -> np.ndarray:
    """``(n,)`` (constant over the horizon) or ``(n, horizon)`` → ``(n, horizon)``, NaN → 0, >= 0."""
    a = np.asarray(x, dtype=float)
    if a.ndim == 1:
        a = a[:, None]
    a = np.broadcast_to(a, (n, horizon))
    return np.maximum(np.nan_to_num(a, nan=0.0), 0.0)


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
