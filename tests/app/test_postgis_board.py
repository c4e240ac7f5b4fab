"""The board served from a PostGIS workspace shows what the same workspace shows from its folder.

The session's demo city is copied into a PostGIS schema on the real test server
(:func:`data.workspace_pg.copy_folder`); both are served by waitress on loopback with an analyst
account (kept in each store), and the board's callbacks — map rows, KPI tiles — are fired at both.
"""

from __future__ import annotations

import json

import pytest
from test_auth import PW, _copy, _start
from test_scope import Browser, _board, _period, _rows

from data.accounts import add_user
from data.workspace_pg import copy_folder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def boards(app_workspace, tmp_path_factory, postgres_server):
    import psycopg

    mp = pytest.MonkeyPatch()
    mp.setenv("PINGAN_CACHE", str(tmp_path_factory.mktemp("pgcache")))
    with psycopg.connect(postgres_server["url"], autocommit=True) as conn:
        conn.execute("CREATE DATABASE board_pg")
    db = postgres_server["url"].rsplit("/", 1)[0] + "/board_pg"
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgis")
    folder = _copy(app_workspace, tmp_path_factory.mktemp("pgboard") / "w")
    # one model for both: the default follows the folder's stored evaluation (cache/, which a
    # job test of the session may have written and copy_folder rightly does not carry)
    folder.update_config(board={**folder.config.board, "model": "eb"})
    pg = copy_folder(folder.path, db + "?schema=demo")
    servers = {}
    for name, ws in (("folder", folder), ("postgis", pg)):
        add_user(ws, "li", "analyst", password=PW)
        servers[name] = (*_start(ws), ws)
        # Dash hands the pages' global callbacks to the app that serves first: let each app
        # serve once before the next is made (two apps made first: the second has 6 of 37)
        Browser(servers[name][1], "li")
    yield {k: {"base": v[1], "ws": v[2]} for k, v in servers.items()}
    for server, _, _ in servers.values():
        server.close()
    mp.undo()


def test_the_postgis_copy_holds_the_same_tables(boards):
    folder, pg = boards["folder"]["ws"], boards["postgis"]["ws"]
    assert pg.backend == "postgis" and pg.layers() == folder.layers()
    assert pg.incidents_frame().equals(folder.incidents_frame())
    assert pg.areas("community").equals(folder.areas("community"))
    assert pg.config == folder.config


@pytest.mark.parametrize("layer", ["community", "grid"])
def test_board_map_and_tiles_equal_the_folders(boards, layer):
    period = _period(boards["folder"]["ws"])
    assert _period(boards["postgis"]["ws"]) == period
    got = {}
    for name in ("folder", "postgis"):
        b = Browser(boards[name]["base"], "li")
        resp = b.out("board-map.figure", _board(period, layer))
        tiles = b.out("board-kpis.children", _board(period, layer))
        got[name] = (_rows(resp), json.dumps(tiles, ensure_ascii=False, sort_keys=True))
    rows = got["postgis"][0]
    assert rows and rows == got["folder"][0]
    assert got["postgis"][1] == got["folder"][1]
