import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point

from analytics.hotspots.kde import kde_surface, quartic_density


def _brute(points, targets, h, w=None):
    out = []
    for tx, ty in targets:
        total = 0.0
        for k, (px, py) in enumerate(points):
            d2 = (tx - px) ** 2 + (ty - py) ** 2
            if d2 < h * h:
                total += (1 if w is None else w[k]) * 3 / (np.pi * h * h) * (1 - d2 / (h * h)) ** 2
        out.append(total)
    return np.array(out)


def test_matches_double_loop():
    rng = np.random.default_rng(12)
    pts = rng.uniform(0, 500, (60, 2))
    tg = rng.uniform(0, 500, (40, 2))
    np.testing.assert_allclose(quartic_density(pts, tg, 120.0), _brute(pts, tg, 120.0), rtol=1e-12)
    w = rng.uniform(0.5, 2, 60)
    np.testing.assert_allclose(quartic_density(pts, tg, 120.0, w), _brute(pts, tg, 120.0, w), rtol=1e-12)


def test_integrates_to_event_count():
    # one event, fine lattice of evaluation points: sum(density) * cell area ≈ 1
    xs = np.arange(-200, 201, 2.0)
    tx, ty = np.meshgrid(xs, xs)
    dens = quartic_density(np.array([[0.3, -0.7]]), np.column_stack([tx.ravel(), ty.ravel()]), 150.0)
    assert dens.sum() * 4.0 == pytest.approx(1.0, rel=1e-3)


def test_surface_per_category_and_crs_checks(make_grid):
    cells = make_grid(5, 5, size=100.0)
    cen = cells.geometry.centroid
    events = gpd.GeoDataFrame(
        {"category": ["入室盗窃", "入室盗窃", "扒窃"]},
        geometry=[Point(cen.x[0], cen.y[0]), Point(cen.x[0] + 10, cen.y[0]), Point(cen.x[24], cen.y[24])],
        crs=cells.crs,
    ).to_crs("EPSG:4326")
    out = kde_surface(events, cells, 150.0, by="category")
    assert len(out) == 50
    burg = out[out["category"] == "入室盗窃"].set_index("area_id")["density"]
    assert burg.idxmax() == "c000" and burg["c024"] == 0
    total = kde_surface(events, cells, 150.0)
    np.testing.assert_allclose(
        total["density"].to_numpy(), out.groupby("area_id", sort=True)["density"].sum().to_numpy()
    )
    with pytest.raises(ValueError, match="geographic"):
        kde_surface(events, cells.to_crs("EPSG:4326"), 150.0)
    with pytest.raises(ValueError, match="bandwidth"):
        quartic_density(np.zeros((1, 2)), np.zeros((1, 2)), 0)
