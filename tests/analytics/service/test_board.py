"""The board façade on a tiny hand-built workspace (4 社区 × 4 网格, 2 years of weekly data)."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from shapely.geometry import box

from analytics.distributions import p_exceed
from analytics.service import board
from data.workspace import Config, Workspace

CRS = "EPSG:32649"
START = pd.Timestamp("2023-01-02")  # a Monday
WEEKS = 110
HOT = "C1G1"  # the 网格 with a planted surge in the last full week


def _areas():
    comm, grids = [], []
    for ci in range(4):
        x0, y0 = 500_000 + (ci % 2) * 2000, 2_900_000 + (ci // 2) * 2000
        comm.append({"area_id": f"C{ci}", "name": f"社区{ci}", "level": "community", "parent_id": None,
                     "geometry": box(x0, y0, x0 + 2000, y0 + 2000)})
        for gi in range(4):
            gx, gy = x0 + (gi % 2) * 1000, y0 + (gi // 2) * 1000
            grids.append({"area_id": f"C{ci}G{gi}", "name": f"网格{ci}-{gi}", "level": "grid",
                          "parent_id": f"C{ci}", "geometry": box(gx, gy, gx + 1000, gy + 1000)})
    return (gpd.GeoDataFrame(comm, crs=CRS), gpd.GeoDataFrame(grids, crs=CRS))


def _incidents(grids, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    rates = rng.gamma(2.0, 1.0, size=len(grids))
    rates[grids["area_id"] == "C0G3"] = 0.02  # a quiet 网格
    for g, lam in zip(grids.itertuples(), rates):
        n = rng.poisson(lam, size=WEEKS)
        if g.area_id == HOT:
            n[WEEKS - 2] = 25  # the last complete week
        for w, k in enumerate(n):
            if k == 0:
                continue
            minx, miny, maxx, maxy = g.geometry.bounds
            t = START + pd.Timedelta(weeks=w) + pd.to_timedelta(rng.uniform(0, 7 * 86400, k), unit="s")
            rows.append(pd.DataFrame({
                "x": rng.uniform(minx + 1, maxx - 1, k), "y": rng.uniform(miny + 1, maxy - 1, k),
                "occurred_at": t, "category": rng.choice(["抢劫", "入室盗窃", "诈骗"], k, p=[.2, .3, .5]),
                "grid": g.area_id}))
    df = pd.concat(rows, ignore_index=True)
    # data end mid-week: the last week (WEEKS-1) is incomplete and must be left out
    df = df[df["occurred_at"] < START + pd.Timedelta(weeks=WEEKS - 1, days=3)].reset_index(drop=True)
    lon, lat = Transformer.from_crs(CRS, 4326, always_xy=True).transform(df["x"], df["y"])
    df["lon"], df["lat"] = lon, lat
    df["incident_id"] = [f"i{i:06d}" for i in range(len(df))]
    return df


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    from data.pipeline import refresh

    path = tmp_path_factory.mktemp("ws")
    ws = Workspace.create(path, Config(name="测试市", crs=CRS))
    comm, grids = _areas()
    comm.to_parquet(ws.area_path("community"))
    grids.to_parquet(ws.area_path("grid"))
    df = _incidents(grids)
    inc = gpd.GeoDataFrame(df[["incident_id", "occurred_at", "category", "lon", "lat"]],
                           geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs=4326)
    inc.to_parquet(ws.incidents_path)
    refresh(ws)
    board.clear_cache()
    ws.truth = df  # brute-force reference
    return ws


def _weekly_truth(ws, area, week, cats=None):
    df = ws.truth
    sel = (df["grid"] == area) & (df["occurred_at"] >= week) & (df["occurred_at"] < week + pd.Timedelta(weeks=1))
    if cats is not None:
        sel &= df["category"].isin(cats)
    return int(sel.sum())


def test_periods_complete_only(ws):
    ps = board.periods(ws)
    assert ps[0] == START and ps[-1] == START + pd.Timedelta(weeks=WEEKS - 2)
    assert board.latest_period(ws) == ps[-1] and len(ps) == WEEKS - 1


def test_warning_table_contract_and_planted_red(ws):
    t = board.warning_table(ws)
    assert isinstance(t, gpd.GeoDataFrame) and t.crs == CRS
    for c in ("area_id", "name", "level_name", "period", "category", "observed", "expected", "q80",
              "q95", "q99", "p_exceed", "level", "reason_zh", "reason_en", "yoy", "mom",
              "observed_last_year", "observed_prev", "rank", "geometry"):
        assert c in t.columns, c
    assert len(t) == 16 and set(t["level_name"]) == {"grid"} and set(t["category"]) == {"全部"}
    assert t["level"].cat.ordered and list(t["level"].cat.categories) == ["green", "yellow", "orange", "red"]
    last = board.latest_period(ws)
    hot = t.set_index("area_id").loc[HOT]
    assert hot["observed"] == _weekly_truth(ws, HOT, last) == 25
    assert hot["level"] == "red" and hot["rank"] == 1 and t.iloc[0]["area_id"] == HOT
    assert hot["observed_last_year"] == _weekly_truth(ws, HOT, last - pd.Timedelta(weeks=52))
    assert hot["observed_prev"] == _weekly_truth(ws, HOT, last - pd.Timedelta(weeks=1))
    assert hot["reason_zh"].startswith("本周 25 起，预期 ") and hot["reason_en"].startswith("25 this week")
    np.testing.assert_allclose(t["p_exceed"], p_exceed(t["observed"], t["mu"], t["alpha"]))
    # ranks: level descending, then p ascending
    codes = t["level"].cat.codes.to_numpy()
    assert (np.diff(codes) <= 0).all() and list(t["rank"]) == list(range(1, 17))
    # the quiet 网格 is not red
    assert t.set_index("area_id").loc["C0G3", "level"] != "red"
    assert board.level_counts(t)["red"] >= 1 and sum(board.level_counts(t).values()) == 16
    assert 0 < t.attrs["expected_reds"] < 1


def test_warning_table_group_level_and_modes(ws):
    last = board.latest_period(ws)
    g = board.warning_table(ws, category="两抢一盗", level="community")
    assert set(g["category"]) == {"两抢一盗"} and len(g) == 4
    c1 = g.set_index("area_id").loc["C1", "observed"]
    assert c1 == sum(_weekly_truth(ws, f"C1G{i}", last, ["抢劫", "入室盗窃"]) for i in range(4))
    f = board.warning_table(ws, mode="forecast")
    assert (f["period"] == last + pd.Timedelta(weeks=1)).all()
    assert board.level_counts(f)["red"] == 1 and f["observed"].isna().all()
    y = board.warning_table(ws, mode="yoy", period=str((last + pd.Timedelta(days=3)).date()))
    assert y.set_index("area_id").loc[HOT, "level"] == "red"


def test_errors_name_the_argument(ws):
    with pytest.raises(ValueError, match="--period"):
        board.warning_table(ws, period="1999-01-01")
    with pytest.raises(ValueError, match="--level 'street'"):
        board.warning_table(ws, level="street")
    with pytest.raises(ValueError, match="--mode"):
        board.warning_table(ws, mode="panic")
    with pytest.raises(ValueError, match="--model 'prophet'"):
        board.warning_table(ws, model="prophet")
    with pytest.raises(ValueError, match="unknown category or group"):
        board.warning_table(ws, category="走私")


def test_config_thresholds_change_the_board(ws):
    before = board.warning_table(ws).set_index("area_id").loc[HOT, "level"]
    ws.update_config(thresholds={"min_count": 100})
    try:
        after = board.warning_table(ws).set_index("area_id").loc[HOT, "level"]
    finally:
        ws.update_config(thresholds={})
    assert before == "red" and after == "orange"


def test_kpis(ws):
    last = board.latest_period(ws)
    k = board.kpis(ws)
    tot = sum(_weekly_truth(ws, a, last) for a in ws.truth["grid"].unique())
    ly = sum(_weekly_truth(ws, a, last - pd.Timedelta(weeks=52)) for a in ws.truth["grid"].unique())
    assert k["total"] == tot and k["total_last_year"] == ly
    assert k["yoy"] == pytest.approx(tot / ly - 1)
    assert k["liangqiang_yidao"]["name"] == "两抢一盗"
    assert k["liangqiang_yidao"]["count"] == sum(
        _weekly_truth(ws, a, last, ["抢劫", "入室盗窃"]) for a in ws.truth["grid"].unique())
    assert sum(k["levels"].values()) == 16 and k["levels"]["red"] >= 1


def test_trend_is_one_step_ahead_and_matches_board(ws):
    tr = board.trend(ws, HOT, n_periods=8)
    assert len(tr) == 8 and tr["period"].iloc[-1] == board.latest_period(ws)
    for p in tr["period"].iloc[[0, -1]]:
        row = board.warning_table(ws, period=p).set_index("area_id").loc[HOT]
        got = tr.set_index("period").loc[p]
        assert got["expected"] == pytest.approx(row["expected"])
        assert got["observed"] == row["observed"] and got["level"] == row["level"]
    assert tr["level"].iloc[-1] == "red"
    with pytest.raises(ValueError, match="not in any layer"):
        board.trend(ws, "nowhere")


def test_cli_warn(ws, tmp_path, capsys):
    from app import main

    out = tmp_path / "warn.csv"
    assert main(["warn", "--workspace", str(ws.path), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert len(table) == 16 and {"area_id", "level", "observed", "expected", "p_exceed"} <= set(table.columns)
    # summary line: colours with chance figures, and the BH badge as a column (not a gate)
    printed = capsys.readouterr().out
    assert f"red {(table['level'] == 'red').sum()} (" in printed and "by chance" in printed
    assert table["fdr_confirmed"].dtype == bool
    assert f"BH-confirmed (q=0.05): {table['fdr_confirmed'].sum()} of 16" in printed
    assert main(["warn", "--workspace", str(ws.path), "--period", "1999-01-04", "--out", str(out)]) == 2
    assert "--period" in capsys.readouterr().err


def test_forecast_reasons_speak_one_language(ws):
    f = board.warning_table(ws, mode="forecast")
    cjk = f["reason_en"].str.contains(r"[\u4e00-\u9fff]", regex=True)
    assert not cjk.any(), f.loc[cjk, "reason_en"].head().tolist()
    assert f["reason_zh"].str.startswith("下期预测").all()
