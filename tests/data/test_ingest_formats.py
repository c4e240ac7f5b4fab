"""ingest_files reads every supported format and converts coordinates to WGS84."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
from pyproj import Transformer
from shapely.geometry import Polygon

from data.ingest import ingest_files
from data.workspace import Workspace
from layers.coords import wgs84_to_bd09, wgs84_to_gcj02


def _points(seed: int, n: int = 30):
    rng = np.random.default_rng(seed)
    lon = rng.uniform(106.6, 106.8, n)
    lat = rng.uniform(26.5, 26.7, n)
    t = pd.Timestamp("2024-02-01") + pd.to_timedelta(rng.integers(0, 60 * 24 * 90, n), unit="min")
    cat = np.array(["扒窃", "抢劫", "诈骗"])[rng.integers(0, 3, n)]
    ids = [f"AJ{seed}{i:04d}" for i in range(n)]
    return ids, t, cat, lon, lat


def test_xlsx_with_excel_serial_dates_and_date_cells(tmp_path):
    ids, t, cat, lon, lat = _points(1, 12)
    wb = openpyxl.Workbook()
    sh = wb.active
    sh.append(["案件编号", "案发时间", "案件类别", "经度", "纬度"])
    for i in range(12):
        serial = (t[i] - pd.Timestamp("1899-12-30")) / pd.Timedelta(days=1)
        when = [float(serial), t[i].to_pydatetime(), t[i].strftime("%Y/%m/%d %H:%M")][i % 3]
        sh.append([ids[i], when, str(cat[i]), float(lon[i]), float(lat[i])])
    sh.append(["AJbad", 12.5, "扒窃", 106.7, 26.6])  # a small number is not an Excel date here
    path = tmp_path / "案件.xlsx"
    wb.save(path)
    ws = Workspace.create(tmp_path / "w")
    rep = ingest_files([path], ws)
    assert rep.rows_in == 13 and rep.rows_used == 12 and rep.by_reason == {"unparseable_time": 1}
    inc = ws.incidents_frame().set_index("incident_id")
    assert (inc.loc[ids, "occurred_at"].to_numpy() == t.to_numpy()).all()
    np.testing.assert_allclose(inc.loc[ids, "lon"], lon)
    q = ws.quarantine()
    assert q["案发时间"].tolist() == ["12.5"] and q["source_row"].tolist() == [13]


def test_geojson_gpkg_and_projected_shapefile(tmp_path):
    ids, t, cat, lon, lat = _points(2, 20)
    gdf = gpd.GeoDataFrame(
        {"编号": ids, "发案时间": t.strftime("%Y-%m-%d %H:%M:%S"), "案由": cat},
        geometry=gpd.points_from_xy(lon, lat), crs=4326)
    gdf.loc[5, "geometry"] = None  # a point without geometry
    gdf.loc[6, "geometry"] = Polygon([(106.7, 26.6), (106.71, 26.6), (106.7, 26.61)])
    gj, gp, shp = tmp_path / "a.geojson", tmp_path / "b.gpkg", tmp_path / "c.shp"
    gdf.to_file(gj)
    gdf.iloc[:10].to_file(gp, driver="GPKG")
    # shapefile in UTM 48N, GBK attributes without a .cpg (as Chinese GIS exports often are)
    short = gdf.iloc[10:].rename(columns={"发案时间": "时间"}).assign(编号=[f"S{i}" for i in range(10)])
    short.to_crs(32648).to_file(shp, encoding="gbk")
    shp.with_suffix(".cpg").unlink(missing_ok=True)
    ws = Workspace.create(tmp_path / "w")
    with pytest.raises(ValueError, match=r"a.geojson: 1 of 20 features are not points \(Polygon 1\).*--centroids"):
        ingest_files([gj], ws)
    assert not ws.exists()
    rep = ingest_files([gj], ws, centroids=True)  # the polygon's centroid, computed in metres
    assert rep.mapped[str(gj)]["lon"] == "geometry"
    assert rep.by_reason == {"missing_coordinates": 1}
    assert any("taken as their centroids" in n for n in rep.notes)
    q = ws.quarantine()
    assert q["source_row"].tolist() == [6]  # the feature without geometry
    inc = ws.incidents_frame().set_index("incident_id")
    keep = [i for k, i in enumerate(ids) if k not in (5, 6)]
    np.testing.assert_allclose(inc.loc[keep, "lon"], np.delete(lon, [5, 6]), atol=1e-12)
    np.testing.assert_allclose(inc.loc[ids[6], ["lon", "lat"]].to_numpy(float), [106.70333, 26.60333], atol=2e-5)

    ws2 = Workspace.create(tmp_path / "w2")
    rep2 = ingest_files([gp, shp], ws2, centroids=True)
    assert rep2.rows_in == 20 and rep2.by_reason == {"missing_coordinates": 1}
    assert rep2.mapped[str(shp)]["occurred_at"] == "时间" and rep2.mapped[str(shp)]["category"] == "案由"
    inc2 = ws2.incidents_frame().set_index("incident_id")
    np.testing.assert_allclose(inc2.loc[[f"S{i}" for i in range(10)], "lon"], lon[10:], atol=1e-8)
    np.testing.assert_allclose(inc2.loc[[f"S{i}" for i in range(10)], "lat"], lat[10:], atol=1e-8)


def test_plain_parquet_and_geoparquet(tmp_path):
    ids, t, cat, lon, lat = _points(3, 15)
    plain = pd.DataFrame({"incident_id": ids, "occurred_at": t, "category": cat, "lon": lon, "lat": lat,
                          "mixed": pd.Series([1, "a", 2.5] * 5, dtype=object)})
    p1 = tmp_path / "plain.parquet"
    plain.drop(columns="mixed").to_parquet(p1)
    p2 = tmp_path / "geo.parquet"
    gpd.GeoDataFrame(plain.drop(columns=["lon", "lat", "mixed"]).assign(incident_id=[f"G{i}" for i in range(15)]),
                     geometry=gpd.points_from_xy(lon, lat), crs=4326).to_parquet(p2)
    ws = Workspace.create(tmp_path / "w")
    rep = ingest_files([p1, p2], ws)
    assert rep.rows_used == 30 and rep.rows_quarantined == 0
    g = ws.incidents()
    assert g.crs.to_epsg() == 4326 and g.geometry.geom_type.eq("Point").all()
    np.testing.assert_allclose(g.geometry.y, g["lat"])
    assert pd.api.types.is_datetime64_dtype(g["occurred_at"])


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_gcj02_and_bd09_input_is_converted(tmp_path, system):
    ids, t, cat, lon, lat = _points(4, 25)
    x, y = (wgs84_to_gcj02 if system == "gcj02" else wgs84_to_bd09)(lon, lat)
    frame = pd.DataFrame({"id": ids, "date": t.strftime("%Y-%m-%d %H:%M"), "category": cat,
                          "lng": np.round(x, 8), "lat": np.round(y, 8)})
    path = tmp_path / "amap.csv"
    frame.to_csv(path, index=False)
    ws = Workspace.create(tmp_path / "w")
    rep = ingest_files([path], ws, coords=system)
    assert system in rep.coords and ws.config.extra["ingest_coords"] == rep.coords
    inc = ws.incidents_frame().set_index("incident_id").loc[ids]
    err = np.hypot((inc["lon"] - lon) * 99_000, (inc["lat"] - lat) * 111_000)  # metres at 26.6°N
    assert err.max() < 0.5
    shift = np.hypot((x - lon) * 99_000, (y - lat) * 111_000)
    assert shift.min() > 100  # without conversion they would be hundreds of metres off


def test_epsg_projected_xy(tmp_path):
    ids, t, cat, lon, lat = _points(5, 10)
    x, y = Transformer.from_crs(4326, 32648, always_xy=True).transform(lon, lat)
    frame = pd.DataFrame({"编号": ids, "时间": t.strftime("%Y-%m-%d %H:%M"), "类别": cat, "x": x, "y": y})
    path = tmp_path / "utm.csv"
    frame.to_csv(path, index=False)
    ws = Workspace.create(tmp_path / "w")
    rep = ingest_files([path], ws, epsg=32648)
    assert "EPSG:32648" in rep.coords and rep.rows_used == 10
    inc = ws.incidents_frame().set_index("incident_id").loc[ids]
    np.testing.assert_allclose(inc["lon"], lon, atol=1e-9)
    np.testing.assert_allclose(inc["lat"], lat, atol=1e-9)


def test_swapped_detected_without_boundary_outside_china(tmp_path):
    # Toronto-like points: a swapped pair (43.7, -79.4) is a valid position, so only the
    # plausible box around the bulk of the points can tell it is swapped.
    rng = np.random.default_rng(6)
    lon = rng.uniform(-79.6, -79.2, 40).round(5)
    lat = rng.uniform(43.6, 43.8, 40).round(5)
    lon[7], lat[7] = lat[7], lon[7]
    frame = pd.DataFrame({"event_id": range(40), "occurrence_date": ["2023-05-01"] * 40,
                          "offence": ["Assault"] * 40, "long": lon, "lat": lat})
    path = tmp_path / "tor.csv"
    frame.to_csv(path, index=False)
    ws = Workspace.create(tmp_path / "w")
    rep = ingest_files([path], ws, timezone="America/Toronto")
    assert rep.by_reason == {"swapped_lat_lon": 1}
    assert ws.quarantine()["source_row"].tolist() == [8]
    assert ws.config.crs == "EPSG:32617" and ws.config.timezone == "America/Toronto"
