"""Getis-Ord Gi* hot-spot statistic (local, self included), with permutation inference.

The z-score is the analytic Gi* of Getis & Ord (1992) / Ord & Getis (1995) as ArcGIS "Hot Spot
Analysis" computes it for binary weights with the area itself included::

    z_i = (sum_j w_ij x_j - xbar W_i) / (S sqrt((n S1_i - W_i^2) / (n - 1)))

with ``W_i = sum_j w_ij``, ``S1_i = sum_j w_ij^2``, ``xbar`` and ``S`` the mean and population
standard deviation of ``x``. For binary weights it equals esda's ``G_Local(star=True,
transform="B").Zs``.

Inference:

- ``p``: the analytic two-sided normal p-value of ``z``, ``2 * (1 - Phi(|z|))`` — what ArcGIS
  reports, and twice esda's one-sided ``p_norm``. It is what the classes and ``p_fdr`` use.
- ``p_sim``: the conditional-permutation p (esda's scheme, seeded), two-sided (twice the
  folded one-sided pseudo p, capped at 1): a check that does not lean on normality. Its floor
  is ``2 / (permutations + 1)``, which is why it is not used for FDR — with 999 permutations
  over 3,000 cells even a cluster with ``z = 23.5`` (analytic p ~ 1e-122) would not survive BH.
- ``p_fdr``: the Benjamini–Hochberg adjustment of ``p``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from analytics.hotspots.inference import (
    conditional_lags,
    fdr_bh,
    folded_pseudo_p,
    hot_cold_class,
)
from analytics.hotspots.weights import padded_neighbours

__all__ = ["GiStar", "gistar_z", "star_matrix"]


class GiStar:
    """Local Getis-Ord Gi* with seeded permutation inference and FDR.

    Parameters
    ----------
    permutations : int
        Conditional permutations (0: analytic normal p-values only).
    seed : int or None
        Seed of the permutations.
    fdr : bool
        Classify by the Benjamini–Hochberg adjusted p (``p_fdr``) rather than ``p``. Off by
        default, as in ArcGIS Hot Spot Analysis; ``p_fdr`` is always reported.

    Attributes
    ----------
    y_ : ndarray
        The values.
    gi_ : ndarray
        Gi* as a share: ``sum_j w_ij x_j / sum_j x_j``.
    z_ : ndarray
        Analytic Gi* z-score.
    p_norm_, p_ : ndarray
        Two-sided normal p of ``z_`` (the same array; ``p_`` is what inference uses).
    p_sim_ : ndarray or None
        esda-style folded one-sided permutation p (None without permutations).
    p_perm_ : ndarray
        Two-sided permutation p, ``min(1, 2 p_sim_)`` (NaN without permutations).
    p_fdr_ : ndarray
        Benjamini–Hochberg adjusted ``p_``.
    class_ : ndarray of str
        ``hot_99``, ``hot_95``, ``hot_90``, ``cold_…`` or ``not_significant``.

    Examples
    --------
    >>> import libpysal
    >>> w = libpysal.weights.lat2W(5, 5)
    >>> y = np.zeros(25); y[[0, 1, 5, 6]] = 10
    >>> g = GiStar(permutations=99, seed=1).fit(y, w)
    >>> bool(g.z_[0] > 2)
    True
    """

    def __init__(self, *, permutations: int = 999, seed: int | None = 12345, fdr: bool = False) -> None:
        self.permutations = permutations
        self.seed = seed
        self.fdr = fdr

    def fit(self, y, w) -> GiStar:
        """Compute Gi* for ``y`` (length n) under weights ``w`` (libpysal W or sparse n×n)."""
        y = np.asarray(y, dtype=float).ravel()
        mat = _as_sparse(w)
        if mat.shape != (len(y), len(y)):
            raise ValueError(f"weights are {mat.shape[0]}×{mat.shape[1]} but y has {len(y)} values")
        if not np.isfinite(y).all():
            raise ValueError("y has NaN or infinite values; fill or drop those areas first")
        star = star_matrix(mat)
        self.y_ = y
        total = y.sum()
        lag = star @ y
        self.gi_ = lag / total if total else np.full(len(y), np.nan)
        self.z_ = gistar_z(y[:, None], star)[:, 0]
        self.p_norm_ = 2 * stats.norm.sf(np.abs(self.z_))
        self.p_sim_ = None
        if self.permutations and len(y) > 2:
            neigh, counts = padded_neighbours(star)
            obs = lag - y  # off-diagonal part; the area's own value is held fixed
            ge = np.zeros(len(y))
            le = np.zeros(len(y))
            for rows, sims in conditional_lags(y, neigh, counts, self.permutations, self.seed):
                tol = 1e-9 * (np.abs(obs[rows]) + 1.0)
                ge[rows] = (sims >= (obs[rows] - tol)[:, None]).sum(axis=1)
                le[rows] = (sims <= (obs[rows] + tol)[:, None]).sum(axis=1)
            self.p_sim_ = folded_pseudo_p(ge, le, self.permutations)
            self.p_perm_ = np.minimum(1.0, 2.0 * self.p_sim_)
        else:
            self.p_perm_ = np.full(len(y), np.nan)
        self.p_ = self.p_norm_
        self.p_fdr_ = fdr_bh(self.p_)
        self.class_ = hot_cold_class(self.z_, self.p_fdr_ if self.fdr else self.p_)
        return self

    def to_frame(self, area_id=None) -> pd.DataFrame:
        """Tidy result: area_id, value, gi, z, p (analytic), p_sim (permutation), p_fdr, class.

        ``p_norm`` repeats ``p`` for readers of the earlier layout.
        """
        n = len(self.y_)
        return pd.DataFrame(
            {
                "area_id": np.arange(n) if area_id is None else np.asarray(area_id),
                "value": self.y_,
                "gi": self.gi_,
                "z": self.z_,
                "p": self.p_,
                "p_sim": self.p_perm_,
                "p_norm": self.p_norm_,
                "p_fdr": self.p_fdr_,
                "class": self.class_,
            }
        )


def star_matrix(w) -> sp.csr_matrix:
    """Binary weights with the diagonal set to 1 (each area is its own neighbour for Gi*)."""
    mat = sp.csr_matrix(_as_sparse(w), dtype=float, copy=True)
    mat.data[:] = 1.0
    mat.setdiag(1.0)
    return mat


def gistar_z(x: np.ndarray, star: sp.spmatrix) -> np.ndarray:
    """Analytic Gi* z for every column of ``x`` at once (areas × periods).

    Parameters
    ----------
    x : ndarray (n, T)
        Values per area (rows) and period (columns).
    star : sparse (n, n)
        Weights *including* the diagonal (see :func:`star_matrix`).

    Returns
    -------
    ndarray (n, T)
        z-scores; 0 in a period where every area has the same value (no variation).
    """
    x = np.asarray(x, dtype=float)
    n = x.shape[0]
    star = sp.csr_matrix(star)
    wi = np.asarray(star.sum(axis=1)).ravel()
    s1 = np.asarray(star.multiply(star).sum(axis=1)).ravel()
    xbar = x.mean(axis=0)
    s = np.sqrt(np.maximum((x**2).mean(axis=0) - xbar**2, 0.0))
    num = star @ x - wi[:, None] * xbar[None, :]
    den_w = np.sqrt(np.maximum((n * s1 - wi**2) / max(n - 1, 1), 0.0))
    den = den_w[:, None] * s[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return z


def _as_sparse(w) -> sp.csr_matrix:
    if sp.issparse(w):
        return sp.csr_matrix(w)
    if hasattr(w, "sparse"):
        return sp.csr_matrix(w.sparse)
    raise TypeError(f"w must be a libpysal W or a scipy sparse matrix, not {type(w).__name__}")
