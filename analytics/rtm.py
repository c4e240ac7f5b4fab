"""Risk terrain modelling (Caplan & Kennedy): places that attract crime, as cell features and RRs.

Risk factors are points with a ``type`` (网吧, KTV, 公交站, 城中村 …). For every cell (its centroid
``x, y`` in metres) and factor type:

- ``dist__<type>``: metres to the nearest point of the type;
- ``dens__<type>``: quartic kernel density of the type's points at the centroid (points per
  km², :func:`analytics.hotspots.kde.quartic_density`, radius ``bandwidth``);

and the RTM *spatial influence* indicator ``near__<type>`` = the centroid lies within the factor's
influence distance. The relative-risk table (:func:`rtm_table`) is a Poisson regression of the
cells' counts on the indicators of every factor at once::

    log E[count_i] = b0 + sum_f b_f near_f(i)          RR_f = exp(b_f)

with the influence distance of each factor chosen among ``distances`` by its own one-factor
likelihood (RTM's "operationalisation" step: the factor's reach is the distance at which it
explains the counts best), Wald standard errors and 95 % intervals. The regression is the
project's IRLS (:func:`analytics.models.glm.batched_poisson_irls`); the tests check it against
statsmodels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import cKDTree

from analytics.hotspots.kde import quartic_density
from analytics.models.glm import batched_poisson_irls

__all__ = ["risk_features", "rtm_table"]


def risk_features(cells: pd.DataFrame, factors: pd.DataFrame, *, bandwidth: float = 500.0) -> pd.DataFrame:
    """Distance and kernel-density features of every cell for every factor type.

    Parameters
    ----------
    cells : DataFrame
        ``area_id, x, y``: cell centroids in metres (projected CRS).
    factors : DataFrame
        ``type, x, y``: risk-factor points in the same CRS.
    bandwidth : float
        Radius of the quartic density in metres.

    Returns
    -------
    DataFrame
        ``area_id`` then ``dist__<type>`` (metres) and ``dens__<type>`` (points per km²) for each
        type in order of first appearance.
    """
    for name, frame, cols in (("cells", cells, ("area_id", "x", "y")), ("factors", factors, ("type", "x", "y"))):
        missing = set(cols) - set(frame.columns)
        if missing:
            raise ValueError(f"{name}: missing column(s) {', '.join(sorted(missing))}")
    if not bandwidth > 0:
        raise ValueError(f"bandwidth: must be a positive distance in metres, got {bandwidth!r}")
    cxy = cells[["x", "y"]].to_numpy(float)
    out = {"area_id": cells["area_id"].astype(str).to_numpy()}
    types = pd.unique(factors["type"].astype(str))
    for kind in types:  # a handful of factor types; cells vectorised
        pts = factors.loc[factors["type"].astype(str) == kind, ["x", "y"]].to_numpy(float)
        d, _ = cKDTree(pts).query(cxy, k=1)
        out[f"dist__{kind}"] = d
        out[f"dens__{kind}"] = quartic_density(pts, cxy, bandwidth) * 1e6
    return pd.DataFrame(out)


def rtm_table(counts: Sequence[float], features: pd.DataFrame, *,
              distances: Sequence[float] = (150.0, 300.0, 450.0), alpha: float = 0.05) -> pd.DataFrame:
    """RTM relative risks: a joint Poisson regression of cell counts on factor-influence indicators.

    Parameters
    ----------
    counts : array (n_cells,)
        Cases per cell (rows of ``features``), e.g. summed over the study period.
    features : DataFrame
        From :func:`risk_features` (the ``dist__<type>`` columns are used).
    distances : sequence of float
        Candidate influence distances in metres (RTM: 1, 2, 3 block lengths); each factor keeps
        the one whose one-factor Poisson model has the highest likelihood.
    alpha : float
        1 - confidence of the intervals.

    Returns
    -------
    DataFrame
        One row per factor in the model: ``factor, influence_m, cells_exposed, coef, rr, se,
        z, p, rr_low, rr_high``; sorted by ``rr`` descending. ``attrs``: ``intercept``,
        ``dropped`` (factors exposing no cell or every cell: no contrast to estimate).
    """
    y = np.asarray(counts, float)
    if len(y) != len(features):
        raise ValueError(f"counts: {len(y)} values for {len(features)} cells of features")
    if (y < 0).any() or not np.isfinite(y).all():
        raise ValueError("counts: must be finite and non-negative")
    dist_cols = [c for c in features.columns if c.startswith("dist__")]
    if not dist_cols:
        raise ValueError("features: no dist__<type> column (use risk_features)")
    ds = sorted(float(d) for d in distances)
    if not ds or ds[0] <= 0:
        raise ValueError(f"distances: expected positive metres, got {distances!r}")
    chosen, dropped, cols = [], [], []
    ones = np.ones(len(y))
    for col in dist_cols:  # a handful of factors × three distances
        d = features[col].to_numpy(float)
        best = None
        for r in ds:
            x = (d <= r).astype(float)
            if x.all() or not x.any():
                continue
            beta, mu, _ = _poisson(np.column_stack([ones, x]), y)
            ll = float(np.sum(y * np.log(mu) - mu))
            if best is None or ll > best[0]:
                best = (ll, r, x)
        name = col[len("dist__"):]
        if best is None:
            dropped.append(name)
            continue
        chosen.append((name, best[1]))
        cols.append(best[2])
    if not cols:
        return _empty(dropped)
    X = np.column_stack([ones, *cols])
    beta, _, cov = _poisson(X, y)
    se = np.sqrt(np.diag(cov))
    z = beta / se
    q = stats.norm.ppf(1 - alpha / 2)
    table = pd.DataFrame({
        "factor": [n for n, _ in chosen],
        "influence_m": [r for _, r in chosen],
        "cells_exposed": [int(c.sum()) for c in cols],
        "coef": beta[1:],
        "rr": np.exp(beta[1:]),
        "se": se[1:],
        "z": z[1:],
        "p": 2 * stats.norm.sf(np.abs(z[1:])),
        "rr_low": np.exp(beta[1:] - q * se[1:]),
        "rr_high": np.exp(beta[1:] + q * se[1:]),
    }).sort_values("rr", ascending=False, kind="stable").reset_index(drop=True)
    table.attrs["intercept"] = float(beta[0])
    table.attrs["dropped"] = dropped
    return table


def _poisson(X: np.ndarray, y: np.ndarray):
    beta, mu, cov = batched_poisson_irls(X, y[None, :], n_iter=200, tol=1e-12)
    return beta[0], mu[0], cov[0]


def _empty(dropped: list[str]) -> pd.DataFrame:
    cols = ["factor", "influence_m", "cells_exposed", "coef", "rr", "se", "z", "p", "rr_low", "rr_high"]
    table = pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    table.attrs["intercept"] = float("nan")
    table.attrs["dropped"] = dropped
    return table
