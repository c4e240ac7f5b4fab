"""The demo city: reproducible, exactly nested, with the planted structure visible in the data."""

from __future__ import annotations

import datetime as dt
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.spatial import cKDTree

from data.demo import build_demo, default_end
from data.demo_events import SPRING_FESTIVAL, spring_festival
from data.taxonomy import DEFAULT_GROUPS, DEMO_CATEGORIES
from data.workspace import ADMIN_LEVELS, Workspace

END = "2025-06-29"  # a Sunday; fixed so the tests do not depend on today's date
SMALL = {"seed": 7, "incidents": 20_000, "years": 2, "end": END}


#: ``(fraction, label)`` calls of the module's build (its progress callback).
PROGRESS: list[tuple[float, str]] = []


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "ws"
    summary = build_demo(path, progress=lambda f, label: PROGRESS.append((f, label)), **SMALL)
    return Workspace(path), summary


def test_progress_reports_each_stage_in_order(demo):
    fractions = [f for f, _ in PROGRESS]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert [label for _, label in PROGRESS] == ["city", "incidents", "raw files", "ingest wgs84",
                                                 "ingest gcj02", "areas", "done"]


@pytest.fixture(scope="module")
def located(demo):
    """Incidents with projected x/y and their 网格 / 社区, by a spatial join (independent of the pipeline)."""
    ws, _ = demo
    inc = ws.incidents().to_crs(ws.config.crs)
    grid = ws.areas("grid")[["area_id", "parent_id", "geometry"]]
    j = gpd.sjoin(inc, grid, how="left", predicate="within").drop_duplicates("incident_id")
    j["x"], j["y"] = j.geometry.x, j.geometry.y
    j["week"] = j["occurred_at"].dt.to_period("W-SUN").dt.start_time
    return pd.DataFrame(j.drop(columns="geometry")).rename(columns={"area_id": "grid", "parent_id": "community"})


def _content_hash(frame: pd.DataFrame) -> int:
    frame = pd.DataFrame(frame).drop(columns=["geometry"], errors="ignore")
    frame = frame.sort_values(list(frame.columns)[:2]).reset_index(drop=True)
    return int(pd.util.hash_pandas_object(frame.astype(str), index=False).sum())


def test_same_seed_gives_identical_tables_through_the_cli(demo, tmp_path):
    from app import main

    ws, _ = demo
    other = tmp_path / "again"
    args = ["demo", "--workspace", str(other), "--seed", "7", "--incidents", "20000", "--years", "2", "--end", END]
    assert main(args) == 0
    ws2 = Workspace(other)
    assert _content_hash(ws.incidents()) == _content_hash(ws2.incidents())
    assert _content_hash(ws.quarantine()) == _content_hash(ws2.quarantine())
    for name in ("outbreaks", "planted_errors", "cameras"):
        assert _content_hash(ws.extra(name)) == _content_hash(ws2.extra(name)), name
    for level in ADMIN_LEVELS:
        a, b = ws.areas(level), ws2.areas(level)
        assert list(a["area_id"]) == list(b["area_id"])
        assert a.geometry.geom_equals_exact(b.geometry, tolerance=1e-6).all()


def test_another_seed_gives_another_city(demo):
    from data.demo_geography import build_city

    ws, _ = demo  # seed 7
    other = build_city(np.random.default_rng(8)).grids
    assert len(other) != len(ws.areas("grid")) or not other.geometry.iloc[0].equals(ws.areas("grid").geometry.iloc[0])


def test_admin_hierarchy_nests_exactly(demo):
    ws, _ = demo
    layers = {lv: ws.areas(lv) for lv in ADMIN_LEVELS}
    assert 3 <= len(layers["district"]) <= 4
    assert 15 <= len(layers["subdistrict"]) <= 25
    assert 100 <= len(layers["community"]) <= 140
    assert 2000 <= len(layers["grid"]) <= 3000
    assert set(layers["district"]["name"]) <= {"东湖区", "西山区", "南城区", "北岭区"}
    assert layers["subdistrict"]["name"].str.endswith("街道").all()
    assert layers["community"]["name"].str.endswith("社区").all()
    assert layers["grid"]["name"].str.match(r".+社区第\d+网格$").all()
    g = layers["grid"]
    assert g["households"].between(200, 400).all() and (g["population"] > g["households"]).all()
    assert g["grid_worker"].str.len().between(2, 3).all()
    for parent_level, child_level in zip(ADMIN_LEVELS[:-1], ADMIN_LEVELS[1:]):
        parent = layers[parent_level].set_index("area_id")
        child = layers[child_level]
        assert child["parent_id"].isin(parent.index).all()
        assert all(a.startswith(p) for a, p in zip(child["area_id"], child["parent_id"]))
        for pid, kids in child.groupby("parent_id"):  # ~150 parents
            geoms = kids.geometry.to_numpy()
            union = shapely.union_all(geoms)
            p = parent.geometry[pid]
            assert shapely.symmetric_difference(union, p).area < 1.0, (child_level, pid)
            assert shapely.area(geoms).sum() - union.area < 1.0, f"children of {pid} overlap"


def test_incident_table_and_categories(demo, located):
    ws, summary = demo
    inc = ws.incidents_frame(["incident_id", "occurred_at", "category", "subtype", "lon", "lat"])
    assert inc["incident_id"].is_unique
    assert set(inc["category"]) == set(DEMO_CATEGORIES)
    assert 17_000 < len(inc) < 23_000
    assert inc["occurred_at"].min() >= pd.Timestamp("2023-07-03")
    assert inc["occurred_at"].max() < pd.Timestamp(END) + pd.Timedelta(days=1)
    assert (inc.loc[inc["category"] == "抢夺", "subtype"] == "飞车抢夺").mean() > 0.25
    assert located["grid"].notna().mean() > 0.999  # every point lies in a 网格
    assert ws.layers() == [*ADMIN_LEVELS, "cell"]
    cfg = ws.config
    assert (cfg.name, cfg.timezone, cfg.crs) == ("示范市", "Asia/Shanghai", "EPSG:32648")
    assert "随机种子 7" in cfg.attribution  # the seed that made it, in the board's language
    assert dict(cfg.taxonomy.groups) == {k: tuple(v) for k, v in DEFAULT_GROUPS.items()}
    assert summary["rows_in"] == summary["incidents"] + summary["quarantined"]


def test_every_planted_bad_row_is_quarantined_with_its_reason(demo):
    ws, _ = demo
    planted = ws.extra("planted_errors")
    assert len(planted) >= 200
    assert set(planted["reason"]) >= {"missing_coordinates", "unparseable_time", "duplicate_id", "swapped_lat_lon",
                                      "empty_category", "zero_coordinates", "future_time", "outside_study_area"}
    q = ws.quarantine()[["source_file", "source_row", "reason"]]
    m = planted.merge(q, on=["source_file", "source_row"], how="left", suffixes=("", "_got"))
    wrong = m[m["reason"] != m["reason_got"]]
    assert wrong.empty, wrong.head().to_string()
    assert len(q) == len(planted)  # and nothing else was quarantined


def test_gcj02_export_lands_on_the_right_spot(demo, located):
    ws, _ = demo
    # the GCJ-02 派出所 rows must be converted back: their points lie in that 派出所's 街道
    sub = ws.areas("subdistrict")
    station = [f for f in summarise_files(ws) if f.endswith("GCJ02.csv")][0].split("_")[0]
    name = station.removesuffix("派出所") + "街道"
    poly = sub.loc[sub["name"] == name].geometry.iloc[0]
    rows = located[located["station"] == station]
    assert len(rows) > 100
    assert shapely.contains_xy(poly.buffer(5), rows["x"].to_numpy(), rows["y"].to_numpy()).mean() > 0.999


def summarise_files(ws) -> list[str]:
    return sorted(p.name for p in (ws.path / "raw" / "incidents").iterdir())


def test_every_outbreak_stands_out_in_its_weeks(demo):
    from data.pipeline import counts

    ws, _ = demo
    ob = ws.extra("outbreaks")
    assert 10 <= len(ob) <= 20
    assert (ob["start"] + pd.to_timedelta(7 * ob["weeks"], unit="D") >= pd.Timestamp(END)).sum() >= 2  # live now
    for level, rows in ob.groupby("level"):
        c = counts(ws, level, categories=sorted(set(rows["category"])))
        c = c.astype({"area_id": str, "category": str})
        for r in rows.itertuples():
            per_week = c[(c["area_id"] == r.area_id) & (c["category"] == r.category)].set_index("period")["count"]
            inside = (per_week.index >= r.start) & (per_week.index < r.start + pd.Timedelta(weeks=r.weeks))
            assert inside.sum() == r.weeks
            during, before = per_week[inside].mean(), per_week[~inside].mean()
            assert during - before >= 0.7 * r.excess_per_week, (r.outbreak_id, during, before)
            assert during > before + 3 * math.sqrt(before + 0.25)


def test_burglaries_repeat_near_in_space_and_time(demo, located):
    b = located[located["category"] == "入室盗窃"]
    xy = b[["x", "y"]].to_numpy()
    t = (b["occurred_at"] - pd.Timestamp("2000-01-01")).dt.total_seconds().to_numpy() / 86400
    i, j = cKDTree(xy).query_pairs(200.0, output_type="ndarray").T

    def close(times):
        return int((np.abs(times[i] - times[j]) < 14).sum())

    rng = np.random.default_rng(0)
    shuffled = np.mean([close(rng.permutation(t)) for _ in range(10)])
    assert close(t) > 1.5 * shuffled + 20


def test_yearly_decline_matches_the_configured_rate(demo, located):
    ws, _ = demo
    start = pd.Timestamp(ws.config.extra["demo"]["start"])
    year = ((located["occurred_at"] - start).dt.days // 364).clip(upper=1)
    per_year = located.groupby(year).size()
    assert per_year.loc[1] / per_year.loc[0] == pytest.approx(0.8, abs=0.04)


def test_crackdown_cuts_two_robberies_one_theft_in_the_key_area(demo, located):
    ws, _ = demo
    iv = ws.extra("interventions").iloc[0]
    assert iv["effect"] == -0.4 and iv["group"] == "两抢一盗"
    key = located["grid"].isin(list(iv["area_ids"]))
    two = located["category"].isin(DEFAULT_GROUPS["两抢一盗"])
    after = located["occurred_at"] >= iv["start"]
    n = located[two].groupby([key[two], after[two]]).size()
    did = (n[(True, True)] / n[(True, False)]) / (n[(False, True)] / n[(False, False)])
    assert 0.35 < did < 0.9  # true 0.6; ±2 sd at this small size


def test_cameras_layer(demo):
    ws, _ = demo
    cam = ws.extra("cameras")
    assert cam.crs.to_epsg() == 4326
    assert 6500 <= len(cam) <= 7000 and cam["camera_id"].is_unique
    assert 0.93 < cam["online"].mean() < 0.97
    assert np.allclose(cam.geometry.x, cam["lon"], atol=1e-6)


def test_spring_festival_table():
    assert spring_festival(2024) == dt.date(2024, 2, 10)
    assert spring_festival(2025) == dt.date(2025, 1, 29)
    assert spring_festival(2026) == dt.date(2026, 2, 17)
    assert sorted(SPRING_FESTIVAL) == list(range(2015, 2036))
    dates = [SPRING_FESTIVAL[y] for y in sorted(SPRING_FESTIVAL)]
    assert all(dt.date(d.year, 1, 21) <= d <= dt.date(d.year, 2, 20) for d in dates)
    # 12 or 13 lunar months apart
    assert {(b - a).days for a, b in zip(dates, dates[1:])} <= {354, 355, 383, 384, 385}
    # the demo's years come from the one 春节 table (checked against lunardate and the
    # astronomical new moon in tests/data/test_calendar.py)
    from data.calendar import spring_festival as calendar_festival

    assert all(pd.Timestamp(SPRING_FESTIVAL[y]) == pd.Timestamp(calendar_festival(y)) for y in SPRING_FESTIVAL)
    with pytest.raises(ValueError, match="2015"):
        spring_festival(2040)


def test_default_end_and_argument_errors(tmp_path):
    assert default_end(dt.date(2026, 11, 23)) == dt.date(2026, 11, 22)
    assert default_end(dt.date(2026, 11, 22)) == dt.date(2026, 11, 15)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="not a demo workspace"):
        build_demo(tmp_path / "mine", **SMALL)
    with pytest.raises(ValueError, match="--end"):
        build_demo(tmp_path / "a", end="2999-01-01")
    with pytest.raises(ValueError, match="--incidents"):
        build_demo(tmp_path / "b", incidents=10)
