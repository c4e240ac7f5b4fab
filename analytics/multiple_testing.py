"""Benjamini–Hochberg, once: adjusted p-values and rejections for every family of tests.

The warning board's BH badge and gate (:mod:`analytics.warning`) and the hot-spot statistics'
``p_fdr`` (:mod:`analytics.hotspots.inference`) all call :func:`fdr_bh`, which wraps
:func:`scipy.stats.false_discovery_control`. Missing p-values (NaN: no test, e.g. forecast
mode) are left out of the family.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["bh_reject", "fdr_bh"]


def fdr_bh(p) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (NaN kept as NaN, out of the family).

    Examples
    --------
    >>> fdr_bh(np.array([0.01, 0.04, 0.03, 0.2])).round(3).tolist()
    [0.04, 0.053, 0.053, 0.2]
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(np.clip(p[ok], 0.0, 1.0), method="bh")
    return out


def bh_reject(p, q: float = 0.05) -> np.ndarray:
    """Benjamini–Hochberg step-up: True where the hypothesis is rejected at FDR ``q``.

    Rejected = adjusted p-value ``<= q`` (:func:`fdr_bh`); NaN is never rejected.

    Examples
    --------
    >>> bh_reject([0.01, 0.04, 0.03, 0.2], q=0.05).tolist()
    [True, False, False, False]
    """
    if not 0 < q < 1:
        raise ValueError(f"q: the false discovery rate must be in (0, 1), got {q}")
    adj = fdr_bh(p)
    # relative tolerance: p == q * i / n exactly must stay rejected after p * n / i
    return np.isfinite(adj) & (adj <= q * (1 + 1e-12))
