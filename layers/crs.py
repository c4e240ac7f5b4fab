"""CRS helpers: estimate a UTM zone, refuse geographic coordinates where metres are needed."""

from __future__ import annotations

import numpy as np
from pyproj import CRS

__all__ = ["estimate_utm_crs", "require_projected", "to_crs_checked"]


def estimate_utm_crs(lon: np.ndarray, lat: np.ndarray) -> CRS:
    """The WGS84 / UTM zone CRS that contains the median of the points.

    Parameters
    ----------
    lon, lat : array_like
        WGS84 degrees; NaNs are ignored.

    Returns
    -------
    pyproj.CRS
        ``EPSG:326zz`` (north) or ``EPSG:327zz`` (south).

    Examples
    --------
    >>> estimate_utm_crs([106.63], [26.65]).to_epsg()   # Guiyang
    32648
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        raise ValueError("cannot estimate a UTM zone: no finite coordinates")
    mlon, mlat = float(np.median(lon[ok])), float(np.median(lat[ok]))
    if not (-180 <= mlon <= 180 and -90 <= mlat <= 90):
        raise ValueError(f"cannot estimate a UTM zone: median ({mlon}, {mlat}) is not lon/lat degrees")
    zone = int((mlon + 180) // 6) + 1
    zone = min(max(zone, 1), 60)
    return CRS.from_epsg((32600 if mlat >= 0 else 32700) + zone)


def require_projected(crs, what: str = "layer") -> CRS:
    """Return ``crs`` as a pyproj CRS if it is projected in metres, else raise ``ValueError``."""
    if crs is None:
        raise ValueError(f"{what} has no CRS; set one (a projected CRS in metres)")
    crs = CRS.from_user_input(crs)
    if not crs.is_projected:
        raise ValueError(
            f"{what} is in geographic CRS {crs.to_string()}; distances and cell sizes need a "
            "projected CRS in metres (e.g. the UTM zone from estimate_utm_crs)"
        )
    unit = crs.axis_info[0].unit_name if crs.axis_info else "metre"
    if unit not in ("metre", "meter"):
        raise ValueError(f"{what} CRS {crs.to_string()} is in {unit}, not metres")
    return crs


def to_crs_checked(gdf, crs, what: str = "layer"):
    """Reproject ``gdf`` to ``crs``; a layer without CRS raises instead of being assumed."""
    if gdf.crs is None:
        raise ValueError(f"{what} has no CRS; cannot reproject to {CRS.from_user_input(crs).to_string()}")
    return gdf.to_crs(crs)
