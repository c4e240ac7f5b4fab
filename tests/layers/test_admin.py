"""Admin boundaries: reading with auto-detected columns, parents by overlap, validation in m²."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from layers.admin import infer_parents, validate_hierarchy
from layers.boundaries import read_boundaries

CRS = "EPSG:32648"
X0, Y0 = 400_000.0, 2_950_000.0


def hierarchy():
    """2 districts (4 km x 4 km) > 2 subdistricts each > 4 communities each (exact nesting)."""
    rows = []
    for d in range(2):
        dx = X0 + 4000 * d
        rows.append((f"D{d + 1:02d}", f"{d + 1}区", "district", None, shapely.box(dx, Y0, dx + 4000, Y0 + 4000)))
        for s in range(2):
            sid = f"D{d + 1:02d}S{s + 1:02d}"
            sy = Y0 + 2000 * s
            rows.append((sid, f"街道{sid}", "subdistrict", f"D{d + 1:02d}", shapely.box(dx, sy, dx + 4000, sy + 2000)))
            for c in range(4):
                cx = dx + 1000 * c
                rows.append((f"{sid}C{c + 1:02d}", f"社区{c}", "community", sid, shapely.box(cx, sy, cx + 1000, sy + 2000)))
    df = pd.DataFrame(rows, columns=["area_id", "name", "level", "parent_id", "geometry"])
    return gpd.GeoDataFrame(df, geometry="geometry", crs=CRS)


def test_read_one_file_with_chinese_columns_and_level_column(tmp_path):
    h = hierarchy()
    src = h.rename(columns={"area_id": "编码", "name": "名称", "parent_id": "上级编码"})
    src["层级"] = h["level"].map({"district": "区", "subdistrict": "街道", "community": "社区"})
    src = src.drop(columns="level").to_crs(4326)
    path = tmp_path / "行政区划.geojson"
    src.to_file(path, driver="GeoJSON", engine="pyogrio")
    got = read_boundaries(path).to_crs(CRS)
    assert got["area_id"].tolist() == h["area_id"].tolist()
    assert got["level"].tolist() == h["level"].tolist()
    assert got["name"].tolist() == h["name"].tolist()
    assert got["parent_id"].isna().sum() == 2 and got["parent_id"].iloc[1] == "D01"
    assert np.allclose(got.area, h.area, rtol=1e-6)


def test_numeric_ids_get_level_letter_and_level_from_file_name(tmp_path):
    h = hierarchy()
    com = h[h.level == "community"].reset_index(drop=True)
    src = gpd.GeoDataFrame({"neighborhood": [str(i + 1) for i in range(len(com))], "NAME": com["name"]},
                           geometry=com.geometry, crs=CRS)
    path = tmp_path / "neighbourhoods.gpkg"
    src.to_file(path, driver="GPKG", engine="pyogrio")
    got = read_boundaries(path)
    assert got["level"].eq("community").all()
    assert got["area_id"].tolist()[:3] == ["C1", "C2", "C3"]


def test_read_errors_name_the_file(tmp_path):
    path = tmp_path / "areas.geojson"
    gpd.GeoDataFrame({"x": [1]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326).to_file(path, engine="pyogrio")
    with pytest.raises(ValueError, match="areas.geojson.*admin level"):
        read_boundaries(path)
    with pytest.raises(ValueError, match="--id-column 'nope'"):
        read_boundaries(path, level="社区", id_column="nope")
    with pytest.raises(FileNotFoundError, match="missing.geojson"):
        read_boundaries(tmp_path / "missing.geojson", level="grid")


def test_infer_parents_by_largest_overlap():
    h = hierarchy()
    com = h[h.level == "community"].reset_index(drop=True)
    sub = h[h.level == "subdistrict"].reset_index(drop=True)
    # shift communities 300 m up: most of each still lies in its own subdistrict
    moved = com.copy()
    moved["geometry"] = com.geometry.translate(0, 300)
    got = infer_parents(moved, sub)
    top = com["parent_id"].str.endswith("S02")
    assert (got[~top] == com["parent_id"][~top]).all()
    # top-row communities stick out of the city: still their own parent (1700 m² of 2000 inside)
    assert (got[top] == com["parent_id"][top]).all()
    far = com.iloc[:1].copy()
    far["geometry"] = far.geometry.translate(1e5, 0)
    assert infer_parents(far, sub).isna().all()


def test_validate_clean_hierarchy_has_no_issues():
    assert validate_hierarchy(hierarchy()).empty


def test_validate_reports_areas_in_square_metres():
    h = hierarchy()
    i = h.index[h.area_id == "D01S01C01"][0]
    j = h.index[h.area_id == "D01S01C02"][0]
    k = h.index[h.area_id == "D02S02C04"][0]
    # C01 grows 100 m west (outside its parent by 100 x 2000) and 50 m east (overlaps C02)
    h.loc[i, "geometry"] = shapely.box(X0 - 100, Y0, X0 + 1050, Y0 + 2000)
    h = h.drop(index=k)  # a gap in D02S02 (and D02) of 1000 x 2000
    layers = {lv: h[h.level == lv] for lv in ("district", "subdistrict", "community")}
    issues = validate_hierarchy(layers)
    by = {(r.kind, r.area_id, r.other_id if isinstance(r.other_id, str) else None): r.area_m2 for r in issues.itertuples()}
    assert by[("outside_parent", "D01S01C01", "D01S01")] == pytest.approx(100 * 2000)
    assert by[("overlap", h.loc[i, "area_id"], h.loc[j, "area_id"])] == pytest.approx(50 * 2000)
    assert by[("gap", "D02S02", None)] == pytest.approx(1000 * 2000)
    assert set(issues["kind"]) == {"outside_parent", "overlap", "gap"}
    orphan = h[h.level == "community"].iloc[:1].assign(parent_id="NOPE")
    miss = validate_hierarchy({"community": orphan})
    assert miss["kind"].tolist() == ["missing_parent"] and miss["area_m2"].iloc[0] == pytest.approx(orphan.area.iloc[0])
