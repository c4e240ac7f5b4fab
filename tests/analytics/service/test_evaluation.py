"""The workspace's model evaluation and the board's stored model choice
(analytics.service.evaluation): per category, kept across ingests, pinned models win."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from shapely.geometry import box

from analytics.models.auto import CANDIDATES
from analytics.service import board
from analytics.service import evaluation as ev
from data.taxonomy import Taxonomy
from data.workspace import Config, Workspace

CRS = "EPSG:32649"
X0, Y0 = 500_000, 2_900_000
WEEKS = 60


def _incidents(rng: np.random.Generator) -> pd.DataFrame:
    """Three categories over 4 km × 4 km and 60 weeks (x, y in metres).

    平稳 (flat): Poisson everywhere, the same rate every week. 突发 (bursts): each 500 m cell
    switches between quiet and busy spells of weeks (what a recency-weighted model sees and a
    long-run one does not). 罕见 (rare): 60 cases in all.
    """
    start = pd.Timestamp("2024-01-01")
    parts = []
    n = 6000
    parts.append(pd.DataFrame({"x": rng.uniform(0, 4000, n), "y": rng.uniform(0, 4000, n),
                               "t": rng.uniform(0, WEEKS * 7, n), "category": "平稳"}))
    # each 500 m cell flips between quiet (0.1 a week) and busy (4 a week), staying 10 weeks on
    # average: this week's count says much about next week's
    busy = np.zeros((64, WEEKS), bool)
    busy[:, 0] = rng.random(64) < 0.2
    for w in range(1, WEEKS):
        flip = rng.random(64) < np.where(busy[:, w - 1], 0.1, 0.025)
        busy[:, w] = busy[:, w - 1] ^ flip
    k = rng.poisson(np.where(busy, 4.0, 0.1))
    cell, week = np.repeat(np.arange(64), k.sum(1)), np.concatenate(
        [np.repeat(np.arange(WEEKS), row) for row in k])
    m = len(cell)
    parts.append(pd.DataFrame({"x": (cell % 8) * 500 + rng.uniform(0, 500, m),
                               "y": (cell // 8) * 500 + rng.uniform(0, 500, m),
                               "t": week * 7 + rng.uniform(0, 7, m), "category": "突发"}))
    parts.append(pd.DataFrame({"x": rng.uniform(0, 4000, 60), "y": rng.uniform(0, 4000, 60),
                               "t": rng.uniform(0, WEEKS * 7, 60), "category": "罕见"}))
    df = pd.concat(parts, ignore_index=True)
    df = df[(df.x > 0) & (df.x < 4000) & (df.y > 0) & (df.y < 4000)].reset_index(drop=True)
    lon, lat = Transformer.from_crs(CRS, 4326, always_xy=True).transform(X0 + df.x.to_numpy(),
                                                                          Y0 + df.y.to_numpy())
    return pd.DataFrame({"incident_id": [f"i{i}" for i in range(len(df))],
                         "occurred_at": start + pd.to_timedelta(df.t.to_numpy() * 86400 // 1, unit="s"),
                         "category": df.category.to_numpy(), "lon": lon, "lat": lat})


def _build(path, incidents: pd.DataFrame) -> Workspace:
    from data.pipeline import refresh

    tax = Taxonomy({"平稳类": ("平稳",), "突发类": ("突发",), "罕见类": ("罕见",)})
    ws = Workspace.create(path, Config(name="测试市", crs=CRS, taxonomy=tax))
    comm, grids = [], []
    for ci in range(4):
        x0, y0 = X0 + (ci % 2) * 2000, Y0 + (ci // 2) * 2000
        comm.append({"area_id": f"C{ci}", "name": f"社区{ci}", "level": "community", "parent_id": None,
                     "geometry": box(x0, y0, x0 + 2000, y0 + 2000)})
        for gi in range(4):
            gx, gy = x0 + (gi % 2) * 1000, y0 + (gi // 2) * 1000
            grids.append({"area_id": f"C{ci}G{gi}", "name": f"网格{ci}-{gi}", "level": "grid",
                          "parent_id": f"C{ci}", "geometry": box(gx, gy, gx + 1000, gy + 1000)})
    gpd.GeoDataFrame(comm, crs=CRS).to_parquet(ws.area_path("community"))
    gpd.GeoDataFrame(grids, crs=CRS).to_parquet(ws.area_path("grid"))
    gpd.GeoDataFrame(incidents, geometry=gpd.points_from_xy(incidents.lon, incidents.lat),
                     crs=4326).to_parquet(ws.incidents_path)
    refresh(ws)
    board.clear_cache()
    return ws


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """The workspace after ``refresh_choice`` (and its incidents, for a second version)."""
    incidents = _incidents(np.random.default_rng(3))
    ws = _build(tmp_path_factory.mktemp("choice") / "ws", incidents)
    assert ev.stored_choice(ws) is None
    assert board.warning_table(ws, level="grid").attrs["model"] == "eb"  # no choice yet: eb
    choice = ev.refresh_choice(ws)
    return ws, incidents, choice


@pytest.mark.slow  # the fixture evaluates four categories (about 20 s)
def test_each_category_chooses_its_own_model_where_the_data_differ(evaluated):
    ws, _, choice = evaluated
    cats = choice["categories"]
    assert set(cats) == {"全部", "平稳类", "突发类", "罕见类"}
    bursts, flat = cats["突发类"], cats["平稳类"]
    # the moving hot spot: a recency-aware candidate beats empirical Bayes by far more than noise
    assert bursts["model"] in ("blend", "stack", "recency_kde")  # the models that follow a burst
    assert bursts["scores"]["eb"]["log_score"] > bursts["scores"][bursts["model"]]["log_score"] * 1.02
    # flat counts: nothing beats empirical Bayes by more than the margin, so the simpler eb stays
    assert flat["model"] == "eb"
    assert bursts["n_events"] >= ev.MIN_EVENTS and flat["n_events"] >= ev.MIN_EVENTS
    # too few cases to tell the models apart: no choice of its own, 全部's applies
    assert cats["罕见类"]["model"] is None and cats["罕见类"]["n_events"] < ev.MIN_EVENTS
    rare = ev.board_choice(ws, "罕见类")
    assert rare["inherited"] and rare["model"] == cats["全部"]["model"]
    # stored atomically with the version, data week, date and the scores of every candidate
    stored = json.loads(ev.choice_path(ws).read_text(encoding="utf-8"))
    assert stored == choice and stored["version"] == ws.version
    assert set(bursts["scores"]) == set(CANDIDATES)
    result = ev.stored_evaluation(ws, "突发类", ev.CHOICE_WEEKS)
    assert bursts["weeks"] == ev.CHOICE_WEEKS == result["n_periods"]
    assert bursts["data_week"] == result["end"] == "2025-02-17"  # the last week with data
    assert not list(ev.choice_path(ws).parent.glob("*.tmp"))
    # the board uses it, per category, and says so in both languages
    table = board.warning_table(ws, level="grid", category="突发类")
    assert table.attrs["model"] == bursts["model"] and (table["model"] == bursts["model"]).all()
    zh, en = table.attrs["model_note"]["zh"], table.attrs["model_note"]["en"]
    day = bursts["computed"][:10]
    assert f"自动选择：{day} 模型评估" in zh and f"近{ev.CHOICE_WEEKS}周回测" in zh
    assert f"model evaluation of {day}" in en
    assert board.warning_table(ws, level="grid", category="平稳类").attrs["model"] == "eb"
    note = board.warning_table(ws, level="grid", category="罕见类").attrs["model_note"]
    assert "沿用全部类别" in note["zh"] and "too few cases" in note["en"]
    # a second refresh of the same version computes nothing and writes nothing
    mtime = ev.choice_path(ws).stat().st_mtime_ns
    assert ev.refresh_choice(ws) == choice and ev.choice_path(ws).stat().st_mtime_ns == mtime


@pytest.mark.slow  # the fixture evaluates four categories (about 20 s)
def test_the_choice_survives_an_ingest_and_a_pin_still_wins(evaluated, tmp_path):
    ws, incidents, choice = evaluated
    import shutil

    copy = Workspace(shutil.copytree(ws.path, tmp_path / "ws"))
    week = copy.version
    extra = incidents.sample(200, random_state=1).assign(
        incident_id=lambda d: "new" + d["incident_id"],
        occurred_at=pd.Timestamp("2024-01-01") + pd.Timedelta(weeks=WEEKS, days=3))
    from data.ingest import ingest_files

    path = tmp_path / "week.csv"
    extra.to_csv(path, index=False)
    ingest_files([path], copy)
    board.clear_cache()
    assert copy.version > week and ev.stored_evaluation(copy, "突发类", ev.CHOICE_WEEKS) is None
    model = choice["categories"]["突发类"]["model"]
    table = board.warning_table(copy, level="grid", category="突发类")
    assert table.attrs["model"] == model  # last week's choice: not back to eb
    assert choice["categories"]["突发类"]["computed"][:10] in table.attrs["model_note"]["zh"]
    # a pinned model wins over the choice, by argument and by [board] model
    assert board.warning_table(copy, level="grid", category="突发类", model="glm").attrs["model"] == "glm"
    copy.update_config(board={"model": "kde_longrun"})
    assert board.warning_table(copy, level="grid", category="突发类").attrs["model"] == "kde_longrun"


@pytest.mark.slow  # the fixture evaluates four categories (about 20 s)
def test_a_stored_evaluation_is_read_back_not_recomputed(evaluated):
    ws, _, _ = evaluated
    calls: list[tuple[float, str]] = []
    board.clear_cache()  # a new process: only the files
    again = ev.evaluate(ws, "突发类", ev.CHOICE_WEEKS, progress=lambda f, label: calls.append((f, label)))
    assert calls == [] and again["_version"] == ws.version and again["category"] == "突发类"
    assert not set(again["models"]) & ev.SLOW_MODELS
    assert ev.stored_evaluation(ws, "突发类", ev.CHOICE_WEEKS) == again
    assert ev.stored_evaluation(ws, "突发类", 12) is None  # another span: not stored yet
    with pytest.raises(ValueError, match="--weeks 13"):
        ev.evaluate(ws, None, 13)
    with pytest.raises(ValueError, match="unknown category"):
        ev.evaluate(ws, "没有这类", 26)


def test_pick_keeps_the_stored_model_within_the_margin_and_prefers_the_simpler():
    scores = {"eb": 1.0010, "stack": 1.0000, "recency_kde": 0.90}
    assert ev._pick(scores, None) == "recency_kde"  # clearly better
    scores = {"eb": 1.0010, "stack": 1.0000, "glm": 1.0015}
    assert ev._pick(scores, None) == "eb"  # within 0.2 %: the earlier candidate
    assert ev._pick(scores, "glm") == "glm"  # within 0.2 % of the best: the stored one stays
    assert ev._pick({"eb": 1.1, "stack": 1.0}, "eb") == "stack"  # 10 % better: it changes


@pytest.mark.slow  # the fixture evaluates four categories (about 20 s)
def test_the_boards_blend_learns_from_the_other_categories(evaluated):
    """blend on the board: a category's fit gets the layer's other categories' counts
    (全部 − the category, gaps imputed) as ``related``; eb and 全部 get none."""
    from analytics.models import KernelBlend
    from data.cube import CountMatrix

    ws = evaluated[0]
    keys, ps, Y = board._matrix(ws, "grid", "W", "罕见类")
    a_keys, _, A = board._matrix(ws, "grid", "W", "全部")
    rel = board._related(ws, "grid", "W", "罕见类", "blend")
    total = pd.DataFrame(A, index=a_keys["area_id"]).loc[keys["area_id"]].to_numpy()
    np.testing.assert_array_equal(rel.loc[keys["area_id"]].to_numpy(), total - Y)
    assert rel.to_numpy().sum() > 50 * Y.sum()
    assert board._related(ws, "grid", "W", "罕见类", "eb") is None
    assert board._related(ws, "grid", "W", "全部", "blend") is None
    # the board's forecast is that fit (then floored), not the blend of the category alone
    j = len(ps) - 2
    pred = board._fit_predict(ws, "grid", "W", "罕见类", "blend", j)
    Yh = board._new_areas_missing(ws, "grid", "W", keys, ps, board._fit_matrix(ws, "grid", "W", "罕见类"))
    m = CountMatrix(keys, ps[: j + 1], Yh[:, : j + 1], "W")
    floor = board._floor_values(ws, "grid", keys, Yh[:, : j + 1])
    fits = {tag: KernelBlend(coords=board._coords(ws, "grid"), related=r).fit(m)
            for tag, r in (("related", rel), ("alone", None))}
    np.testing.assert_allclose(pred["mu"].to_numpy(), np.maximum(fits["related"].rate_, floor), rtol=1e-9)
    assert not np.allclose(pred["mu"].to_numpy(), np.maximum(fits["alone"].rate_, floor), rtol=1e-3)
