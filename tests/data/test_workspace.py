"""Workspace, config round trip, taxonomy and the output writer."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box

from data.io import write_table
from data.taxonomy import ALL, Taxonomy
from data.workspace import Config, Workspace, WorkspaceError


def test_config_round_trip(tmp_path):
    cfg = Config(
        name="示范市", timezone="Asia/Shanghai", crs="EPSG:32648",
        taxonomy=Taxonomy({"两抢一盗": ("抢劫", "抢夺", "盗窃")}),
        thresholds={"red": 0.995, "min_count": 4}, attribution="测试数据", center=(106.6, 26.6),
    )
    ws = Workspace.create(tmp_path / "w", cfg)
    back = ws.config
    assert back == cfg
    assert "示范市" in ws.config_path.read_text(encoding="utf-8")


def test_update_config_keeps_other_fields(tmp_path):
    ws = Workspace.create(tmp_path, Config(name="甲市"))
    ws.update_config(crs="EPSG:32650")
    assert ws.config.name == "甲市" and ws.config.crs == "EPSG:32650"


def test_unknown_config_key_is_named(tmp_path):
    ws = Workspace.create(tmp_path)
    ws.config_path.write_text('name = "x"\ncolour = "red"\n', encoding="utf-8")
    with pytest.raises(WorkspaceError, match="colour"):
        _ = ws.config


def test_missing_workspace_names_the_file(tmp_path):
    ws = Workspace(tmp_path / "nowhere")
    with pytest.raises(WorkspaceError, match="incidents.parquet"):
        ws.incidents()
    with pytest.raises(WorkspaceError, match="no area layer 'grid'"):
        ws.areas("grid")


def test_layers_order_admin_first(tmp_path):
    ws = Workspace.create(tmp_path)
    g = gpd.GeoDataFrame({"area_id": ["a"]}, geometry=[box(0, 0, 1, 1)], crs=32648)
    for name in ["cell", "grid", "district", "community"]:
        g.to_parquet(ws.area_path(name))
    assert ws.layers() == ["district", "community", "grid", "cell"]


def test_taxonomy_members_and_choices():
    t = Taxonomy({"两抢一盗": ("抢劫", "抢夺", "入室盗窃")})
    cats = ["入室盗窃", "诈骗", "抢劫"]
    assert t.members("两抢一盗", cats) == ("入室盗窃", "抢劫")
    assert t.members(ALL, cats) == tuple(cats)
    assert t.members("诈骗", cats) == ("诈骗",)
    assert t.choices(cats) == [ALL, "两抢一盗", *cats]
    with pytest.raises(ValueError, match="unknown category or group '杀人'"):
        t.members("杀人", cats)
    with pytest.raises(TypeError, match="must be a list"):
        Taxonomy({"盗窃": "入室盗窃"})
    with pytest.raises(ValueError, match="reserved"):
        Taxonomy({ALL: ("a",)})


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".geojson", ".gpkg"])
def test_write_table_by_extension(tmp_path, suffix):
    g = gpd.GeoDataFrame(
        {"area_id": ["网格1", "网格2"], "z": [1.5, -0.25]},
        geometry=[Point(500000, 2900000), Point(500100, 2900100)], crs=32648,
    )
    path = write_table(g, tmp_path / f"out{suffix}")
    if suffix == ".csv":
        back = pd.read_csv(path, encoding="utf-8-sig")
        assert list(back.columns) == ["area_id", "z"]
    else:
        back = gpd.read_parquet(path) if suffix == ".parquet" else gpd.read_file(path)
        # GeoJSON is always WGS84 (RFC 7946); the others keep the projected CRS
        assert back.crs.to_epsg() == (4326 if suffix == ".geojson" else 32648)
    assert back["area_id"].tolist() == ["网格1", "网格2"]
    assert back["z"].tolist() == [1.5, -0.25]


def test_write_table_refuses_unknown_extension_and_geometry_less_geojson(tmp_path):
    with pytest.raises(ValueError, match=r"unknown extension '\.xls'"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "x.xls")
    with pytest.raises(ValueError, match="needs geometry"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "x.geojson")
