"""Farrington-flexible outbreak detector (Farrington et al. 1996; Noufaily et al. 2013).

Follows R's ``surveillance::farringtonFlexible`` (cran/surveillance, ``R/farringtonFlexible.R``:
``algo.farrington.fitGLM.flexible``, ``algo.farrington.assign.weights``,
``algo.farrington.threshold.noufaily``), with ``noPeriods = 1``:

1. Baseline = the ``b`` previous years, each a window of ``2w + 1`` periods centred on the same
   period of that year (weeks t - 52j - w … t - 52j + w, j = 1..b).
2. Quasi-Poisson GLM ``y ~ 1 + wtime`` on the baseline; dispersion
   ``phi = max(1, sum(omega (y - mu)^2 / mu) / (n - p))``.
3. Reweighting: standardised Anscombe residuals
   ``s = 3/2 (y^(2/3) mu^(-1/6) - mu^(1/2)) / sqrt(phi (1 - h))``; past outbreaks
   (``s > weights_threshold``, 2.58 as in the flexible version) get weight ``gamma s^-2``, the
   rest ``gamma``, with ``gamma`` making the weights sum to ``n``; the GLM is refitted.
4. The trend is kept only if it is significant (``p < p_trend``), there are at least 3 years of
   baseline, and the prediction does not exceed the largest baseline count.
5. Threshold from the negative binomial with mean ``mu0`` and variance ``phi mu0`` (Noufaily's
   ``nbPlugin``): NB2 ``alpha = (phi - 1) / mu0``; Poisson when ``phi == 1``.

All areas are fitted at once by a batched IRLS (one design shared by every area), so 4,000
areas cost a few small matrix solves instead of 4,000 ``glm()`` calls.

The alarm statistic is Farrington's score ``(y - mu0) / (U - mu0)`` with ``U`` the upper
``1 - alarm_alpha`` quantile; an alarm is ``score > 1``.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from analytics.distributions import quantile
from analytics.models.base import CountModel
from analytics.models.glm import batched_poisson_irls
from data.calendar import season_length

__all__ = ["Farrington"]


class Farrington(CountModel):
    """Reweighted quasi-Poisson GLM on same-season windows of past years.

    Parameters
    ----------
    b : int
        Years back (reduced to what the history holds; at least 1).
    w : int
        Half-window in periods around the same period of each past year.
    reweight : bool
        Down-weight past outbreaks by Anscombe residuals.
    weights_threshold : float
        Residuals above this are down-weighted (2.58 in farringtonFlexible, 1 in the 1996 one).
    trend : bool
        Consider a linear time trend.
    p_trend : float
        Significance level for keeping the trend.
    alarm_alpha : float
        Upper-quantile level of the alarm threshold ``U``.
    """

    is_detector = True

    def __init__(self, *, b: int = 3, w: int = 3, reweight: bool = True,
                 weights_threshold: float = 2.58, trend: bool = True, p_trend: float = 0.05,
                 alarm_alpha: float = 0.01) -> None:
        self.b = b
        self.w = w
        self.reweight = reweight
        self.weights_threshold = weights_threshold
        self.trend = trend
        self.p_trend = p_trend
        self.alarm_alpha = alarm_alpha

    def _fit_matrix(self, Y):
        T = Y.shape[1]
        L = season_length(self.freq_)
        t0 = T  # the period to predict (index T, one after the origin)
        years = min(self.b, (t0 - self.w - 1) // L) if T > L else 0
        if years >= 1:
            idx = np.concatenate([np.arange(t0 - j * L - self.w, t0 - j * L + self.w + 1)
                                  for j in range(years, 0, -1)])
            idx = idx[(idx >= 0) & (idx < T)]
        else:  # under a year of data: the last 2w+1 … up to 26 periods
            idx = np.arange(max(0, T - max(2 * self.w + 1, 26)), T)
        self.years_ = years
        self.baseline_index_ = idx
        y = Y[:, idx]
        wtime = idx.astype(float)
        X1 = np.ones((len(idx), 1))
        X2 = np.column_stack([np.ones(len(idx)), wtime])
        beta1, phi1 = self._fit(X1, y)
        mu0 = np.exp(np.clip(beta1[:, 0], -30, 30))
        phi = phi1
        if self.trend and years >= 3 and len(idx) > 3:
            beta2, phi2, se2 = self._fit(X2, y, with_se=True)
            df = len(idx) - 2
            with np.errstate(divide="ignore", invalid="ignore"):
                pval = np.nan_to_num(2 * stats.t.sf(np.abs(beta2[:, 1] / se2), df), nan=1.0)
            pred2 = np.exp(np.clip(beta2[:, 0] + beta2[:, 1] * t0, -30, 30))
            keep = (pval < self.p_trend) & (pred2 <= y.max(1)) & np.isfinite(pred2)
            mu0 = np.where(keep, pred2, mu0)
            phi = np.where(keep, phi2, phi1)
            self.trend_kept_ = keep
        else:
            self.trend_kept_ = np.zeros(len(Y), bool)
        # All-zero baselines: the GLM intercept runs to -inf; the forecast is 0.
        mu0 = np.where(y.sum(1) > 0, mu0, 0.0)
        self.mu0_ = mu0
        self.phi_ = phi
        self.alpha_ = np.where(mu0 > 0, (phi - 1) / np.maximum(mu0, 1e-9), 0.0)

    def _fit(self, X, y, with_se=False):
        beta, mu, cov = batched_poisson_irls(X, y)
        n, p = X.shape
        phi = self._phi(y, mu, np.ones_like(y), n - p)
        if self.reweight:
            # hat values of the weighted fit: h_i = W_i x_i' (X'WX)^-1 x_i
            h = np.einsum("np,apq,nq->an", X, cov, X) * mu
            s = 1.5 * (np.cbrt(y) ** 2 * mu ** (-1 / 6) - np.sqrt(mu))
            s = s / np.sqrt(phi[:, None] * np.clip(1 - h, 1e-6, None))
            big = s > self.weights_threshold
            inv = np.where(big, 1.0 / np.maximum(s, 1e-12) ** 2, 1.0)
            gamma = n / inv.sum(1, keepdims=True)
            omega = gamma * inv
            beta, mu, cov = batched_poisson_irls(X, y, weights=omega)
            phi = self._phi(y, mu, omega, n - p)
        if with_se:
            se = np.sqrt(phi * cov[:, 1, 1])
            return beta, phi, se
        return beta, phi

    @staticmethod
    def _phi(y, mu, w, df):
        pearson = (w * (y - mu) ** 2 / np.maximum(mu, 1e-12)).sum(1) / max(df, 1)
        return np.maximum(pearson, 1.0)

    def _predict_matrix(self, horizon):
        # The detector predicts one period; later periods repeat it (refit each period).
        return self.mu0_, self.alpha_

    def _statistic(self, y, mu, alpha):
        U = quantile(1 - self.alarm_alpha, mu, alpha).astype(float)
        den = np.maximum(U - mu, 0.5)  # U == mu only when mu is an integer at the quantile
        return (y - mu) / den
