"""The offline base map in the app: the ``/tiles`` route (behind the login, integers only, 404
for a missing tile, cache headers), and the board, the 大屏 and the hotspot map drawn over a
small generated tile set — served by the app from MBTiles / PMTiles, or by a loopback XYZ
server that counts the requests it gets. Nothing is asked of any other host.

Screenshots (1920×1080, 1366×768) go to tests/output/ for review.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
import requests
from dash.testing.wait import until
from PIL import Image

from analytics.present.palette import LEVEL_COLORS
from analytics.service.maps import layer_geojson, polygons_xy
from data.accounts import add_user
from data.tiles import read_tile, set_basemap, write_tileset
from data.workspace import Workspace

OUT = Path(__file__).resolve().parents[1] / "output"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
#: One colour per zoom level, far from the four warning colours and the page's greys.
ZOOM_COLORS = {9: (120, 0, 160), 10: (0, 140, 160), 11: (200, 0, 200), 12: (0, 190, 220),
               13: (90, 90, 230)}


def _png(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), color).save(buf, format="PNG")
    return buf.getvalue()


def _tiles_over(bounds) -> dict[tuple[int, int, int], bytes]:
    """Every tile of zooms 9–13 over ``bounds`` (west, south, east, north), one colour per zoom."""
    import math

    west, south, east, north = bounds
    out = {}
    for z, color in ZOOM_COLORS.items():
        n = 2 ** z
        data = _png(color)
        x0, x1 = (int((v + 180) / 360 * n) for v in (west, east))
        y0, y1 = (int((1 - math.asinh(math.tan(math.radians(v))) / math.pi) / 2 * n) for v in (north, south))
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                out[(z, x, y)] = data
    return out


def _copy(app_workspace, dest: Path) -> Workspace:
    shutil.copytree(app_workspace.path, dest)
    for name in ("users.json", "logins.json", "audit.log", "secret"):
        (dest / name).unlink(missing_ok=True)
    ws = Workspace(dest)
    ws.update_config(board={**ws.config.board, "model": "eb"})  # the maps are under test, not the model choice
    return ws


@pytest.fixture(scope="module")
def tileset(app_workspace, tmp_path_factory):
    """(folder, tiles): the city's tiles as MBTiles, PMTiles and an XYZ folder."""
    lon, lat = polygons_xy(layer_geojson(app_workspace, "district"))
    pad = 0.3  # the whole view at 1920×1080 (a tile off the set is a 404 in the console)
    bounds = (np.nanmin(lon) - pad, np.nanmin(lat) - pad, np.nanmax(lon) + pad, np.nanmax(lat) + pad)
    tiles = _tiles_over(bounds)
    folder = tmp_path_factory.mktemp("tiles")
    write_tileset(folder / "city.mbtiles", tiles, attribution="测试底图")
    write_tileset(folder / "city.pmtiles", tiles, attribution="测试底图")
    for (z, x, y), data in tiles.items():
        path = folder / "xyz" / str(z) / str(x) / f"{y}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder, tiles


class _Counting(SimpleHTTPRequestHandler):
    """A tile server as an intranet one must be set up for the board: it allows other origins
    (CORS), since MapLibre fetches tiles with ``fetch``."""

    seen: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).seen.append(self.path)
        super().do_GET()

    def end_headers(self):
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Cache-Control", "no-store")  # every page load asks again: the count sees it
        super().end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def xyz_server(tileset):
    """A loopback tile server over the XYZ folder; ``.seen`` lists the paths it was asked."""
    handler = type("Handler", (_Counting,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(tileset[0] / "xyz")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()


# -- the tile route (a real server, no browser) ---------------------------------------------------
def _serve(ws: Workspace, accounts: bool = False):
    from app import create_app
    from pages._auth import install_auth
    from pages._serve import make_server

    app = create_app(ws)
    install_auth(app, ws)
    server = make_server(app, "127.0.0.1", 0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    return server, f"http://127.0.0.1:{server.effective_port}"


@pytest.mark.parametrize("suffix", [".pmtiles", ".mbtiles"])
def test_the_tile_route_serves_the_configured_file_only(app_workspace, tileset, tmp_path, suffix):
    folder, tiles = tileset
    ws = _copy(app_workspace, tmp_path / "w")
    set_basemap(ws, file=folder / f"city{suffix}")
    server, base = _serve(ws)
    try:
        (z, x, y), data = next(iter(sorted(tiles.items())))
        r = requests.get(f"{base}/tiles/{z}/{x}/{y}.png", timeout=30)
        assert r.status_code == 200 and r.content == data and r.headers["Content-Type"] == "image/png"
        assert "max-age" in r.headers["Cache-Control"] and "private" in r.headers["Cache-Control"]
        again = requests.get(f"{base}/tiles/{z}/{x}/{y}.png", headers={"If-None-Match": r.headers["ETag"]}, timeout=30)
        assert again.status_code == 304
        for path in (f"/tiles/{z}/{x + 500}/{y}.png", "/tiles/3/0/0.png", f"/tiles/{z}/-{x}/{y}.png",
                     "/tiles/1/0/0.png?file=/etc/passwd", "/tiles/a/0/0.png", "/tiles/..%2F..%2Fsecret/0/0.png",
                     "/tiles/40/0/0.png"):
            assert requests.get(base + path, timeout=30).status_code == 404, path
    finally:
        server.close()
    # without a local file (a server's URL, or none) the route has nothing to give
    set_basemap(ws, url="http://10.1.2.3/tiles/{z}/{x}/{y}.png")
    server, base = _serve(ws)
    try:
        assert requests.get(f"{base}/tiles/{z}/{x}/{y}.png", timeout=30).status_code == 404
    finally:
        server.close()


def test_tiles_need_a_login_when_the_workspace_has_accounts(app_workspace, tileset, tmp_path):
    folder, tiles = tileset
    ws = _copy(app_workspace, tmp_path / "w")
    set_basemap(ws, file=folder / "city.mbtiles")
    add_user(ws, "li", "analyst", password="correct horse 1")
    server, base = _serve(ws)
    try:
        (z, x, y) = next(iter(sorted(tiles)))
        r = requests.get(f"{base}/tiles/{z}/{x}/{y}.png", allow_redirects=False, timeout=30)
        assert r.status_code == 401 and r.content != tiles[(z, x, y)]
        s = requests.Session()
        page = s.get(f"{base}/login", timeout=30)
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
        s.post(f"{base}/login", data={"csrf": token, "username": "li", "password": "correct horse 1", "next": "/"},
               allow_redirects=False, timeout=30)
        assert s.get(f"{base}/tiles/{z}/{x}/{y}.png", timeout=30).content == tiles[(z, x, y)]
    finally:
        server.close()


def test_the_board_figure_is_a_tile_map_only_with_a_basemap(app_workspace, tileset, tmp_path):
    from analytics.service import Service
    from pages._board_view import board_frame
    from pages._maps import level_map

    svc = Service(app_workspace)
    period = str(svc.latest_period("W").date())
    shown, frame = board_frame(svc, "subdistrict", [], period, "W", None, "alert")
    plain = level_map(svc.layer_geojson(shown), frame, "zh")
    assert {t["type"] for t in plain["data"]} <= {"choropleth", "scattergeo"} and "map" not in plain["layout"]
    bm = {"tiles": "http://127.0.0.1:1/tiles/{z}/{x}/{y}.png?v=1", "attribution": "<b>测绘院</b>",
          "opacity": 0.8, "minzoom": 9, "maxzoom": 15}
    fig = level_map(svc.layer_geojson(shown), frame, "zh", basemap=bm)
    assert [t["type"] for t in fig["data"]] == ["choroplethmap"] * len(fig["data"])
    assert "geo" not in fig["layout"]
    style = fig["layout"]["map"]["style"]
    text = json.dumps(style)
    # one raster source, ours; nothing that would make MapLibre fetch glyphs, sprites or a hosted style
    assert style["sources"]["basemap"]["tiles"] == [bm["tiles"]] and "glyphs" not in style and "sprite" not in style
    assert re.findall(r"https?://[^\"]+", text) == [bm["tiles"]]
    assert style["sources"]["basemap"]["attribution"] == "&lt;b&gt;测绘院&lt;/b&gt;"
    lon, lat = polygons_xy(svc.layer_geojson(shown))
    centre = fig["layout"]["map"]["center"]
    assert np.nanmin(lon) < centre["lon"] < np.nanmax(lon) and np.nanmin(lat) < centre["lat"] < np.nanmax(lat)
    assert 9 <= fig["layout"]["map"]["zoom"] <= 13
    colors, before = fig["data"][-1], [t for t in plain["data"] if t["type"] == "choropleth"][-1]
    assert colors["locations"].tolist() == before["locations"].tolist() and colors["z"].tolist() == before["z"].tolist()
    assert colors["colorscale"] == before["colorscale"] and colors["hovertemplate"] == before["hovertemplate"]


# -- in the browser -----------------------------------------------------------------------------
def _hex(color: str) -> np.ndarray:
    return np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)


def _shares(png: bytes, opacity: float, background: str = "#eef1f4") -> tuple[float, float]:
    """Shares of the pixels that show a tile's colour bare, and under a coloured area
    (the area's colour at ``opacity`` over the tile's)."""
    from pages._maps import AREA_OPACITY

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float).reshape(-1, 3)
    tiles = np.array(list(ZOOM_COLORS.values()), dtype=float) * opacity + (1 - opacity) * _hex(background)
    areas = np.array([AREA_OPACITY * _hex(c) + (1 - AREA_OPACITY) * t
                      for c in LEVEL_COLORS.values() for t in tiles])

    def share(colors: np.ndarray) -> float:
        near = (np.abs(rgb[:, None, :] - colors[None, :, :]).max(axis=2) <= 10).any(axis=1)
        return float(near.mean())

    return share(tiles), share(areas)


def _external(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated"):
            urls.append(msg["params"].get("request", {}).get("url") or msg["params"].get("url", ""))
    return [u for u in urls if urlparse(u).scheme not in ("data", "blob", "about", "chrome")
            and urlparse(u).hostname not in LOOPBACK]


def _fits(driver, graph: str) -> bool:
    """The tile map shows all of its areas' bounds (assets/basemap_fit.js), and not much more."""
    return bool(driver.execute_script("""
        var g = document.querySelector(arguments[0] + ' .js-plotly-plot');
        var b = g && g.layout.meta && g.layout.meta.pingan_fit, m = g && g._fullLayout.map._subplot.map;
        if (!b || !m || m.isMoving()) { return false; }
        var v = m.getBounds(), w = v.getEast() - v.getWest(), h = v.getNorth() - v.getSouth();
        var inside = v.getWest() <= b[0] && v.getSouth() <= b[1] && v.getEast() >= b[2] && v.getNorth() >= b[3];
        return inside && ((b[2] - b[0]) / w > 0.6 || (b[3] - b[1]) / h > 0.6);""", graph))


def _count_tiles(app) -> list[tuple[str, int]]:
    """(path, status) of every /tiles request the app's server answers."""
    seen: list[tuple[str, int]] = []

    @app.server.after_request
    def _record(response):
        import flask

        if flask.request.path.startswith("/tiles/"):
            seen.append((flask.request.path, response.status_code))
        return response

    return seen


@pytest.mark.browser
@pytest.mark.slow
def test_board_draws_over_the_apps_own_tiles(dash_duo, app_workspace, tileset, tmp_path):
    from app import create_app

    ws = _copy(app_workspace, tmp_path / "w")
    set_basemap(ws, file=tileset[0] / "city.mbtiles", attribution="测试底图")
    app = create_app(ws)
    seen = _count_tiles(app)
    dash_duo.start_server(app)
    dash_duo.wait_for_element("#board-map .maplibregl-canvas", timeout=60)
    until(lambda: sum(s == 200 for _, s in seen) >= 4, timeout=30)
    until(lambda: _shares(dash_duo.find_element("#board-map").screenshot_as_png, 1.0)[1] > 0.05, timeout=30)
    bare, under = _shares(dash_duo.find_element("#board-map").screenshot_as_png, 1.0)
    OUT.mkdir(exist_ok=True)
    until(lambda: _fits(dash_duo.driver, "#board-map"), timeout=30)
    dash_duo.driver.save_screenshot(str(OUT / "basemap_board.png"))
    zooms = {int(p.split("/")[2]) for p, s in seen if s == 200}
    assert under > 0.05 and bare > 0.01, (bare, under)
    assert zooms <= set(ZOOM_COLORS) and all(s in (200, 304, 404) for _, s in seen)
    # every tile asked for was one of the file's (or a 404 off its edge), all from the app itself
    assert all(read_tile(ws.path / "basemap" / "city.mbtiles", *map(int, re.findall(r"\d+", p)[:3])) is not None
               for p, s in seen if s == 200)
    assert _external(dash_duo.driver) == []
    assert "测试底图" in dash_duo.find_element("#board-map .maplibregl-ctrl-attrib").get_attribute("textContent")
    # click-to-drill still works on the tile map: a click in the middle opens that 街道's 社区
    from selenium.webdriver.common.action_chains import ActionChains

    canvas = dash_duo.find_element("#board-map .maplibregl-canvas")
    ActionChains(dash_duo.driver).move_to_element(canvas).click().perform()
    dash_duo.wait_for_element("#board-crumbs button:nth-of-type(2)", timeout=30)
    assert dash_duo.get_logs() == []


@pytest.mark.browser
@pytest.mark.slow
def test_screen_and_hotspots_ask_the_intranet_tile_server(dash_duo, app_workspace, tileset, xyz_server, tmp_path):
    from app import create_app

    base, handler = xyz_server
    ws = _copy(app_workspace, tmp_path / "w")
    set_basemap(ws, url=base + "/{z}/{x}/{y}.png", attribution="内网底图")
    ws.update_config(basemap={**ws.config.basemap, "opacity": 0.8, "minzoom": 9, "maxzoom": 13})
    app = create_app(ws)
    seen = _count_tiles(app)
    dash_duo.start_server(app)
    OUT.mkdir(exist_ok=True)
    for name, path, ready in (("board", "/", "#board-map .maplibregl-canvas"),
                              ("screen", "/screen", "#screen-map .maplibregl-canvas")):
        for width, height in ((1920, 1080), (1366, 768)):
            handler.seen.clear()
            dash_duo.driver.set_window_size(width, height)
            dash_duo.driver.get(dash_duo.server_url + path)
            dash_duo.wait_for_element(ready, timeout=60)
            until(lambda: len(handler.seen) >= 4, timeout=30)
            back = "#eef1f4" if name == "board" else "#0b1726"
            until(lambda n=name, b=back: _shares(dash_duo.find_element(f"#{n}-map").screenshot_as_png, 0.8, b)[1] > 0.03,
                  timeout=30)
            until(lambda n=name: _fits(dash_duo.driver, f"#{n}-map"), timeout=30)  # the whole city in view
            dash_duo.driver.save_screenshot(str(OUT / f"basemap_{name}_{width}x{height}.png"))
            asked = [tuple(map(int, re.findall(r"\d+", p)[:3])) for p in handler.seen]
            assert asked and all(z in ZOOM_COLORS for z, _, _ in asked), asked
    # the 大屏's dark map: its tiles show under the coloured areas too
    # the hotspot map (a lon/lat plot, for its lasso): the tiles as images under the points
    handler.seen.clear()
    dash_duo.driver.set_window_size(1440, 1000)
    dash_duo.driver.get(dash_duo.server_url + "/hotspots")
    dash_duo.wait_for_element("#hot-map image", timeout=60)
    until(lambda: len(handler.seen) >= 4, timeout=30)
    hrefs = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#hot-map image')).map(i => i.getAttribute('href'));")
    assert 4 <= len(hrefs) <= 48 and all(h.startswith(base) for h in hrefs)
    until(lambda: {urlparse(h).path for h in hrefs} <= set(handler.seen), timeout=30)  # each tile asked of the server
    dash_duo.driver.save_screenshot(str(OUT / "basemap_hotspots.png"))
    assert seen == []  # the app's own route was not asked: the browser went to the tile server
    assert _external(dash_duo.driver) == []
    assert dash_duo.get_logs() == []
