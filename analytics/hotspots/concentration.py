"""Crime concentration across places: top-cell shares, Lorenz curve and Gini.

The "law of crime concentration" (Weisburd 2015) is stated as the share of crime in the top
1 / 5 / 10 % of places. Places with zero incidents count (leaving them out overstates
concentration less obviously but makes the shares depend on which cells had any crime).
The top ``a`` share uses ``ceil(a · n)`` cells, ranked by count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["Concentration", "concentration_summary", "gini", "lorenz_curve"]


@dataclass(frozen=True)
class Concentration:
    """Result of :func:`concentration_summary`.

    Attributes
    ----------
    n_cells, n_incidents : int
    top_shares : dict of float → float
        Share of cells → share of incidents in the top cells.
    gini : float
        Gini coefficient of counts over cells (0 even, → 1 all in one cell).
    cells_for_half : float
        Smallest share of cells holding at least 50 % of incidents.
    zero_cells : float
        Share of cells with no incident.
    lorenz : DataFrame
        ``cell_share``, ``incident_share`` (cells ascending by count, from (0, 0) to (1, 1)).
    """

    n_cells: int
    n_incidents: int
    top_shares: dict[float, float]
    gini: float
    cells_for_half: float
    zero_cells: float
    lorenz: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """One row per top share: ``cell_share``, ``n_cells``, ``incident_share``."""
        return pd.DataFrame(
            {
                "cell_share": list(self.top_shares),
                "n_cells": [int(np.ceil(a * self.n_cells)) for a in self.top_shares],
                "incident_share": list(self.top_shares.values()),
            }
        )


def concentration_summary(counts, shares=(0.01, 0.05, 0.10)) -> Concentration:
    """Concentration of ``counts`` (one non-negative count per cell, zeros included).

    Examples
    --------
    >>> c = concentration_summary([0, 0, 0, 0, 0, 0, 0, 0, 2, 8])
    >>> c.top_shares[0.1], round(c.gini, 2), c.cells_for_half
    (0.8, 0.86, 0.1)
    """
    x = np.asarray(counts, dtype=float).ravel()
    if len(x) == 0:
        raise ValueError("counts is empty: need one count per cell (zeros included)")
    if (x < 0).any() or not np.isfinite(x).all():
        raise ValueError("counts must be finite and non-negative")
    n = len(x)
    total = x.sum()
    desc = np.sort(x)[::-1]
    cum = np.cumsum(desc) / total if total > 0 else np.zeros(n)
    top = {float(a): float(cum[max(int(np.ceil(a * n)), 1) - 1]) for a in shares}
    half = (int(np.searchsorted(cum, 0.5 - 1e-12)) + 1) / n if total > 0 else float("nan")
    return Concentration(
        n_cells=n,
        n_incidents=int(total),
        top_shares=top,
        gini=gini(x),
        cells_for_half=half,
        zero_cells=float((x == 0).mean()),
        lorenz=lorenz_curve(x),
    )


def gini(counts) -> float:
    """Gini coefficient ``sum_i (2i - n - 1) x_(i) / (n sum x)`` with ascending ``x_(i)``.

    Examples
    --------
    >>> gini([0, 0, 0, 10])
    0.75
    """
    x = np.sort(np.asarray(counts, dtype=float).ravel())
    n = len(x)
    if n == 0 or x.sum() == 0:
        return float("nan")
    i = np.arange(1, n + 1)
    return float(((2 * i - n - 1) * x).sum() / (n * x.sum()))


def lorenz_curve(counts) -> pd.DataFrame:
    """Lorenz curve points, cells sorted ascending by count, starting at (0, 0)."""
    x = np.sort(np.asarray(counts, dtype=float).ravel())
    n = len(x)
    total = x.sum()
    inc = np.concatenate([[0.0], np.cumsum(x) / total]) if total > 0 else np.zeros(n + 1)
    return pd.DataFrame({"cell_share": np.arange(n + 1) / max(n, 1), "incident_share": inc})
