"""Inference shared by the local statistics: conditional permutation, FDR, hot/cold classes.

Conditional randomisation follows esda's scheme (``esda.crand``): for every permutation one
row of random positions is drawn, and each area ``i`` takes the values of the other
``n - 1`` areas at those positions as its ``k_i`` simulated neighbours, holding its own value
fixed. Here it is vectorised over areas in chunks (no numba needed): the simulated spatial lag
of every area for every permutation is a gather plus a weighted sum.
"""

from __future__ import annotations

import numpy as np

from analytics.multiple_testing import fdr_bh  # the one Benjamini–Hochberg

__all__ = [
    "LEVELS",
    "conditional_lags",
    "folded_pseudo_p",
    "fdr_bh",
    "hot_cold_class",
]

#: Confidence levels of the hot/cold classes, as (label, two-sided alpha).
LEVELS: tuple[tuple[str, float], ...] = (("99", 0.01), ("95", 0.05), ("90", 0.10))


def conditional_lags(
    y: np.ndarray,
    weights: np.ndarray,
    counts: np.ndarray,
    permutations: int,
    seed: int | None,
    *,
    chunk: int = 256,
):
    """Yield ``(rows, lags)``: simulated spatial lags under conditional randomisation.

    Parameters
    ----------
    y : ndarray (n,)
        The variable (already centred/scaled as the statistic needs).
    weights, counts : ndarray
        Zero-padded neighbour weights (n, kmax) and neighbour counts, from
        :func:`analytics.hotspots.weights.padded_neighbours`.
    permutations : int
        Number of random draws.
    seed : int or None
        Seed of ``numpy.random.default_rng``; the same seed gives the same p-values.
    chunk : int
        Areas per block (memory is about chunk × permutations × kmax × 8 bytes).

    Yields
    ------
    rows : slice
        The areas of this block.
    lags : ndarray (len(rows), permutations)
        ``sum_m weights[i, m] * y[draw_i(m)]`` for each permutation.
    """
    n = len(y)
    kmax = weights.shape[1]
    rng = np.random.default_rng(seed)
    # one set of positions per permutation, shared by all areas (as esda does); positions
    # index the n-1 "other" areas, so position r maps to area r (r < i) or r + 1 (r >= i).
    draws = np.stack([rng.permutation(n - 1)[:kmax] for _ in range(permutations)]) if n > 1 else (
        np.zeros((permutations, kmax), dtype=int)
    )
    for start in range(0, n, chunk):
        rows = slice(start, min(start + chunk, n))
        ids = np.arange(rows.start, rows.stop)
        idx = draws[None, :, :] + (draws[None, :, :] >= ids[:, None, None])
        idx = np.minimum(idx, n - 1)
        vals = y[idx]  # (c, P, kmax)
        yield rows, np.einsum("cpm,cm->cp", vals, weights[rows])


def folded_pseudo_p(n_ge: np.ndarray, n_le: np.ndarray, permutations: int) -> np.ndarray:
    """Folded one-sided pseudo p: ``(min(#sim >= obs, #sim <= obs) + 1) / (P + 1)``.

    This is esda's ``p_sim`` (which folds ``larger`` to ``P - larger``) except that ties with
    the observed value count on both sides, which is conservative for count data where a
    simulated lag often equals the observed one exactly.
    """
    n_ge = np.asarray(n_ge, dtype=float)
    n_le = np.asarray(n_le, dtype=float)
    return (np.minimum(n_ge, n_le) + 1.0) / (permutations + 1.0)


def hot_cold_class(z: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Class strings ``hot_99 … cold_90`` / ``not_significant`` from sign of z and two-sided p.

    Examples
    --------
    >>> hot_cold_class(np.array([3.0, -2.0, 1.7, 0.5]), np.array([0.003, 0.04, 0.09, 0.6])).tolist()
    ['hot_99', 'cold_95', 'hot_90', 'not_significant']
    """
    z = np.asarray(z, dtype=float)
    p = np.asarray(p, dtype=float)
    out = np.full(z.shape, "not_significant", dtype=object)
    for label, alpha in reversed(LEVELS):  # 90 first, overwritten by stricter levels
        sig = np.isfinite(p) & (p <= alpha)
        out[sig & (z > 0)] = f"hot_{label}"
        out[sig & (z < 0)] = f"cold_{label}"
    return out
