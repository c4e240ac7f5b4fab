"""Count distributions of the predictive table: Poisson and negative binomial (NB2).

Every model in :mod:`analytics.models` describes its forecast for one (area, period,
category) by a mean ``mu`` and an NB2 dispersion ``alpha`` (``var = mu + alpha * mu**2``;
``alpha == 0`` is Poisson). This module turns those two numbers into quantiles, CDF values,
upper-tail probabilities, probability tables and the CRPS, vectorised over arrays (scipy.stats).

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
from scipy import special, stats

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


def crps(observed, mu, alpha) -> np.ndarray:
    """Continuous ranked probability score of a count forecast (lower is better), exactly.

    ``CRPS = E|X - y| - E|X - X'| / 2`` with ``X, X'`` independent draws of the forecast; for a
    count ``y`` this equals ``sum_k (F(k) - 1{k >= y})**2`` over ``k = 0, 1, ...``. Both
    expectations have closed forms (no sum over the support, so heavy tails cost nothing):

    * ``E|X - y| = y (2 F(y) - 1) + mu (1 - 2 G(y - 1))``, where ``G`` is the CDF of the size-biased
      distribution ``k P(X = k) / mu`` shifted by one: NB2 with size ``1/alpha + 1`` (same ``p``),
      or the same Poisson;
    * Poisson: ``E|X - X'| / 2 = mu e^{-2 mu} (I0(2 mu) + I1(2 mu))`` (modified Bessel functions);
    * NB2 (``q = alpha mu / (1 + alpha mu)``, ``n = 1/alpha``):
      ``E|X - X'| / 2 = mu / (1 + q) * 2F1(1 - n, 1/2; 2; 4 q / (1 + q)**2)``
      (Wei & Held 2014 after a Pfaff transformation that keeps the argument in [0, 1)).

    Parameters
    ----------
    observed : array_like
        Observed counts ``y`` (a non-integer ``y`` gets the integral CRPS of the step CDF).
    mu, alpha : array_like
        Mean and NB2 dispersion, broadcast with ``observed``.

    Returns
    -------
    ndarray of float
        One score per broadcast element (NaN where an input is NaN).
    """
    y, mu_raw, al = np.broadcast_arrays(np.asarray(observed, dtype=float),
                                        np.asarray(mu, dtype=float), np.asarray(alpha, dtype=float))
    shape = y.shape
    y, mu_raw, al = y.ravel(), mu_raw.ravel(), al.ravel()
    m, nb, n, p = _prep(mu_raw, al)
    # the mean of the NB2 scipy evaluates (1 - p rounds when alpha*mu is tiny): one distribution
    m = np.where(nb, n * (1.0 - p) / p, m)
    fy = np.floor(y)
    with np.errstate(invalid="ignore", over="ignore"):
        f_y = np.where(nb, stats.nbinom.cdf(fy, n, p), stats.poisson.cdf(fy, m))
        g_y = np.where(nb, stats.nbinom.cdf(fy - 1, n + 1, p), stats.poisson.cdf(fy - 1, m))
        abs_dev = y * (2 * f_y - 1) + m * (1 - 2 * g_y)
        half = _half_gini_poisson(m)
        closed = nb & (n <= _HYP2F1_MAX_N)
        q = 1.0 - p[closed]
        half[closed] = m[closed] / (1 + q) * special.hyp2f1(1 - n[closed], 0.5, 2.0,
                                                             4 * q / (1 + q) ** 2)
        near = nb & (n > _HYP2F1_MAX_N) & np.isfinite(m)
        if near.any():
            half[near] = _half_gini_by_sum(n[near], p[near])
    half[np.isnan(mu_raw) | np.isnan(al)] = np.nan
    return (abs_dev - half).reshape(shape)


#: scipy's ``hyp2f1`` loses digits as ``|a| = n - 1`` grows (NaN past a few 10^4);
#: NB2 rows with a size ``n`` above 1000 (``alpha < 1e-3``) sum over their (short, near-Poisson) support instead.
_HYP2F1_MAX_N = 1e3
#: Tail mass left out of that sum on each side (its share of the score is below 1e-13).
_TAIL = 1e-16
#: Elements per block of the sum (bounds the memory of one block to ~50 MB).
_BLOCK = 2_000_000


def _half_gini_poisson(mu: np.ndarray) -> np.ndarray:
    """``E|X - X'| / 2 = mu e^{-2 mu} (I0(2 mu) + I1(2 mu))`` for Poisson(mu).

    scipy's scaled Bessel functions return NaN for arguments near 1e9; from ``2 mu = 1e4`` on the
    asymptotic series (three terms; relative error below 1e-15 there) is used instead.
    """
    z = 2 * np.asarray(mu, dtype=float)
    big = z > 1e4
    zs = np.where(big, z, 1.0)
    series = 2 / np.sqrt(2 * np.pi * zs) * (1 - 1 / (8 * zs) - 3 / (128 * zs**2) - 15 / (1024 * zs**3))
    small = np.where(big, 0.0, z)
    return mu * np.where(big, series, special.ive(0, small) + special.ive(1, small))


#: Beyond this many terms the near-Poisson sum becomes an integral (see :func:`_half_gini_by_sum`).
_MAX_TERMS = 20_000
#: Gauss-Legendre panels and nodes per panel of that integral.
_PANELS, _NODES = 64, 16


def _half_gini_by_sum(n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``E|X - X'| / 2 = sum_k F(k) (1 - F(k))`` for NB(n, p) by a sum over the central support.

    Used for sizes ``n`` beyond :data:`_HYP2F1_MAX_N`, where the distribution is nearly Poisson and
    its support short (about ``16 sd`` wide); rows are summed in blocks of similar width. A support
    wider than :data:`_MAX_TERMS` (a huge mean) is integrated instead: ``F(x) = I_p(n, x + 1)`` is
    smooth on the scale of its sd (> 1000 there), where the integer sum equals the integral to
    far below 1e-12 (Poisson summation), computed by Gauss-Legendre panels.
    """
    lo = np.maximum(stats.nbinom.ppf(_TAIL, n, p) - 1, 0)
    hi = stats.nbinom.isf(_TAIL, n, p) + 1
    out = np.empty(n.size)
    wide = hi - lo + 1 > _MAX_TERMS
    if wide.any():
        x, w = np.polynomial.legendre.leggauss(_NODES)
        edges = np.linspace(lo[wide] - 0.5, hi[wide] + 0.5, _PANELS + 1, axis=1)
        half_w = (edges[:, 1:] - edges[:, :-1]) / 2
        mid = (edges[:, 1:] + edges[:, :-1]) / 2
        xs = (mid[:, :, None] + half_w[:, :, None] * x[None, None, :]).reshape(len(mid), -1)
        F = special.betainc(n[wide, None], xs + 1, p[wide, None])
        g = F * special.betainc(xs + 1, n[wide, None], 1 - p[wide, None])  # 1 - F, accurately
        out[wide] = (g * (half_w[:, :, None] * w[None, None, :]).reshape(len(mid), -1)).sum(axis=1)
    width = np.where(wide, 1, hi - lo + 1).astype(np.int64)
    order = np.argsort(width, kind="stable")
    order = order[~wide[order]]
    s = 0
    while s < order.size:
        rows = max(1, _BLOCK // int(width[order[s]]))
        rows = max(1, _BLOCK // int(width[order[min(s + rows, order.size) - 1]]))  # widest last
        idx = order[s : s + rows]
        k = lo[idx, None] + np.arange(int(width[idx].max()))[None, :]
        F = stats.nbinom.cdf(k, n[idx, None], p[idx, None])
        S = stats.nbinom.sf(k, n[idx, None], p[idx, None])
        out[idx] = (F * S).sum(axis=1)
        s += rows
    return out
