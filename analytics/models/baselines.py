"""Naive baselines: last period, mean of the last k, same period last year, long-run mean, EWMA.

Every serious model must beat these; the Shanghai board's rule "this week against the mean
of the last 15 weeks" is :class:`MeanLastK` with ``k=15``.

Each baseline carries an *honest* dispersion: its own one-step-ahead forecasts over the last
``dispersion_periods`` periods of the history are compared with what happened, and NB2
``alpha`` is estimated from those errors by the method of moments (per area, blended toward
the value pooled over all areas where an area's history is thin; see
:func:`analytics.models.base.mom_alpha`). A baseline that forecasts badly therefore gets wide
intervals instead of falsely confident Poisson ones.
"""

from __future__ import annotations

import numpy as np

from analytics.models.base import CountModel, mom_alpha
from data.calendar import season_length

__all__ = ["EWMA", "LastPeriod", "LongRunMean", "MeanLastK", "SameLastYear"]


class _Baseline(CountModel):
    """Shared parameters and fit of the baselines: a rolling forecast and its honest alpha.

    Parameters
    ----------
    dispersion_periods : int
        Last periods whose one-step-ahead errors give the NB2 alpha.
    """

    def __init__(self, *, dispersion_periods: int = 52) -> None:
        self.dispersion_periods = dispersion_periods

    def _rolling(self, Y: np.ndarray) -> np.ndarray:
        """``F[:, t]`` = this baseline's forecast of period t from periods < t (NaN if none)."""
        raise NotImplementedError

    def _fit_matrix(self, Y: np.ndarray) -> None:
        F = self._rolling(Y)
        last = max(1, min(self.dispersion_periods, Y.shape[1] - 1))
        self.alpha_ = mom_alpha(Y[:, -last:], F[:, -last:])
        self.level_ = self._level(Y)

    def _level(self, Y: np.ndarray) -> np.ndarray:
        return self._rolling(np.concatenate([Y, np.zeros((len(Y), 1))], axis=1))[:, -1]

    def _predict_matrix(self, horizon):
        return self.level_, self.alpha_


def _cum(Y: np.ndarray) -> np.ndarray:
    return np.concatenate([np.zeros((len(Y), 1)), np.cumsum(Y, axis=1)], axis=1)


class LastPeriod(_Baseline):
    """Forecast = the count of the origin period."""

    def _rolling(self, Y):
        F = np.full(Y.shape, np.nan)
        F[:, 1:] = Y[:, :-1]
        return F


class MeanLastK(_Baseline):
    """Forecast = mean of the last ``k`` periods (fewer at the start of the history)."""

    def __init__(self, *, k: int = 4, dispersion_periods: int = 52) -> None:
        super().__init__(dispersion_periods=dispersion_periods)
        self.k = k

    def _rolling(self, Y):
        C = _cum(Y)
        t = np.arange(Y.shape[1])
        lo = np.maximum(t - self.k, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            F = (C[:, t] - C[:, lo]) / (t - lo)
        F[:, 0] = np.nan
        return F


class LongRunMean(_Baseline):
    """Forecast = mean of every period so far."""

    def _rolling(self, Y):
        C = _cum(Y)
        t = np.arange(Y.shape[1])
        with np.errstate(invalid="ignore", divide="ignore"):
            return C[:, t] / t


class SameLastYear(_Baseline):
    """Forecast = the count of the same period one year earlier (52 weeks / 12 months).

    With less than a year of history it falls back to the long-run mean.
    """

    def _rolling(self, Y):
        L = season_length(self.freq_)
        F = np.full(Y.shape, np.nan)
        F[:, L:] = Y[:, :-L] if Y.shape[1] > L else F[:, L:]
        return F

    def _fit_matrix(self, Y):
        super()._fit_matrix(Y)
        self.history_ = Y[:, -season_length(self.freq_):]
        self.fallback_ = Y.mean(axis=1)

    def _predict_matrix(self, horizon):
        L = season_length(self.freq_)
        H = self.history_
        mu = np.empty((len(H), horizon))
        for h in range(horizon):  # loop over the horizon only
            j = H.shape[1] - L + h
            mu[:, h] = H[:, j % L] if H.shape[1] == L else self.fallback_
        return mu, self.alpha_


class EWMA(_Baseline):
    """Exponentially weighted moving average with the given ``halflife`` (periods)."""

    def __init__(self, *, halflife: float = 4.0, dispersion_periods: int = 52) -> None:
        super().__init__(dispersion_periods=dispersion_periods)
        self.halflife = halflife

    def _rolling(self, Y):
        lam = 1 - 0.5 ** (1 / self.halflife)
        F = np.full(Y.shape, np.nan)
        s = Y[:, 0].copy()
        for t in range(1, Y.shape[1]):  # loop over periods, vectorised over areas
            F[:, t] = s
            s = lam * Y[:, t] + (1 - lam) * s
        return F
