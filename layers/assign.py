"""Point → area assignment for polygon layers and generated grids, vectorised.

Rule (every layer, every path): a point belongs to the areas that **cover** it (interior or
boundary). A point covered by several areas — on a shared border or vertex, or where areas
overlap — goes to exactly one: the one with the **lowest position** in the layer (the pipeline
writes layers sorted by ``area_id``, so this is the smallest ``area_id``). A point covered by no
area is missing (``-1`` positions, ``None`` ids).

Polygon layers use :class:`PolygonIndex`, a tile raster over the layer: the tiles that any
polygon edge touches (closed squares, with a tiny tolerance) are *border* tiles. The remaining
tiles form connected regions that no edge touches, so each region has one answer, found once
from one representative point. Points in such tiles are assigned by
arithmetic; only points in border tiles (a few per cent) are tested exactly, with a bulk
``STRtree`` bounding-box query and prepared ``intersects_xy``.

Grid layers use :class:`GridIndex`: :meth:`GridSpec.index` arithmetic, then a lookup table
from (col, row) to the layer's cells; points in clipped-away cells are missing, and points in
clipped (partial) cells are tested exactly against the clipped geometry.
"""

from __future__ import annotations

import gc
import math
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import pandas as pd
import shapely
from scipy import ndimage

from layers.grids import GridSpec, floor_index

__all__ = ["PolygonIndex", "GridIndex", "assign_points", "area_index", "project_lonlat"]

_MISSING = -1
_BORDER = -2
_SLOT0 = -3  # table values <= _SLOT0 are single-edge tiles
_CHUNK = 1 << 16
_THREADS = max(1, min(4, os.cpu_count() or 1))


class PolygonIndex:
    """Locate points in a set of polygons (covers + lowest-position tie-break).

    Parameters
    ----------
    geometries : array_like of shapely geometries
        Polygons / MultiPolygons (others and empties never cover a point).
    max_tiles : int, default 4_000_000
        Upper bound on raster tiles (memory: 4 bytes each, plus transient labels).
    tiles_per_polygon : int, default 1024
        Target tiles per polygon; more tiles → fewer exact tests, slower build.

    Examples
    --------
    >>> import shapely
    >>> idx = PolygonIndex([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)])
    >>> idx.locate([0.5, 1.0, 3.0], [0.5, 0.5, 0.5]).tolist()   # the border point goes to 0
    [0, 0, -1]
    """

    def __init__(self, geometries, *, max_tiles: int = 4_000_000, tiles_per_polygon: int = 1024) -> None:
        geoms = np.asarray(geometries, dtype=object)
        self.geometries_ = geoms
        ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        ok &= np.isin(shapely.get_type_id(np.where(ok, geoms, None)), (3, 6))
        self.valid_ = np.flatnonzero(ok)
        self.tree_ = shapely.STRtree(geoms[self.valid_])
        shapely.prepare(geoms[self.valid_])
        if self.valid_.size == 0:
            self.table_ = np.full((1, 1), _MISSING, dtype=np.int32)
            self.origin_, self.tile_ = (0.0, 0.0), 1.0
            return
        minx, miny, maxx, maxy = shapely.total_bounds(geoms[self.valid_])
        span = max(maxx - minx, maxy - miny, 1e-9)
        target = min(max_tiles, max(1024, tiles_per_polygon * self.valid_.size))
        tile = max(math.sqrt((maxx - minx) * (maxy - miny) / target), span / 4096)
        self.tile_ = float(tile)
        # two spare tiles each side: dilation never falls off the raster
        self.origin_ = (float(minx - 2 * tile), float(miny - 2 * tile))
        ncols = int((maxx - self.origin_[0]) // tile) + 3
        nrows = int((maxy - self.origin_[1]) // tile) + 3
        seg, flat = self._supercover(geoms[self.valid_], nrows, ncols)
        hits = np.bincount(flat, minlength=nrows * ncols)
        border = (hits > 0).reshape(nrows, ncols)
        labels, ncomp = ndimage.label(~border)
        comp_value = self._component_values(labels, ncomp)
        table = comp_value[labels].astype(np.int32).ravel()
        table[border.ravel()] = _BORDER
        self._single_segment_tiles(table, hits, seg, flat, ncols)
        self.table_ = table.reshape(nrows, ncols)
        self.border_share_ = float(border.mean())

    # -- query ---------------------------------------------------------------------------
    def locate(self, x, y) -> np.ndarray:
        """Position (int64) of the covering polygon with the lowest position; -1 if none."""
        x = np.ascontiguousarray(x, dtype=np.float64).ravel()
        y = np.ascontiguousarray(y, dtype=np.float64).ravel()
        out = np.empty(x.size, dtype=np.int64)
        _run_chunked(self._locate_chunk, x, y, out)
        exact = np.flatnonzero(out == _BORDER)
        if exact.size:
            out[exact] = self._exact(x[exact], y[exact])
        return out

    def _locate_chunk(self, x: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
        nrows, ncols = self.table_.shape
        col, row = floor_index(x, y, self.origin_[0], self.origin_[1], self.tile_)
        ok = (col >= 0) & (col < ncols) & (row >= 0) & (row < nrows) & np.isfinite(x) & np.isfinite(y)
        flat = row * ncols + col
        flat[~ok] = 0
        val = self.table_.ravel()[flat]
        out[...] = val
        out[~ok] = _MISSING
        one = np.flatnonzero(val <= _SLOT0)
        if one.size:
            # tiles crossed by one edge: the side of the edge decides, unless too close to call
            slot = _SLOT0 - out[one]
            x0, y0, dx, dy, tol = (a[slot] for a in self._seg_params)
            cross = dx * (y[one] - y0) - dy * (x[one] - x0)
            out[one] = np.where(cross > tol, self._left[slot], np.where(cross < -tol, self._right[slot], _BORDER))

    def _exact(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Bulk bounding-box query, then prepared covers test, then lowest position."""
        with _no_gc():
            # many short-lived geometries: the cyclic GC would rescan them repeatedly (3x slower)
            pts, cand = self.tree_.query(shapely.points(x, y))
        cand = self.valid_[cand]
        hit = shapely.intersects_xy(self.geometries_[cand], x[pts], y[pts])
        best = np.full(x.size, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(best, pts[hit], cand[hit])
        best[best == np.iinfo(np.int64).max] = _MISSING
        return best

    # -- build ---------------------------------------------------------------------------
    def _supercover(self, geoms: np.ndarray, nrows: int, ncols: int) -> tuple[np.ndarray, np.ndarray]:
        """(edge, tile) pairs: tiles whose closed square (grown by a tiny ``eps``) an edge touches.

        Edges shared by two rings are kept once. For each edge, the columns it spans, then in
        each column the rows its y-range spans. ``eps`` dwarfs the rounding of
        :func:`floor_index`, so a point whose computed tile is untouched truly lies in that
        tile, away from every edge.
        """
        rings = shapely.get_rings(shapely.get_parts(geoms))
        coords, ring = shapely.get_coordinates(rings, return_index=True)
        same = ring[1:] == ring[:-1]
        p, q = coords[:-1][same], coords[1:][same]
        swap = (p[:, 0] > q[:, 0]) | ((p[:, 0] == q[:, 0]) & (p[:, 1] > q[:, 1]))
        p[swap], q[swap] = q[swap], p[swap].copy()
        segs = np.unique(np.column_stack([p, q]), axis=0)
        segs = segs[(segs[:, 0] != segs[:, 2]) | (segs[:, 1] != segs[:, 3])]
        self._segs = segs
        x0, y0, x1, y1 = segs.T
        ox, oy, t = self.origin_[0], self.origin_[1], self.tile_
        self._eps_pos = 8 * float(np.spacing(np.abs(coords).max(initial=1.0)))
        eps = 1e-6 * t + self._eps_pos
        ya, yb = np.minimum(y0, y1), np.maximum(y0, y1)
        c_lo = np.floor((x0 - eps - ox) / t).astype(np.int64)  # x0 <= x1 after the swap
        c_hi = np.floor((x1 + eps - ox) / t).astype(np.int64)
        seg, c = _expand(c_lo, c_hi)
        xl = np.maximum(ox + c * t - eps, x0[seg])
        xr = np.minimum(ox + (c + 1) * t + eps, x1[seg])
        dx = (x1 - x0)[seg]
        vertical = dx == 0
        safe = np.where(vertical, 1.0, dx)
        fl = np.clip((xl - x0[seg]) / safe, 0.0, 1.0)
        fr = np.clip((xr - x0[seg]) / safe, 0.0, 1.0)
        dy = (y1 - y0)[seg]
        yl = np.where(vertical, ya[seg], y0[seg] + dy * fl)
        yr = np.where(vertical, yb[seg], y0[seg] + dy * fr)
        r_lo = np.floor((np.minimum(yl, yr) - eps - oy) / t).astype(np.int64)
        r_hi = np.floor((np.maximum(yl, yr) + eps - oy) / t).astype(np.int64)
        part, r = _expand(r_lo, r_hi)
        flat = np.clip(r, 0, nrows - 1) * ncols + np.clip(c[part], 0, ncols - 1)
        return seg[part], flat

    def _single_segment_tiles(self, table, hits, seg, flat, ncols) -> None:
        """Border tiles crossed by exactly one edge learn their two sides' answers.

        Such an edge splits the tile into two regions. A clean 4-neighbour shares a whole
        tile edge with one region (no boundary touches a clean tile), so its answer is that
        region's answer; the side is the sign of the cross product at the shared edge's
        midpoint. Tiles get slot ids ``_SLOT0 - k`` in ``table``; unknown sides stay exact.
        """
        one = hits[flat] == 1
        tiles, s = flat[one], seg[one]
        x0, y0, x1, y1 = self._segs[s].T
        dx, dy = x1 - x0, y1 - y0
        t = self.tile_
        size = np.abs(dx) + np.abs(dy)
        # bound on the rounding error of the cross product for points within the tile
        tol = 4.0 * size * (self._eps_pos + 4.5e-16 * (size + 4 * t))
        left = np.full(tiles.size, _BORDER, dtype=np.int64)
        right = left.copy()
        rr, cc = np.divmod(tiles, ncols)
        for dr, dc in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            nv = table[tiles + dr * ncols + dc]
            mx = self.origin_[0] + (cc + 0.5 + 0.5 * dc) * t
            my = self.origin_[1] + (rr + 0.5 + 0.5 * dr) * t
            cross = dx * (my - y0) - dy * (mx - x0)
            clean = nv > _BORDER
            left = np.where(clean & (cross > tol), nv, left)
            right = np.where(clean & (cross < -tol), nv, right)
        known = (left != _BORDER) | (right != _BORDER)
        tiles, k = tiles[known], np.flatnonzero(known)
        table[tiles] = _SLOT0 - np.arange(k.size)
        self._seg_params = (x0[k], y0[k], dx[k], dy[k], tol[k])
        self._left, self._right = left[k], right[k]

    def _component_values(self, labels: np.ndarray, ncomp: int) -> np.ndarray:
        """Answer for each clean region, from the centre of one of its tiles."""
        flat = labels.ravel()
        pos = np.flatnonzero(flat)
        rep = np.zeros(ncomp + 1, dtype=np.int64)
        # repeated indices: whichever tile wins is a member of the region, which is all we need
        rep[flat[pos]] = pos
        rr, cc = np.divmod(rep[1:], labels.shape[1])
        px = self.origin_[0] + (cc + 0.5) * self.tile_
        py = self.origin_[1] + (rr + 0.5) * self.tile_
        value = np.full(ncomp + 1, _MISSING, dtype=np.int64)
        value[1:] = self._exact(px, py)
        return value


class GridIndex:
    """Locate points in the cells of a generated grid layer by arithmetic.

    Parameters
    ----------
    spec : GridSpec
    cols, rows : array_like of int
        Cell indices of the layer's rows, in layer order.
    geometries : array_like, optional
        Clipped cell geometries; with ``partial``, points in clipped cells are tested
        exactly (a point in the square/hexagon but outside the clipped part is missing).
    partial : array_like of bool, optional
    """

    def __init__(self, spec: GridSpec, cols, rows, geometries=None, partial=None) -> None:
        self.spec = spec
        cols = np.asarray(cols, dtype=np.int64)
        rows = np.asarray(rows, dtype=np.int64)
        self.c0_, self.r0_ = (int(cols.min()), int(rows.min())) if cols.size else (0, 0)
        shape = (int(rows.max()) - self.r0_ + 1, int(cols.max()) - self.c0_ + 1) if cols.size else (1, 1)
        if shape[0] * shape[1] > 50_000_000:
            raise ValueError(f"grid layer spans {shape[1]} x {shape[0]} cells; too large for a lookup table")
        self.table_ = np.full(shape, _MISSING, dtype=np.int32)
        self.table_[rows - self.r0_, cols - self.c0_] = np.arange(cols.size, dtype=np.int32)
        self.geometries_ = None if geometries is None else np.asarray(geometries, dtype=object)
        self.partial_ = None if partial is None else np.asarray(partial, dtype=bool)
        if self.geometries_ is not None and self.partial_ is not None:
            shapely.prepare(self.geometries_[self.partial_])

    def locate(self, x, y) -> np.ndarray:
        """Position (int64) of the cell holding each point; -1 if none."""
        x = np.ascontiguousarray(x, dtype=np.float64).ravel()
        y = np.ascontiguousarray(y, dtype=np.float64).ravel()
        out = np.empty(x.size, dtype=np.int64)
        _run_chunked(self._locate_chunk, x, y, out)
        if self.partial_ is not None and self.geometries_ is not None and self.partial_.any():
            hit = np.flatnonzero(self.partial_[out] & (out >= 0))
            if hit.size:
                inside = shapely.intersects_xy(self.geometries_[out[hit]], x[hit], y[hit])
                out[hit[~inside]] = _MISSING
        return out

    def _locate_chunk(self, x: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
        # one cache-sized chunk, fused: cell index → table position (no full-size temporaries)
        col, row = self.spec.index(x, y)
        nrows, ncols = self.table_.shape
        col -= self.c0_
        row -= self.r0_
        ok = (col >= 0) & (col < ncols) & (row >= 0) & (row < nrows) & np.isfinite(x) & np.isfinite(y)
        flat = row * ncols + col
        flat[~ok] = 0
        out[...] = self.table_.ravel()[flat]
        out[~ok] = _MISSING


def area_index(areas, spec: GridSpec | None = None) -> PolygonIndex | GridIndex:
    """The right index for an areas layer: :class:`GridIndex` for a grid with ``col``/``row``."""
    if spec is not None:
        if not {"col", "row"} <= set(areas.columns):
            c, r = spec.index(*_centroid_xy(areas))
        else:
            c, r = areas["col"].to_numpy(), areas["row"].to_numpy()
        partial = areas["partial"].to_numpy(dtype=bool) if "partial" in areas.columns else None
        return GridIndex(spec, c, r, areas.geometry.values, partial)
    return PolygonIndex(np.asarray(areas.geometry.values, dtype=object))


def assign_points(areas, x, y, *, spec: GridSpec | None = None, index=None) -> pd.Series:
    """``area_id`` of the area holding each point (``None`` outside every area).

    Parameters
    ----------
    areas : GeoDataFrame
        Areas layer with ``area_id``; ``x``/``y`` must be in its CRS.
    x, y : array_like
        Point coordinates.
    spec : GridSpec, optional
        For a generated grid layer: assign by arithmetic.
    index : PolygonIndex or GridIndex, optional
        A prebuilt :func:`area_index` (to assign several batches).

    Returns
    -------
    pandas.Series of str (missing = NA)
    """
    idx = index if index is not None else area_index(areas, spec)
    pos = idx.locate(x, y)
    ids = pd.array(areas["area_id"].astype("str").to_numpy(dtype=object), dtype="str")
    # take() on the string array stays in C (10x faster than filling an object array)
    return pd.Series(ids.take(pos, allow_fill=True))


def project_lonlat(lon, lat, crs) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 lon/lat → ``crs`` x/y (NaN stays NaN)."""
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = tr.transform(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


@contextmanager
def _no_gc():
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _run_chunked(fn, x: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    """``fn(x[s], y[s], out[s])`` over cache-sized chunks, on all cores (numpy drops the GIL)."""
    chunks = [slice(i, min(i + _CHUNK, x.size)) for i in range(0, x.size, _CHUNK)]
    if len(chunks) > 2:
        with ThreadPoolExecutor(_THREADS) as pool:
            list(pool.map(lambda s: fn(x[s], y[s], out[s]), chunks))  # list() re-raises errors
    else:
        for s in chunks:
            fn(x[s], y[s], out[s])


def _expand(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ragged ranges ``lo[i]..hi[i]`` (inclusive) flattened: (owner i, value)."""
    n = np.maximum(hi - lo + 1, 0)
    owner = np.repeat(np.arange(n.size), n)
    start = np.cumsum(n) - n
    return owner, lo[owner] + (np.arange(owner.size) - start[owner])


def _centroid_xy(areas) -> tuple[np.ndarray, np.ndarray]:
    pts = shapely.point_on_surface(areas.geometry.values)
    return shapely.get_x(pts), shapely.get_y(pts)
