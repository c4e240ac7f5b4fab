"""Chinese map coordinate systems: WGS84 <-> GCJ-02 (高德/腾讯) <-> BD-09 (百度), vectorised.

GCJ-02 is WGS84 plus a deterministic, non-linear offset (a few hundred metres) that Chinese web
maps apply inside China; BD-09 adds a further rotation/shift on top of GCJ-02. The formulas are
the widely published ones (the "eviltransform" / "coordtransform" family, Krasovsky semi-major
axis 6378245 m). WGS84 -> GCJ-02 is closed form; GCJ-02 -> WGS84 has no closed form and is
solved here by fixed-point iteration until the correction is below ``tol`` degrees (1e-7 ° is
about 1 cm), far finer than the 0.5 m that matters for assigning incidents to areas.

As the standard does, the GCJ offset is applied only inside China's bounding box
(:func:`in_china`); points outside are returned unchanged. BD-09 <-> GCJ-02 applies everywhere.

All functions take and return numpy arrays of longitudes and latitudes (degrees); NaN stays NaN.
"""

from __future__ import annotations

import numpy as np
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

__all__ = [
    "COORD_SYSTEMS",
    "in_china",
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gcj02_to_bd09",
    "bd09_to_gcj02",
    "wgs84_to_bd09",
    "bd09_to_wgs84",
    "to_wgs84",
    "projected_to_wgs84",
]

#: Coordinate systems accepted by :func:`to_wgs84` (the CLI's ``--coords``).
COORD_SYSTEMS: tuple[str, ...] = ("wgs84", "gcj02", "bd09")

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as in the GCJ-02 algorithm
_EE = 0.00669342162296594323  # Krasovsky first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0


def in_china(lon, lat) -> np.ndarray:
    """True where (lon, lat) lies in the rectangle inside which GCJ-02 applies."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 -> GCJ-02 (closed form; unchanged outside China)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlon, dlat = _delta(lon, lat)
    inside = in_china(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def gcj02_to_wgs84(lon, lat, *, tol: float = 1e-7, max_iter: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 -> WGS84 by fixed-point iteration of the forward transform.

    Starting from the GCJ point, ``w <- w - (wgs84_to_gcj02(w) - g)`` converges in a handful of
    steps because the offset varies slowly (its derivative is ~1e-5 per degree).

    Parameters
    ----------
    lon, lat : array_like
        GCJ-02 degrees.
    tol : float
        Stop when every point's forward transform is within ``tol`` degrees of the input.
    max_iter : int
        Safety cap on iterations.
    """
    glon = np.asarray(lon, dtype=float)
    glat = np.asarray(lat, dtype=float)
    inside = in_china(glon, glat)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(max_iter):
        dlon, dlat = _delta(wlon, wlat)
        elon = wlon + dlon - glon
        elat = wlat + dlat - glat
        wlon = wlon - elon
        wlat = wlat - elat
        err = np.maximum(np.abs(elon), np.abs(elat))
        if not np.any(inside & (err > tol)):
            break
    return np.where(inside, wlon, glon), np.where(inside, wlat, glat)


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 -> BD-09 (Baidu)."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    with np.errstate(invalid="ignore", over="ignore"):
        z = np.hypot(x, y) + 0.00002 * np.sin(y * _X_PI)
        theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
        return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 (Baidu) -> GCJ-02."""
    x = np.asarray(lon, dtype=float) - 0.0065
    y = np.asarray(lat, dtype=float) - 0.006
    with np.errstate(invalid="ignore", over="ignore"):
        z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
        theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
        return z * np.cos(theta), z * np.sin(theta)


def wgs84_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 -> GCJ-02 -> BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 -> GCJ-02 -> WGS84 (iterative inverse)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def to_wgs84(lon, lat, coords: str = "wgs84") -> tuple[np.ndarray, np.ndarray]:
    """Convert lon/lat given in ``coords`` ('wgs84', 'gcj02' or 'bd09') to WGS84.

    Raises
    ------
    ValueError
        Unknown ``coords``.
    """
    if coords == "wgs84":
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if coords == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if coords == "bd09":
        return bd09_to_wgs84(lon, lat)
    raise ValueError(f"--coords {coords!r}: expected one of {', '.join(COORD_SYSTEMS)}")


def projected_to_wgs84(x, y, crs) -> tuple[np.ndarray, np.ndarray]:
    """Transform x/y in ``crs`` (anything pyproj accepts, e.g. an EPSG code) to WGS84 lon/lat.

    Uses ``always_xy`` so x is easting/longitude whatever the CRS's axis order says.

    Raises
    ------
    ValueError
        ``crs`` is not a CRS pyproj knows.
    """
    try:
        src = CRS.from_user_input(crs)
    except CRSError as exc:
        raise ValueError(f"--epsg {crs}: not a CRS pyproj knows ({exc})") from exc
    tr = Transformer.from_crs(src, CRS.from_epsg(4326), always_xy=True)
    lon, lat = tr.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GCJ-02 offset (dlon, dlat) in degrees at WGS84 (lon, lat)."""
    with np.errstate(invalid="ignore", over="ignore"):  # inf/NaN inputs give NaN, quietly
        return _delta_raw(lon, lat)


def _delta_raw(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = lon - 105.0
    y = lat - 35.0
    xpi = x * np.pi
    ypi = y * np.pi
    common = (20.0 * np.sin(6.0 * xpi) + 20.0 * np.sin(2.0 * xpi)) * 2.0 / 3.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
            + (20.0 * np.sin(ypi) + 40.0 * np.sin(ypi / 3.0)) * 2.0 / 3.0
            + (160.0 * np.sin(ypi / 12.0) + 320.0 * np.sin(ypi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
            + (20.0 * np.sin(xpi) + 40.0 * np.sin(xpi / 3.0)) * 2.0 / 3.0
            + (150.0 * np.sin(xpi / 12.0) + 300.0 * np.sin(xpi / 30.0)) * 2.0 / 3.0)
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    return dlon, dlat
