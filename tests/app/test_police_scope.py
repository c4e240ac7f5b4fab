"""A 派出所 account on a served board (waitress on loopback, real login): the 区划体系 and 层级
controls, the ranking and the drill-down answer only with its 派出所 and 警务区."""

from __future__ import annotations

import json

import pytest
from test_auth import PW, _start
from test_scope import Browser
from tiny_city import tiny_city

from data.accounts import add_user


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    ws = tiny_city(tmp_path_factory.mktemp("police"))
    add_user(ws, "zhao", "grid", password=PW, area_id="P1")
    add_user(ws, "qian", "analyst", password=PW)
    server, base = _start(ws)
    yield base
    server.close()


def _layers(b: Browser, hierarchy: str) -> tuple[list[str], str]:
    resp = b.out("board-layer.options", {"board-hierarchy.value": hierarchy, "board-layer.value": None,
                                         "app-lang.data": "zh"})
    return [o["value"] for o in resp["board-layer"]["options"]], resp["board-layer"]["value"]


def test_hierarchy_control(served):
    analyst = Browser(served, "qian")
    assert _layers(analyst, "police") == (["分局", "派出所", "警务区"], "派出所")
    assert _layers(analyst, "admin") == (["district", "subdistrict", "community"], "subdistrict")
    zhao = Browser(served, "zhao")
    assert _layers(zhao, "police") == (["派出所", "警务区"], "派出所")
    assert _layers(zhao, "admin") == (["派出所"], "派出所")  # no admin layer in a police scope


def _ranking(b: Browser, layer: str, path: list[str], by: str) -> list[dict]:
    values = {"board-period.value": "2025-12-01", "board-category.value": "全部", "board-mode.value": "alert",
              "board-path.data": path, "board-rank-by.value": by, "board-layer.value": layer,
              "board-freq.value": "M", "app-lang.data": "zh"}
    return b.out("board-table.data", values)["board-table"]["data"]


def test_ranking_and_drill_down_stay_in_the_scope(served):
    zhao = Browser(served, "zhao")
    rows = _ranking(zhao, "派出所", ["P1"], "count")
    assert sorted((r["name"], r["observed"], r["rank"]) for r in rows) == [("南一警务区", 5, 1), ("南二警务区", 5, 1)]
    # another 派出所 in the path, or a 社区 layer: refused, nothing of theirs comes back
    refused = Browser(served, "zhao").call("board-table.data", {
        "board-period.value": "2025-12-01", "board-category.value": "全部", "board-mode.value": "alert",
        "board-path.data": ["P2"], "board-rank-by.value": "count", "board-layer.value": "派出所",
        "board-freq.value": "M", "app-lang.data": "zh"})
    assert "北一警务区" not in refused.text and "北二警务区" not in json.dumps(refused.json(), ensure_ascii=False)
    analyst = Browser(served, "qian")
    rows = _ranking(analyst, "派出所", [], "count")
    assert [(r["name"], r["observed"], r["change"]) for r in rows] == [("南门派出所", 10, "—"), ("北门派出所", 8, "—")]
