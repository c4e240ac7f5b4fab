"""Count distributions of the predictive table: Poisson and negative binomial (NB2).

Every model in :mod:`analytics.models` describes its forecast for one (area, period,
category) by a mean ``mu`` and an NB2 dispersion ``alpha`` (``var = mu + alpha * mu**2``;
``alpha == 0`` is Poisson). This module turns those two numbers into quantiles, CDF values,
upper-tail probabilities and probability tables, vectorised over arrays (scipy.stats).

The NB2 parametrisation maps to :data:`scipy.stats.nbinom` as ``n = 1/alpha`` and
``p = 1/(1 + alpha*mu)``.

Examples
--------
>>> round(float(p_exceed(5, 2.0, 0.0)), 5)      # Poisson(2): P(X >= 5)
0.05265
>>> int(quantile(0.5, 2.0, 0.0))
2
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = [
    "POISSON_ALPHA",
    "cdf",
    "dist_name",
    "logpmf",
    "p_exceed",
    "crps",
    "quantile",
]

#: Dispersions at or below this are treated as Poisson (NB2 with alpha -> 0).
POISSON_ALPHA = 1e-8

#: Means are floored here so that a zero forecast still defines a distribution.
_MU_FLOOR = 1e-9


def _prep(mu, alpha):
    mu = np.maximum(np.asarray(mu, dtype=float), _MU_FLOOR)
    alpha = np.maximum(np.asarray(alpha, dtype=float), 0.0)
    mu, alpha = np.broadcast_arrays(mu, alpha)
    nb = alpha > POISSON_ALPHA
    # Parameters for scipy's nbinom; dummy values where Poisson is used.
    a = np.where(nb, alpha, 1.0)
    n = 1.0 / a
    p = 1.0 / (1.0 + a * mu)
    return mu, nb, n, p


def dist_name(alpha) -> np.ndarray:
    """``"nbinom"`` where ``alpha > POISSON_ALPHA`` else ``"poisson"`` (object array)."""
    alpha = np.asarray(alpha, dtype=float)
    return np.where(alpha > POISSON_ALPHA, "nbinom", "poisson").astype(object)


def quantile(q, mu, alpha) -> np.ndarray:
    """Smallest integer ``k`` with ``P(X <= k) >= q`` (the discrete quantile).

    Parameters
    ----------
    q : float or array_like
        Probability level(s) in (0, 1).
    mu, alpha : array_like
        Mean and NB2 dispersion (broadcast together and with ``q``).

    Returns
    -------
    ndarray of int64
    """
    q = np.asarray(q, dtype=float)
    mu, nb, n, p = _prep(mu, alpha)
    q, mu, nb, n, p = np.broadcast_arrays(q, mu, nb, n, p)
    out = np.where(nb, stats.nbinom.ppf(q, n, p), stats.poisson.ppf(q, mu))
    return np.nan_to_num(out, nan=0.0).astype(np.int64)


def cdf(k, mu, alpha) -> np.ndarray:
    """``P(X <= k)``."""
    k = np.asarray(k, dtype=float)
    mu, nb, n, p = _prep(mu, alpha)
    return np.where(nb, stats.nbinom.cdf(k, n, p), stats.poisson.cdf(k, mu))


def p_exceed(observed, mu, alpha) -> np.ndarray:
    """Upper-tail probability ``P(X >= observed)`` (1 for observed <= 0).

    This is the p-value of the one-sided test "more than expected"; with a discrete
    distribution it is ``1 - cdf(observed - 1)``, computed with the survival function for
    accuracy in the far tail.
    """
    y = np.asarray(observed, dtype=float)
    mu, nb, n, p = _prep(mu, alpha)
    out = np.where(nb, stats.nbinom.sf(y - 1, n, p), stats.poisson.sf(y - 1, mu))
    return np.clip(out, 0.0, 1.0)


def logpmf(k, mu, alpha) -> np.ndarray:
    """``log P(X = k)``."""
    k = np.asarray(k, dtype=float)
    mu, nb, n, p = _prep(mu, alpha)
    return np.where(nb, stats.nbinom.logpmf(k, n, p), stats.poisson.logpmf(k, mu))


def crps(observed, mu, alpha, chunk: int = 20000) -> np.ndarray:
    """Continuous ranked probability score of a count forecast (lower is better).

    For a discrete distribution ``CRPS = sum_k (F(k) - 1{y <= k})**2`` over ``k = 0, 1, ...``;
    the sum stops where ``F(k)`` is 1 to within 1e-10 and ``k >= y``. Rows are processed in
    chunks sorted by their mean so each chunk's support stays short.
    """
    y = np.ravel(np.asarray(observed, dtype=float))
    mu = np.ravel(np.broadcast_to(np.asarray(mu, dtype=float), y.shape))
    al = np.ravel(np.broadcast_to(np.asarray(alpha, dtype=float), y.shape))
    out = np.empty(y.size)
    order = np.argsort(mu, kind="stable")
    for s in range(0, y.size, chunk):
        idx = order[s : s + chunk]
        top = quantile(1 - 1e-10, mu[idx], al[idx])
        kmax = int(max(top.max(), y[idx].max())) + 1
        k = np.arange(kmax + 1, dtype=float)
        F = cdf(k[None, :], mu[idx, None], al[idx, None])
        step = (y[idx, None] <= k[None, :]).astype(float)
        out[idx] = ((F - step) ** 2).sum(axis=1)
    return out.reshape(np.shape(observed)) if np.ndim(observed) else out
