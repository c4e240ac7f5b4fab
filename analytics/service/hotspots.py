"""Hot-spot statistics on a workspace: the functions the CLI and the app's hotspot page call.

Each function reads what it needs from a :class:`data.workspace.Workspace` (area layers,
counts, incidents, extras), runs one statistic from this package and returns a tidy table or
GeoDataFrame. Nothing is cached here (the app caches).

Defaults: the layer is the finest admin layer ``grid`` if present, else the first layer; the
category is :data:`data.taxonomy.ALL` (groups and single categories resolve through the
workspace taxonomy); ``start``/``end`` are inclusive dates (``YYYY-MM-DD``) and default to all
data.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from analytics.hotspots.cameras import cameras_in_cells, coverage_gaps
from analytics.hotspots.concentration import Concentration, concentration_summary
from analytics.hotspots.emerging import EmergingHotSpots
from analytics.hotspots.gistar import GiStar
from analytics.hotspots.kde import quartic_density
from analytics.hotspots.knox import KnoxTest, repeat_locations
from analytics.hotspots.moran import LocalMoran
from analytics.hotspots.weights import build_weights
from data.calendar import period_start
from data.cube import area_matrix
from data.taxonomy import ALL

__all__ = [
    "METHODS",
    "run_hotspots",
    "default_layer",
    "count_cube",
    "window_incidents",
    "gistar_layer",
    "moran_layer",
    "emerging_layer",
    "kde_layer",
    "density_grid",
    "workspace_crs",
    "DENSITY_BANDWIDTH",
    "knox_table",
    "repeat_table",
    "concentration",
    "camera_gaps",
    "cold_cameras",
]



def default_layer(ws, layer: str | None = None) -> str:
    """``layer`` if given (must exist), else ``grid`` if present, else the first layer."""
    layers = ws.layers()
    if not layers:
        raise ValueError(f"{ws.path}: no area layers (build them with `pingan areas` or `pingan demo`)")
    if layer is None:
        return "grid" if "grid" in layers else layers[0]
    if layer not in layers:
        raise ValueError(f"--layer {layer!r} not in workspace {ws.path}; layers: {', '.join(layers)}")
    return layer


def count_cube(
    ws, layer: str | None = None, category: str | None = ALL, start=None, end=None, freq: str = "W",
    *, hours=None, weekdays=None,
) -> tuple[gpd.GeoDataFrame, pd.DatetimeIndex, np.ndarray]:
    """Areas, periods and the (areas × periods) count matrix of ``category`` in the window.

    Counts come from :func:`data.pipeline.counts` (dense, zeros included); the areas' row
    order is the layer's. ``hours`` (an inclusive ``(low, high)`` pair of 0–23) and
    ``weekdays`` (a collection of 0–6, 0 = Monday) keep only incidents at those hours / on
    those days — the hotspot page's filters; then the matrix is counted from the incidents'
    assignments over the same periods (the whole window's periods, quiet ones as zeros).
    """
    layer = default_layer(ws, layer)
    areas = ws.areas(layer).reset_index(drop=True)
    counts = _tidy_counts(ws, layer, category, start, end, freq)
    periods, x = area_matrix(counts, areas["area_id"].astype(str))  # the cube's converter
    if len(periods) == 0:
        raise ValueError(f"no periods between {start or 'the start'} and {end or 'the end'} in {ws.path}")
    hours, weekdays = _hour_filter(hours), _weekday_filter(weekdays)
    if hours is not None or weekdays is not None:
        x = _filtered_matrix(ws, layer, areas["area_id"].astype(str), periods, category, start, end, freq,
                             hours, weekdays)
    return areas, periods, x


def window_incidents(ws, category: str | None = ALL, start=None, end=None, crs=None,
                     incident_ids=None, hours=None, weekdays=None) -> pd.DataFrame:
    """Incidents of ``category`` in the window with projected ``x``, ``y`` (metres) columns
    (only those in ``incident_ids`` when given: a user's area scope; only those at ``hours``
    (inclusive pair) / on ``weekdays`` (0 = Monday) when given, as :func:`count_cube`)."""
    from layers.assign import project_lonlat

    inc = ws.incidents_frame(["incident_id", "occurred_at", "category", "lon", "lat"])
    members = _members(ws, category, inc["category"].unique())
    keep = inc["category"].isin(members) & inc["lon"].notna() & inc["lat"].notna()
    if start is not None:
        keep &= inc["occurred_at"] >= _ts(start, "start")
    if end is not None:
        keep &= inc["occurred_at"] < _ts(end, "end") + pd.Timedelta(days=1)
    if incident_ids is not None:
        keep &= inc["incident_id"].astype(str).isin(incident_ids)
    hours, weekdays = _hour_filter(hours), _weekday_filter(weekdays)
    if hours is not None:
        keep &= inc["occurred_at"].dt.hour.between(*hours)
    if weekdays is not None:
        keep &= inc["occurred_at"].dt.day_of_week.isin(weekdays)
    inc = inc.loc[keep].reset_index(drop=True)
    crs = crs or ws.config.crs or ws.areas(default_layer(ws)).crs
    x, y = project_lonlat(inc["lon"].to_numpy(), inc["lat"].to_numpy(), crs)
    return inc.assign(x=x, y=y)


def gistar_layer(
    ws, layer: str | None = None, category: str | None = ALL, start=None, end=None, *,
    weights: str = "queen", threshold: float | None = None, permutations: int = 999,
    seed: int | None = 12345, fdr: bool = False, hours=None, weekdays=None,
) -> gpd.GeoDataFrame:
    """Gi* of the window's total count per area: area_id, name, value, z, p, p_fdr, class, geometry
    (only incidents at ``hours`` / on ``weekdays`` when given, see :func:`count_cube`)."""
    areas, _, x = count_cube(ws, layer, category, start, end, hours=hours, weekdays=weekdays)
    w = build_weights(areas, kind=weights, threshold=threshold)
    g = GiStar(permutations=permutations, seed=seed, fdr=fdr).fit(x.sum(axis=1), w)
    return _attach(areas, g.to_frame(areas["area_id"]))


def moran_layer(
    ws, layer: str | None = None, category: str | None = ALL, start=None, end=None, *,
    weights: str = "queen", threshold: float | None = None, permutations: int = 999,
    seed: int | None = 12345, alpha: float = 0.05, fdr: bool = False, hours=None, weekdays=None,
) -> gpd.GeoDataFrame:
    """Local Moran's I of the window's total per area: quadrant, I, z, p, p_fdr, class."""
    areas, _, x = count_cube(ws, layer, category, start, end, hours=hours, weekdays=weekdays)
    w = build_weights(areas, kind=weights, threshold=threshold)
    m = LocalMoran(permutations=max(permutations, 1), seed=seed, alpha=alpha, fdr=fdr).fit(x.sum(axis=1), w)
    return _attach(areas, m.to_frame(areas["area_id"]))


def emerging_layer(
    ws, layer: str | None = None, category: str | None = ALL, start=None, end=None, *,
    freq: str = "W", weights: str = "queen", threshold: float | None = None,
    alpha: float = 0.05, time_window: int = 0, fdr: bool = True, hours=None, weekdays=None,
) -> gpd.GeoDataFrame:
    """Emerging hot spot category per area over the window's periods (only incidents at
    ``hours`` / on ``weekdays`` when given)."""
    areas, _, x = count_cube(ws, layer, category, start, end, freq, hours=hours, weekdays=weekdays)
    w = build_weights(areas, kind=weights, threshold=threshold)
    e = EmergingHotSpots(alpha=alpha, time_window=time_window, fdr=fdr).fit(x, w)
    return _attach(areas, e.to_frame(areas["area_id"]))


def kde_layer(
    ws, layer: str | None = None, category: str | None = ALL, start=None, end=None, *,
    bandwidth: float = 300.0,
) -> gpd.GeoDataFrame:
    """Quartic kernel density (incidents per km²) at each area's centroid, plus its count."""
    layer = default_layer(ws, layer)
    areas = ws.areas(layer).reset_index(drop=True)
    inc = window_incidents(ws, category, start, end, crs=areas.crs)
    cen = areas.geometry.centroid
    dens = quartic_density(inc[["x", "y"]].to_numpy(), np.column_stack([cen.x, cen.y]), bandwidth) * 1e6
    out = pd.DataFrame({"area_id": areas["area_id"], "density": dens, "bandwidth_m": float(bandwidth),
                        "n_events": len(inc)})
    return _attach(areas, out)


#: Default kernel radius of the hotspot page's 密度 view, metres (about a city block and its
#: neighbours: a street segment's worth of incidents smooths into one hill).
DENSITY_BANDWIDTH = 300.0


def workspace_crs(ws):
    """The workspace's projected CRS (config, else the default layer's)."""
    return ws.config.crs or ws.areas(default_layer(ws)).crs


def density_grid(lon, lat, crs, bounds, bandwidth: float = DENSITY_BANDWIDTH, *,
                 max_side: int = 400) -> dict:
    """The quartic kernel density of incidents on a grid over ``bounds``, for a lon/lat map.

    The kernel works in metres of the workspace CRS (``crs``): incidents and grid nodes are
    projected and :func:`analytics.hotspots.kde.quartic_density` is evaluated at every node,
    exactly. The nodes form a regular lon/lat lattice (so a plain heatmap draws them where they
    are, with no resampling) whose spacing is ``bandwidth / 4`` metres at the centre (the metric
    cell; within a fraction of a per cent of that across a city); with more than ``max_side``
    nodes along a side the spacing grows until it fits. ``bounds`` (lon0, lat0, lon1, lat1) is
    padded by ``bandwidth`` so no incident's kernel is cut off.

    Parameters
    ----------
    lon, lat : array-like
        Incident coordinates, WGS84.
    crs : CRS or str
        A projected CRS in metres.
    bounds : tuple of float
        lon0, lat0, lon1, lat1 of the area to cover.
    bandwidth : float
        Kernel radius, metres.
    max_side : int
        Most nodes along one side.

    Returns
    -------
    dict
        ``lon`` (nx,), ``lat`` (ny,) node coordinates; ``density`` (ny, nx) in incidents per
        km²; ``x``, ``y`` (ny, nx) the nodes in the CRS (metres); ``bandwidth_m``, ``cell_m``
        (node spacing, metres), ``cell_km2`` (area per node, so that ``density.sum() *
        cell_km2`` ≈ ``n_events``) and ``n_events``.
    """
    from layers.assign import project_lonlat
    from layers.crs import require_projected

    if not (np.isfinite(bandwidth) and bandwidth > 0):
        raise ValueError(f"bandwidth {bandwidth!r}: must be a positive distance in metres")
    crs = require_projected(crs, "workspace for kernel density")
    lon0, lat0, lon1, lat1 = (float(b) for b in bounds)
    if not (np.isfinite([lon0, lat0, lon1, lat1]).all() and lon0 <= lon1 and lat0 <= lat1):
        raise ValueError(f"bounds {bounds!r}: give finite lon0, lat0, lon1, lat1 with lon0 <= lon1, lat0 <= lat1")
    clon, clat = (lon0 + lon1) / 2, (lat0 + lat1) / 2
    eps = 1e-3  # degrees: metres per degree of the CRS at the centre
    cx, cy = project_lonlat([clon, clon + eps, clon], [clat, clat, clat + eps], crs)
    m_lon = float(np.hypot(cx[1] - cx[0], cy[1] - cy[0]) / eps)
    m_lat = float(np.hypot(cx[2] - cx[0], cy[2] - cy[0]) / eps)
    lon0, lon1 = lon0 - bandwidth / m_lon, lon1 + bandwidth / m_lon
    lat0, lat1 = lat0 - bandwidth / m_lat, lat1 + bandwidth / m_lat
    cell = bandwidth / 4
    cell = max(cell, (lon1 - lon0) * m_lon / (max_side - 1), (lat1 - lat0) * m_lat / (max_side - 1))
    dlon, dlat = cell / m_lon, cell / m_lat
    glon = lon0 + dlon * np.arange(int(np.ceil((lon1 - lon0) / dlon)) + 1)
    glat = lat0 + dlat * np.arange(int(np.ceil((lat1 - lat0) / dlat)) + 1)
    mlon, mlat = np.meshgrid(glon, glat)
    x, y = project_lonlat(mlon.ravel(), mlat.ravel(), crs)
    px, py = project_lonlat(lon, lat, crs)
    ok = np.isfinite(px) & np.isfinite(py)
    dens = quartic_density(np.column_stack([px[ok], py[ok]]), np.column_stack([x, y]), bandwidth) * 1e6
    shape = (len(glat), len(glon))
    return {"lon": glon, "lat": glat, "density": dens.reshape(shape), "x": x.reshape(shape),
            "y": y.reshape(shape), "bandwidth_m": float(bandwidth), "cell_m": float(cell),
            "cell_km2": float(dlon * m_lon * dlat * m_lat / 1e6), "n_events": int(ok.sum())}


def knox_table(
    ws, category: str | None = ALL, start=None, end=None, *,
    distance_bands=(100, 200, 300, 400, 500), time_bands=(7, 14, 21, 28),
    permutations: int = 99, seed: int = 12345, incident_ids=None, hours=None, weekdays=None,
) -> pd.DataFrame:
    """Near Repeat Calculator table for the window's incidents of ``category`` (of
    ``incident_ids`` when given; at ``hours`` / on ``weekdays`` when given, as the hotspot
    page's filters and the Gi* overlay)."""
    inc = window_incidents(ws, category, start, end, incident_ids=incident_ids, hours=hours, weekdays=weekdays)
    if len(inc) < 2:
        raise ValueError(f"knox: fewer than 2 incidents of {category!r} in the window")
    kt = KnoxTest(distance_bands=distance_bands, time_bands=time_bands,
                  permutations=permutations, seed=seed).fit(inc[["x", "y"]].to_numpy(), inc["occurred_at"])
    return kt.to_frame().assign(n_events=len(inc), n_pairs_within=kt.n_pairs_)


def repeat_table(ws, category: str | None = ALL, start=None, end=None, *, tol: float = 1.0) -> pd.DataFrame:
    """Locations with 1, 2, 3, 4+ incidents in the window."""
    inc = window_incidents(ws, category, start, end)
    return repeat_locations(inc[["x", "y"]].to_numpy(), tol=tol)


def concentration(
    ws, layer: str | None = None, category: str | None = ALL, start=None, end=None, *, shares=(0.01, 0.05, 0.10)
) -> Concentration:
    """Share of incidents in the top cells, Lorenz curve and Gini (zero cells included)."""
    _, _, x = count_cube(ws, layer, category, start, end)
    return concentration_summary(x.sum(axis=1), shares)


def camera_gaps(
    ws, layer: str | None = None, category: str | None = ALL, start=None, end=None, *,
    distance: float = 100.0, top_k: int | None = None, permutations: int = 199, seed: int | None = 12345,
) -> gpd.GeoDataFrame:
    """Hot cells (Gi* hot 95 %+, or the ``top_k`` by count) and their nearest online camera."""
    hot = gistar_layer(ws, layer, category, start, end, permutations=permutations, seed=seed)
    hot = hot.rename(columns={"value": "count"})
    return coverage_gaps(hot, ws.extra("cameras"), distance=distance, top_k=top_k)


def cold_cameras(
    ws, layer: str | None = None, category: str | None = ALL, start=None, end=None, *, freq: str = "W",
) -> gpd.GeoDataFrame:
    """Cameras in persistently cold cells (emerging ``persistent_cold_spot``) or cells with no
    incident in the window; ``reason`` says which."""
    em = emerging_layer(ws, layer, category, start, end, freq=freq)
    cold = em["category"].eq("persistent_cold_spot").to_numpy()
    empty = em["total"].eq(0).to_numpy()
    cams = cameras_in_cells(ws.extra("cameras"), em, cold | empty)
    reason = em.set_index("area_id").loc[cams["area_id"], "category"].eq("persistent_cold_spot").to_numpy()
    return cams.assign(reason=np.where(reason, "persistent_cold_spot", "no_incidents"))


# -- helpers ------------------------------------------------------------------------------------
def _tidy_counts(ws, layer: str, category, start, end, freq: str) -> pd.DataFrame:
    """Dense counts of the member categories of ``category`` (area_id, period, category, count)."""
    from data.pipeline import counts as pipeline_counts

    start_ts = _ts(start, "start") if start is not None else None
    end_ts = _ts(end, "end") if end is not None else None
    counts = pipeline_counts(ws, layer, freq=freq, start=start_ts, end=end_ts)
    members = _members(ws, category, counts["category"].unique())
    return counts[counts["category"].isin(members)]


def _hour_filter(hours) -> tuple[int, int] | None:
    """``hours`` as an inclusive (low, high) pair, None when it keeps every hour."""
    if hours is None:
        return None
    try:
        low, high = (int(h) for h in hours)
    except (TypeError, ValueError):
        raise ValueError(f"hours {hours!r}: give an inclusive (low, high) pair of hours 0-23") from None
    if not 0 <= low <= high <= 23:
        raise ValueError(f"hours {hours!r}: give an inclusive (low, high) pair of hours 0-23")
    return None if (low, high) == (0, 23) else (low, high)


def _weekday_filter(weekdays) -> tuple[int, ...] | None:
    """``weekdays`` as a sorted tuple of 0–6 (0 = Monday), None when it keeps every day."""
    if weekdays is None:
        return None
    try:
        days = tuple(sorted({int(d) for d in weekdays}))
    except (TypeError, ValueError):
        raise ValueError(f"weekdays {weekdays!r}: give weekday numbers 0-6 (0 = Monday)") from None
    if any(d < 0 or d > 6 for d in days):
        raise ValueError(f"weekdays {weekdays!r}: give weekday numbers 0-6 (0 = Monday)")
    return None if len(days) == 7 else days


def _filtered_matrix(ws, layer: str, area_ids: pd.Series, periods: pd.DatetimeIndex, category, start, end,
                     freq: str, hours, weekdays) -> np.ndarray:
    """(areas × periods) counts of the incidents of ``category`` in the window at ``hours`` and on
    ``weekdays``, counted from the assignments (one vectorised pass, no loop over areas)."""
    asg = pd.read_parquet(ws.require(ws.assignments_path), columns=["incident_id", layer])
    inc = ws.incidents_frame(["incident_id", "occurred_at", "category"])
    if len(asg) != len(inc) or not (asg["incident_id"].to_numpy() == inc["incident_id"].astype("str").to_numpy()).all():
        raise ValueError(f"{ws.assignments_path}: out of date with the incidents; run refresh")
    ts = pd.to_datetime(inc["occurred_at"])
    keep = inc["category"].isin(_members(ws, category, inc["category"].dropna().unique())).to_numpy(copy=True)
    if start is not None:
        keep &= (ts >= _ts(start, "start")).to_numpy()
    if end is not None:
        keep &= (ts < _ts(end, "end") + pd.Timedelta(days=1)).to_numpy()
    if hours is not None:
        keep &= ts.dt.hour.between(*hours).to_numpy()
    if weekdays is not None:
        keep &= ts.dt.day_of_week.isin(weekdays).to_numpy()
    row = pd.Index(area_ids).get_indexer(asg[layer].to_numpy(dtype=object)[keep])
    col = pd.Index(periods).get_indexer(period_start(ts[keep], freq))
    ok = (row >= 0) & (col >= 0)
    flat = np.bincount(row[ok] * len(periods) + col[ok], minlength=len(area_ids) * len(periods))
    return flat.reshape(len(area_ids), len(periods)).astype(np.int64)


def _members(ws, category, present) -> tuple[str, ...]:
    try:
        return ws.config.taxonomy.resolve(category, [str(c) for c in present])
    except ValueError as exc:
        raise ValueError(f"--category: {exc}") from None


def _ts(value, what: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"--{what} {value!r} is not a date (YYYY-MM-DD): {exc}") from None


def _attach(areas: gpd.GeoDataFrame, frame: pd.DataFrame) -> gpd.GeoDataFrame:
    """Area name and geometry next to a per-area result (row order of the layer)."""
    extra = ["name"] if "name" in areas.columns else []
    out = pd.concat([frame.reset_index(drop=True), areas[extra].reset_index(drop=True)], axis=1)
    cols = ["area_id", *extra, *[c for c in frame.columns if c != "area_id"]]
    return gpd.GeoDataFrame(out[cols], geometry=areas.geometry.to_numpy(), crs=areas.crs)


#: Methods of ``pingan hotspots --method``.
METHODS: tuple[str, ...] = ("gistar", "moran", "emerging", "knox", "kde")


def run_hotspots(
    ws,
    method: str,
    *,
    layer: str | None = None,
    category: str | None = None,
    start=None,
    end=None,
    seed: int = 12345,
    permutations: int = 999,
    hours=None,
    weekdays=None,
    **kw,
) -> pd.DataFrame:
    """Run one hot-spot method on a workspace (the ``pingan hotspots`` command).

    Parameters
    ----------
    ws : Workspace
    method : {"gistar", "moran", "emerging", "knox", "kde"}
    layer : str, optional
        Area layer; default ``grid`` if present, else the first layer (not used by knox).
    category : str, optional
        Category or group; default all (全部).
    start, end : str or Timestamp, optional
        Inclusive window (``YYYY-MM-DD``).
    seed, permutations : int
        Permutation inference (gistar, moran, knox).
    hours : (int, int), optional
        Only incidents at these hours (inclusive, 0–23): gistar, moran, emerging, knox.
    weekdays : collection of int, optional
        Only incidents on these days (0 = Monday): gistar, moran, emerging, knox.
    **kw
        Passed to the method's function (e.g. ``weights="distance", threshold=500`` or
        ``bandwidth=300``, ``distance_bands=…``).

    Returns
    -------
    GeoDataFrame or DataFrame
        gistar: one row per area with ``area_id, name, value, z, p, p_fdr, class`` + geometry;
        moran: ``I, quadrant, z, p, p_fdr, class``; emerging: ``category, trend_z, trend_p …``;
        kde: ``density`` per cell; knox: the distance × time band table.
    """
    if method not in METHODS:
        raise ValueError(f"--method {method!r}: use one of {', '.join(METHODS)}")
    if permutations is not None and permutations < 0:
        raise ValueError(f"--permutations must be >= 0, not {permutations}")
    if method in ("gistar", "moran", "emerging", "knox"):
        kw.update(hours=hours, weekdays=weekdays)
    elif _hour_filter(hours) is not None or _weekday_filter(weekdays) is not None:
        raise ValueError(f"--method {method}: the hour / weekday filters apply to gistar, moran, emerging and knox only")
    if method == "knox":
        return knox_table(ws, category, start, end, permutations=max(permutations, 1), seed=seed, **kw)
    layer = default_layer(ws, layer)
    if method == "gistar":
        return gistar_layer(ws, layer, category, start, end, permutations=permutations, seed=seed, **kw)
    if method == "moran":
        return moran_layer(ws, layer, category, start, end, permutations=max(permutations, 1), seed=seed, **kw)
    if method == "emerging":
        return emerging_layer(ws, layer, category, start, end, **kw)
    return kde_layer(ws, layer, category, start, end, **kw)
