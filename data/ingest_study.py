"""The study area that ingest checks incident points against.

A ``boundary`` file if given, else the union of the workspace's admin layers (区/街道/社区/网格)
if it has any, else none — then only the validity of lon/lat is checked. For detecting swapped
latitude/longitude without a boundary, :func:`plausible_box` gives a generous box around the
bulk of the file's points.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data.workspace import ADMIN_LEVELS, Workspace

__all__ = ["StudyArea", "study_area", "plausible_box"]


@dataclass
class StudyArea:
    """A study area polygon in EPSG:4326 (or none) and a note saying where it came from."""

    geometry: object = None
    note: str = ""

    def contains(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """True where the point is inside or on the boundary (all True without a polygon)."""
        lon = np.asarray(lon, dtype=float)
        lat = np.asarray(lat, dtype=float)
        if self.geometry is None:
            return np.ones(lon.shape, dtype=bool)
        import shapely

        out = np.zeros(lon.shape, dtype=bool)
        ok = np.isfinite(lon) & np.isfinite(lat)
        x0, y0, x1, y1 = self.geometry.bounds
        ok &= (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)  # cheap bbox pre-filter
        if ok.any():
            out[ok] = shapely.intersects_xy(self.geometry, lon[ok], lat[ok])
        return out


def study_area(ws: Workspace, boundary: str | Path | None = None) -> StudyArea:
    """The study area: ``boundary`` file, else the workspace's admin layers, else none.

    Raises
    ------
    FileNotFoundError
        ``boundary`` does not exist.
    ValueError
        ``boundary`` cannot be read or has no polygons.
    """
    import geopandas as gpd
    import shapely

    if boundary is not None:
        path = Path(boundary)
        if not path.is_file():
            raise FileNotFoundError(f"--boundary {path}: no such file")
        try:
            gdf = gpd.read_parquet(path) if path.suffix.lower() == ".parquet" else gpd.read_file(path, engine="pyogrio")
        except (ValueError, OSError, RuntimeError) as exc:
            raise ValueError(f"--boundary {path}: not a readable vector file ({str(exc).splitlines()[0]})") from exc
        if gdf.crs is None:
            gdf = gdf.set_crs(4326)  # GeoJSON without a crs member is WGS84 by RFC 7946
        geoms = gdf.to_crs(4326).geometry
        geoms = geoms[geoms.geom_type.isin(["Polygon", "MultiPolygon"])]
        if geoms.empty:
            raise ValueError(f"--boundary {path}: no polygons in the file")
        geom = shapely.union_all(geoms.to_numpy())
        shapely.prepare(geom)
        return StudyArea(geom, f"boundary {path.name}")
    admin = [lv for lv in ws.layers() if lv in ADMIN_LEVELS]
    if admin:
        parts = [shapely.union_all(ws.areas(lv).to_crs(4326).geometry.to_numpy()) for lv in admin]
        geom = shapely.union_all(parts)
        shapely.prepare(geom)
        return StudyArea(geom, f"workspace admin layers ({', '.join(admin)})")
    return StudyArea(None, "")


def plausible_box(lon: np.ndarray, lat: np.ndarray) -> tuple[float, float, float, float] | None:
    """A generous box (lon0, lat0, lon1, lat1) around the bulk of the valid points, or None.

    Median ± max(1°, 3 × the 10–90 % spread): robust to a few per cent of stray or swapped
    points, and wide enough for a whole province.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
    ok &= ~((lon == 0) & (lat == 0))
    if ok.sum() < 10:
        return None
    out = []
    for v in (lon[ok], lat[ok]):
        q10, q50, q90 = np.quantile(v, [0.1, 0.5, 0.9])
        half = max(1.0, 3.0 * (q90 - q10))
        out.append((q50 - half, q50 + half))
    return out[0][0], out[1][0], out[0][1], out[1][1]


def in_box(lon: np.ndarray, lat: np.ndarray, box: tuple[float, float, float, float] | None) -> np.ndarray:
    """True inside ``box`` (all True when ``box`` is None)."""
    lon = np.asarray(lon, dtype=float)
    if box is None:
        return np.ones(lon.shape, dtype=bool)
    x0, y0, x1, y1 = box
    with np.errstate(invalid="ignore"):
        return (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
