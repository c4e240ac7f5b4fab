"""The board's ranking rows and the police drill-down, through the real service on the tiny city
(tests/tiny_city.py): rank by rate with ↑↓, blank rate and rank without population, the chain of
the chosen hierarchy, the 红橙预警清单 of 警务区."""

from __future__ import annotations

import pytest
from tiny_city import tiny_city

from analytics.service import Service
from pages._board_view import board_frame, chain, ranked_frame, ranking_export, table_rows


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    return Service(tiny_city(tmp_path_factory.mktemp("view")))


def test_rows_ranked_by_rate_with_change(svc):
    shown, frame = board_frame(svc, "subdistrict", ["S1"], "2025-12-01", "M", None, "alert")
    assert shown == "community" and set(frame["area_id"]) == {"C1", "C2"}  # the children of 东风街道
    frame = ranked_frame(svc, frame, shown, "2025-12-01", "M", None, "rate", "alert")
    rows = table_rows(frame, "zh")
    # city-wide ranks by rate: C3 1st; C1 and C2 share 2nd (5.0 each); C1 was 3rd, C2 1st in November
    assert [(r["name"], r["rank"], r["change"], r["rate"]) for r in rows] == [
        ("一社区", 2.0, "↑1", 5.0), ("二社区", 2.0, "↓1", 5.0)]
    _, south = board_frame(svc, "subdistrict", ["S2"], "2025-12-01", "M", None, "alert")
    rows = table_rows(ranked_frame(svc, south, "community", "2025-12-01", "M", None, "rate", "alert"), "zh")
    assert rows[-1]["name"] == "四社区" and rows[-1]["change"] == ""  # no population: last, no rank
    assert rows[-1]["rate"] != rows[-1]["rate"] and rows[-1]["rank"] != rows[-1]["rank"]  # NaN: blank cells
    export = ranking_export(ranked_frame(svc, south, "community", "2025-12-01", "M", None, "count", "alert"), "en")
    assert {"Change", "Per 10k", "Rank"} <= set(export.columns)


def test_the_warning_order_keeps_the_boards_rank(svc):
    _, frame = board_frame(svc, "community", [], "2025-12-01", "M", None, "alert")
    ranked = ranked_frame(svc, frame, "community", "2025-12-01", "M", None, "level", "alert")
    assert dict(zip(frame["area_id"], frame["rank"])) == dict(zip(ranked["area_id"], ranked["rank"]))
    # in the other modes the order is the mode's own, with nothing to compare
    _, yoy = board_frame(svc, "community", [], "2025-12-01", "M", None, "yoy")
    assert ranked_frame(svc, yoy, "community", "2025-12-01", "M", None, "level", "yoy") is yoy


def test_police_drill_down_and_its_alerts(svc):
    assert chain(svc, "派出所") == ["派出所", "警务区"] and chain(svc, "subdistrict") == ["subdistrict", "community"]
    shown, frame = board_frame(svc, "派出所", ["P1"], "2025-12-01", "M", None, "alert")
    assert shown == "警务区" and sorted(frame["area_id"]) == ["J1", "J2"]
    # the police 清单 carries its own ancestors (分局, 派出所), for 下辖预警 and for drilling to an alert
    police = svc.alerts("2025-12-01", "M", None, hierarchy="police")
    assert {"分局", "派出所"} <= set(police.columns) and "subdistrict" not in police.columns
    # 下辖预警 of the admin hierarchy in the same month: 一社区 is orange, inside 东风街道 and 甲区
    admin = svc.alerts("2025-12-01", "M", None)
    assert list(zip(admin["area_id"], admin["level"].astype(str), admin["subdistrict"])) == [("C1", "orange", "S1")]
    assert admin["path"].tolist() == ["甲区 › 东风街道 › 一社区"]
    shown, frame = board_frame(svc, "district", [], "2025-12-01", "M", None, "alert")
    assert shown == "district" and frame[["below_red", "below_orange"]].fillna(0).values.tolist() == [[0, 1]]
