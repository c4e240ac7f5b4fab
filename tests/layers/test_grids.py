"""Generated grids: arithmetic lookup against geometry, stable ids, clipping."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

from layers.grids import GridSpec, make_grid

CRS = "EPSG:32615"


@pytest.mark.parametrize("shape", ["square", "hex"])
def test_index_matches_cell_polygons(shape):
    rng = np.random.default_rng(7)
    spec = GridSpec(137.0, -55.0, 250.0, shape, CRS)
    x = rng.uniform(300_000, 310_000, 300_000)  # > 2 chunks: exercises the threaded path
    y = rng.uniform(4_200_000, 4_210_000, 300_000)
    col, row = spec.index(x, y)
    polys = spec.polygons(col, row)
    assert shapely.covers(polys, shapely.points(x, y)).all()


def test_hex_index_is_nearest_centre():
    rng = np.random.default_rng(3)
    spec = GridSpec(0.0, 0.0, 100.0, "hex", CRS)
    x = rng.uniform(-1000, 1000, 20_000)
    y = rng.uniform(-1000, 1000, 20_000)
    col, row = spec.index(x, y)
    # brute force: nearest of all centres of a wide window
    cc, rr = np.meshgrid(np.arange(-15, 16), np.arange(-15, 16))
    cx, cy = spec.centres(cc.ravel(), rr.ravel())
    d = (x[:, None] - cx[None, :]) ** 2 + (y[:, None] - cy[None, :]) ** 2
    best = d.argmin(axis=1)
    assert (col == cc.ravel()[best]).all() and (row == rr.ravel()[best]).all()


def test_hex_geometry_convention():
    spec = GridSpec(0.0, 0.0, 100.0, "hex", CRS)
    poly = spec.polygons([0], [0])[0]
    assert poly.area == pytest.approx(math.sqrt(3) / 2 * 100.0**2)
    # neighbours (same row, next row) have centres exactly `cell` apart
    x, y = spec.centres([0, 1, 0], [0, 0, 1])
    assert math.hypot(x[1] - x[0], y[1] - y[0]) == pytest.approx(100.0)
    assert math.hypot(x[2] - x[0], y[2] - y[0]) == pytest.approx(100.0)
    assert shapely.area(shapely.intersection(*spec.polygons([0, 1], [0, 0]))) < 1e-6


def test_square_edges_belong_right_and_above():
    spec = GridSpec(0.0, 0.0, 250.0, "square", CRS)
    col, row = spec.index([250.0, 0.0, -0.0001], [0.0, 500.0, 10.0])
    assert col.tolist() == [1, 0, -1] and row.tolist() == [0, 2, 0]
    assert spec.ids([1, -3], [0, 45]).tolist() == ["c250_000001_000000", "c250_-00003_000045"]


@pytest.mark.parametrize("shape", ["square", "hex"])
def test_grid_clipped_to_boundary_and_ids_stable(shape):
    spec = GridSpec(0.0, 0.0, 200.0, shape, CRS)
    small = shapely.Point(500_000, 4_000_000).buffer(1000)
    big = shapely.Point(500_300, 4_000_100).buffer(3000)
    g1 = make_grid(spec, small)
    g2 = make_grid(spec, big)
    assert g1.crs == CRS and (g1.level == "cell").all() and g1.area_id.is_unique
    # the clipped cells tile the boundary exactly
    assert g1.area.sum() == pytest.approx(small.area, rel=1e-9)
    assert g1.intersects(small).all() and g1.partial.any() and not g1.partial.all()
    # every full cell of the small grid exists with the same id and geometry in the big one
    full = g1[~g1.partial].set_index("area_id")
    other = g2.set_index("area_id").loc[full.index]
    assert shapely.equals(full.geometry.values, other.geometry.values).all()


def test_rejects_geographic_crs_and_bad_cell():
    with pytest.raises(ValueError, match="geographic"):
        GridSpec(0, 0, 250, "square", "EPSG:4326")
    with pytest.raises(ValueError, match="cell size"):
        GridSpec(0, 0, -1, "square", CRS)
    with pytest.raises(ValueError, match="shape"):
        GridSpec(0, 0, 250, "triangle", CRS)


def test_spec_roundtrip():
    spec = GridSpec(10.0, 20.0, 62.5, "hex", CRS)
    assert GridSpec.from_dict(spec.to_dict()) == spec
    assert spec.ids([1], [2])[0] == "h62.5_000001_000002"
