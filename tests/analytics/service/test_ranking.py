"""一月一排位 on the tiny city: ranks by cases, by 万人发案率 and by warning level, last month's
rank and the change, 新进, blank rates without population, police areas and a police user's scope.
Every figure is worked out by hand in tests/tiny_city.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tiny_city import DEC, NOV, POP, tiny_city

from analytics.present.rank_text import ranking_display
from analytics.service import Service
from analytics.service.board import warning_table
from analytics.service.ranking import change_text, rank_values, ranking
from analytics.service.scope import ScopeError
from data.accounts import User


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    return tiny_city(tmp_path_factory.mktemp("rank"))


def _by_area(table, *cols):
    return {r["area_id"]: tuple(None if pd.isna(r[c]) else r[c] for c in cols) for _, r in table.iterrows()}


def test_by_count_with_last_months_rank(city):
    r = ranking(city, level="community", period="2025-12", by="count")
    assert r.attrs["period"] == pd.Timestamp("2025-12-01") and r.attrs["prev_period"] == pd.Timestamp("2025-11-01")
    # December 6 4 5 3 → C1 1st, C3 2nd, C2 3rd, C4 4th; November 1 3 2 4 → C4, C2, C3, C1
    assert _by_area(r, "observed", "observed_prev", "rank", "rank_prev", "change") == {
        "C1": (DEC["C1"], NOV["C1"], 1, 4, 3), "C3": (5, 2, 2, 3, 1), "C2": (4, 3, 3, 2, -1), "C4": (3, 4, 4, 1, -3)}
    assert list(r["area_id"]) == ["C1", "C3", "C2", "C4"] and not r["new"].any()
    assert [change_text(c, n) for c, n in zip(r["change"], r["new"])] == ["↑3", "↑1", "↓1", "↓3"]


def test_by_rate_ties_share_a_rank_and_no_population_is_not_ranked(city):
    r = ranking(city, level="community", period="2025-12", by="rate")
    # per 10,000: C1 6/12000 → 5.0, C2 4/8000 → 5.0, C3 5/6000 → 8.33, C4 no population
    rate = dict(zip(r["area_id"], r["rate"]))
    assert rate["C1"] == pytest.approx(5.0) and rate["C2"] == pytest.approx(5.0)
    assert rate["C3"] == pytest.approx(5 / POP["C3"] * 1e4) and np.isnan(rate["C4"])
    # November: C1 0.83, C2 3.75, C3 3.33 → C2, C3, C1
    assert _by_area(r, "rank", "rank_prev", "change") == {
        "C3": (1, 2, 1), "C1": (2, 3, 1), "C2": (2, 1, -1), "C4": (None, None, None)}
    assert r["area_id"].iloc[-1] == "C4" and r.attrs["no_population"] == 1 and r.attrs["unranked"] == 1
    shown = ranking_display(r, "zh")
    assert list(shown.columns) == ["排位", "上期排位", "升降", "名称", "发案数", "上期发案", "人口", "万人发案率", "等级"]
    last = shown.iloc[-1]
    assert (last["排位"], last["万人发案率"], last["人口"], last["升降"]) == ("", "", "", "")  # blank, not 0 or inf


def test_top_marks_new_entries(city):
    r = ranking(city, level="community", period="2025-12", by="rate", top=2)
    # C1 was 3rd last month: outside last month's top 2 → 新进, though it has a previous rank
    assert _by_area(r, "rank", "rank_prev", "new") == {"C3": (1, 2, False), "C1": (2, 3, True), "C2": (2, 1, False)}
    assert [change_text(c, n, "zh") for c, n in zip(r["change"], r["new"])] == ["↑1", "新进", "↓1"]
    assert change_text(np.nan, True, "en") == "new"


def test_by_level_follows_the_board_and_the_first_month_has_nothing_to_compare(city):
    r = ranking(city, level="community", period="2025-12", by="level")
    board = warning_table(city, level="community", period="2025-12", freq="M")
    assert list(r["area_id"]) == list(board["area_id"])
    assert list(r["rank"]) == list(board["rank"])
    prev = warning_table(city, level="community", period="2025-11", freq="M")
    assert dict(zip(r["area_id"], r["rank_prev"])) == dict(zip(prev["area_id"], prev["rank"]))
    # September is the first month that can be judged: August has no forecast, so no change at all
    first = ranking(city, level="community", period="2025-09", by="level")
    assert first.attrs["prev_period"] is None and first["rank_prev"].isna().all() and not first["new"].any()


def test_warning_table_carries_rates(city):
    table = warning_table(city, level="subdistrict", period="2025-12", freq="M")
    got = dict(zip(table["area_id"], zip(table["observed"], table["population"], table["rate"])))
    assert got["S1"] == (10, 20_000, pytest.approx(5.0)) and got["S2"] == (8, 10_000, pytest.approx(8.0))
    police = warning_table(city, level="派出所", period="2025-12", freq="M")
    assert police["rate"].isna().all()  # police areas were loaded without population


def test_police_ranking_and_unknown_order(city):
    r = ranking(city, level="派出所", period="2025-12", by="count")
    assert _by_area(r, "observed", "observed_prev", "rank", "rank_prev") == {"P1": (10, 10, 1, 1), "P2": (8, 0, 2, 2)}
    with pytest.raises(ValueError, match="--by 'size'"):
        ranking(city, level="派出所", by="size")
    with pytest.raises(ValueError, match="--by"):
        rank_values(r, "size")


def test_a_police_users_scope(city):
    svc = Service(city, User(name="zhang", role="grid", area_id="P1"))
    assert svc.layers() == ["派出所", "警务区"]  # their 派出所 and below; no admin layer, no other hierarchy
    assert svc.hierarchies() == {"police": ["派出所", "警务区"]} and svc.chain("police") == ["派出所", "警务区"]
    r = svc.ranking(level="警务区", period="2025-12", by="count")
    assert set(r["area_id"]) == {"J1", "J2"}
    # city-wide ranks: J1, J2, J3 all have 5 cases in December
    assert list(r["rank"]) == [1, 1]
    with pytest.raises(ScopeError):
        svc.check_area("J3")
    with pytest.raises(ScopeError):
        svc.ranking(level="community")
    alerts = svc.alerts("2025-12-01", "M", None, hierarchy="police")
    assert set(alerts["area_id"]) <= {"J1", "J2"}
    whole = Service(city)
    assert whole.hierarchy_of("警务区") == "police" and whole.hierarchy_of("community") == "admin"
    assert whole.overview_level("police") == "派出所" and whole.overview_level() == "subdistrict"
