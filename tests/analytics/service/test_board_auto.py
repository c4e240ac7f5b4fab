"""The board's model: automatic by default (the evaluation's stored choice), pinned, or ``auto``."""

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from shapely.geometry import box

from analytics.models.auto import CANDIDATES
from analytics.service import board
from analytics.service.evaluation import TEST_WEEKS, stored_backtest, winner, workspace_backtest
from data.workspace import Config, Workspace

CRS = "EPSG:32649"


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """16 网格 of 1 km in 4 社区, 60 weeks of cases (a quiet and a busy side)."""
    from data.pipeline import refresh

    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("auto")
    ws = Workspace.create(path, Config(name="测试市", crs=CRS))
    comm, grids = [], []
    for ci in range(4):
        x0, y0 = 500_000 + (ci % 2) * 2000, 2_900_000 + (ci // 2) * 2000
        comm.append({"area_id": f"C{ci}", "name": f"社区{ci}", "level": "community", "parent_id": None,
                     "geometry": box(x0, y0, x0 + 2000, y0 + 2000)})
        for gi in range(4):
            gx, gy = x0 + (gi % 2) * 1000, y0 + (gi // 2) * 1000
            grids.append({"area_id": f"C{ci}G{gi}", "name": f"网格{ci}-{gi}", "level": "grid",
                          "parent_id": f"C{ci}", "geometry": box(gx, gy, gx + 1000, gy + 1000)})
    gpd.GeoDataFrame(comm, crs=CRS).to_parquet(ws.area_path("community"))
    gpd.GeoDataFrame(grids, crs=CRS).to_parquet(ws.area_path("grid"))
    n = 9000
    x = rng.uniform(500_000, 504_000, n) ** 1.0
    x = np.where(rng.random(n) < 0.5, 500_000 + rng.uniform(0, 1000, n), x)  # a busy column
    y = rng.uniform(2_900_000, 2_904_000, n)
    t = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.uniform(0, 60 * 7 * 86400 - 1, n), unit="s")
    lon, lat = Transformer.from_crs(CRS, 4326, always_xy=True).transform(x, y)
    inc = gpd.GeoDataFrame({"incident_id": [f"i{i}" for i in range(n)], "occurred_at": t,
                            "category": rng.choice(["盗窃", "诈骗"], n), "lon": lon, "lat": lat},
                           geometry=gpd.points_from_xy(lon, lat), crs=4326)
    inc.to_parquet(ws.incidents_path)
    refresh(ws)
    board.clear_cache()
    return ws


@pytest.mark.slow  # a 26-week evaluation of every fast model
def test_default_is_eb_until_the_evaluation_has_run_then_its_choice(ws):
    table = board.warning_table(ws, level="grid")
    assert table.attrs["model"] == "eb"
    assert "尚无回测" in table.attrs["model_note"]["zh"]
    assert "no backtest yet" in table.attrs["model_note"]["en"]
    result = workspace_backtest(ws)
    assert stored_backtest(ws) == result
    chosen = winner(result)
    assert chosen in CANDIDATES
    board.clear_cache()
    table = board.warning_table(ws, level="grid")
    assert table.attrs["model"] == chosen and (table["model"] == chosen).all()
    note = table.attrs["model_note"]["zh"]
    assert note.startswith("预测模型：") and f"近{TEST_WEEKS}周回测" in note
    assert f"{result['_computed'][:10]} 模型评估" in note
    assert board.kpis(ws, level="grid")["model_note"] == table.attrs["model_note"]


@pytest.mark.slow  # 52 rolling origins x five candidates
def test_a_pinned_model_and_the_per_category_auto(ws):
    table = board.warning_table(ws, level="grid", model="glm")
    assert table.attrs["model"] == "glm"
    assert table.attrs["model_note"]["zh"] == "预测模型：泊松回归（广义线性模型）"
    auto = board.warning_table(ws, level="grid", category="盗窃", model="auto")
    choice = board.auto_choice(ws, "grid", "W", "盗窃")
    assert auto.attrs["model"] == choice["model"] and choice["test_periods"] == 52
    assert set(choice["scores"]) == set(CANDIDATES)
    assert choice["model"] == min(choice["scores"], key=lambda n: choice["scores"][n]["log_score"])
    assert "自动选择，依据近52周回测" in auto.attrs["model_note"]["zh"]
    # kept on disk with the version: a new process reads it instead of backtesting again
    files = list((ws.path / "cache" / "auto").glob("*.json"))
    assert len(files) == 1
    stored = json.loads(files[0].read_text(encoding="utf-8"))
    assert stored["_version"] == ws.version
    stored["model"] = "kde_longrun"
    files[0].write_text(json.dumps(stored), encoding="utf-8")
    board.clear_cache()
    assert board.auto_choice(ws, "grid", "W", "盗窃")["model"] == "kde_longrun"
    with pytest.raises(ValueError, match="unknown"):
        board.warning_table(ws, level="grid", model="nope")

