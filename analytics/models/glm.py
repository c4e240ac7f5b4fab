"""Count regression: log-linear Poisson / NB model with trend, annual season and 春节.

``log mu[a, t] = level[a] + x[t] @ beta``, ``x[t]`` = (trend, Fourier terms of the day of the
year, share of the period inside the Spring Festival holiday).

Fitting thousands of areas fast. With an area fixed effect and covariates that depend only on
time, the Poisson maximum-likelihood ``beta`` equals the Poisson GLM of the *city total*
``Y[t] = sum_a y[a, t]`` on ``x[t]`` (the area effects profile out in closed form:
``exp(level[a]) = sum_t y[a, t] / sum_t exp(x[t] @ beta)``), so the pooled fixed-effects fit
is one small statsmodels GLM plus a division — exactly the estimate of the full dummy-variable
GLM (see the test). Areas with enough counts (mean >= ``per_area_min_mean``) instead get their
own GLM with the same design, fitted all at once by a batched IRLS (:func:`batched_poisson_irls`);
thin areas keep the pooled shape, which is shrinkage of their season and trend to the city's.

The mean is fitted by Poisson (quasi-)likelihood, consistent under NB2 too; the dispersion
``alpha`` comes from the Pearson residuals by the method of moments (per area, blended toward
the pooled value), so ``family="nb"`` gives negative binomial predictive intervals.
"""

from __future__ import annotations

import numpy as np
import statsmodels.api as sm

from analytics.models.base import CountModel, calendar_features, mom_alpha
from data.calendar import next_periods

__all__ = ["CountGLM", "batched_poisson_irls", "glm_design"]


def glm_design(periods, freq: str, origin_index: np.ndarray, *, trend: bool = True,
               fourier: int = 2, holiday: bool = True) -> np.ndarray:
    """Design matrix ``[1, trend, sin1, cos1, …, spring]`` for ``periods``.

    ``origin_index`` is the integer position of each period (0 = first fitted period); the
    trend is in years so coefficients read as log change per year.
    """
    cal = calendar_features(periods, freq, fourier=fourier, holiday=holiday)
    per_year = {"W": 52.18, "M": 12.0, "D": 365.25}[freq]
    cols = [np.ones(len(cal))]
    if trend:
        cols.append(np.asarray(origin_index, float) / per_year)
    cols.extend(cal[c].to_numpy() for c in cal.columns)
    return np.column_stack(cols)


def batched_poisson_irls(X: np.ndarray, Y: np.ndarray, weights: np.ndarray | None = None,
                         n_iter: int = 30, tol: float = 1e-8, prior_mean: np.ndarray | None = None,
                         prior_precision: float = 0.0):
    """Poisson log-link GLMs for many series sharing one design, by IRLS in one batch.

    Parameters
    ----------
    X : (n, p) array
        Common design.
    Y : (A, n) array
        One response series per row.
    weights : (A, n) array, optional
        Prior (frequency) weights, as R's ``glm(weights=)``.
    prior_mean, prior_precision
        Optional Gaussian penalty ``prior_precision/2 * |beta[1:] - prior_mean[1:]|^2`` on the
        non-intercept coefficients (shrinks a thin area's season toward the city's); 0 = MLE.

    Returns
    -------
    beta : (A, p), mu : (A, n), cov_unscaled : (A, p, p)
        Coefficients, fitted means and ``(X' W X)^-1`` (multiply by the dispersion for the
        quasi-Poisson covariance).
    """
    A, n = Y.shape
    p = X.shape[1]
    w0 = np.ones_like(Y) if weights is None else weights
    # Series without a single case have no finite MLE (the intercept runs to -inf): give them
    # mu = e^-30 directly instead of iterating forever.
    active = (w0 * Y).sum(1) > 0
    beta = np.zeros((A, p))
    beta[:, 0] = -30.0
    mu = np.full((A, n), np.exp(-30.0))
    cov = np.zeros((A, p, p))
    if active.any():
        b, m, c = _irls(X, Y[active], w0[active], n_iter, tol, prior_mean, prior_precision)
        beta[active], mu[active], cov[active] = b, m, c
    return beta, mu, cov


def _irls(X, Y, w0, n_iter, tol, prior_mean, prior_precision):
    A, n = Y.shape
    p = X.shape[1]
    XX = (X[:, :, None] * X[:, None, :]).reshape(n, p * p)  # X'WX = W @ XX, one BLAS call
    beta = np.zeros((A, p))
    beta[:, 0] = np.log(np.maximum((w0 * Y).sum(1) / w0.sum(1), 1e-8))
    ridge = 1e-10 * np.eye(p)
    pm = np.zeros(p) if prior_mean is None else np.asarray(prior_mean, float)
    if prior_precision > 0:
        ridge = ridge + prior_precision * np.diag(np.r_[0.0, np.ones(p - 1)])
    pull = ridge @ pm
    todo = np.arange(A)  # series still iterating: converged ones drop out of the batch
    for _ in range(n_iter):
        b = beta[todo]
        eta = np.clip(b @ X.T, -30, 30)
        mu = np.exp(eta)
        W = w0[todo] * mu
        z = eta + (Y[todo] - mu) / mu
        XtWX = (W @ XX).reshape(len(todo), p, p) + ridge
        XtWz = (W * z) @ X + pull
        new = np.linalg.solve(XtWX, XtWz[..., None])[..., 0]
        beta[todo] = new
        todo = todo[np.abs(new - b).max(1) >= tol]
        if len(todo) == 0:
            break
    eta = np.clip(beta @ X.T, -30, 30)
    mu = np.exp(eta)
    XtWX = ((w0 * mu) @ XX).reshape(A, p, p) + ridge
    return beta, mu, np.linalg.inv(XtWX)


class CountGLM(CountModel):
    """Poisson / NB log-linear regression per area with trend, season and 春节 terms.

    Parameters
    ----------
    family : {"nb", "poisson"}
        Predictive distribution; ``"nb"`` estimates NB2 alpha from Pearson residuals.
    trend, fourier, holiday
        Design terms (see :func:`glm_design`).
    per_area_min_mean : float or None
        Areas whose mean count per period is at least this get their own coefficients;
        ``None`` fits only the pooled fixed-effects model.
    level_periods : int or None
        The area level is estimated from the last ``level_periods`` periods (tracks drift);
        ``None`` uses the whole history (the exact fixed-effects MLE).
    ridge : float
        Precision of the Gaussian penalty pulling a per-area fit's season/trend/春节
        coefficients toward the pooled ones (0 = plain per-area MLE).

    Attributes
    ----------
    beta_ : ndarray (p,)
        Pooled coefficients (``beta_[0]`` the intercept of the city-total GLM).
    coef_ : ndarray (n_series, p)
        Per-series coefficients used for prediction (intercept = area level).
    alpha_ : ndarray (n_series,)
    """

    def __init__(self, *, family: str = "nb", trend: bool = True, fourier: int = 2,
                 holiday: bool = True, per_area_min_mean: float | None = 5.0,
                 level_periods: int | None = 52, ridge: float = 4.0) -> None:
        self.family = family
        self.trend = trend
        self.fourier = fourier
        self.holiday = holiday
        self.per_area_min_mean = per_area_min_mean
        self.level_periods = level_periods
        self.ridge = ridge

    def _design(self, periods, index):
        return glm_design(periods, self.freq_, index, trend=self.trend, fourier=self.fourier,
                          holiday=self.holiday)

    def _fit_matrix(self, Y):
        if self.family not in ("nb", "poisson"):
            raise ValueError(f"family {self.family!r}: expected 'nb' or 'poisson'")
        T = Y.shape[1]
        X = self._design(self.periods_, np.arange(T))
        # Drop columns that are constant over the fitted window (e.g. no 春节 in it).
        keep = np.r_[True, X[:, 1:].std(0) > 1e-9]
        self.columns_ = keep
        X = X[:, keep]
        total = Y.sum(0)
        if total.sum() <= 0:
            # No case at all: no finite MLE. Forecast 0 (the service's floor lifts it) with the
            # city's shape flat instead of raising.
            self.beta_ = np.r_[-30.0, np.zeros(X.shape[1] - 1)]
            self.coef_ = np.tile(self.beta_, (len(Y), 1))
            self.alpha_ = np.zeros(len(Y))
            return
        res = sm.GLM(total, X, family=sm.families.Poisson()).fit()
        self.beta_ = np.asarray(res.params)
        shape = np.exp(X[:, 1:] @ self.beta_[1:])
        L = T if self.level_periods is None else min(self.level_periods, T)
        level = Y[:, -L:].sum(1) / shape[-L:].sum()
        coef = np.tile(self.beta_, (len(Y), 1))
        coef[:, 0] = np.log(np.maximum(level, 1e-12))
        if self.per_area_min_mean is not None:
            rich = Y.mean(1) >= self.per_area_min_mean
            if rich.any():
                b, _, _ = batched_poisson_irls(X, Y[rich], prior_mean=self.beta_,
                                               prior_precision=self.ridge)
                coef[rich] = b
        self.coef_ = coef
        fitted = np.exp(np.clip(coef @ X.T, -30, 30))
        L = min(T, 104)
        self.alpha_ = (mom_alpha(Y[:, -L:], fitted[:, -L:]) if self.family == "nb"
                       else np.zeros(len(Y)))

    def _predict_matrix(self, horizon):
        ahead = next_periods(self.origin_, self.freq_, horizon)
        T = len(self.periods_)
        X = self._design(ahead, np.arange(T, T + horizon))[:, self.columns_]
        return np.exp(np.clip(self.coef_ @ X.T, -30, 30)), self.alpha_
