"""Risk terrain of a workspace: its risk-factor points, the cells' features and the RR table.

``pingan areas --workspace W --risk-factors pois.csv`` stores the points (a ``type`` column —
网吧, KTV, 公交站, 城中村 … — and ``lon``/``lat`` in WGS84, or ``x``/``y`` in the workspace
CRS) as the workspace extra ``risk_factors``; :func:`risk_features_of` turns them into each
area's distance and density features (:func:`analytics.rtm.risk_features`) and
:func:`risk_table` into the RTM relative-risk table of a layer and category (``pingan risk``).
Both are cached per workspace version.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analytics.rtm import risk_features, rtm_table
from analytics.service.cache import cached

__all__ = ["read_risk_factors", "EXTRA", "import_risk_factors", "risk_factors", "risk_features_of", "risk_table"]

#: Name of the workspace extra holding the risk-factor points.
EXTRA = "risk_factors"


def import_risk_factors(ws, path: str | Path) -> int:
    """Read a risk-factor file (.csv, .xlsx or .parquet) into the workspace; returns the points.

    Columns: ``type`` and ``lon, lat`` (WGS84) or ``x, y`` (metres in the workspace CRS); an
    optional ``name``. Rows without a type or coordinates are refused with their line number.
    """
    out = read_risk_factors(path, ws.config.crs)
    ws.write_extra(EXTRA, out)  # one transaction: a new version, caches refresh
    return len(out)


def read_risk_factors(path: str | Path, crs=None):
    """A risk-factor file as points ``type, name, lon, lat, geometry`` (WGS84).

    ``crs``: the CRS of ``x, y`` columns (a workspace's); without it only ``lon, lat`` are read.
    Errors name the file, the column or the line.
    """
    import geopandas as gpd
    from pyproj import CRS, Transformer

    path = Path(path)
    if not path.exists():
        raise ValueError(f"--risk-factors {path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        df = pd.read_csv(path, encoding="utf-8-sig")
    elif suffix in (".xlsx", ".xls"):
        df = pd.read_excel(path)
    elif suffix == ".parquet":
        df = pd.read_parquet(path)
    else:
        raise ValueError(f"--risk-factors {path}: expected .csv, .xlsx or .parquet")
    if "type" not in df.columns:
        raise ValueError(f"--risk-factors {path}: no 'type' column (网吧, KTV, 公交站, 城中村 …)")
    if {"lon", "lat"} <= set(df.columns):
        lon, lat = (pd.to_numeric(df[c], errors="coerce").to_numpy(float) for c in ("lon", "lat"))
    elif {"x", "y"} <= set(df.columns):
        if not crs:
            raise ValueError(f"--risk-factors {path}: x/y need the workspace CRS; give lon/lat")
        x, y = (pd.to_numeric(df[c], errors="coerce").to_numpy(float) for c in ("x", "y"))
        lon, lat = Transformer.from_crs(CRS.from_user_input(crs), 4326,
                                        always_xy=True).transform(x, y)
    else:
        raise ValueError(f"--risk-factors {path}: need lon/lat (WGS84) or x/y columns")
    kind = df["type"].astype("string").str.strip()
    bad = kind.isna() | (kind == "") | ~np.isfinite(lon) | ~np.isfinite(lat)
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0]) + 2  # header is line 1
        raise ValueError(f"--risk-factors {path}: line {line} has no type or no coordinates")
    out = gpd.GeoDataFrame({
        "type": kind.astype(str).to_numpy(),
        "name": df["name"].astype(str).to_numpy() if "name" in df.columns else kind.astype(str).to_numpy(),
        "lon": lon, "lat": lat,
    }, geometry=gpd.points_from_xy(lon, lat), crs=4326)
    return out


def risk_factors(ws) -> pd.DataFrame | None:
    """The workspace's risk-factor points (``type, name, lon, lat, geometry``), or ``None``."""
    if not ws.has_extra(EXTRA):
        return None
    return cached(ws, "risk_factors", (), lambda: ws.extra(EXTRA))


def risk_features_of(ws, level: str, *, bandwidth: float = 500.0) -> pd.DataFrame | None:
    """Each area's ``dist__<type>`` / ``dens__<type>`` features on a layer (``None`` without factors)."""
    points = risk_factors(ws)
    if points is None:
        return None

    def compute():
        cells, crs = _centroids(ws, level)
        pts = points.to_crs(crs)
        factors = pd.DataFrame({"type": points["type"].to_numpy(), "x": pts.geometry.x.to_numpy(),
                                "y": pts.geometry.y.to_numpy()})
        return risk_features(cells, factors, bandwidth=bandwidth)

    return cached(ws, "risk_features", (level, float(bandwidth)), compute)


def risk_table(ws, level: str | None = None, category: str | None = None) -> pd.DataFrame:
    """The RTM relative-risk table of a layer's areas and a category over all complete weeks.

    Influence distances are 1, 2 and 3 times the median spacing of the layer's centroids
    (RTM's block lengths). Raises ``ValueError`` naming the workspace without risk factors.
    """
    from analytics.service.periods import default_level, periods, raw_counts
    from data.cube import group_counts
    from data.taxonomy import canonical_name

    level = level or default_level(ws)
    if level not in ws.layers():
        raise ValueError(f"--level {level!r}: no such layer in {ws.path}")
    feats = risk_features_of(ws, level)
    if feats is None:
        raise ValueError(f"{ws.path}: no risk factors; load them with pingan areas --workspace "
                         f"{ws.path} --risk-factors FILE")
    name = canonical_name(category)

    def compute():
        from analytics.models.kde import neighbour_spacing

        counts = group_counts(raw_counts(ws, level, "W"), ws.config.taxonomy, name)
        done = set(periods(ws, "W"))
        counts = counts[counts["period"].isin(done)]
        per_area = counts.groupby(counts["area_id"].astype(str), observed=True)["count"].sum()
        y = per_area.reindex(feats["area_id"]).fillna(0).to_numpy(float)
        cells, _ = _centroids(ws, level)
        step = neighbour_spacing(cells[["x", "y"]].to_numpy())
        table = rtm_table(y, feats, distances=(step, 2 * step, 3 * step))
        table.attrs.update(level=level, category=name, cases=int(y.sum()), areas=len(y))
        return table

    return cached(ws, "risk_table", (level, name), compute)


def _centroids(ws, level: str):
    from pyproj import CRS

    from layers.crs import estimate_utm_crs

    areas = ws.areas(level)
    crs = CRS.from_user_input(ws.config.crs or areas.crs)
    if not crs.is_projected:
        pts = areas.geometry.representative_point().to_crs(4326)
        crs = estimate_utm_crs(pts.x.to_numpy(), pts.y.to_numpy())
    cen = areas.geometry.to_crs(crs).centroid
    cells = pd.DataFrame({"area_id": areas["area_id"].astype(str).to_numpy(),
                          "x": cen.x.to_numpy(float), "y": cen.y.to_numpy(float)})
    return cells, crs
