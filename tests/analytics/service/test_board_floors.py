"""The board's floors and new areas on a tiny hand-built workspace (1 社区 × 8 网格, 62 weeks)."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from shapely.geometry import box

from analytics.models import MODELS
from analytics.service import board
from data.workspace import Config, Workspace

CRS = "EPSG:32649"
START = pd.Timestamp("2023-01-02")  # a Monday
WEEKS = 62  # weeks 0..60 complete (data end on Thursday of week 61), the board's week is 60
NEW = "G7"  # drawn in week 54: 3 cases in its 6 weeks before the board's week
HOUSEHOLDS = [120, 80, 100, 100, 60, 140, 50, 150]


def _areas():
    comm = gpd.GeoDataFrame([{"area_id": "C0", "name": "社区0", "level": "community",
                              "parent_id": None, "geometry": box(500_000, 2_900_000, 504_000, 2_902_000)}],
                            crs=CRS)
    grids = gpd.GeoDataFrame([
        {"area_id": f"G{i}", "name": f"网格{i}", "level": "grid", "parent_id": "C0",
         "households": HOUSEHOLDS[i],
         "geometry": box(500_000 + (i % 4) * 1000, 2_900_000 + (i // 4) * 1000,
                         501_000 + (i % 4) * 1000, 2_901_000 + (i // 4) * 1000)}
        for i in range(8)], crs=CRS)
    return comm, grids


def _incidents(grids, seed=5):
    rng = np.random.default_rng(seed)
    counts = {f"G{i}": rng.poisson(0.5, WEEKS) for i in range(6)}
    counts["G6"] = np.zeros(WEEKS, int)  # never a case
    counts[NEW] = np.zeros(WEEKS, int)
    counts[NEW][54:60] = [1, 0, 1, 0, 0, 1]
    rows = []
    for g in grids.itertuples():
        for w, k in enumerate(counts[g.area_id]):
            cats = ["入室盗窃"] * int(k) + (["故意伤害"] * 3 if (g.area_id, w) == ("G0", 60) else [])
            if g.area_id < "G6":  # a busy category elsewhere: no week of the city is empty (a gap)
                cats += ["诈骗"] * int(rng.poisson(3))
            if not cats:
                continue
            minx, miny, maxx, maxy = g.geometry.bounds
            n = len(cats)
            days = 3 if w == WEEKS - 1 else 7
            rows.append(pd.DataFrame({
                "x": rng.uniform(minx + 1, maxx - 1, n), "y": rng.uniform(miny + 1, maxy - 1, n),
                "occurred_at": START + pd.Timedelta(weeks=w)
                + pd.to_timedelta(rng.uniform(0, days * 86400, n), unit="s"),
                "category": cats}))
    # the data run to Thursday of the last week: weeks up to 60 are complete (lag 1 day)
    rows.append(pd.DataFrame({"x": [500_500.0], "y": [2_900_500.0], "category": ["入室盗窃"],
                              "occurred_at": [START + pd.Timedelta(weeks=WEEKS - 1, days=3)]}))
    df = pd.concat(rows, ignore_index=True)
    lon, lat = Transformer.from_crs(CRS, 4326, always_xy=True).transform(df["x"], df["y"])
    df["lon"], df["lat"] = lon, lat
    df["incident_id"] = [f"i{i:05d}" for i in range(len(df))]
    return df, counts


def _build(path, valid_from=None):
    from data.pipeline import refresh

    ws = Workspace.create(path, Config(name="测试市", crs=CRS))
    comm, grids = _areas()
    if valid_from is not None:  # the boundary file says when each 网格 was drawn
        grids["valid_from"] = [valid_from.get(a, pd.NaT) for a in grids["area_id"]]
    comm.to_parquet(ws.area_path("community"))
    grids.to_parquet(ws.area_path("grid"))
    df, counts = _incidents(grids)
    inc = gpd.GeoDataFrame(df[["incident_id", "occurred_at", "category", "lon", "lat"]],
                           geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs=4326)
    inc.to_parquet(ws.incidents_path)
    refresh(ws)
    board.clear_cache()
    ws.truth = counts
    return ws


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("ws_floors"))


def _row(table, area):
    return table[table["area_id"] == area].iloc[0]


def test_board_week_and_new_area_forecast_near_its_own_rate(ws):
    assert board.latest_period(ws) == START + pd.Timedelta(weeks=60)
    t = board.warning_table(ws, level="grid", category="入室盗窃")  # default model: eb
    assert 0.3 < _row(t, NEW)["expected"] < 0.8  # 0.5 a week since it was drawn, not ~0.05
    assert isinstance(t.attrs["kappa"], float) and t.attrs["kappa"] > 0
    assert 0 < t.attrs["own_weight"] <= 1


def test_all_zero_history_area_gets_exactly_the_floor(ws):
    t = board.warning_table(ws, level="grid", category="入室盗窃", model="mean4")
    window = sum(ws.truth[a][8:60].sum() for a in ws.truth)  # the 52 weeks before week 60
    floor = 0.1 * (window + 0.5) / 52 * HOUSEHOLDS[6] / sum(HOUSEHOLDS)
    assert _row(t, "G6")["expected"] == pytest.approx(floor, rel=1e-9)
    assert t.attrs["floored"] >= 1 and t.attrs["kappa"] is None
    # the trend chart uses the same floor
    tr = board.trend(ws, "G6", category="入室盗窃", model="mean4", n_periods=3)
    assert tr["expected"].iloc[-1] == pytest.approx(floor, rel=1e-9)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_category_never_seen_before_gets_floors_not_zeros(ws, name):
    t = board.warning_table(ws, level="grid", category="故意伤害", model=name)
    e = t["expected"].to_numpy(float)
    assert np.isfinite(e).all() and (e > 0).all()
    assert np.isfinite(t["p_exceed"].to_numpy(float)).all()
    assert _row(t, "G0")["observed"] == 3


def test_valid_from_first_case_or_boundary_file(ws, tmp_path):
    # from its counts: the new 网格 starts at its first case (week 54), so a model that does not
    # read missing periods sees its own mean there (3 cases in 6 weeks), not 3 in 60
    t = board.warning_table(ws, level="grid", category="入室盗窃", model="longrun")
    assert _row(t, NEW)["expected"] == pytest.approx(0.5)
    # the boundary file's valid_from wins: drawn in week 57 -> weeks 57..59 = [0, 0, 1]
    drawn = {NEW: START + pd.Timedelta(weeks=57, days=2)}
    other = _build(tmp_path / "ws", valid_from=drawn)
    board.clear_cache()
    t2 = board.warning_table(other, level="grid", category="入室盗窃", model="longrun")
    assert _row(t2, NEW)["expected"] == pytest.approx(1 / 3)
    board.clear_cache()
