"""The app's tile route: ``/tiles/<z>/<x>/<y>.png`` serves the workspace's local base map file
(MBTiles / PMTiles, ``config.toml`` ``[basemap] file``).

Behind the login gate like every route (:mod:`pages._auth` guards the whole Flask server). The
browser gives three integers (Flask's ``int`` converter refuses anything else); which file is
read comes from the workspace's configuration only. A tile the file does not hold is a 404 (the
map shows its background there). Tiles are cached by the browser: their URL carries the file's
modification time (``?v=``), so a replaced file is fetched anew.

Not a page (the leading underscore keeps Dash Pages from importing it as one).
"""

from __future__ import annotations

import flask

from pages._common import service

__all__ = ["install_tiles", "TILE_ROUTE", "TILE_CACHE"]

#: Flask rule of the tile route (the browser asks ``/tiles/{z}/{x}/{y}.png``).
TILE_ROUTE = "/tiles/<int:z>/<int:x>/<int:y>.png"
#: Cache-Control of a tile: private (it is behind the login), a week (the URL changes with the file).
TILE_CACHE = "private, max-age=604800"


def install_tiles(app) -> None:
    """Add the tile route to ``app``'s Flask server (a Dash app or a Flask app)."""
    server: flask.Flask = getattr(app, "server", app)
    server.add_url_rule(TILE_ROUTE, endpoint="pingan_tile", view_func=_tile, methods=["GET"])
    # anything else under /tiles is not a tile (without this Dash's page route answers it with HTML)
    server.add_url_rule("/tiles/<path:_rest>", endpoint="pingan_not_a_tile", view_func=_not_a_tile, methods=["GET"])


def _not_a_tile(_rest: str) -> flask.Response:
    return _missing()


def _missing() -> flask.Response:
    response = flask.Response("no such tile", status=404, mimetype="text/plain")
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


def _tile(z: int, x: int, y: int) -> flask.Response:
    try:
        found = service().tile(z, x, y)
    except ValueError as exc:  # a [basemap] the workspace cannot use: say so once, in the log
        flask.current_app.logger.warning("base map: %s", exc)
        found = None
    if found is None:
        return _missing()
    data, media = found
    response = flask.Response(data, mimetype=media)
    response.headers["Cache-Control"] = TILE_CACHE
    response.add_etag()
    return response.make_conditional(flask.request)
