"""The one neighbour builder (analytics/neighbours.py) against libpysal and index arithmetic."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from libpysal.weights import Queen
from shapely.geometry import box

from analytics.hotspots.weights import contiguity_weights
from analytics.neighbours import neighbour_lists, queen_pairs
from layers.grids import GridSpec


def _voronoi(n=400, seed=0):
    rng = np.random.default_rng(seed)
    pts = shapely.multipoints(rng.uniform(0, 10_000, (n, 2)))
    frame = shapely.box(0, 0, 10_000, 10_000)
    cells = shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=frame))
    return shapely.intersection(cells, frame)


def test_queen_pairs_equal_libpysal_queen_on_irregular_polygons():
    geoms = _voronoi()
    left, right = queen_pairs(geoms)
    ref = Queen.from_iterable(list(geoms), ids=list(range(len(geoms))))
    assert set(zip(left.tolist(), right.tolist())) == {(i, j) for i in ref.neighbors for j in ref.neighbors[i]}
    # contiguity weights (the hot-spot statistics) are built from the same pairs
    w = contiguity_weights(gpd.GeoDataFrame(geometry=geoms, crs=32648))
    assert (w.sparse != ref.sparse).nnz == 0


def test_neighbour_lists_on_a_grid_match_index_arithmetic():
    spec = GridSpec(0.0, 0.0, 333.3, "square", "EPSG:32648")  # edges differ in the last bits
    cc, rr = np.meshgrid(np.arange(1200, 1206), np.arange(8800, 8805))
    col, row = cc.ravel(), rr.ravel()
    ids = spec.ids(col, row)
    cells = gpd.GeoDataFrame({"area_id": ids}, geometry=spec.polygons(col, row), crs=32648)
    nb = neighbour_lists(cells, tolerance=333.3 * 1e-6)
    pos = {(a, b): i for i, (a, b) in enumerate(zip(col, row))}
    for i, (a, b) in enumerate(zip(col, row)):  # brute force: the 8 surrounding cells present
        want = {ids[pos[(a + da, b + db)]] for da in (-1, 0, 1) for db in (-1, 0, 1)
                if (da or db) and (a + da, b + db) in pos}
        assert set(nb[ids[i]]) == want
    assert len(nb[ids[pos[(1202, 8802)]]]) == 8 and len(nb[ids[0]]) == 3


def test_tolerance_closes_float_gaps_only():
    g = gpd.GeoDataFrame({"area_id": ["a", "b", "c"]},
                         geometry=[box(0, 0, 1, 1), box(1 + 1e-12, 0, 2, 1), box(3, 0, 4, 1)])
    assert neighbour_lists(g) == {"a": [], "b": [], "c": []}
    assert neighbour_lists(g, tolerance=1e-9) == {"a": ["b"], "b": ["a"], "c": []}
    with pytest.raises(ValueError, match="tolerance"):
        queen_pairs(g.geometry.to_numpy(), tolerance=-1)
    with pytest.raises(ValueError, match="'cell_id'"):
        neighbour_lists(g, id_column="cell_id")
