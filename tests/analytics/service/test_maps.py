"""Area layers → small WGS84 GeoJSON for plotly: ids, CRS, simplification, cache."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import Point, box

from analytics.service import maps as mapdata
from data.workspace import Workspace

CRS = "EPSG:32649"  # UTM 49N, metres


@pytest.fixture
def ws(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    # A district made of a 1 km box and a densely sampled circle (many vertices to simplify).
    circle = Point(503000, 2901000).buffer(800, quad_segs=256)
    areas = gpd.GeoDataFrame(
        {"area_id": ["D01", "D02"], "name": ["南区", "北区"], "level": "district", "parent_id": [None, None]},
        geometry=[box(500000, 2900000, 501000, 2901000), circle], crs=CRS)
    areas.to_parquet(ws.area_path("district"))
    mapdata.clear_cache()
    return ws


def test_geojson_is_wgs84_with_area_ids(ws):
    gj = mapdata.layer_geojson(ws, "district")
    assert [f["id"] for f in gj["features"]] == ["D01", "D02"]
    assert gj["features"][1]["properties"] == {"name": "北区", "level": "district", "parent_id": None}
    lon, lat = np.array(gj["features"][0]["geometry"]["coordinates"][0]).T
    # 500000 E in UTM 49N is the central meridian 111°E; 2.9e6 N is about 26.2°N.
    assert lon.min() == pytest.approx(111.0, abs=1e-4)
    assert 26.1 < lat.min() < 26.3


def test_simplification_keeps_shape_and_drops_vertices(ws):
    gj = mapdata.layer_geojson(ws, "district")
    geom = shapely.geometry.shape(gj["features"][1]["geometry"])
    back = gpd.GeoSeries([geom], crs=4326).to_crs(CRS).iloc[0]
    original = ws.areas("district").geometry.iloc[1]
    assert len(back.exterior.coords) < len(original.exterior.coords) / 4
    assert back.area == pytest.approx(original.area, rel=0.02)
    assert back.symmetric_difference(original).area / original.area < 0.03


def test_cache_until_the_workspace_changes(ws):
    first = mapdata.layer_geojson(ws, "district")
    assert mapdata.layer_geojson(ws, "district") is first
    areas = ws.areas("district").iloc[:1]
    with ws.write_lock():  # a writer switches the file and bumps the version
        areas.to_parquet(ws.area_path("district"))
        ws.bump_version()
    again = mapdata.layer_geojson(ws, "district")
    assert [f["id"] for f in again["features"]] == ["D01"]


def test_subset_and_polygon_rings(ws):
    gj = mapdata.layer_geojson(ws, "district")
    sub = mapdata.subset(gj, ["D02"])
    assert [f["id"] for f in sub["features"]] == ["D02"] and "properties" not in sub["features"][0]
    lon, lat = mapdata.polygons_xy(gj)
    assert np.isnan(lon).sum() == 2 and np.isnan(lat).sum() == 2
    assert len(lon) == sum(len(f["geometry"]["coordinates"][0]) + 1 for f in gj["features"])


def test_layer_table_centroids(ws):
    table = mapdata.layer_table(ws, "district")
    assert table["area_id"].tolist() == ["D01", "D02"]
    lonlat = gpd.GeoSeries(gpd.points_from_xy(table["lon"], table["lat"]), crs=4326).to_crs(CRS)
    assert ws.areas("district").geometry.contains(lonlat.reset_index(drop=True)).all()
