"""Forecast floors and new areas: no area is forecast (nearly) zero just because it is new or quiet.

Two pure rules on the series × period count matrix (:class:`data.cube.CountMatrix`), applied
by the board's service to every model alike:

- **valid_from.** An area's history starts at its ``valid_from`` — from the boundary file when
  the layer has such a column, else the first period with any case in the area *if* the run of
  empty periods before it is implausible under the area's rate since
  (:func:`first_valid`) — and the periods before it are **missing** (NaN), not zeros: a
  网格 drawn last month is not a year of quiet.
- **floor.** No forecast falls below ``fraction × R_parent × x_a / X_parent``
  (:func:`series_floors`): the parent area's recent rate of the category spread over its
  children by their share of exposure ``x`` (:func:`exposure`: households, else population,
  else area in m²), times ``fraction``. A model with nothing to learn from (all-zero history,
  a category never seen) therefore forecasts the floor, never 0, so one case is not
  "infinitely" surprising. :func:`apply_floor` raises a predictive table's ``mu`` to the
  floor and recomputes its quantiles.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.distributions import quantile
from analytics.models.base import QUANTILES
from data.calendar import period_start

__all__ = [
    "DEFAULT_FRACTION",
    "EXPOSURE_COLUMNS",
    "apply_floor",
    "exposure",
    "first_valid",
    "mask_before",
    "series_floors",
    "valid_from_index",
]

#: Exposure columns of an area layer, in order of preference (then the area in m²).
EXPOSURE_COLUMNS: tuple[str, ...] = ("households", "population")

#: Share of the exposure-proportional rate that is the floor.
DEFAULT_FRACTION: float = 0.1


def exposure(areas) -> pd.Series:
    """Exposure of each area: households, else population, else area in m².

    Parameters
    ----------
    areas : GeoDataFrame
        An area layer with ``area_id`` (and optionally ``households`` / ``population``). A
        column is used only when every value is finite and >= 0 and one is > 0; the area in
        m² needs a CRS (a geographic one is projected to its UTM zone first).

    Returns
    -------
    Series
        Float exposure indexed by ``area_id`` (str), ``name`` = the source used
        (``"households"``, ``"population"`` or ``"area_m2"``).
    """
    if "area_id" not in areas.columns:
        raise ValueError("areas: missing column area_id")
    ids = areas["area_id"].astype(str).to_numpy()
    for col in EXPOSURE_COLUMNS:
        if col in areas.columns:
            x = pd.to_numeric(areas[col], errors="coerce").to_numpy(float)
            if np.isfinite(x).all() and (x >= 0).all() and (x > 0).any():
                return pd.Series(x, index=ids, name=col)
    if getattr(areas, "crs", None) is None:
        raise ValueError("areas: no households/population column and no CRS to measure area in m²")
    geo = areas.geometry
    if geo.crs.is_geographic:
        geo = geo.to_crs(areas.estimate_utm_crs())
    return pd.Series(geo.area.to_numpy(float), index=ids, name="area_m2")


def first_valid(Y: np.ndarray, p: float = 1e-3) -> np.ndarray:
    """Index of each row's first valid period, judged from its counts alone.

    A row (one area, all categories summed) starts at its first case when the run of empty
    periods before it is implausible under the row's rate from that case on:
    ``exp(-rate * zeros) < p``, ``rate = cases / periods`` since the first case. Otherwise (a
    quiet area whose first case came late by chance, or a row with no case) it starts at 0.
    NaN periods (no data) count neither as cases nor as empty periods.
    """
    Y = np.asarray(Y, float)
    n, T = Y.shape
    ok = np.isfinite(Y)
    pos = ok & (Y > 0)
    seen = pos.any(1)
    first = np.where(seen, pos.argmax(1), 0)
    col = np.arange(T)[None, :]
    before = ok & (col < first[:, None])
    after = ok & (col >= first[:, None])
    zeros = before.sum(1)
    cases = np.where(after, Y, 0.0).sum(1)
    rate = np.divide(cases, after.sum(1), out=np.zeros(n), where=after.sum(1) > 0)
    new = seen & (np.exp(-rate * zeros) < p)
    return np.where(new, first, 0)


def valid_from_index(area_ids, periods, freq: str, areas: pd.DataFrame | None = None,
                     Y_area: np.ndarray | None = None, p: float = 1e-3) -> np.ndarray:
    """First valid period (index into ``periods``) of each area in ``area_ids``.

    ``areas[valid_from]`` (the boundary file's date, when the layer has that column and the
    area a value) wins; otherwise :func:`first_valid` on ``Y_area`` (rows following
    ``area_ids``; all categories summed); otherwise 0.
    """
    ids = pd.Index(pd.Series(area_ids).astype(str))
    out = np.zeros(len(ids), dtype=np.int64)
    if Y_area is not None:
        out = first_valid(Y_area, p).astype(np.int64)
    if areas is not None and "valid_from" in areas.columns:
        vf = pd.Series(pd.to_datetime(areas["valid_from"], errors="coerce").to_numpy(),
                       index=areas["area_id"].astype(str).to_numpy())
        vf = vf[~vf.index.duplicated()].reindex(ids)
        has = vf.notna().to_numpy()
        if has.any():
            start = period_start(pd.DatetimeIndex(vf[has]), freq)
            out[has] = pd.DatetimeIndex(periods).searchsorted(start)
    return out


def mask_before(Y: np.ndarray, start: np.ndarray) -> np.ndarray:
    """A float copy of ``Y`` with each row's periods before ``start[row]`` set to NaN (missing)."""
    Y = np.array(Y, dtype=float)
    Y[np.arange(Y.shape[1])[None, :] < np.asarray(start)[:, None]] = np.nan
    return Y


def series_floors(Y: np.ndarray, group, x, *, window: int = 52,
                  fraction: float = DEFAULT_FRACTION) -> np.ndarray:
    """The floor of each series: ``fraction × R_parent × x_a / X_parent``.

    Parameters
    ----------
    Y : (n_series, n_periods) array
        Counts up to the origin (NaN = missing).
    group : (n_series,) array_like
        Parent × category code of each series (the siblings that share a parent rate).
    x : (n_series,) array_like
        Exposure of each series' area (:func:`exposure`); NaN or a parent without exposure
        spreads the parent rate evenly.
    window : int
        Last periods the parent rate is the mean of.
    fraction : float
        Share of the exposure-proportional rate that is the floor (0 = no floor).

    Returns
    -------
    ndarray (n_series,)
        ``R_parent = (cases of the parent's series in the window + 0.5) / periods``, so a
        category never seen still gets a small positive floor.
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction: expected a share in [0, 1], got {fraction}")
    Y = np.asarray(Y, float)
    W = Y[:, -int(window):] if Y.shape[1] else Y
    ok = np.isfinite(W)
    per = max(int(ok.any(0).sum()), 1)  # periods with data anywhere
    g = pd.factorize(np.asarray(group))[0]
    cases = np.bincount(g, weights=np.where(ok, W, 0.0).sum(1))
    R = (cases + 0.5) / per
    x = np.asarray(x, float)
    xg = np.where(np.isfinite(x) & (x > 0), x, 0.0)
    X = np.bincount(g, weights=xg)
    k = np.bincount(g).astype(float)
    share = np.where(X[g] > 0, xg / np.where(X[g] > 0, X[g], 1.0), 1.0 / k[g])
    return fraction * R[g] * share


def apply_floor(pred: pd.DataFrame, floors: pd.DataFrame) -> pd.DataFrame:
    """A predictive table with ``mu``/``expected`` raised to each series' floor.

    ``floors`` has ``area_id, category, floor``; rows of ``pred`` without a floor keep theirs.
    Quantiles of raised rows are recomputed from ``(mu, alpha)``; ``attrs["floored"]`` counts
    the raised rows.
    """
    f = pred[["area_id", "category"]].astype(str).merge(
        floors.assign(area_id=floors["area_id"].astype(str), category=floors["category"].astype(str)),
        on=["area_id", "category"], how="left")["floor"].to_numpy(float)
    mu = pred["mu"].to_numpy(float)
    up = np.isfinite(f) & (f > mu)
    out = pred.copy()
    out.attrs = dict(pred.attrs)
    if up.any():
        new = np.where(up, f, mu)
        out["mu"] = new
        out["expected"] = new
        al = out["alpha"].to_numpy(float)[up]
        for q in QUANTILES:
            col = f"q{round(q * 100)}"
            vals = out[col].to_numpy().copy()
            vals[up] = quantile(q, new[up], al)
            out[col] = vals
    out.attrs["floored"] = int(up.sum())
    return out
