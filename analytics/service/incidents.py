"""Incidents as the app's pages filter them: one frame per workspace version with date, hour
and weekday, the filters of the hotspot page (category, dates, hours, weekdays, a box or lasso
drawn on the map), the area of every incident in a layer, and CompStat-style windows.

Pure functions of frames, plus :func:`incident_frame` / :func:`area_of_incident`, which read the
workspace (the :class:`analytics.service.Service` caches and scopes them).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

__all__ = ["incident_frame", "filter_incidents", "region_mask", "compstat", "area_incidents",
           "area_of_incident"]


def incident_frame(ws) -> pd.DataFrame:
    """Incidents with lon, lat, category, date, hour, weekday (0 = Monday) and ``when`` (text)."""
    frame = ws.incidents_frame(["incident_id", "occurred_at", "category", "lon", "lat"])
    ts = pd.to_datetime(frame["occurred_at"])
    return frame.assign(date=ts.dt.normalize(), hour=ts.dt.hour.astype("int8"),
                        weekday=ts.dt.day_of_week.astype("int8"), when=ts.dt.strftime("%Y-%m-%d %H:%M"))


def filter_incidents(frame: pd.DataFrame, *, categories=None, start=None, end=None, hours=None,
                     weekdays=None) -> pd.Series:
    """Boolean mask of the incidents passing every given filter.

    ``categories`` is a collection of category names; ``start``/``end`` inclusive dates;
    ``hours`` an inclusive (low, high) pair; ``weekdays`` a collection of 0–6.
    """
    mask = pd.Series(True, index=frame.index)
    if categories is not None:
        mask &= frame["category"].isin(list(categories))
    if start:
        mask &= frame["date"] >= pd.Timestamp(start)
    if end:
        mask &= frame["date"] <= pd.Timestamp(end)
    if hours is not None and tuple(hours) != (0, 23):
        mask &= frame["hour"].between(int(hours[0]), int(hours[1]))
    if weekdays is not None and len(weekdays) < 7:
        mask &= frame["weekday"].isin([int(w) for w in weekdays])
    return mask


def region_mask(frame: pd.DataFrame, selected: dict | None) -> pd.Series:
    """Incidents inside a box or lasso selection of the map (all when nothing is selected)."""
    if not selected:
        return pd.Series(True, index=frame.index)
    lon, lat = frame["lon"].to_numpy(), frame["lat"].to_numpy()
    if selected.get("range"):
        (x0, x1), (y0, y1) = selected["range"]["x"], selected["range"]["y"]
        return pd.Series((lon >= min(x0, x1)) & (lon <= max(x0, x1)) & (lat >= min(y0, y1)) & (lat <= max(y0, y1)),
                         index=frame.index)
    if selected.get("lassoPoints"):
        ring = shapely.Polygon(list(zip(selected["lassoPoints"]["x"], selected["lassoPoints"]["y"])))
        return pd.Series(shapely.contains_xy(ring, lon, lat), index=frame.index)
    return pd.Series(True, index=frame.index)


def compstat(frame: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    """CompStat windows ending on ``end`` (inclusive): last 28 days vs the previous 28 and the
    same 28 days last year; year to date vs last year to date.

    Returns a frame with columns window (a code: ``last28/prev28``, ``last28/ly28``,
    ``ytd/ly_ytd``; the page translates it), current, compare, change (fraction, NaN if
    compare = 0).
    """
    d = frame["date"]
    end = pd.Timestamp(end).normalize()

    def n(lo, hi):
        return int(((d >= lo) & (d <= hi)).sum())

    last28 = (end - pd.Timedelta(days=27), end)
    prev28 = (end - pd.Timedelta(days=55), end - pd.Timedelta(days=28))
    ly28 = (last28[0] - pd.DateOffset(years=1), end - pd.DateOffset(years=1))
    ytd = (pd.Timestamp(year=end.year, month=1, day=1), end)
    lytd = (pd.Timestamp(year=end.year - 1, month=1, day=1), end - pd.DateOffset(years=1))
    rows = [
        ("last28/prev28", n(*last28), n(*prev28)),
        ("last28/ly28", n(*last28), n(*ly28)),
        ("ytd/ly_ytd", n(*ytd), n(*lytd)),
    ]
    out = pd.DataFrame(rows, columns=["window", "current", "compare"])
    out["change"] = np.where(out["compare"] > 0, (out["current"] - out["compare"]) / out["compare"].where(out["compare"] > 0), np.nan)
    return out


def area_incidents(frame: pd.DataFrame, area_of: pd.Series | None, area_id: str | None) -> pd.Series:
    """Mask of the rows of ``frame`` whose area (``area_of``, aligned on the incident frame's
    index) is ``area_id``; all rows when there is no area or no assignments."""
    if not area_id or area_of is None:
        return pd.Series(True, index=frame.index)
    return pd.Series(area_of.reindex(frame.index).to_numpy() == str(area_id), index=frame.index)


def area_of_incident(ws, frame: pd.DataFrame, layer: str) -> pd.Series | None:
    """The ``layer`` area_id of every row of ``frame`` (incident frame), from assignments.parquet.

    Computed once per workspace version by the service (a join on 300,000 ids costs a few hundred
    ms; comparing an aligned array afterwards costs a few)."""
    if not ws.assignments_path.exists():
        return None
    assign = pd.read_parquet(ws.assignments_path, columns=["incident_id", layer])
    area = frame[["incident_id"]].merge(assign, on="incident_id", how="left")[layer]
    return pd.Series(area.astype(object).to_numpy(), index=frame.index)
