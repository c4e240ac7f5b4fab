"""Empirical-Bayes (gamma-Poisson) shrinkage of sparse areas toward their parent.

A 网格 with one case a year must not turn red on one case. Each area's recent rate is shrunk
toward a prior built from its parent (the 社区 above a 网格, or all areas when no parent is
given)::

    prior mean  m_a = R_parent(recent) * share_a
    share_a     = (N_a + 1/k) / (N_parent + 1)      long-run share of the parent's cases,
                                                    smoothed toward 1/k (k = siblings)
    rate        lambda_a ~ Gamma(shape=kappa, rate=kappa / m_a)
    data        y_a (cases in the last ``window`` periods) ~ Poisson(e_a lambda_a)
    posterior   Gamma(kappa + y_a, kappa / m_a + e_a)

``e_a`` is the exposure (periods, weighted by the city-wide seasonal profile when
``seasonal=True``). ``kappa`` (the between-area variance ``1/kappa`` of ``lambda_a / m_a``)
is estimated by the method of moments (Clayton & Kaldor 1987):
``1/kappa = (sum w (z - zbar)^2 - (n - 1)) / sum w`` with ``z = (y/e) / m``, ``w = e m``.

The predictive count of the next period is gamma-Poisson, i.e. NB2 with mean
``s_next * (kappa + y_a) / (kappa/m_a + e_a)`` and ``alpha = 1/(kappa + y_a)``, plus the
week-to-week overdispersion left in the recent residuals. Areas with little data get the
parent's rate and a wide, honest interval; busy areas keep their own rate.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from analytics.models.base import CountModel, calendar_features, mom_alpha
from analytics.models.glm import batched_poisson_irls
from data.calendar import next_periods, season_length

__all__ = ["EmpiricalBayes", "seasonal_profile"]


def seasonal_profile(Y_total: np.ndarray, periods, freq: str):
    """Multiplicative annual profile of the city total, as a function of periods.

    Poisson GLM of the total on Fourier + 春节 terms (no trend); the returned callable gives the
    factor for any periods, scaled to mean 1 over the fitted history. With less than a year
    of data (or no cases) the profile is flat.
    """
    if len(periods) < season_length(freq) or Y_total.sum() <= 0:
        return lambda p: np.ones(len(p))
    X = calendar_features(periods, freq).to_numpy()
    keep = X.std(0) > 1e-9
    X1 = np.column_stack([np.ones(len(X)), X[:, keep]])
    beta = batched_poisson_irls(X1, np.asarray(Y_total, float)[None, :])[0][0]
    scale = np.exp(X[:, keep] @ beta[1:]).mean()

    def profile(p):
        Xp = calendar_features(p, freq).to_numpy()[:, keep]
        return np.exp(Xp @ beta[1:]) / scale

    return profile


class EmpiricalBayes(CountModel):
    """Gamma-Poisson shrinkage of each area's recent rate toward its parent.

    Parameters
    ----------
    parent : mapping area_id -> parent_id, pandas Series, or None
        Parent of every area (areas without one, or ``None``, share one city-wide parent).
    window : int
        Recent periods that estimate the current rate.
    seasonal : bool
        Scale by the city-wide annual/春节 profile.

    Attributes
    ----------
    kappa_ : float
        Prior shape (large = areas look alike, strong shrinkage).
    prior_ : ndarray
        Prior mean rate per series.
    weight_ : ndarray
        Credibility of the area's own data ``e / (e + kappa/m)`` (1 = no shrinkage).
    """

    def __init__(self, *, parent: Mapping | pd.Series | None = None, window: int = 52,
                 seasonal: bool = True) -> None:
        self.parent = parent
        self.window = window
        self.seasonal = seasonal

    def _fit_matrix(self, Y):
        keys = self.keys_
        T = Y.shape[1]
        L = min(self.window, T)
        self.profile_ = (seasonal_profile(Y.sum(0), self.periods_, self.freq_) if self.seasonal
                         else (lambda p: np.ones(len(p))))
        s = self.profile_(self.periods_)
        self.season_ = s
        par = _parents(keys["area_id"], self.parent)
        pc, _ = pd.factorize(par)
        cc, cu = pd.factorize(keys["category"].to_numpy())
        group = np.unique(pc.astype(np.int64) * max(len(cu), 1) + cc, return_inverse=True)[1]
        y = Y[:, -L:].sum(1)
        e = s[-L:].sum()
        N = Y.sum(1)
        gY = np.bincount(group, weights=y)
        gN = np.bincount(group, weights=N)
        k = np.bincount(group)
        share = (N + 1.0 / k[group]) / (gN[group] + 1.0)
        m = np.maximum(gY[group] / e * share, 1e-6)
        self.prior_ = m
        w = e * m
        z = (y / e) / m
        zbar = (w * z).sum() / w.sum()
        inv_kappa = ((w * (z - zbar) ** 2).sum() - (len(z) - 1)) / w.sum()
        self.kappa_ = float(1.0 / np.clip(inv_kappa, 1e-3, 1e3))
        shape = self.kappa_ + y
        rate = self.kappa_ / m + e
        self.rate_ = shape / rate
        self.weight_ = e / rate
        self.shape_ = shape
        # Week-to-week overdispersion the constant-rate posterior does not describe.
        fitted = self.rate_[:, None] * s[None, -L:]
        self.alpha_time_ = mom_alpha(Y[:, -L:], fitted)

    def _predict_matrix(self, horizon):
        # The fitted profile is evaluated at the new periods; the rates are not refitted.
        s_next = self.profile_(next_periods(self.origin_, self.freq_, horizon))
        mu = self.rate_[:, None] * s_next[None, :]
        return mu, 1.0 / self.shape_ + self.alpha_time_


def _parents(area_ids: pd.Series, parent) -> np.ndarray:
    if parent is None:
        return np.full(len(area_ids), "__all__", dtype=object)
    mapping = parent.to_dict() if isinstance(parent, pd.Series) else parent
    return np.array([str(mapping.get(a) or "__all__") for a in area_ids.to_numpy()], dtype=object)
