"""serve() warms the board's default view, so the first visitor is served from the cache."""

from __future__ import annotations

from analytics.service import board
from analytics.service.cache import CACHE
from app import warm_up
from data.taxonomy import ALL


def test_warm_up_fills_exactly_what_the_board_page_asks_for(app_workspace):
    ws = app_workspace
    board.clear_cache()
    warmed = warm_up(ws)
    assert warmed == ["district", "grid"]
    filled = CACHE.misses
    assert filled >= 4  # warning table + KPIs for each warmed layer

    # The board page's first request: latest week as "YYYY-MM-DD", all categories, alert mode.
    latest = str(board.latest_period(ws, "W").date())
    for layer in warmed:
        table = board.warning_table(ws, level=layer, period=latest, freq="W", category=ALL, mode="alert")
        board.kpis(ws, period=latest, freq="W", category=ALL, level=layer)
        assert len(table) == len(ws.areas(layer))
    assert CACHE.misses == filled, "the page's first request missed the warmed cache"
