"""The ranking in headless Chromium: the board ranks by 万人发案率 with ↑↓ against last period,
the same numbers as the service; the 大屏's 一月一排位 shows the change; screenshots at 1920×1080
and 1366×768 go to tests/output/ (gitignored) for review."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from dash.testing.wait import until

from analytics.service import Service

pytestmark = [pytest.mark.browser, pytest.mark.slow]

OUT = Path(__file__).resolve().parents[1] / "output"
MOVES = ("↑", "↓", "—", "新进")


def _column(dash_duo, col: str) -> list[str]:
    return [e.text for e in dash_duo.find_elements(f"#board-table td[data-dash-column='{col}']")]


def test_board_ranks_by_rate_with_rank_change(dash_duo, app_factory, app_workspace):
    OUT.mkdir(exist_ok=True)
    dash_duo.driver.set_window_size(1920, 1080)
    dash_duo.start_server(app_factory())
    dash_duo.wait_for_element("#board-table td[data-dash-column='change']", timeout=60)
    heads = [e.text for e in dash_duo.find_elements("#board-table th")]
    assert any("升降" in h for h in heads) and any("万人发案率" in h for h in heads)
    next(e for e in dash_duo.find_elements("#board-rank-by label") if "万人发案率" in e.text).click()
    dash_duo.wait_for_contains_text("#board-ranking-title", "按万人发案率", timeout=60)
    until(lambda: _column(dash_duo, "rank")[:1] == ["1"], timeout=30)
    svc = Service(app_workspace)
    period = str(svc.latest_period("W").date())
    ref = svc.ranking(level=svc.overview_level(), period=period, freq="W", by="rate").head(15)
    until(lambda: _column(dash_duo, "name") == ref["name"].tolist(), timeout=30)
    rates = [float(x) for x in _column(dash_duo, "rate")]
    assert rates == pytest.approx(np.round(ref["rate"].to_numpy(float), 2).tolist(), abs=0.006)
    assert rates == sorted(rates, reverse=True)  # highest rate first
    moves = _column(dash_duo, "change")
    assert all(m.startswith(MOVES) for m in moves) and any(m[0] in "↑↓" for m in moves)
    want = [("—" if c == 0 else f"↑{c}" if c > 0 else f"↓{-c}") for c in ref["change"].astype(int)]
    assert moves == want
    dash_duo.driver.execute_script("document.querySelector('#board-table-card').scrollIntoView()")
    dash_duo.driver.save_screenshot(str(OUT / "ranking_board_1920.png"))
    dash_duo.driver.set_window_size(1366, 768)
    dash_duo.driver.refresh()  # the 排位依据 choice persists in the session
    dash_duo.wait_for_contains_text("#board-ranking-title", "按万人发案率", timeout=60)
    until(lambda: _column(dash_duo, "name") == ref["name"].tolist(), timeout=30)
    dash_duo.driver.execute_script("document.querySelector('#board-table-card').scrollIntoView()")
    dash_duo.driver.save_screenshot(str(OUT / "ranking_board_1366.png"))
    assert dash_duo.get_logs() == []


def test_screen_monthly_ranking_shows_the_change(dash_duo, app_factory, app_workspace):
    OUT.mkdir(exist_ok=True)
    dash_duo.driver.set_window_size(1920, 1080)
    dash_duo.start_server(app_factory())
    dash_duo.driver.get(dash_duo.server_url + "/screen")
    dash_duo.wait_for_element("#screen-rank td.screen-move", timeout=90)
    heads = [e.text for e in dash_duo.find_elements("#screen-rank th")]
    assert heads == ["排位", "升降", "名称", "发案数", "万人发案率", "同比", "等级"]
    moves = [e.text for e in dash_duo.find_elements("#screen-rank td.screen-move")]
    svc = Service(app_workspace)
    ref = svc.ranking(level=svc.overview_level(), freq="M", by="count", top=8)
    assert len(moves) == len(ref) == 8 and all(m.startswith(MOVES) for m in moves)
    assert moves.count("新进") == int(ref["new"].sum())
    dash_duo.driver.save_screenshot(str(OUT / "ranking_screen_1920.png"))
    dash_duo.driver.set_window_size(1366, 768)
    dash_duo.driver.get(dash_duo.server_url + "/screen")  # laid out afresh, as a wall screen starts
    dash_duo.wait_for_element("#screen-rank td.screen-move", timeout=90)
    time.sleep(2)  # the graphs settle into their panels
    # the wall has no scroll bar at 1366×768: the ranking fits its panel
    assert dash_duo.driver.execute_script(
        "return document.documentElement.scrollHeight <= window.innerHeight + 1")
    dash_duo.driver.save_screenshot(str(OUT / "ranking_screen_1366.png"))
    assert dash_duo.get_logs() == []
