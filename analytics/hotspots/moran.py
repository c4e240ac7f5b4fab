"""Local Moran's I (Anselin 1995) with quadrants HH/LL/HL/LH and permutation inference.

For standardised values ``z = (x - xbar)`` and row-standardised weights::

    I_i = (z_i / m2) * sum_j w_ij z_j,     m2 = sum_k z_k^2 / (n - 1)

as esda's ``Moran_Local`` (``transform="R"``). Quadrants: HH (high value, high neighbours),
LH, LL, HL — esda's ``q`` 1, 2, 3, 4. Inference is the seeded conditional permutation shared
with Gi* (:mod:`analytics.hotspots.inference`); ``p`` is two-sided (twice esda's folded
``p_sim``), ``p_fdr`` its Benjamini–Hochberg adjustment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from analytics.hotspots.gistar import _as_sparse
from analytics.hotspots.inference import conditional_lags, fdr_bh, folded_pseudo_p
from analytics.hotspots.weights import padded_neighbours

__all__ = ["LocalMoran", "QUADRANTS"]

#: esda's quadrant codes → labels.
QUADRANTS: dict[int, str] = {1: "HH", 2: "LH", 3: "LL", 4: "HL"}


class LocalMoran:
    """Local Moran's I with seeded conditional permutations.

    Parameters
    ----------
    permutations : int
        Number of conditional permutations (at least 1).
    seed : int or None
        Seed of the permutations.
    alpha : float
        Significance level for ``class_``.
    fdr : bool
        Judge significance by ``p_fdr_`` instead of ``p_``.

    Attributes
    ----------
    Is_ : ndarray
        Local Moran's I per area.
    q_ : ndarray of int
        Quadrant 1 HH, 2 LH, 3 LL, 4 HL.
    quadrant_ : ndarray of str
        Quadrant label.
    z_sim_ : ndarray
        (I - mean of simulated I) / sd of simulated I.
    p_sim_ : ndarray
        esda-style folded one-sided pseudo p.
    p_, p_fdr_ : ndarray
        Two-sided pseudo p and its BH adjustment.
    class_ : ndarray of str
        Quadrant label where significant, else ``not_significant``.
    """

    def __init__(
        self, *, permutations: int = 999, seed: int | None = 12345, alpha: float = 0.05, fdr: bool = False
    ) -> None:
        self.permutations = permutations
        self.seed = seed
        self.alpha = alpha
        self.fdr = fdr

    def fit(self, y, w) -> LocalMoran:
        """Compute local Moran's I of ``y`` under ``w`` (row-standardised here)."""
        if self.permutations < 1:
            raise ValueError("LocalMoran needs permutations >= 1")
        y = np.asarray(y, dtype=float).ravel()
        mat = _as_sparse(w).astype(float)
        if mat.shape != (len(y), len(y)):
            raise ValueError(f"weights are {mat.shape[0]}×{mat.shape[1]} but y has {len(y)} values")
        mat = _row_standardise(mat)
        z = y - y.mean()
        m2 = (z**2).sum() / max(len(y) - 1, 1)  # esda: I_i = (n - 1) z_i lag_i / sum z^2
        m2 = m2 if m2 > 0 else 1.0
        lag = mat @ z
        self.y_ = y
        self.Is_ = z * lag / m2
        q = np.where(z >= 0, np.where(lag >= 0, 1, 4), np.where(lag >= 0, 2, 3))
        self.q_ = q
        self.quadrant_ = np.array([QUADRANTS[int(k)] for k in q], dtype=object)
        neigh, counts = padded_neighbours(mat)
        ge = np.zeros(len(y))
        le = np.zeros(len(y))
        mean = np.zeros(len(y))
        sd = np.zeros(len(y))
        for rows, sims in conditional_lags(z, neigh, counts, self.permutations, self.seed):
            isim = z[rows, None] * sims / m2
            obs = self.Is_[rows]
            tol = 1e-9 * (np.abs(obs) + 1.0)
            ge[rows] = (isim >= (obs - tol)[:, None]).sum(axis=1)
            le[rows] = (isim <= (obs + tol)[:, None]).sum(axis=1)
            mean[rows] = isim.mean(axis=1)
            sd[rows] = isim.std(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.z_sim_ = np.where(sd > 0, (self.Is_ - mean) / np.where(sd > 0, sd, 1.0), 0.0)
        self.p_sim_ = folded_pseudo_p(ge, le, self.permutations)
        self.p_ = np.minimum(1.0, 2.0 * self.p_sim_)
        self.p_fdr_ = fdr_bh(self.p_)
        sig = (self.p_fdr_ if self.fdr else self.p_) <= self.alpha
        self.class_ = np.where(sig, self.quadrant_, "not_significant").astype(object)
        return self

    def to_frame(self, area_id=None) -> pd.DataFrame:
        """Tidy result: area_id, value, I, quadrant, z, p, p_fdr, class."""
        n = len(self.y_)
        return pd.DataFrame(
            {
                "area_id": np.arange(n) if area_id is None else np.asarray(area_id),
                "value": self.y_,
                "I": self.Is_,
                "quadrant": self.quadrant_,
                "z": self.z_sim_,
                "p": self.p_,
                "p_fdr": self.p_fdr_,
                "class": self.class_,
            }
        )


def _row_standardise(mat: sp.csr_matrix) -> sp.csr_matrix:
    mat = sp.csr_matrix(mat, copy=True)
    mat.setdiag(0)
    mat.eliminate_zeros()
    rs = np.asarray(mat.sum(axis=1)).ravel()
    inv = np.divide(1.0, rs, out=np.zeros_like(rs), where=rs > 0)
    return sp.csr_matrix(sp.diags(inv) @ mat)
