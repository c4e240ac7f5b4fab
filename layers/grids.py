"""Generated square and hexagonal grids with stable cell ids and arithmetic point lookup.

A grid is described by a frozen :class:`GridSpec` (origin, cell size, shape, CRS). Cell
``(col, row)`` is found from coordinates by arithmetic alone (:meth:`GridSpec.index`), so
assigning millions of incidents to cells is pure numpy.

Geometry conventions
--------------------
square
    ``cell`` is the side length in metres. Cell ``(col, row)`` is the half-open box
    ``[ox + col*cell, ox + (col+1)*cell) x [oy + row*cell, oy + (row+1)*cell)``; a point on a
    shared edge belongs to the cell on its right / above.
hex
    Pointy-top hexagons. ``cell`` is the distance in metres between the centres of two
    neighbouring cells (= the width across flats); the side length is ``cell / sqrt(3)`` and a
    cell's area is ``sqrt(3)/2 * cell**2``. ``row`` counts rows of centres upwards
    (``y = oy + row * cell*sqrt(3)/2``) and odd rows are shifted half a cell to the right
    (``x = ox + (col + (row & 1)/2) * cell``), i.e. "odd-r" offset coordinates. Lookup picks the nearer
    of two rectangular lattices of centres (same result as axial cube rounding).

Stable ids
----------
The origin defaults to ``(0, 0)`` of the projected CRS, a multiple of every cell size, so a cell
keeps its id when the grid is rebuilt over a larger extent. Ids read
``c250_000123_000045`` (square, 250 m, col 123, row 45) and ``h250_…`` for hexagons; negative
indices (only with a custom origin or a CRS with negative coordinates) read ``-00012``.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely

from layers.crs import require_projected

__all__ = ["GridSpec", "make_grid", "cell_ids", "floor_index", "SHAPES"]

#: Grid shapes understood by :class:`GridSpec`.
SHAPES: tuple[str, ...] = ("square", "hex")

_SQRT3 = math.sqrt(3.0)
_CHUNK = 1 << 16  # points per chunk: the temporaries stay in cache
_THREADS = max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class GridSpec:
    """A regular grid in a projected CRS.

    Parameters
    ----------
    origin_x, origin_y : float
        Origin in CRS metres (lower-left corner of square cell (0, 0); centre of hex (0, 0)).
    cell : float
        Square side length, or hexagon centre-to-centre distance, in metres.
    shape : {"square", "hex"}
        Cell shape (hexagons are pointy-top).
    crs : str
        Projected CRS in metres, e.g. ``"EPSG:32615"``.

    Examples
    --------
    >>> g = GridSpec(0.0, 0.0, 250.0, "square", "EPSG:32615")
    >>> g.index([260.0, -1.0], [10.0, 500.0])
    (array([ 1, -1]), array([0, 2]))
    >>> g.ids([1], [0]).tolist()
    ['c250_000001_000000']
    """

    origin_x: float
    origin_y: float
    cell: float
    shape: str
    crs: str

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"grid shape {self.shape!r}: use one of {', '.join(SHAPES)}")
        if not (np.isfinite(self.cell) and self.cell > 0):
            raise ValueError(f"cell size must be a positive number of metres, got {self.cell!r}")
        crs = require_projected(self.crs, "grid")
        object.__setattr__(self, "crs", crs.to_string())
        object.__setattr__(self, "cell", float(self.cell))
        object.__setattr__(self, "origin_x", float(self.origin_x))
        object.__setattr__(self, "origin_y", float(self.origin_y))

    # -- (de)serialisation for config.toml ------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for ``Config.extra``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GridSpec:
        return cls(float(d["origin_x"]), float(d["origin_y"]), float(d["cell"]), str(d["shape"]), str(d["crs"]))

    @property
    def prefix(self) -> str:
        """Id prefix, e.g. ``"c250"`` or ``"h62.5"``."""
        return f"{'c' if self.shape == 'square' else 'h'}{self.cell:g}"

    @property
    def row_height(self) -> float:
        """Vertical distance between rows of cell centres (hex) or cell side (square)."""
        return self.cell * _SQRT3 / 2.0 if self.shape == "hex" else self.cell

    # -- arithmetic lookup ---------------------------------------------------------------
    def index(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Cell ``(col, row)`` of each point, by arithmetic (no geometry).

        Parameters
        ----------
        x, y : array_like
            Coordinates in :attr:`crs` metres. Non-finite values give an undefined cell;
            callers mask them first.

        Returns
        -------
        col, row : ndarray of int64
        """
        x = np.ascontiguousarray(x, dtype=np.float64).ravel()
        y = np.ascontiguousarray(y, dtype=np.float64).ravel()
        if x.shape != y.shape:
            raise ValueError(f"x and y differ in length ({x.size} vs {y.size})")
        kernel = _square_kernel if self.shape == "square" else _hex_kernel
        return _chunked(kernel, x, y, self.origin_x, self.origin_y, self.cell)

    def ids(self, col, row) -> np.ndarray:
        """Cell ids (object array of str) for integer ``col``, ``row``."""
        return cell_ids(self.prefix, col, row)

    def centres(self, col, row) -> tuple[np.ndarray, np.ndarray]:
        """Cell centre coordinates in CRS metres."""
        col = np.asarray(col, dtype=np.float64)
        row = np.asarray(row, dtype=np.float64)
        if self.shape == "square":
            return self.origin_x + (col + 0.5) * self.cell, self.origin_y + (row + 0.5) * self.cell
        odd = np.mod(row, 2.0)
        return self.origin_x + (col + odd / 2.0) * self.cell, self.origin_y + row * self.row_height

    def polygons(self, col, row) -> np.ndarray:
        """Full (unclipped) cell polygons, vectorised."""
        cx, cy = self.centres(col, row)
        if self.shape == "square":
            h = self.cell / 2.0
            return shapely.box(cx - h, cy - h, cx + h, cy + h)
        # pointy-top: vertices at 30° + k·60°, circumradius = side = cell / sqrt(3)
        radius = self.cell / _SQRT3
        ang = np.deg2rad(30.0 + 60.0 * np.arange(7))
        vx = cx[:, None] + radius * np.cos(ang)[None, :]
        vy = cy[:, None] + radius * np.sin(ang)[None, :]
        return shapely.polygons(np.stack([vx, vy], axis=-1))

    def cover(self, bounds: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
        """All ``(col, row)`` whose cell may intersect the box ``(minx, miny, maxx, maxy)``."""
        minx, miny, maxx, maxy = bounds
        if self.shape == "square":
            c0, r0 = self.index([minx], [miny])
            c1, r1 = self.index([maxx], [maxy])
            cols = np.arange(c0[0], c1[0] + 1)
            rows = np.arange(r0[0], r1[0] + 1)
        else:
            h = self.row_height
            rows = np.arange(
                math.floor((miny - self.origin_y) / h) - 1, math.ceil((maxy - self.origin_y) / h) + 2
            )
            cols = np.arange(
                math.floor((minx - self.origin_x) / self.cell) - 1,
                math.ceil((maxx - self.origin_x) / self.cell) + 2,
            )
        cc, rr = np.meshgrid(cols, rows, indexing="xy")
        return cc.ravel().astype(np.int64), rr.ravel().astype(np.int64)


def make_grid(spec: GridSpec, boundary, *, parent_id: str | None = None):
    """Cells of ``spec`` clipped to ``boundary``, as an areas GeoDataFrame.

    Parameters
    ----------
    spec : GridSpec
    boundary : shapely geometry
        Study area in ``spec.crs``. Cells that do not intersect it in a positive area are
        dropped; cells on its edge keep their clipped geometry.
    parent_id : str, optional
        Written to ``parent_id`` (generated cells normally have none).

    Returns
    -------
    geopandas.GeoDataFrame
        ``area_id, name, level ("cell"), parent_id, col, row, partial, geometry`` sorted by
        ``area_id``; ``partial`` is True where the cell was clipped.
    """
    import geopandas as gpd

    if boundary is None or shapely.is_empty(boundary):
        raise ValueError("grid boundary is empty; nothing to cover")
    col, row = spec.cover(shapely.bounds(boundary))
    cells = spec.polygons(col, row)
    shapely.prepare(boundary)
    keep = shapely.intersects(boundary, cells)
    col, row, cells = col[keep], row[keep], cells[keep]
    inside = shapely.covers(boundary, cells)
    geom = cells.copy()
    if (~inside).any():
        clipped = shapely.intersection(cells[~inside], boundary)
        # a clip may return a collection with slivers of lines; keep polygonal parts only
        geom[~inside] = _polygonal(clipped)
    area = shapely.area(geom)
    keep = area > 1e-9 * spec.cell**2
    col, row, geom, inside = col[keep], row[keep], geom[keep], inside[keep]
    ids = spec.ids(col, row)
    order = np.argsort(ids, kind="stable")
    out = gpd.GeoDataFrame(
        {
            "area_id": pd.array(ids[order], dtype="str"),
            "name": pd.array(ids[order], dtype="str"),
            "level": "cell",
            "parent_id": pd.array([parent_id] * len(order), dtype="str"),
            "col": col[order],
            "row": row[order],
            "partial": ~inside[order],
        },
        geometry=geom[order],
        crs=spec.crs,
    )
    return out


def floor_index(x, y, origin_x: float, origin_y: float, size: float) -> tuple[np.ndarray, np.ndarray]:
    """``floor((x - origin_x) / size)``, ``floor((y - origin_y) / size)`` as int64, fast.

    The same arithmetic as square :meth:`GridSpec.index` (monotonic in x and y), for any
    coordinates — used by :class:`layers.assign.PolygonIndex` for its tile raster.
    """
    x = np.ascontiguousarray(x, dtype=np.float64).ravel()
    y = np.ascontiguousarray(y, dtype=np.float64).ravel()
    return _chunked(_square_kernel, x, y, float(origin_x), float(origin_y), float(size))


def cell_ids(prefix: str, col, row) -> np.ndarray:
    """``prefix_CCCCCC_RRRRRR`` ids (zero-padded to 6 digits, sign kept), vectorised."""
    col = pd.Series(np.asarray(col, dtype=np.int64)).astype(str).str.zfill(6)
    row = pd.Series(np.asarray(row, dtype=np.int64)).astype(str).str.zfill(6)
    return (prefix + "_" + col + "_" + row).to_numpy(dtype=object)


def _chunked(kernel, x, y, ox, oy, cell) -> tuple[np.ndarray, np.ndarray]:
    """Run ``kernel`` over cache-sized chunks on all cores (numpy releases the GIL)."""
    n = x.size
    col = np.empty(n, dtype=np.int64)
    row = np.empty(n, dtype=np.int64)
    chunks = [slice(i, min(i + _CHUNK, n)) for i in range(0, n, _CHUNK)]
    if len(chunks) <= 2:
        for s in chunks:
            kernel(x[s], y[s], col[s], row[s], ox, oy, cell)
        return col, row
    with ThreadPoolExecutor(_THREADS) as pool:
        # list() re-raises any worker exception here
        list(pool.map(lambda s: kernel(x[s], y[s], col[s], row[s], ox, oy, cell), chunks))
    return col, row


def _square_kernel(x, y, col, row, ox, oy, cell) -> None:
    with np.errstate(invalid="ignore"):  # NaN coordinates: undefined cell, masked by callers
        _square_kernel_body(x, y, col, row, ox, oy, cell)


def _square_kernel_body(x, y, col, row, ox, oy, cell) -> None:
    inv = 1.0 / cell
    t = np.subtract(x, ox)
    t *= inv
    np.floor(t, out=t)
    col[...] = t
    t = np.subtract(y, oy, out=t)
    t *= inv
    np.floor(t, out=t)
    row[...] = t


def _hex_kernel(x, y, col, row, ox, oy, cell) -> None:
    """Pointy-top hex lookup as the nearer of two rectangular centre lattices.

    Even rows have centres on lattice A = (cell*i, 2h*j), odd rows on lattice B = A shifted by
    (cell/2, h), h = cell*sqrt(3)/2. The nearest centre in a rectangular lattice is found by
    rounding each axis; with fractional parts fu, fv (units cell, 2h), a = |fu - 1/2| and
    b = |fv - 1/2|, B is nearer exactly when a + 3b < 1 (the (2h/cell)^2 = 3 comes from
    the lattice's aspect ratio). Equivalent to axial cube rounding, with fewer passes.
    """
    with np.errstate(invalid="ignore"):
        _hex_kernel_body(x, y, col, row, ox, oy, cell)


def _hex_kernel_body(x, y, col, row, ox, oy, cell) -> None:
    u = np.subtract(x, ox)
    u *= 1.0 / cell
    fu = np.floor(u)
    u -= fu
    v = np.subtract(y, oy)
    v *= 1.0 / (_SQRT3 * cell)
    fv = np.floor(v)
    v -= fv
    hu = u >= 0.5
    hv = v >= 0.5
    u -= 0.5
    np.abs(u, out=u)
    v -= 0.5
    np.abs(v, out=v)
    v *= 3.0
    v += u
    odd = v < 1.0
    col[...] = fu
    col += ~odd & hu
    row[...] = fv
    row *= 2
    row += np.where(odd, 1, 2 * hv)


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Keep only the polygonal part of each geometry (drop points/lines from a clip)."""
    out = geoms.copy()
    kind = shapely.get_type_id(geoms)
    mixed = kind == 7  # GeometryCollection
    for i in np.flatnonzero(mixed):  # rare: only cells touching the boundary in a line
        parts = shapely.get_parts(geoms[i])
        parts = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
        out[i] = shapely.union_all(parts) if len(parts) else shapely.Polygon()
    return out
