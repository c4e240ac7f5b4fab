"""The base map as the pages need it: the tile URL template the browser asks, and the tiles of
a local MBTiles/PMTiles file for the app's ``/tiles/<z>/<x>/<y>.png`` route.

The file path comes from the workspace's ``config.toml`` only; the browser gives three integers.
Reading the files is :mod:`data.tiles`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from data.tiles import basemap_of, read_tile, tile_media_type
from data.workspace import Workspace

__all__ = ["background", "tile", "cover"]


def background(ws: Workspace, origin: str = "") -> dict[str, Any] | None:
    """The workspace's base map for a map figure, or None when it has none.

    Returns
    -------
    dict or None
        ``tiles`` (URL template; for a local file the app's route, absolute with ``origin``,
        with ``?v=`` the file's modification time so a replaced file is fetched anew),
        ``attribution``, ``opacity``, ``minzoom``, ``maxzoom``.
    """
    bm = basemap_of(ws)
    if bm is None:
        return None
    url = bm.tiles(origin)
    if bm.file is not None:
        url += f"?v={int(bm.file.stat().st_mtime)}"
    return {"tiles": url, "attribution": bm.attribution, "opacity": bm.opacity,
            "minzoom": bm.minzoom, "maxzoom": bm.maxzoom}


def tile(ws: Workspace, z: int, x: int, y: int) -> tuple[bytes, str] | None:
    """Tile ``z/x/y`` (XYZ) of the workspace's local base map file and its media type; None when
    there is no local file or no such tile."""
    bm = basemap_of(ws)
    if bm is None or bm.file is None:
        return None
    data = read_tile(bm.file, z, x, y)
    return None if data is None else (data, tile_media_type(data))


def cover(bounds: tuple[float, float, float, float], *, max_tiles: int = 36, minzoom: int = 0,
          maxzoom: int = 18) -> list[dict[str, float]]:
    """The Web Mercator tiles covering ``bounds`` = (west, south, east, north) in degrees, at the
    finest zoom (within ``minzoom``–``maxzoom``) that needs at most ``max_tiles`` tiles.

    Each tile: ``z``, ``x``, ``y`` and its edges ``west``, ``east``, ``north``, ``south`` in degrees
    — for drawing tiles as images on a lon/lat plot.
    """
    west, south, east, north = (float(v) for v in bounds)
    best = minzoom
    for z in range(minzoom, maxzoom + 1):
        x0, y0 = _tile_xy(west, north, z)
        x1, y1 = _tile_xy(east, south, z)
        if (x1 - x0 + 1) * (y1 - y0 + 1) > max_tiles:
            break
        best = z
    z = best
    x0, y0 = _tile_xy(west, north, z)
    x1, y1 = _tile_xy(east, south, z)
    xs, ys = np.meshgrid(np.arange(x0, x1 + 1), np.arange(y0, y1 + 1))
    out = []
    for x, y in zip(xs.ravel().tolist(), ys.ravel().tolist(), strict=True):
        out.append({"z": z, "x": x, "y": y, "west": _lon(x, z), "east": _lon(x + 1, z),
                    "north": _lat(y, z), "south": _lat(y + 1, z)})
    return out


def _tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    lat = max(min(lat, 85.0511), -85.0511)
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def _lon(x: int, z: int) -> float:
    return x / 2 ** z * 360.0 - 180.0


def _lat(y: int, z: int) -> float:
    return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / 2 ** z))))
