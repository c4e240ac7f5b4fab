import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point

from analytics.hotspots.cameras import cameras_in_cells, coverage_gaps


@pytest.fixture
def cells(make_grid):
    g = make_grid(4, 1, size=100.0)  # cells x in [0,100), [100,200), [200,300), [300,400)
    g["class"] = ["hot_99", "hot_95", "hot_90", "cold_95"]
    g["count"] = [30, 20, 10, 0]
    return g


def test_gaps_by_distance_and_online(cells):
    cams = gpd.GeoDataFrame(
        {"camera_id": ["a", "b", "c"], "online": [True, False, True]},
        geometry=[Point(50, 50), Point(150, 50), Point(350, 50)],
        crs=cells.crs,
    ).to_crs("EPSG:4326")
    out = coverage_gaps(cells, cams, distance=40.0).set_index("area_id")
    assert list(out.index) == ["c001", "c000"]  # hot_90 is not hot enough; gap first
    assert out.loc["c000", "nearest_online_m"] == pytest.approx(0.0, abs=1e-6)
    assert not out.loc["c000", "gap"]
    # c001's own camera is offline; nearest online is 'a' at 50 m from its border at x=100
    assert out.loc["c001", "nearest_online_m"] == pytest.approx(50.0, abs=1e-3)
    assert out.loc["c001", "gap"]
    wide = coverage_gaps(cells, cams, distance=60.0).set_index("area_id")
    assert not wide.loc["c001", "gap"]
    top = coverage_gaps(cells, cams, distance=40.0, top_k=3)
    assert set(top["area_id"]) == {"c000", "c001", "c002"}


def test_cameras_in_cold_cells(cells):
    cams = gpd.GeoDataFrame(
        {"camera_id": ["a", "b", "c"]}, geometry=[Point(50, 50), Point(350, 20), Point(360, 80)], crs=cells.crs
    )
    out = cameras_in_cells(cams, cells, np.asarray(cells["count"] == 0))
    assert sorted(out["camera_id"]) == ["b", "c"]
    assert set(out["area_id"]) == {"c003"}


def test_refuses_geographic_cells(cells):
    with pytest.raises(ValueError, match="geographic"):
        coverage_gaps(cells.to_crs("EPSG:4326"), cells.iloc[:0], distance=10)
