"""Workspace pipeline: grids and admin layers → assignments → dense counts that add up."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from data.pipeline import build_areas, counts, refresh
from data.workspace import Config, Workspace
from layers.assign import project_lonlat

CATS = ["抢劫", "入室盗窃", "诈骗"]


def _workspace(tmp_path, n=3000, seed=0) -> Workspace:
    """A workspace whose incidents.parquet is written in the canonical form (as ingest does)."""
    rng = np.random.default_rng(seed)
    ws = Workspace.create(tmp_path / "ws", Config(name="测试市"))
    lon = 106.70 + rng.normal(0, 0.01, n)
    lat = 26.58 + rng.normal(0, 0.01, n)
    inc = gpd.GeoDataFrame(
        {
            "incident_id": pd.array([f"I{i:06d}" for i in range(n)], dtype="str"),
            "occurred_at": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.uniform(0, 120, n), unit="D"),
            "category": pd.array(rng.choice(CATS, n), dtype="str"),
            "lon": lon,
            "lat": lat,
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs=4326,
    )
    inc.to_parquet(ws.incidents_path, index=False)
    return ws


def test_refresh_without_layers_is_a_note(tmp_path):
    ws = _workspace(tmp_path, n=10)
    assert "no area layers" in refresh(ws)
    assert not ws.counts_path.exists()


@pytest.mark.parametrize("shape", ["square", "hex"])
def test_grid_counts_add_up_and_ids_are_stable(tmp_path, shape):
    ws = _workspace(tmp_path)
    report = build_areas(ws, cell=250, shape=shape)
    assert "3,000 of 3,000 incidents assigned" in report
    assert ws.config.crs == "EPSG:32648"
    areas = ws.areas("cell")
    assert areas.crs == "EPSG:32648" and areas["area_id"].is_unique and (areas["level"] == "cell").all()
    c = counts(ws, "cell")
    assert list(c.columns) == ["area_id", "period", "category", "count"]
    assert c["count"].sum() == 3000
    n_weeks = c["period"].nunique()
    assert len(c) == len(areas) * n_weeks * len(CATS)
    assert (c["period"].dt.day_of_week == 0).all()
    asg = pd.read_parquet(ws.assignments_path)
    assert list(asg.columns) == ["incident_id", "cell"] and asg["cell"].notna().all()
    # each incident's cell covers it
    x, y = project_lonlat(ws.incidents_frame()["lon"], ws.incidents_frame()["lat"], areas.crs)
    geom = areas.set_index("area_id").geometry.loc[asg["cell"]].values
    assert shapely.covers(geom, shapely.points(x, y)).all()
    # rebuilding gives the same ids; refreshing twice gives the same files
    first = set(areas["area_id"])
    build_areas(ws, cell=250, shape=shape)
    assert set(ws.areas("cell")["area_id"]) == first
    before = pd.read_parquet(ws.counts_path)
    refresh(ws)
    pd.testing.assert_frame_equal(pd.read_parquet(ws.counts_path), before)


def test_counts_freq_categories_and_window(tmp_path):
    ws = _workspace(tmp_path)
    build_areas(ws, cell=500)
    inc = ws.incidents_frame()
    m = counts(ws, "cell", freq="M")
    assert m["count"].sum() == 3000 and (m["period"].dt.day == 1).all()
    d = counts(ws, "cell", freq="D", categories=["抢劫"], start="2024-02-01", end="2024-02-29")
    want = ((inc["category"] == "抢劫") & (inc["occurred_at"] >= "2024-02-01") & (inc["occurred_at"] < "2024-03-01")).sum()
    assert d["count"].sum() == want and d["period"].nunique() == 29
    w = counts(ws, "cell", categories=["诈骗"])
    assert set(w["category"].astype(str)) == {"诈骗"} and w["count"].sum() == (inc["category"] == "诈骗").sum()
    with pytest.raises(ValueError, match="no area layer 'nope'"):
        counts(ws, "nope", freq="M")
    with pytest.raises(ValueError, match="layer 'nope'"):
        counts(ws, "nope")


def test_admin_boundaries_with_inferred_parents_and_outside_points(tmp_path):
    ws = _workspace(tmp_path)
    crs = "EPSG:32648"
    cx, cy = project_lonlat([106.70], [26.58], crs)
    cx, cy = float(cx[0]), float(cy[0])
    # two districts side by side, eight communities (no parent column), covering part of the city
    dist = gpd.GeoDataFrame({"名称": ["东区", "西区"]},
                            geometry=[shapely.box(cx - 1500, cy - 1500, cx, cy + 1500),
                                      shapely.box(cx, cy - 1500, cx + 1500, cy + 1500)], crs=crs)
    com = gpd.GeoDataFrame(
        {"社区名称": [f"社区{i}" for i in range(8)], "社区编码": [f"K{i}" for i in range(8)]},
        geometry=[shapely.box(cx - 1500 + 750 * (i % 4), cy - 1500 + 1500 * (i // 4),
                              cx - 750 + 750 * (i % 4), cy + 1500 * (i // 4)) for i in range(8)],
        crs=crs,
    )
    dpath, cpath = tmp_path / "区.geojson", tmp_path / "communities.gpkg"
    dist.to_crs(4326).to_file(dpath, driver="GeoJSON", engine="pyogrio")
    com.to_file(cpath, driver="GPKG", engine="pyogrio")
    build_areas(ws, boundaries=[str(dpath)])
    report = build_areas(ws, boundaries=[str(cpath)], level="社区")
    assert "parents inferred from district" in report
    c = ws.areas("community")
    assert c["parent_id"].tolist()[:4] == [ws.areas("district")["area_id"].iloc[i] for i in (0, 0, 1, 1)]
    asg = pd.read_parquet(ws.assignments_path)
    inside = asg["community"].notna().sum()
    assert f"community: {inside:,} of 3,000 incidents assigned" in report
    assert 0 < inside < 3000  # the box covers part of the city: the rest is reported outside
    for layer in ("district", "community"):
        assert counts(ws, layer)["count"].sum() == asg[layer].notna().sum()
    # a grid built now is clipped to the districts: same incidents inside as the districts
    build_areas(ws, cell=300, name="g300")
    asg = pd.read_parquet(ws.assignments_path)
    assert (asg["g300"].notna() == asg["district"].notna()).all()
