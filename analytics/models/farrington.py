"""Farrington-flexible outbreak detector (Farrington et al. 1996; Noufaily et al. 2013).

Follows R's ``surveillance::farringtonFlexible`` (surveillance 1.20, ``R/farringtonFlexible.R``:
``algo.farrington.data.glm``, ``blocks``, ``algo.farrington.fitGLM.flexible``,
``algo.farrington.assign.weights``, ``algo.farrington.threshold.farrington`` / ``.noufaily``)
for a series indexed by period (R's ``epochAsDate = FALSE``: the reference periods of period
``t`` are ``t - L j``, ``L = 52`` weeks):

1. Baseline = the ``b`` previous years, each a window of ``2w + 1`` periods centred on
   ``t - L j`` (j = 1..b). With ``no_periods > 1`` the periods between the windows are kept
   too, split into ``no_periods - 1`` blocks that each get their own level of a seasonal
   factor (the windows share level ``no_periods``). The last ``past_weeks_not_included``
   periods before ``t`` (default ``w``) are never used.
2. Quasi-Poisson GLM ``y ~ 1 [+ wtime] [+ seasgroups] [+ offset(log population)]``;
   dispersion ``phi = max(1, sum(omega (y - mu)^2 / mu) / (n - p))``.
3. Reweighting: standardised Anscombe residuals
   ``s = 3/2 (y^(2/3) mu^(-1/6) - mu^(1/2)) / sqrt(phi (1 - h))``; past outbreaks
   (``s > weights_threshold``, 2.58) get weight ``gamma s^-2``, the rest ``gamma``, with
   ``gamma`` making the weights sum to ``n``; the GLM is refitted.
4. The trend is kept only if it is significant (t-test, ``p < p_trend``), there are at least 3
   years of baseline, and the prediction does not exceed the largest baseline count.
5. Upper bound (``threshold_method``): ``"delta"`` (R's default: 2/3-power transform with the
   prediction's standard error, ``U = (mu0^(2/3) + z sqrt(4/9 mu0^(1/3) (phi + se^2/mu0)))^(3/2)``),
   ``"nbPlugin"`` (the ``1 - alpha`` quantile of NB with mean ``mu0`` and variance ``phi mu0``)
   or ``"muan"`` (the same NB at the upper ``1 - alpha`` quantile of ``mu0``).
6. ``limit54 = (c, k)``: no alarm (and no bound) unless the last ``k`` periods, the current one
   included, hold at least ``c`` cases.

All series are fitted at once by a batched IRLS that follows R's ``glm.fit`` step for step
(one design shared by every series), so 4,000 areas cost a few small matrix solves instead of
4,000 ``glm()`` calls, and the thresholds agree with R's to about 1e-9.
:func:`farrington_flexible` is the R-compatible detector over whole series (what
``pingan detect`` runs); :class:`Farrington` is the board model built on the same fit.

Where we differ from R, on purpose: with fewer than ``b`` years of history the baseline uses
the years there are (R stops), and under one year the last ``max(2w + 1, 26)`` periods
(:class:`Farrington` only); series without a single baseline case forecast 0. The board model
(:class:`Farrington`) also tests the trend and sizes the prediction's error with the
quasi-Poisson dispersion, not the one R ends up using after reweighting (see
:func:`fit_baseline`, ``r_compatible``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from analytics.models.base import CountModel
from data.calendar import season_length

__all__ = ["THRESHOLD_METHODS", "Farrington", "FarringtonFit", "baseline_blocks",
           "farrington_flexible", "fit_baseline", "upper_bound"]

#: Threshold methods of R's farringtonFlexible.
THRESHOLD_METHODS: tuple[str, ...] = ("delta", "nbPlugin", "muan")


@dataclass(frozen=True)
class FarringtonFit:
    """The baseline fit of every series for one period ``t0`` (arrays of shape ``(A,)``).

    ``eta0`` and ``se_eta``: linear predictor at ``t0`` (population offset included) and its
    standard error (raw quasi-Poisson dispersion, as ``predict.glm``); ``phi``: dispersion
    ``max(1, raw)``; ``trend_kept``: the trend term was used; ``index``: baseline periods.
    """

    eta0: np.ndarray
    se_eta: np.ndarray
    phi: np.ndarray
    trend_kept: np.ndarray
    index: np.ndarray
    years: int

    @property
    def mu0(self) -> np.ndarray:
        """Expected count at ``t0`` (0 where the baseline has no case)."""
        return np.exp(self.eta0)


def baseline_blocks(t0: int, L: int, b: int, w: int, no_periods: int = 1,
                    past_weeks_not_included: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Baseline periods of period ``t0`` and their seasonal-factor levels (R's ``blocks``).

    Returns ``(index, level, years)``: 0-based period indices (ascending), factor level of
    each (1 … ``no_periods``; the same-season windows have level ``no_periods``), and the
    number of years used (``min(b, (t0 - w) // L)``; 0 means no full year of history).
    """
    pwni = w if past_weeks_not_included is None else int(past_weeks_not_included)
    years = min(int(b), (t0 - w) // L) if t0 - w >= L else 0
    if years < 1:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), 0
    p = int(no_periods)
    factor = np.zeros(t0 + 1, np.int64)  # 0 = not in the baseline
    factor[t0 - w: t0 + 1] = p
    gap = L - 2 * w - 1
    if p != 1 and gap < p - 1:
        raise ValueError(f"noPeriods={p}: too many seasonal blocks for w={w} "
                         f"(at most {gap + 1} with {L} periods a year)")
    for j in range(1, years + 1):
        ref = t0 - j * L
        factor[ref - w: ref + w + 1] = p
        if p != 1:
            sizes = np.full(p - 1, gap // (p - 1))
            sizes[: gap % (p - 1)] += 1
            edges = ref + w + 1 + np.r_[0, np.cumsum(sizes)]
            for lev in range(1, p):  # p - 1 blocks per year
                factor[edges[lev - 1]: edges[lev]] = lev
    factor[max(t0 - pwni, 0): t0 + 1] = 0
    index = np.flatnonzero(factor)
    return index, factor[index], years


def fit_baseline(Y: np.ndarray, t0: int, L: int, *, b: int = 5, w: int = 3,
                 reweight: bool = True, weights_threshold: float = 2.58, trend: bool = True,
                 p_trend: float = 0.05, no_periods: int = 1,
                 past_weeks_not_included: int | None = None,
                 population: np.ndarray | None = None,
                 short_history: bool = False, r_compatible: bool = True) -> FarringtonFit:
    """Fit the reweighted quasi-Poisson baseline of every row of ``Y`` for period ``t0``.

    Parameters
    ----------
    Y : ndarray (A, T)
        Counts, one series per row; only periods before ``t0`` are read.
    t0 : int
        The period judged (0-based; may be ``T``, one after the data).
    L : int
        Periods per year (52 weeks, 12 months).
    population : ndarray (A, >= t0 + 1), optional
        Population (or households) per series and period: ``offset(log(population))``.
    short_history : bool
        With under one year before ``t0``, fit an intercept on the last ``max(2w + 1, 26)``
        periods instead of raising.
    r_compatible : bool
        After reweighting, use R's dispersion for the prediction's standard error and the
        trend's t-test (``sum(omega ((y - mu)/mu)^2) / (n - p)``, a side effect of
        surveillance 1.20 overwriting the glm's weights; about ``phi / mu``). False uses the
        quasi-Poisson dispersion itself, which keeps a spurious trend in about ``p_trend`` of
        trendless series instead of far more (26 % of 4,000 Poisson series, 3 years, in our
        check).

    Returns
    -------
    FarringtonFit
    """
    Y = np.asarray(Y, float)
    index, level, years = baseline_blocks(t0, L, b, w, no_periods, past_weeks_not_included)
    if years < 1:
        if not short_history:
            raise ValueError(f"Farrington: period {t0} needs at least one year ({L} periods) "
                             f"plus w={w} before it")
        index = np.arange(max(0, t0 - max(2 * w + 1, 26)), t0)
        level = np.ones(len(index), np.int64)
    y = Y[:, index]
    if population is not None:
        pop = np.asarray(population, float)
        if pop.shape[0] != Y.shape[0] or pop.shape[1] <= t0:
            raise ValueError(f"population: shape {pop.shape} does not cover {Y.shape[0]} series "
                             f"and period {t0}")
        if not (pop[:, index] > 0).all() or not (pop[:, t0] > 0).all():
            raise ValueError("population: must be > 0 in every baseline and current period")
        off = np.log(pop[:, index])
        off0 = np.log(pop[:, t0])
    else:
        off = np.zeros_like(y)
        off0 = np.zeros(len(Y))
    levels = np.unique(level)
    dummies = [(level == lev).astype(float) for lev in levels[1:]]  # R: treatment contrasts
    x_season0 = [float(lev == no_periods) for lev in levels[1:]]
    X1 = np.column_stack([np.ones(len(index)), *dummies])
    x01 = np.r_[1.0, x_season0]
    fit1 = _fit(X1, y, off, reweight, weights_threshold, r_compatible)
    eta, se, disp, phi = _at(fit1, x01, off0)
    kept = np.zeros(len(Y), bool)
    if trend and years >= 3:
        wt = index.astype(float)
        X2 = np.column_stack([np.ones(len(index)), wt, *dummies])
        x02 = np.r_[1.0, float(t0), x_season0]
        fit2 = _fit(X2, y, off, reweight, weights_threshold, r_compatible)
        eta2, se2, disp2, phi2 = _at(fit2, x02, off0)
        df = len(index) - X2.shape[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            tval = fit2[0][:, 1] / np.sqrt(disp2 * fit2[2][:, 1, 1])
            pval = np.nan_to_num(2 * stats.t.sf(np.abs(tval), max(df, 1)), nan=1.0)
        kept = (pval < p_trend) & (np.exp(eta2) <= y.max(1)) & np.isfinite(eta2)
        eta = np.where(kept, eta2, eta)
        se = np.where(kept, se2, se)
        phi = np.where(kept, phi2, phi)
    # All-zero baselines: the GLM intercept runs to -inf; the forecast is 0.
    empty = y.sum(1) == 0
    eta = np.where(empty, -np.inf, eta)
    se = np.where(empty, 0.0, se)
    return FarringtonFit(eta0=eta, se_eta=se, phi=phi, trend_kept=kept,
                         index=index, years=years)


def upper_bound(fit: FarringtonFit, *, alpha: float = 0.05,
                method: str = "delta") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(expected, upper, centre)`` of R's threshold functions for a baseline fit.

    ``centre`` is what R subtracts in its score ``(y - centre) / (upper - centre)``: the
    expected count for ``"delta"``, the linear predictor for ``"nbPlugin"`` / ``"muan"`` (as in
    ``algo.farrington.threshold.noufaily``).
    """
    if method not in THRESHOLD_METHODS:
        raise ValueError(f"threshold method {method!r}: expected one of {', '.join(THRESHOLD_METHODS)}")
    z = stats.norm.ppf(1 - alpha)
    mu0 = fit.mu0
    phi = fit.phi
    if method == "delta":
        se_mu = mu0 * fit.se_eta  # predict.glm(type = "response"): delta method
        with np.errstate(divide="ignore", invalid="ignore"):
            tau = phi + np.where(mu0 > 0, se_mu**2 / np.where(mu0 > 0, mu0, 1.0), 0.0)
        sd = np.sqrt(4 / 9 * np.cbrt(mu0) * tau)
        upper = (np.cbrt(mu0) ** 2 + z * sd) ** 1.5
        return mu0, upper, mu0
    mq = mu0 if method == "nbPlugin" else np.exp(fit.eta0 + z * fit.se_eta)
    nb = phi > 1
    with np.errstate(divide="ignore", invalid="ignore"):
        size = np.where(nb, mq / np.where(nb, phi - 1, 1.0), 1.0)
        upper = np.where(nb, stats.nbinom.ppf(1 - alpha, size, 1 / phi),
                         stats.poisson.ppf(1 - alpha, mq))
    upper = np.where(mq > 0, upper, 0.0)
    return mu0, upper, fit.eta0


def farrington_flexible(Y: np.ndarray, *, L: int = 52, b: int = 5, w: int = 3,
                        reweight: bool = True, weights_threshold: float = 2.58,
                        trend: bool = True, p_trend: float = 0.05, alpha: float = 0.05,
                        limit54: tuple[int, int] | None = (5, 4), no_periods: int = 1,
                        past_weeks_not_included: int | None = None,
                        threshold_method: str = "delta",
                        population: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """R's ``farringtonFlexible`` over whole series (defaults as R's ``control``).

    Parameters
    ----------
    Y : ndarray (A, T)
        Counts, one series per row.
    L, b, w, reweight, weights_threshold, trend, p_trend, alpha, no_periods,
    past_weeks_not_included, threshold_method
        As R's ``control`` list (``weightsThreshold``, ``pThresholdTrend``, ``noPeriods``,
        ``pastWeeksNotIncluded``, ``thresholdMethod``); ``L`` is the periods per year.
    limit54 : (cases, periods) or None
        No alarm unless the last ``periods`` periods hold ``cases`` cases (None: off).
    population : ndarray (A, T), optional
        ``populationOffset = TRUE`` with these populations.

    Returns
    -------
    dict of ndarray (A, T)
        ``expected``, ``upper``, ``score`` (NaN before the first judged period ``L b + w`` and
        where ``limit54`` withholds the bound, as R) and ``alarm`` (bool).
    """
    Y = np.asarray(Y, float)
    A, T = Y.shape
    out = {k: np.full((A, T), np.nan) for k in ("expected", "upper", "score")}
    out["alarm"] = np.zeros((A, T), bool)
    start = L * b + w
    if limit54 is not None:
        cases, span = limit54
        if not (cases >= 0 and span > 0):
            raise ValueError(f"limit54 {limit54}: need cases >= 0 and periods > 0")
    for t in range(start, T):  # one batched fit per period judged, over every series
        fit = fit_baseline(Y, t, L, b=b, w=w, reweight=reweight,
                           weights_threshold=weights_threshold, trend=trend, p_trend=p_trend,
                           no_periods=no_periods, past_weeks_not_included=past_weeks_not_included,
                           population=population)
        expected, upper, centre = upper_bound(fit, alpha=alpha, method=threshold_method)
        y = Y[:, t]
        with np.errstate(divide="ignore", invalid="ignore"):
            score = (y - centre) / (upper - centre)
        enough = np.ones(A, bool)
        if limit54 is not None:
            enough = Y[:, max(0, t - span + 1): t + 1].sum(1) >= cases
        out["expected"][:, t] = np.where(enough, expected, np.nan)
        out["upper"][:, t] = np.where(enough, upper, np.nan)
        out["score"][:, t] = np.where(enough, score, np.nan)
        out["alarm"][:, t] = enough & (score > 1) & (y != 0)
    return out


class Farrington(CountModel):
    """Reweighted quasi-Poisson GLM on same-season windows of past years (the board model).

    Parameters
    ----------
    b : int
        Years back (reduced to what the history holds; R's default is 5, ours 3: the board
        rarely has five years).
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
        Upper-quantile level of the alarm threshold ``U`` (R's ``alpha``; ours 0.01, the
        board's red level).
    no_periods : int
        Levels of the seasonal factor (R's ``noPeriods``; 1 = windows only).
    past_weeks_not_included : int or None
        Recent periods never in the baseline (None: ``w``, as R).
    limit54 : (int, int) or None
        Alarm statistic held at <= 0 unless the last ``periods`` periods, the judged one
        included, hold ``cases`` cases (R's default (5, 4)).
    threshold_method : {"nbPlugin", "delta", "muan"}
        Upper bound of the alarm statistic (ours ``nbPlugin``: the same NB as the predictive
        distribution; R's default is ``delta``).

    The predictive distribution is NB2 with mean ``mu0`` and variance ``phi mu0``
    (``alpha = (phi - 1) / mu0``; Poisson when ``phi == 1``).
    """

    is_detector = True

    def __init__(self, *, b: int = 3, w: int = 3, reweight: bool = True,
                 weights_threshold: float = 2.58, trend: bool = True, p_trend: float = 0.05,
                 alarm_alpha: float = 0.01, no_periods: int = 1,
                 past_weeks_not_included: int | None = None,
                 limit54: tuple[int, int] | None = (5, 4),
                 threshold_method: str = "nbPlugin") -> None:
        self.b = b
        self.w = w
        self.reweight = reweight
        self.weights_threshold = weights_threshold
        self.trend = trend
        self.p_trend = p_trend
        self.alarm_alpha = alarm_alpha
        self.no_periods = no_periods
        self.past_weeks_not_included = past_weeks_not_included
        self.limit54 = limit54
        self.threshold_method = threshold_method

    def _fit_matrix(self, Y):
        T = Y.shape[1]
        L = season_length(self.freq_)
        fit = fit_baseline(Y, T, L, b=self.b, w=self.w, reweight=self.reweight,
                           weights_threshold=self.weights_threshold, trend=self.trend,
                           p_trend=self.p_trend, no_periods=self.no_periods,
                           past_weeks_not_included=self.past_weeks_not_included,
                           short_history=True, r_compatible=False)
        self.fit_ = fit
        self.years_ = fit.years
        self.baseline_index_ = fit.index
        self.trend_kept_ = fit.trend_kept
        self.mu0_ = fit.mu0
        self.phi_ = fit.phi
        self.alpha_ = np.where(self.mu0_ > 0, (self.phi_ - 1) / np.maximum(self.mu0_, 1e-9), 0.0)
        span = self.limit54[1] if self.limit54 is not None else 1
        self.recent_ = Y[:, max(0, T - span + 1):].sum(1)  # cases before the judged period

    def _predict_matrix(self, horizon):
        # The detector predicts one period; later periods repeat it (refit each period).
        return self.mu0_, self.alpha_

    def _statistic(self, y, mu, alpha):
        # Farrington's score around the expected count for every method (R centres nbPlugin and
        # muan on the linear predictor, which is -inf for an empty baseline).
        mu0, U, _ = upper_bound(self.fit_, alpha=self.alarm_alpha, method=self.threshold_method)
        den = np.maximum(U - mu0, 0.5)  # U == mu0 only when mu0 is an integer at the quantile
        score = (y - mu0) / den
        if self.limit54 is not None:
            score = np.where(self.recent_ + y >= self.limit54[0], score, np.minimum(score, 0.0))
        return score


def _fit(X, y, off, reweight, weights_threshold, r_compatible=True):
    """Quasi-Poisson fit (with R's reweighting): ``beta, mu, cov_unscaled, disp_se, phi``.

    ``phi`` is the dispersion of the threshold (``max(1, Pearson)``); ``disp_se`` the one R
    uses for standard errors and the trend test (see the comment below).
    """
    n, p = X.shape
    beta, mu, cov, w_last = _r_glm(X, y, np.ones_like(y), off)
    # summary.glm's dispersion: the last iteration's working weights times the squared
    # working residuals (y - mu) / mu — the Pearson statistic up to R's stopping point
    disp = _working_disp(y, mu, w_last, n - p)
    if not reweight:
        return beta, mu, cov, disp, np.maximum(disp, 1.0)
    # hat values of the fit (R: from the last IRLS iteration's weights)
    h = np.einsum("np,apq,nq->an", X, cov, X) * w_last
    phi = np.maximum(disp, 1.0)
    s = 1.5 * (np.cbrt(y) ** 2 * mu ** (-1 / 6) - np.sqrt(mu))
    s = s / np.sqrt(phi[:, None] * np.clip(1 - h, 1e-12, None))
    big = s > weights_threshold
    inv = np.where(big, 1.0 / np.maximum(s, 1e-12) ** 2, 1.0)
    omega = n / inv.sum(1, keepdims=True) * inv
    beta, mu, cov, w_last = _r_glm(X, y, omega, off)
    phi = np.maximum(_working_disp(y, mu, w_last, n - p), 1.0)
    # R (surveillance 1.20) then overwrites the glm's working weights with omega
    # (``model$weights <- omega``), so the dispersion that predict.glm and summary.glm use
    # for the prediction's standard error and the trend's t-test is
    # sum(omega ((y - mu) / mu)^2) / (n - p), about phi / mu: far too small for counts above
    # 1, which makes the trend look significant too often. ``r_compatible`` follows R (so
    # that ``pingan detect`` agrees with it); the board model uses phi itself.
    return beta, mu, cov, _working_disp(y, mu, omega, n - p) if r_compatible else phi, phi


def _r_glm(X, Y, prior, off, maxit: int = 25, epsilon: float = 1e-8):
    """Poisson log-link IRLS as R's ``glm.fit``, batched over the rows of ``Y`` (shared ``X``).

    Same start (``mu = y + 0.1``), same deviance convergence test, and R's returned state: the
    covariance ``(X'WX)^-1`` and weights ``W`` are those of the last iteration (computed
    before its update), which is what ``summary.glm``, ``predict.glm`` and ``hatvalues`` use.

    Returns ``beta (A, p), mu (A, n), cov_unscaled (A, p, p), w_last (A, n)``.
    """
    A, n = Y.shape
    p = X.shape[1]
    XX = (X[:, :, None] * X[:, None, :]).reshape(n, p * p)
    eta = np.log(Y + 0.1)
    mu = Y + 0.1
    dev_old = _deviance(Y, mu, prior)
    beta = np.zeros((A, p))
    W_last = prior * mu
    xtwx = np.zeros((A, p, p))
    todo = np.arange(A)
    for _ in range(maxit):
        e, m, y, pw = eta[todo], mu[todo], Y[todo], prior[todo]
        W = pw * m
        z = e - off[todo] + (y - m) / m
        XtWX = (W @ XX).reshape(len(todo), p, p)
        new = np.linalg.solve(XtWX, ((W * z) @ X)[..., None])[..., 0]
        beta[todo] = new
        W_last[todo] = W
        xtwx[todo] = XtWX
        eta[todo] = np.clip(new @ X.T + off[todo], -30.0, 30.0)
        mu[todo] = np.exp(eta[todo])
        dev = _deviance(y, mu[todo], pw)
        done = np.abs(dev - dev_old[todo]) / (np.abs(dev) + 0.1) < epsilon
        dev_old[todo] = dev
        todo = todo[~done]
        if len(todo) == 0:
            break
    return beta, mu, np.linalg.inv(xtwx), W_last


def _deviance(y, mu, w):
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(y > 0, y * np.log(y / mu), 0.0)
    return (2 * w * (term - (y - mu))).sum(1)


def _at(fit, x0, off0):
    """Linear predictor, its standard error and the dispersions at design row ``x0``."""
    beta, _, cov, disp, phi = fit
    eta = beta @ x0 + off0
    var = np.einsum("p,apq,q->a", x0, cov, x0)
    return eta, np.sqrt(np.maximum(disp * var, 0.0)), disp, phi


def _working_disp(y, mu, w, df):
    return (w * ((y - mu) / np.maximum(mu, 1e-300)) ** 2).sum(1) / max(df, 1)
