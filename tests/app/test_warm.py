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
    assert warmed == ["subdistrict", "grid"]  # the board opens on 街道; its 清单 lists 网格
    filled = CACHE.misses
    assert filled >= 4  # warning table + KPIs for each warmed layer

    # The board page's first request, as its render callback makes it: the overview level with
    # the latest week as "YYYY-MM-DD", all categories, alert mode, and the 红橙预警清单.
    from analytics.service import Service
    from pages._board_view import board_frame, board_kpis

    svc = Service(ws)
    latest = str(board.latest_period(ws, "W").date())
    shown, frame = board_frame(svc, warmed[0], [], latest, "W", ALL, "alert")
    board_kpis(svc, shown, [], latest, "W", ALL, "alert", frame)
    svc.alerts(latest, "W", ALL)
    assert shown == "subdistrict" and len(frame) == len(ws.areas("subdistrict"))
    assert CACHE.misses == filled, "the page's first request missed the warmed cache"
