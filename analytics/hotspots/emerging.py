"""Emerging hot spot analysis over a space-time cube (areas × periods), after ArcGIS.

Each bin (area, period) gets a Gi* z-score (analytic, :func:`analytics.hotspots.gistar_z`,
all periods in one sparse product); bins are significant hot/cold at ``alpha`` (two-sided,
Benjamini–Hochberg within each period when ``fdr``). The trend of each area's z series is
tested with Mann–Kendall (:mod:`analytics.hotspots.mannkendall`). Each area is then put in one
of the categories defined in Esri's "How Emerging Hot Spot Analysis works"
(https://pro.arcgis.com/en/pro-app/latest/tool-reference/space-time-pattern-mining/learnmoreemerging.htm;
ArcMap 10.3 version: https://desktop.arcgis.com/en/arcmap/10.3/tools/space-time-pattern-mining-toolbox/learnmoreemerging.htm):

- *new*: significant hot in the final period and never significant before;
- *consecutive*: one uninterrupted run of at least two significant hot bins ending in the
  final period, no significant bin before the run, and < 90 % of bins hot;
- *intensifying*: hot in >= 90 % of periods including the final one, with a significant
  upward Mann–Kendall trend of z;
- *persistent*: hot in >= 90 % of periods including the final one, no significant trend;
- *diminishing*: as intensifying but with a significant downward trend;
- *sporadic*: hot in the final period, an on-again off-again hot history, < 90 % hot and
  never significantly cold;
- *oscillating*: hot in the final period, significantly cold in some earlier period, < 90 %
  hot;
- *historical*: not hot in the final period but hot in >= 90 % of periods;

and the cold twins (hot ↔ cold, upward ↔ downward), else *no pattern*. Where Esri's prose
leaves an overlap we resolve it so the categories are mutually exclusive: the ">= 90 %"
categories are tested first (hot, then cold); "new" and "consecutive" require no other
significant bin of either sign (an earlier cold bin makes the area oscillating), as sfdep
does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from analytics.hotspots.gistar import _as_sparse, gistar_z, star_matrix
from analytics.hotspots.inference import fdr_bh
from analytics.hotspots.mannkendall import mann_kendall

__all__ = ["EmergingHotSpots", "CATEGORIES", "classify_emerging", "spacetime_gistar_z"]

_KINDS = ("new", "consecutive", "intensifying", "persistent", "diminishing", "sporadic",
          "oscillating", "historical")
#: Every category code, hot first, then cold, then ``no_pattern``.
CATEGORIES: tuple[str, ...] = (
    *(f"{k}_hot_spot" for k in _KINDS),
    *(f"{k}_cold_spot" for k in _KINDS),
    "no_pattern",
)


class EmergingHotSpots:
    """Emerging hot spot analysis (Gi* per bin + Mann–Kendall trend + Esri categories).

    Parameters
    ----------
    alpha : float
        Significance of a hot/cold bin (two-sided).
    trend_alpha : float
        Significance of the Mann–Kendall trend.
    fdr : bool
        Benjamini–Hochberg within each period before judging bins.
    time_window : int
        Earlier periods included in a bin's neighbourhood (Esri's "neighborhood time step");
        0 computes Gi* within each period separately; > 0 uses the space-time Gi* with the
        mean and standard deviation of the whole cube, as Esri does.

    Attributes
    ----------
    z_ : ndarray (n, T)
        Gi* z per bin.
    p_ : ndarray (n, T)
        Two-sided normal p (FDR-adjusted when ``fdr``).
    hot_, cold_ : ndarray of bool (n, T)
        Significant hot / cold bins.
    trend_z_, trend_p_, tau_ : ndarray (n,)
        Mann–Kendall on each area's z series.
    category_ : ndarray of str (n,)
        One of :data:`CATEGORIES`.
    """

    def __init__(
        self, *, alpha: float = 0.05, trend_alpha: float = 0.05, fdr: bool = True, time_window: int = 0
    ) -> None:
        self.alpha = alpha
        self.trend_alpha = trend_alpha
        self.fdr = fdr
        self.time_window = time_window

    def fit(self, x, w) -> EmergingHotSpots:
        """Fit on counts ``x`` (areas × periods, time increasing along columns)."""
        x = np.asarray(x, dtype=float)
        if x.ndim != 2:
            raise ValueError(f"x must be areas × periods (2-D), got shape {x.shape}")
        mat = _as_sparse(w)
        if mat.shape[0] != x.shape[0]:
            raise ValueError(f"weights have {mat.shape[0]} areas but x has {x.shape[0]} rows")
        if x.shape[1] < 2:
            raise ValueError("emerging hot spot analysis needs at least 2 periods")
        star = star_matrix(mat)
        if self.time_window > 0:
            z = spacetime_gistar_z(x, star, self.time_window)
        else:
            z = gistar_z(x, star)
        p = 2.0 * stats.norm.sf(np.abs(z))
        if self.fdr:
            p = np.column_stack([fdr_bh(p[:, t]) for t in range(p.shape[1])])
        sig = p <= self.alpha
        self.x_ = x
        self.z_ = z
        self.p_ = p
        self.hot_ = sig & (z > 0)
        self.cold_ = sig & (z < 0)
        mk = mann_kendall(z)
        self.trend_z_, self.trend_p_, self.tau_ = mk["z"], mk["p"], mk["tau"]
        self.category_ = classify_emerging(
            self.hot_, self.cold_, self.trend_z_, self.trend_p_, trend_alpha=self.trend_alpha
        )
        return self

    def to_frame(self, area_id=None) -> pd.DataFrame:
        """One row per area: area_id, category, trend_z, trend_p, tau, n_hot, n_cold,
        z_last, total (sum of x)."""
        n = self.z_.shape[0]
        return pd.DataFrame(
            {
                "area_id": np.arange(n) if area_id is None else np.asarray(area_id),
                "category": self.category_,
                "trend_z": self.trend_z_,
                "trend_p": self.trend_p_,
                "tau": self.tau_,
                "n_hot": self.hot_.sum(axis=1),
                "n_cold": self.cold_.sum(axis=1),
                "z_last": self.z_[:, -1],
                "total": self.x_.sum(axis=1),
            }
        )


def classify_emerging(
    hot: np.ndarray,
    cold: np.ndarray,
    trend_z: np.ndarray,
    trend_p: np.ndarray,
    *,
    trend_alpha: float = 0.05,
) -> np.ndarray:
    """Esri emerging hot spot categories from significant bins and the trend (vectorised).

    Parameters
    ----------
    hot, cold : ndarray of bool (n, T)
        Significant hot / cold bins, time along columns.
    trend_z, trend_p : ndarray (n,)
        Mann–Kendall z (sign = direction) and p of the area's Gi* z series.
    trend_alpha : float
        Significance of the trend.

    Returns
    -------
    ndarray of str (n,)
        Category codes from :data:`CATEGORIES`.
    """
    hot = np.asarray(hot, dtype=bool)
    cold = np.asarray(cold, dtype=bool)
    n, t = hot.shape
    up = (np.asarray(trend_p) <= trend_alpha) & (np.asarray(trend_z) > 0)
    down = (np.asarray(trend_p) <= trend_alpha) & (np.asarray(trend_z) < 0)
    out = np.full(n, "no_pattern", dtype=object)
    done = np.zeros(n, dtype=bool)
    n_sig = (hot | cold).sum(axis=1)

    def assign(mask: np.ndarray, label: str) -> None:
        m = mask & ~done
        out[m] = label
        done[m] = True

    for kind, this, rising, falling in (
        ("hot", hot, up, down),
        ("cold", cold, down, up),
    ):
        most = this.sum(axis=1) >= 0.9 * t
        last = this[:, -1]
        assign(most & ~last, f"historical_{kind}_spot")
        assign(most & last & rising, f"intensifying_{kind}_spot")
        assign(most & last & falling, f"diminishing_{kind}_spot")
        assign(most & last, f"persistent_{kind}_spot")
    for kind, this, other in (("hot", hot, cold), ("cold", cold, hot)):
        last = this[:, -1]
        trailing = np.cumprod(this[:, ::-1], axis=1).sum(axis=1)
        assign(last & (n_sig == 1), f"new_{kind}_spot")
        assign(last & (trailing >= 2) & (n_sig == trailing), f"consecutive_{kind}_spot")
        assign(last & other[:, :-1].any(axis=1), f"oscillating_{kind}_spot")
        assign(last, f"sporadic_{kind}_spot")
    return out


def spacetime_gistar_z(x: np.ndarray, star: sp.spmatrix, time_window: int) -> np.ndarray:
    """Space-time Gi* z: neighbours are the spatial neighbours in this and the previous
    ``time_window`` periods; mean and deviation are those of the whole cube (n·T bins)."""
    x = np.asarray(x, dtype=float)
    n, t = x.shape
    star = sp.csr_matrix(star)
    lag = star @ x
    wi = np.asarray(star.sum(axis=1)).ravel()
    s1 = np.asarray(star.multiply(star).sum(axis=1)).ravel()
    csum = np.cumsum(lag, axis=1)
    lo = np.arange(t) - time_window - 1
    num = csum - np.where(lo >= 0, csum[:, np.maximum(lo, 0)], 0.0)
    span = np.minimum(np.arange(t) + 1, time_window + 1).astype(float)  # lags available
    big_n = n * t
    xbar = x.mean()
    s = x.std()
    w_it = wi[:, None] * span[None, :]
    s1_it = s1[:, None] * span[None, :]
    den = s * np.sqrt(np.maximum((big_n * s1_it - w_it**2) / (big_n - 1), 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (num - xbar * w_it) / np.where(den > 0, den, 1.0), 0.0)
