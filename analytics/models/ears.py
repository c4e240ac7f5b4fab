"""EARS C2 and Poisson CUSUM outbreak detectors (CDC Early Aberration Reporting System).

- **EARS C2** (Hutwagner et al. 2003; as ``surveillance::earsC(method="C2")``): baseline =
  the 7 periods t-3 … t-9 (a 2-period guard band t-1, t-2 keeps a starting outbreak out of
  its own baseline); ``C2 = (y_t - mean) / sd``; alarm when ``C2 > 3``.
- **Poisson CUSUM** (Lucas 1985): in-control mean ``mu0`` from the baseline, out-of-control
  ``mu1 = ratio * mu0``; ``S_t = max(0, S_{t-1} + y_t log(mu1/mu0) - (mu1 - mu0))`` (the
  log-likelihood ratio), reset to 0 after an alarm; alarm when ``S_t > h``.

Both also give a predictive distribution (NB2 from the baseline mean and variance) so they
colour areas like any other model.

Over whole series (``pingan detect``): :func:`ears_c` is R's ``surveillance::earsC`` (C1: the
7 periods before t; C2: t-3 … t-9; C3: R's bound built from the C2 values of t-1 and t-2;
``alpha`` 0.001, 0.025 for C3; upper bound ``mean + z sd``; alarm ``y > upper``) and
:func:`poisson_cusum` runs :class:`PoissonCUSUM`'s rule period by period.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from analytics.models.base import CountModel

__all__ = ["EARS_METHODS", "EarsC2", "PoissonCUSUM", "ears_c", "poisson_cusum"]

#: Methods of :func:`ears_c`.
EARS_METHODS: tuple[str, ...] = ("C1", "C2", "C3")


def ears_c(Y: np.ndarray, method: str = "C1", *, baseline: int = 7, alpha: float | None = None,
           min_sigma: float = 0.0) -> dict[str, np.ndarray]:
    """R's ``surveillance::earsC`` over whole series (defaults as R's ``control``).

    Parameters
    ----------
    Y : ndarray (A, T)
        Counts, one series per row.
    method : {"C1", "C2", "C3"}
    baseline : int
        Baseline periods (R: at least 3).
    alpha : float, optional
        One-sided level of ``z = Phi^-1(1 - alpha)`` (default 0.001, 0.025 for C3, as R).
    min_sigma : float
        Floor on the baseline standard deviation (R's ``minSigma``).

    Returns
    -------
    dict of ndarray (A, T)
        ``expected`` (baseline mean), ``upper`` (NaN before the first period R judges:
        ``baseline``, ``baseline + 2``, ``baseline + 4`` for C1, C2, C3) and ``alarm``
        (``observed > upper``).

    Notes
    -----
    C3 follows R: ``upper_t = max(0, y_t + sd_t (z - sum_{i=1,2} max(0, C2_{t-i} - 1)))``, so
    its alarm depends on the two previous C2 values only (the classical C3 also adds the
    current one).
    """
    if method not in EARS_METHODS:
        raise ValueError(f"method {method!r}: expected one of {', '.join(EARS_METHODS)}")
    if baseline < 3:
        raise ValueError(f"baseline {baseline}: R's earsC needs at least 3 periods")
    if min_sigma < 0:
        raise ValueError(f"min_sigma {min_sigma}: must be >= 0")
    Y = np.asarray(Y, float)
    A, T = Y.shape
    if alpha is None:
        alpha = 0.025 if method == "C3" else 0.001
    z = stats.norm.ppf(1 - alpha)
    lag = 0 if method == "C1" else 2
    # mean and sd of the baseline of every period t (periods t-lag-baseline … t-lag-1)
    mean = np.full((A, T), np.nan)
    sd = np.full((A, T), np.nan)
    first = baseline + lag
    if T > first:
        win = np.lib.stride_tricks.sliding_window_view(Y, baseline, axis=1)  # (A, T-b+1, b)
        win = win[:, : T - first]  # windows ending at t - lag - 1 for t = first … T-1
        mean[:, first:] = win.mean(2)
        sd[:, first:] = np.maximum(win.std(2, ddof=1), min_sigma)
    out = {"expected": mean}
    if method in ("C1", "C2"):
        upper = mean + z * sd
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            c2 = (Y - mean) / sd
        part = np.maximum(0.0, c2 - 1)
        lagged = np.full((A, T), np.nan)
        lagged[:, 2:] = part[:, :-2] + part[:, 1:-1]
        upper = np.maximum(0.0, Y + sd * (z - lagged))
        upper[:, : baseline + 4] = np.nan
        out["expected"] = np.where(np.isnan(upper), np.nan, mean)
    out["upper"] = upper
    with np.errstate(invalid="ignore"):
        out["alarm"] = Y > upper
    return out


def poisson_cusum(Y: np.ndarray, *, ratio: float = 2.0, h: float = 2.0, baseline: int = 52,
                  run: int = 8) -> dict[str, np.ndarray]:
    """:class:`PoissonCUSUM`'s rule judged at every period with ``baseline + run`` before it.

    ``upper`` is the smallest count that would raise the alarm at ``t`` given the CUSUM
    accumulated over the ``run`` periods before it: ``(h - S + (ratio - 1) mu0) / log(ratio)``
    (alarm when ``observed > upper``); ``expected`` is ``mu0``.
    """
    if ratio <= 1 or h <= 0:
        raise ValueError(f"cusum: need ratio > 1 and h > 0, got ratio={ratio}, h={h}")
    Y = np.asarray(Y, float)
    A, T = Y.shape
    out = {k: np.full((A, T), np.nan) for k in ("expected", "upper")}
    out["alarm"] = np.zeros((A, T), bool)
    lr = np.log(ratio)
    for t in range(baseline + run, T):  # one step per period, vectorised over series
        base = Y[:, t - run - baseline: t - run]
        mu0 = np.maximum(base.mean(1), 0.5 / baseline)
        S = np.zeros(A)
        for u in range(t - run, t):
            S = np.maximum(0.0, S + Y[:, u] * lr - (ratio - 1) * mu0)
            S = np.where(S > h, 0.0, S)
        upper = (h - S + (ratio - 1) * mu0) / lr
        out["expected"][:, t] = mu0
        out["upper"][:, t] = upper
        out["alarm"][:, t] = Y[:, t] > upper
    return out


def _nb_from_moments(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.where(m > 0, np.maximum(v - m, 0.0) / np.maximum(m, 1e-12) ** 2, 0.0)


class EarsC2(CountModel):
    """EARS C2: mean and sd of periods t-3 … t-9.

    Parameters
    ----------
    guard : int
        Guard-band length (2).
    baseline : int
        Number of baseline periods (7).
    min_sd : float
        Floor on the baseline sd so an all-zero baseline does not make one case infinite.
    """

    is_detector = True

    def __init__(self, *, guard: int = 2, baseline: int = 7, min_sd: float = 0.5) -> None:
        self.guard = guard
        self.baseline = baseline
        self.min_sd = min_sd

    def _fit_matrix(self, Y):
        T = Y.shape[1]
        hi = T - self.guard
        lo = max(0, hi - self.baseline)
        if hi - lo < 2:
            raise ValueError(f"EarsC2 needs at least {self.guard + 2} periods, got {T}")
        base = Y[:, lo:hi]
        self.mean_ = base.mean(1)
        self.sd_ = base.std(1, ddof=1)
        self.alpha_ = _nb_from_moments(self.mean_, self.sd_**2)

    def _predict_matrix(self, horizon):
        return self.mean_, self.alpha_

    def _statistic(self, y, mu, alpha):
        return (y - self.mean_) / np.maximum(self.sd_, self.min_sd)


class PoissonCUSUM(CountModel):
    """Poisson CUSUM on the log-likelihood ratio of ``ratio * mu0`` against ``mu0``.

    Parameters
    ----------
    ratio : float
        Shift to detect (``mu1 = ratio * mu0``).
    h : float
        Decision limit of the CUSUM (alarm when ``S > h``; ``S`` resets after an alarm).
    baseline : int
        Periods (before the run window and a 2-period guard band) that estimate ``mu0``.
    run : int
        Periods over which the CUSUM is accumulated up to the origin.
    """

    is_detector = True

    def __init__(self, *, ratio: float = 2.0, h: float = 2.0, baseline: int = 52,
                 run: int = 8) -> None:
        self.ratio = ratio
        self.h = h
        self.baseline = baseline
        self.run = run

    def _fit_matrix(self, Y):
        T = Y.shape[1]
        run = min(self.run, max(T - 4, 1))
        hi = T - run
        lo = max(0, hi - self.baseline)
        base = Y[:, lo:hi] if hi > lo else Y
        m = base.mean(1)
        # Floor mu0: an area with no baseline case still needs a finite in-control mean.
        floor = 0.5 / max(base.shape[1], 1)
        self.mu0_ = np.maximum(m, floor)
        self.alpha_ = _nb_from_moments(m, base.var(1, ddof=1) if base.shape[1] > 1 else m)
        S = np.zeros(len(Y))
        for t in range(T - run, T):  # loop over the short run window, vectorised over areas
            S = np.maximum(0.0, S + self._llr(Y[:, t]))
            S = np.where(S > self.h, 0.0, S)  # reset after an alarm
        self.S_ = S

    def _llr(self, y):
        return y * np.log(self.ratio) - (self.ratio - 1) * self.mu0_

    def _predict_matrix(self, horizon):
        return self.mu0_, self.alpha_

    def _statistic(self, y, mu, alpha):
        return np.maximum(0.0, self.S_ + self._llr(y))
