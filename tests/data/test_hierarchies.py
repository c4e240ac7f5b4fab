"""A second, police hierarchy (分局 › 派出所 › 警务区) beside the admin one: real boundary files,
parents by containment and by a parent-id column, incidents assigned to every layer."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from tiny_city import CRS, _b, tiny_city, write_boundaries

from data.hierarchies import hierarchies, hierarchy_levels, hierarchy_of, level_for
from data.pipeline import build_areas, counts


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    return tiny_city(tmp_path_factory.mktemp("tiny"))


def test_two_hierarchies_with_their_parents(city):
    assert hierarchies(city) == {"admin": ["district", "subdistrict", "community"],
                                 "police": ["分局", "派出所", "警务区"]}
    assert city.config.extra["hierarchies"] == {"police": ["分局", "派出所", "警务区"]}
    assert hierarchy_of(city, "派出所") == "police" and hierarchy_of(city, "community") == "admin"
    # 派出所: no parent column, so by containment; 警务区: the 所属派出所 column
    assert dict(zip(city.areas("派出所")["area_id"], city.areas("派出所")["parent_id"])) == {"P1": "F1", "P2": "F1"}
    jw = city.areas("警务区")
    assert dict(zip(jw["area_id"], jw["parent_id"])) == {"J1": "P1", "J2": "P1", "J3": "P2", "J4": "P2"}
    assert list(jw["name"]) == ["南一警务区", "南二警务区", "北一警务区", "北二警务区"]
    assert jw.crs == CRS


def test_incidents_are_assigned_to_every_hierarchy(city):
    asg = pd.read_parquet(city.assignments_path)
    assert {"community", "分局", "派出所", "警务区"} <= set(asg.columns)
    assert asg["警务区"].notna().all() and asg["community"].notna().all()
    dec = counts(city, "警务区", freq="M", start="2025-12-01", end="2025-12-31")
    by_area = dec.groupby("area_id", observed=True)["count"].sum().to_dict()
    assert by_area == {"J1": 5, "J2": 5, "J3": 5, "J4": 3}  # hand-worked (tests/tiny_city.py)
    dec_p = counts(city, "派出所", freq="M", start="2025-12-01", end="2025-12-31")
    assert dec_p.groupby("area_id", observed=True)["count"].sum().to_dict() == {"P1": 10, "P2": 8}
    # every incident counted once in each hierarchy
    n = len(city.incidents_frame(["incident_id"]))
    assert counts(city, "community")["count"].sum() == counts(city, "警务区")["count"].sum() == n == 61


def test_level_for_and_unknown_hierarchy(city):
    assert level_for(city, "police", None) == "警务区"
    assert level_for(city, None, "community") == "community"
    with pytest.raises(ValueError, match="--level 'community': not a level of hierarchy 'police'"):
        level_for(city, "police", "community")
    with pytest.raises(ValueError, match="--hierarchy 'traffic': no such hierarchy"):
        hierarchy_levels(city, "traffic")


def test_refusals_name_the_argument(tmp_path):
    ws = tiny_city(tmp_path, police=False, population=False)
    files = write_boundaries(tmp_path / "b2")
    police = [files["fenju"], files["paichusuo"], files["jingwuqu"]]
    with pytest.raises(ValueError, match="--hierarchy NAME and --levels"):
        build_areas(ws, boundaries=police, hierarchy="police")
    with pytest.raises(ValueError, match="--levels 'community': reserved"):
        build_areas(ws, boundaries=police, hierarchy="police", levels=["分局", "派出所", "community"])
    with pytest.raises(ValueError, match="a level is named twice"):
        build_areas(ws, boundaries=police, hierarchy="police", levels=["分局", "分局", "警务区"])
    # a 警务区 whose 所属派出所 is no 派出所
    bad = tmp_path / "bad_jw.geojson"
    gpd.GeoDataFrame({"编码": ["J9"], "名称": ["错"], "所属派出所": ["P7"]}, geometry=[_b(0, 0, 10, 10)],
                     crs=CRS).to_crs(4326).to_file(bad, driver="GeoJSON", engine="pyogrio")
    with pytest.raises(ValueError, match="parent id 'P7' of area 'J9' is not an area of 派出所"):
        build_areas(ws, boundaries=[files["fenju"], files["paichusuo"], bad], hierarchy="police",
                    levels=["分局", "派出所", "警务区"])
    # ids already used by the admin layers
    with pytest.raises(ValueError, match="area id 'D1' already used"):
        build_areas(ws, boundaries=[files["district"]], hierarchy="police", levels=["分局"])
    assert "hierarchies" not in ws.config.extra and "派出所" not in ws.layers()  # nothing half-written


def test_one_file_with_a_level_column_and_numeric_ids(tmp_path):
    ws = tiny_city(tmp_path, police=False, population=False)
    path = tmp_path / "police_all.geojson"
    gpd.GeoDataFrame({"id": [1, 1, 2], "层级": ["分局", "派出所", "派出所"], "名称": ["一局", "南所", "北所"]},
                     geometry=[_b(0, 0, 4000, 2000), _b(0, 0, 4000, 1000), _b(0, 1000, 4000, 2000)],
                     crs=CRS).to_crs(4326).to_file(path, driver="GeoJSON", engine="pyogrio")
    report = build_areas(ws, boundaries=[path], hierarchy="police", levels=["分局", "派出所"])
    assert "police hierarchy: no overlaps" in report
    # numeric ids get the level's name, so 分局 1 and 派出所 1 stay apart
    assert list(ws.areas("派出所")["area_id"]) == ["派出所1", "派出所2"]
    assert set(ws.areas("派出所")["parent_id"]) == {"分局1"}


def test_the_parent_column_wins_over_containment_and_misfits_are_reported(tmp_path):
    ws = tiny_city(tmp_path, police=False, population=False)
    files = write_boundaries(tmp_path / "b3")
    jw = gpd.read_file(files["jingwuqu"])
    jw["所属派出所"] = ["P2", "P1", "P2", "P2"]  # J1 lies in P1 but the office files it under P2
    path = tmp_path / "jingwuqu_swapped.geojson"
    jw.to_file(path, driver="GeoJSON", engine="pyogrio")
    report = build_areas(ws, boundaries=[files["fenju"], files["paichusuo"], path], hierarchy="police",
                         levels=["分局", "派出所", "警务区"])
    assert "警务区: 4 areas (police), parents from the parent-id column" in report
    assert "派出所: 2 areas (police), parents by containment in 分局" in report
    assert ws.areas("警务区").set_index("area_id").loc["J1", "parent_id"] == "P2"
    assert "police hierarchy: 1 outside_parent issue(s), 2,000,000 m² in total (largest 2,000,000 m² at J1)" in report
