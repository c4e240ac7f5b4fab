"""EARS C2 and Poisson CUSUM outbreak detectors (CDC Early Aberration Reporting System).

- **EARS C2** (Hutwagner et al. 2003; as ``surveillance::earsC(method="C2")``): baseline =
  the 7 periods t-3 … t-9 (a 2-period guard band t-1, t-2 keeps a starting outbreak out of
  its own baseline); ``C2 = (y_t - mean) / sd``; alarm when ``C2 > 3``.
- **Poisson CUSUM** (Lucas 1985): in-control mean ``mu0`` from the baseline, out-of-control
  ``mu1 = ratio * mu0``; ``S_t = max(0, S_{t-1} + y_t log(mu1/mu0) - (mu1 - mu0))`` (the
  log-likelihood ratio), reset to 0 after an alarm; alarm when ``S_t > h``.

Both also give a predictive distribution (NB2 from the baseline mean and variance) so they
colour areas like any other model.
"""

from __future__ import annotations

import numpy as np

from analytics.models.base import CountModel

__all__ = ["EarsC2", "PoissonCUSUM"]


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
