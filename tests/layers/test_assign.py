"""Point → area assignment against a brute-force shapely reference, borders included."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from layers.assign import GridIndex, PolygonIndex, assign_points, project_lonlat
from layers.grids import GridSpec, make_grid

CRS = "EPSG:32650"


def _lattice(rng):
    """10 x 10 unit squares at (1000, 2000); every third square split along its diagonal."""
    polys = []
    for i in range(10):
        for j in range(10):
            x, y = 1000.0 + i, 2000.0 + j
            if (i + j) % 3 == 0:
                polys.append(shapely.Polygon([(x, y), (x + 1, y), (x + 1, y + 1)]))
                polys.append(shapely.Polygon([(x, y), (x + 1, y + 1), (x, y + 1)]))
            else:
                polys.append(shapely.box(x, y, x + 1, y + 1))
    polys = np.array(polys, dtype=object)[rng.permutation(len(polys))]
    # an overlapping polygon with a hole, first: it wins everything it covers
    ring = shapely.box(1002.0, 2002.0, 1006.0, 2006.0)
    holed = shapely.difference(ring, shapely.box(1003.0, 2003.0, 1004.5, 2004.5))
    return np.concatenate([[holed], polys, [shapely.box(1009.0, 2009.0, 1012.0, 2012.0)]])


def _points(rng, n=4000):
    k = 64.0  # dyadic fractions: border points are exact in floating point
    parts = [
        np.column_stack([rng.uniform(998, 1013, n), rng.uniform(1998, 2013, n)]),  # random
        np.column_stack([rng.integers(999, 1013, n), rng.integers(1999, 2013, n)]).astype(float),  # vertices
        np.column_stack([rng.integers(1000, 1011, n), 2000 + rng.integers(0, 640, n) / k]),  # vertical edges
        np.column_stack([1000 + rng.integers(0, 640, n) / k, rng.integers(2000, 2011, n)]),  # horizontal
    ]
    f = rng.integers(0, 64, n) / k
    i, j = rng.integers(0, 10, n), rng.integers(0, 10, n)
    parts.append(np.column_stack([1000 + i + f, 2000 + j + f]))  # diagonals
    parts.append(np.array([[np.nan, 2000.5], [1000.5, np.inf]]))
    xy = np.concatenate(parts)
    return xy[:, 0], xy[:, 1]


def _brute_force(polys, x, y):
    pts = shapely.points(x, y)
    covers = shapely.covers(polys[:, None], pts[None, :])  # (n_polys, n_points)
    return np.where(covers.any(axis=0), covers.argmax(axis=0), -1)


@pytest.mark.parametrize("max_tiles", [64, 2304, 4_000_000])  # 2304: 0.25 tiles, edges on lattice lines
def test_polygon_index_matches_brute_force(max_tiles):
    rng = np.random.default_rng(42)
    polys = _lattice(rng)
    x, y = _points(rng)
    idx = PolygonIndex(polys, max_tiles=max_tiles, tiles_per_polygon=10**6)
    if max_tiles == 2304:
        assert idx.tile_ == 0.25 and idx.origin_ == (999.5, 1999.5)
    got = idx.locate(x, y)
    ref = _brute_force(polys, x, y)
    assert (got == ref).all(), np.flatnonzero(got != ref)[:10]
    assert (got >= 0).sum() > len(x) // 2 and (got == -1).any()


def test_polygon_index_voronoi_and_empty_geometries():
    rng = np.random.default_rng(1)
    box = shapely.box(0, 0, 1000, 1000)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(rng.uniform(0, 1000, (200, 2))), extend_to=box))
    polys = np.concatenate([[shapely.Polygon(), None], shapely.intersection(cells, box)])
    x, y = rng.uniform(-50, 1050, 20000), rng.uniform(-50, 1050, 20000)
    # points on Voronoi vertices (shared by three cells)
    vx, vy = shapely.get_coordinates(polys[2:]).T
    x, y = np.concatenate([x, vx]), np.concatenate([y, vy])
    got = PolygonIndex(polys).locate(x, y)
    assert (got == _brute_force(polys, x, y)).all()
    assert not np.isin(got, [0, 1]).any()


def test_polygon_index_without_polygons():
    assert PolygonIndex([]).locate([1.0], [2.0]).tolist() == [-1]


def test_grid_index_clipped_cells():
    rng = np.random.default_rng(5)
    spec = GridSpec(0.0, 0.0, 100.0, "hex", CRS)
    boundary = shapely.Point(500_000, 3_000_000).buffer(800)
    grid = make_grid(spec, boundary)
    idx = GridIndex(spec, grid["col"], grid["row"], grid.geometry.values, grid["partial"])
    x = rng.uniform(499_000, 501_000, 50_000)
    y = rng.uniform(2_999_000, 3_001_000, 50_000)
    pos = idx.locate(x, y)
    pts = shapely.points(x, y)
    geoms = grid.geometry.values
    hit = pos >= 0
    assert shapely.covers(geoms[pos[hit]], pts[hit]).all()
    # missing points lie in no cell (clipped away or outside the boundary)
    assert not shapely.contains(boundary, pts[~hit]).any()
    assert hit.sum() == shapely.covers(boundary, pts).sum()


def test_assign_points_ids_and_missing():
    areas = gpd.GeoDataFrame(
        {"area_id": ["A", "B"]}, geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)], crs=CRS
    )
    got = assign_points(areas, [0.5, 1.0, 1.5, 5.0], [0.5, 0.5, 0.5, 0.5])
    assert got.iloc[:3].tolist() == ["A", "A", "B"] and got.isna().tolist() == [False, False, False, True]


def test_project_lonlat_keeps_nan():
    x, y = project_lonlat([117.0, np.nan], [39.0, 39.0], CRS)
    assert np.isfinite(x[0]) and np.isnan(x[1])
