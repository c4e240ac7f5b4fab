"""Display names: generated cells and id-only areas get a name a person can find, never a raw id."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from analytics.service.names import (
    GENERATED_ID,
    _letters,
    display_names,
    grid_reference,
    is_unnamed,
    name_areas,
)

CRS = "EPSG:32650"


def _cells(cols_rows):
    """250 m square cells at (col, row), named by their id as the grid builder does."""
    ids = [f"c250_{c:06d}_{r:06d}" for c, r in cols_rows]
    geoms = [shapely.box(c * 250, r * 250, (c + 1) * 250, (r + 1) * 250) for c, r in cols_rows]
    return gpd.GeoDataFrame({"area_id": ids, "name": ids, "parent_id": [None] * len(ids),
                             "col": [c for c, _ in cols_rows], "row": [r for _, r in cols_rows]},
                            geometry=geoms, crs=CRS)


def _community(name="星台社区", box=(0, 0, 1000, 1000), area_id="C1"):
    return gpd.GeoDataFrame({"area_id": [area_id], "name": [name]},
                            geometry=[shapely.box(*box)], crs=CRS)


def test_cells_inside_a_community_are_numbered_in_reading_order():
    # row 1 is north of row 0: reading order is (0,1), (1,1), (0,0), (1,0)
    cells = _cells([(0, 0), (1, 0), (0, 1), (1, 1)])
    names = name_areas(cells, _community())
    assert names.to_dict() == {
        "c250_000000_000001": "星台社区第1格", "c250_000001_000001": "星台社区第2格",
        "c250_000000_000000": "星台社区第3格", "c250_000001_000000": "星台社区第4格",
    }
    assert name_areas(cells, _community(), "en")["c250_000001_000000"] == "星台社区 cell 4"


def test_the_finest_containing_admin_area_names_a_cell():
    cells = _cells([(0, 0), (5, 0)])
    parents = gpd.GeoDataFrame(
        {"area_id": ["S1", "C1"], "name": ["东湖街道", "星台社区"], "rank": [1, 2]},
        geometry=[shapely.box(0, 0, 2000, 2000), shapely.box(0, 0, 1000, 1000)], crs=CRS)
    names = name_areas(cells, parents)
    assert names["c250_000000_000000"] == "星台社区第1格"  # in both: the community wins
    assert names["c250_000005_000000"] == "东湖街道第1格"  # only in the subdistrict


def test_cells_outside_every_area_get_a_grid_reference_of_the_whole_layer():
    cells = _cells([(0, 0), (9, 0), (9, 3)])
    names = name_areas(cells, _community(box=(0, 0, 250, 250)))
    assert names["c250_000000_000000"] == "星台社区第1格"
    # rows counted from the top of the whole layer (row 3 = A), columns from its west edge
    assert names["c250_000009_000003"] == "A10格"
    assert names["c250_000009_000000"] == "D10格"
    assert name_areas(cells, None, "en")["c250_000000_000000"] == "cell D1"


def test_named_areas_keep_their_names_and_id_only_admin_areas_use_their_parent():
    grid = gpd.GeoDataFrame(
        {"area_id": ["G1", "G2", "G3"], "name": ["绿林社区第19网格", "G2", None],
         "parent_id": ["C1", "C1", "C1"]},
        geometry=[shapely.box(0, 0, 10, 10), shapely.box(0, 20, 10, 30), shapely.box(20, 0, 30, 10)],
        crs=CRS)
    names = name_areas(grid, _community(box=(0, 0, 100, 100)))
    assert names["G1"] == "绿林社区第19网格"
    assert names["G2"] == "星台社区第1格" and names["G3"] == "星台社区第2格"


def test_no_raw_id_survives_and_names_are_unique():
    rng = np.random.default_rng(7)
    cr = {(int(c), int(r)) for c, r in rng.integers(0, 40, size=(300, 2))}
    cells = _cells(sorted(cr))
    names = name_areas(cells, _community(box=(0, 0, 5000, 5000)))
    assert not names.str.match(GENERATED_ID.pattern).any()
    assert names.is_unique and len(names) == len(cells)


def test_helpers():
    assert [_letters(i) for i in (0, 25, 26, 27, 701, 702)] == ["A", "Z", "AA", "AB", "ZZ", "AAA"]
    assert is_unnamed(["a", "b", "c", "d"], ["a", "", "c250_000001_000002", "东湖"]).tolist() == [
        True, True, True, False]
    # without row/col: a virtual grid of the median size; repeats get a suffix
    areas = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 10, 10), shapely.box(2, 2, 4, 4),
                                       shapely.box(30, 0, 40, 10)], crs=CRS)
    assert grid_reference(areas) == ["A1", "A1-2", "A4"]


def test_display_names_reject_an_unknown_layer(tmp_path):
    from data.workspace import Config, Workspace

    ws = Workspace.create(tmp_path / "w", Config(name="示范市"))
    with pytest.raises(ValueError, match="layer 'cell'"):
        display_names(ws, "cell")
