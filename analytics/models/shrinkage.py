"""Empirical-Bayes (gamma-Poisson) shrinkage of sparse areas toward their parent.

A 网格 with one case a year must not turn red on one case. Each area's recent rate is shrunk
toward a prior built from its parent (the 社区 above a 网格, or all areas when no parent is
given). Time is measured in *exposure*: periods weighted by the city-wide shape
``s_t = season_t * trend_t`` of the category (:func:`seasonal_trend`), scaled to 1 at the
origin, so a rate is "cases per period at the origin's level"::

    window      the last ``window`` periods (the likelihood); earlier periods give the prior
    exposure    e_a = sum of s_t over the window's periods where the area is valid (not NaN)
    prior rr    rr_a = (N_a + c) / (g * E_a + c)          relative risk before the window:
                N_a cases and E_a exposure of the area before the window, g = the parent's
                cases per unit exposure per area before it, c = ``prior_count`` pseudo-cases
                at the parent's average (rr = 1 without data)
    prior mean  m_a = R_parent * rr_a                     R_parent = the *other* children's
                                                          cases per unit exposure per area in
                                                          the window (leave-one-out)
    rate        lambda_a ~ Gamma(shape=kappa, rate=kappa / m_a)
    data        y_a (cases in the window) ~ Poisson(e_a lambda_a)
    posterior   Gamma(kappa + y_a, kappa / m_a + e_a), its means then scaled within each
                parent so that sum_a e_a lambda_a = the parent's cases in the window

An area's own window data never enters its prior: the shares come from before the window and
the parent's level from its siblings. ``kappa`` (the between-area variance ``1/kappa`` of
``lambda_a / m_a``) is estimated by the method of moments (Clayton & Kaldor 1987) over every
series: ``1/kappa = (sum w (z - zbar)^2 - (n - 1)) / (sum w - sum w^2 / sum w)`` with
``z = (y/e) / m``, ``w = e m``. The weight of an area's own data is ``e / (e + kappa/m)``
(``weight_``).

The trend is a log-linear slope of the category's city total (fitted jointly with the annual
and 春节 terms over the last ``trend_periods`` periods), shrunk toward 0 by its own precision
(``b * b^2 / (b^2 + se^2)``, quasi-Poisson standard error) and damped beyond the origin:
``h`` periods ahead the trend factor is ``exp(b * (phi + phi^2 + … + phi^h))`` with
``phi = damping``.

The predictive count of the next period is gamma-Poisson, i.e. NB2 with mean
``s_next * lambda_a`` (the benchmarked posterior mean) and ``alpha = 1/(kappa + y_a)``, plus
the week-to-week overdispersion left in the recent residuals. On the demo city the median
weight of a 网格's own 52 weeks is 0.39 (all crime; 0.32 for 故意伤害), of a 社区's 0.94;
on St. Louis 150 m cells 0.33 (``benchmarks/bench_eb.py``). Periods that are NaN in the count
matrix (an area before it existed, a period with no data) are missing: they add neither cases
nor exposure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from analytics.models.base import CountModel, calendar_features, mom_alpha
from analytics.models.glm import batched_poisson_irls
from data.calendar import next_periods, season_length

__all__ = ["EmpiricalBayes", "seasonal_profile", "seasonal_trend"]

_PER_YEAR = {"W": 52.18, "M": 12.0, "D": 365.25}


def seasonal_trend(totals: np.ndarray, periods, freq: str, *, seasonal: bool = True,
                   trend: bool = True, trend_periods: int = 104,
                   ) -> tuple[Callable[[pd.DatetimeIndex], np.ndarray], np.ndarray, np.ndarray]:
    """Annual profile and log-linear trend of one or more city totals (one Poisson GLM each).

    Parameters
    ----------
    totals : (n_series, n_periods) or (n_periods,) array
        City totals per period (NaN = missing period, left out of the fit).
    periods : DatetimeIndex
        Their period starts.
    freq : {"W", "M", "D"}
    seasonal, trend : bool
        Fit the Fourier + 春节 terms (needs a year of data) / the slope (needs 8 periods).
    trend_periods : int
        Only the last ``trend_periods`` periods are fitted (the recent trend).

    Returns
    -------
    profile : callable
        ``profile(periods) -> (n_series, len(periods))`` seasonal factors, mean 1 over the fit.
    slope : ndarray (n_series,)
        Log change per **year** (0 without a trend).
    se : ndarray (n_series,)
        Its quasi-Poisson standard error (inf when not estimated).
    """
    Yt = np.atleast_2d(np.asarray(totals, float))
    n, T = Yt.shape
    lo = max(0, T - int(trend_periods))
    Yt = Yt[:, lo:]
    ps = pd.DatetimeIndex(periods)[lo:]
    Tf = Yt.shape[1]
    ok = np.isfinite(Yt)
    has_season = seasonal and Tf >= season_length(freq)
    has_trend = trend and Tf >= 8
    cal = calendar_features(ps, freq).to_numpy() if has_season else np.zeros((Tf, 0))
    keep = cal.std(0) > 1e-9 if has_season else np.zeros(0, bool)
    cols = [np.ones(Tf)]
    if has_trend:
        cols.append((np.arange(Tf) - (Tf - 1)) / _PER_YEAR[freq])
    X = np.column_stack([*cols, cal[:, keep]])
    beta, mu, cov = batched_poisson_irls(X, np.where(ok, Yt, 0.0), weights=ok.astype(float))
    slope = np.zeros(n)
    se = np.full(n, np.inf)
    if has_trend:
        slope = beta[:, 1].copy()
        df = np.maximum(ok.sum(1) - X.shape[1], 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            pearson = np.where(ok, (np.where(ok, Yt, 0.0) - mu) ** 2 / mu, 0.0).sum(1) / df
        active = (np.where(ok, Yt, 0.0)).sum(1) > 0
        se = np.where(active, np.sqrt(np.maximum(pearson, 1.0) * cov[:, 1, 1]), np.inf)
        slope = np.where(active, slope, 0.0)
    bs = beta[:, len(cols):]
    scale = np.exp(cal[:, keep] @ bs.T).mean(0) if has_season else np.ones(n)

    def profile(p) -> np.ndarray:
        if not has_season:
            return np.ones((n, len(p)))
        Xp = calendar_features(pd.DatetimeIndex(p), freq).to_numpy()[:, keep]
        return np.exp(Xp @ bs.T).T / scale[:, None]

    return profile, slope, se


def seasonal_profile(Y_total: np.ndarray, periods, freq: str):
    """Multiplicative annual profile of one city total, as a function of periods.

    :func:`seasonal_trend` of the single series (its trend fitted jointly, not returned);
    flat with less than a year of data or no cases.
    """
    profile, _, _ = seasonal_trend(np.asarray(Y_total, float)[None, :], periods, freq,
                                   trend_periods=len(periods))
    return lambda p: profile(p)[0]


class EmpiricalBayes(CountModel):
    """Gamma-Poisson shrinkage of each area's recent rate toward its parent.

    Parameters
    ----------
    parent : mapping area_id -> parent_id, pandas Series, or None
        Parent of every area (areas without one, or ``None``, share one city-wide parent).
    window : int
        Recent periods that estimate the current rate (the likelihood); the periods before
        them give the prior shares.
    seasonal : bool
        Scale by the city-wide annual/春节 profile of the category.
    trend : bool
        Carry the city-wide trend of the category (damped beyond the origin).
    trend_periods : int
        Periods of the city total the trend (and season) is fitted on.
    damping : float
        Per-period damping ``phi`` of the trend beyond the origin (1 = undamped).
    prior_count : float
        Pseudo-cases at the parent's average rate that smooth an area's relative risk before
        the window (a 网格 with no case in a year is not given a rate of 0).

    Attributes
    ----------
    kappa_ : float
        Prior shape (large = areas look alike, strong shrinkage).
    prior_ : ndarray
        Prior mean rate per series (cases per period at the origin's level).
    weight_ : ndarray
        Weight of the area's own window data in its rate, ``e / (e + kappa/m)`` (1 = none
        borrowed from the parent).
    trend_ : ndarray
        Log change per year used for each series' category (after shrinkage; 0 = none).
    exposure_ : ndarray
        Exposure ``e`` of each series in the window (periods at the origin's level).
    """

    handles_missing = True

    def __init__(self, *, parent: Mapping | pd.Series | None = None, window: int = 52,
                 seasonal: bool = True, trend: bool = True, trend_periods: int = 104,
                 damping: float = 0.98, prior_count: float = 1.0) -> None:
        self.parent = parent
        self.window = window
        self.seasonal = seasonal
        self.trend = trend
        self.trend_periods = trend_periods
        self.damping = damping
        self.prior_count = prior_count

    def _fit_matrix(self, Y):
        keys = self.keys_
        Y = np.asarray(Y, float)
        T = Y.shape[1]
        L = min(self.window, T)
        valid = np.isfinite(Y)
        Y0 = np.where(valid, Y, 0.0)
        cc, cu = pd.factorize(keys["category"].to_numpy())
        self.cat_codes_ = cc
        # the city total of each category; a period no series has data for is missing
        totals = np.stack([Y0[cc == c].sum(0) for c in range(len(cu))]) if len(cu) else Y0[:0]
        totals[:, ~valid.any(0)] = np.nan
        profile, slope, se = seasonal_trend(totals, self.periods_, self.freq_,
                                            seasonal=self.seasonal, trend=self.trend,
                                            trend_periods=self.trend_periods)
        slope = slope * slope**2 / (slope**2 + se**2) if self.trend else np.zeros_like(slope)
        self.profile_ = profile
        self.slope_ = slope / _PER_YEAR[self.freq_]  # per period
        self.trend_ = slope[cc]
        s_cat = profile(self.periods_) * np.exp(self.slope_[:, None] * (np.arange(T) - (T - 1)))
        s = s_cat[cc]  # (series, T): the category's shape, 1 at the origin's level
        self.season_ = s
        par = _parents(keys["area_id"], self.parent)
        pc, _ = pd.factorize(par)
        group = np.unique(pc.astype(np.int64) * max(len(cu), 1) + cc, return_inverse=True)[1]
        sv = s * valid
        y = Y0[:, -L:].sum(1)
        e = sv[:, -L:].sum(1)
        N = Y0[:, : T - L].sum(1)  # before the window: the prior's data only
        E = sv[:, : T - L].sum(1)
        g = _ratio(np.bincount(group, weights=N), np.bincount(group, weights=E))[group]
        c = self.prior_count
        rr = (N + c) / (g * E + c)
        # the siblings' cases per area per unit exposure in the window, leaving the area out
        # (its own window data is the likelihood only); an only child uses the category's other
        # areas city-wide, the only series its own rate (+0.5: never exactly 0)
        oy = np.bincount(group, weights=y)[group] - y
        oe = np.bincount(group, weights=e)[group] - e
        alone = oe <= 1e-12
        oy = np.where(alone, np.bincount(cc, weights=y)[cc] - y, oy)
        oe = np.where(alone, np.bincount(cc, weights=e)[cc] - e, oe)
        none = oe <= 1e-12
        R = _ratio(np.where(none, y, oy) + 0.5, np.where(none, e, oe))
        m = np.maximum(R * rr, 1e-9)
        self.prior_ = m
        self.exposure_ = e
        self.kappa_ = _kappa(y, e, m)
        shape = self.kappa_ + y
        rate = self.kappa_ / m + e
        self.weight_ = e / rate
        # Benchmarked to the parent: the posterior means of a parent's areas add up to the
        # parent's cases in the window (shrinkage toward uneven priors is not mean-preserving:
        # without this a sparse category's total is forecast ~7 % low on the demo).
        post = shape / rate
        gy = np.bincount(group, weights=y)
        ge = np.bincount(group, weights=e * post)
        self.rate_ = post * np.where(ge > 0, _ratio(gy, ge), 1.0)[group]
        self.rate_ = np.where(gy[group] > 0, self.rate_, post)
        self.shape_ = shape
        # Week-to-week overdispersion the constant-rate posterior does not describe.
        fitted = self.rate_[:, None] * s[:, -L:]
        self.alpha_time_ = mom_alpha(np.where(valid, Y, np.nan)[:, -L:], fitted)

    def _predict_matrix(self, horizon):
        # The fitted profile and trend are evaluated at the new periods; nothing is refitted.
        ahead = next_periods(self.origin_, self.freq_, horizon)
        steps = np.cumsum(self.damping ** np.arange(1, horizon + 1))
        s_next = self.profile_(ahead) * np.exp(self.slope_[:, None] * steps[None, :])
        mu = self.rate_[:, None] * s_next[self.cat_codes_]
        return mu, 1.0 / self.shape_ + self.alpha_time_


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 0)


def _kappa(y: np.ndarray, e: np.ndarray, m: np.ndarray) -> float:
    """Clayton–Kaldor moment estimate of the gamma shape, over series with exposure."""
    ok = e > 0
    if ok.sum() < 2:
        return 1e3
    w = e[ok] * m[ok]
    z = (y[ok] / e[ok]) / m[ok]
    sw = w.sum()
    zbar = (w * z).sum() / sw
    denom = sw - (w**2).sum() / sw
    inv = ((w * (z - zbar) ** 2).sum() - (ok.sum() - 1)) / denom if denom > 0 else 0.0
    return float(1.0 / np.clip(inv, 1e-3, 1e3))


def _parents(area_ids: pd.Series, parent) -> np.ndarray:
    if parent is None:
        return np.full(len(area_ids), "__all__", dtype=object)
    mapping = parent.to_dict() if isinstance(parent, pd.Series) else parent
    return np.array([str(mapping.get(a) or "__all__") for a in area_ids.to_numpy()], dtype=object)
