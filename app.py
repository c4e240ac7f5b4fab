"""平安预警 — the two front doors: the Dash app and the ``pingan`` command line.

``create_app(workspace)`` builds the app for one workspace (tests start it with dash_duo);
``serve(...)`` builds the demo workspace if it is missing and serves on loopback. Everything
is served from ``assets/`` and the installed packages: no CDN, no web fonts, no map tiles.

``main()`` is the ``pingan`` console script. Every subcommand calls the same service functions
the app uses. Exit status: 0 success (quarantined rows are reported, not a failure); 2 unusable
input or arguments, with one line naming the file, column or argument — never a traceback for a
user's mistake. Dash is imported only when the app is built, so the CLI starts quickly.

Run ``python app.py`` (demo workspace) or ``pingan serve --workspace W``.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from analytics.present.i18n import DEFAULT_LANG, t
from data.workspace import Workspace

if TYPE_CHECKING:
    import dash

__all__ = ["create_app", "serve", "warm_up", "NAV", "main", "build_parser"]

HERE = Path(__file__).resolve().parent

#: (i18n key, path) of the navigation bar, in order.
NAV: tuple[tuple[str, str], ...] = (
    ("nav.board", "/"),
    ("nav.hotspots", "/hotspots"),
    ("nav.trends", "/trends"),
    ("nav.intervention", "/intervention"),
    ("nav.evaluation", "/evaluation"),
    ("nav.data", "/data"),
    ("nav.screen", "/screen"),
)


def create_app(workspace: str | Path | Workspace) -> dash.Dash:
    """The Dash app serving ``workspace``.

    Parameters
    ----------
    workspace : str, Path or Workspace
        An existing workspace folder (see ``data.workspace``).

    Returns
    -------
    dash.Dash
        Pages from ``pages/``, assets from ``assets/``, served locally (offline).
    """
    import dash
    from dash import Input

    from pages._common import LANG_STORE, WS_KEY, set_fallback_workspace
    from pages._jobs import manager

    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    ws.require(ws.incidents_path)
    app = dash.Dash(
        __name__,
        use_pages=True,
        pages_folder=str(HERE / "pages"),
        assets_folder=str(HERE / "assets"),
        serve_locally=True,
        external_stylesheets=[],
        external_scripts=[],
        compress=_has_compress(),
        suppress_callback_exceptions=True,  # pages are built on demand, not all at start-up
        title=t("app.title", DEFAULT_LANG),
        update_title=None,
        routing_callback_inputs={"lang": Input(LANG_STORE, "data")},
        # long work (briefing, backtest, upload) runs in worker processes; job state in a private
        # temporary folder of this process, not in the workspace (pages/_jobs.py)
        background_callback_manager=manager(),
    )
    app.server.config[WS_KEY] = ws
    # A browser upload arrives base64-encoded inside one callback request: refuse a body larger
    # than the upload limit allows before Flask reads it (a 200 MB POST costs gigabytes).
    from data.ingest_limits import limits_of

    app.server.config["MAX_CONTENT_LENGTH"] = limits_of(ws.config).max_upload_bytes * 4 // 3 + (1 << 20)
    set_fallback_workspace(ws)
    app.layout = _layout(ws)
    _register_shell_callbacks(app)
    from pages._tiles import install_tiles

    install_tiles(app)  # /tiles/<z>/<x>/<y>.png: the workspace's own base map file ([basemap] file)
    return app


def serve(workspace: str | Path = "workspace", host: str = "127.0.0.1", port: int = 8050,
          debug: bool = False, demo: bool = False) -> None:
    """Serve the board for ``workspace``.

    With ``demo=True`` (``make run``, ``python app.py``, ``pingan serve --demo``) a missing
    workspace is built as the demo city first; otherwise a missing workspace, or one without
    area layers, is an error that says what to run (a mistyped ``--workspace`` must not quietly
    grow a demo city). Listens on loopback unless another ``host`` is asked for explicitly (then
    warns: the board shows incident locations and must not be exposed by accident).
    """
    from data.accounts import has_accounts
    from data.audit import cli_user, record
    from pages._auth import install_auth
    from pages._serve import CACHED_OUTPUTS, check_serve_policy, install_response_cache, run_server

    ws = Workspace(workspace)
    # non-loopback needs accounts; --debug is loopback-only (ValueError: one line, exit 2)
    check_serve_policy(host, debug, has_accounts(ws), workspace=ws.location)
    if not ws.exists():
        if not demo:
            raise ValueError(f"--workspace {ws.location}: no workspace there; build one with `pingan demo "
                             f"--workspace {ws.location}` or `pingan ingest FILE --workspace {ws.location}` "
                             "(or serve the demo city with `pingan serve --demo`)")
        from data.demo import build_demo

        print(f"{ws.path}: no workspace yet, building the demo city ...", flush=True)
        build_demo(str(ws.path))
    if not ws.layers():
        raise ValueError(f"--workspace {ws.location}: no area layers to colour yet; run `pingan areas --workspace "
                         f"{ws.location} --cell 250` (a generated grid) or `--boundaries FILE…` (district/subdistrict/community/grid layers)")
    if not _is_loopback(host):
        print(f"WARNING: serving on {host}:{port} — reachable from other machines; "
              "incident locations are sensitive. Use 127.0.0.1 unless that is intended.",
              file=sys.stderr, flush=True)
    app = create_app(ws)
    install_auth(app, ws)  # login gate when the workspace has accounts, CSRF always
    install_response_cache(app, ws, CACHED_OUTPUTS)  # after the gate: heavy pure callbacks once per version
    warm_up(ws)
    record(ws, "serve_start", user=cli_user(), detail=f"{host}:{port}")
    print(f"Pingan: http://{host}:{port}/  (workspace {ws.location})", flush=True)
    # systemd and `kill` stop the server with SIGTERM: exit normally so that the exit handlers
    # run (the background jobs' workers are stopped and their private folder removed)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if debug:
        app.run(host=host, port=port, debug=True)  # Werkzeug debugger: loopback only (policy)
    else:
        run_server(app, host, port)  # waitress, threads sized to the machine


def warm_up(ws: Workspace) -> list[str]:
    """Compute the board's first view before serving: the overview level (街道 by default), the
    finest admin level behind its 红橙预警清单, their KPIs and map layers.

    The first visitor then gets the board from the cache instead of waiting for the first
    warning table to be fitted (on the demo city the first page load drops from about 4.6 s
    to 2.3 s with an empty browser cache). Returns the layers warmed.
    """
    from analytics.service import Service

    if not ws.layers():
        return []
    svc = Service(ws)
    period = str(svc.latest_period("W").date())
    warmed = list(dict.fromkeys([svc.overview_level(), svc.admin_layers()[-1]]))
    for layer in warmed:
        svc.warning_table(level=layer, period=period)
        svc.kpis(period, "W", None, layer)
        svc.layer_geojson(layer)
        svc.layer_table(layer)
    svc.alerts_below(warmed[0], svc.alerts(period))
    return warmed


def _layout(ws: Workspace):
    import dash
    from dash import dcc, html

    from pages._common import LANG_STORE

    lang = DEFAULT_LANG
    cfg = ws.config
    return html.Div([
        dcc.Store(id=LANG_STORE, storage_type="local", data=DEFAULT_LANG),
        html.Header([
            html.Div([
                html.Span(t("app.title", lang), id="app-title", className="brand"),
                html.Span(cfg.name, id="app-city", className="city"),
            ], className="brand-box"),
            html.Nav([
                dcc.Link(t(key, lang), href=path, id=f"app-nav-{key.split('.')[1]}", className="nav-link")
                for key, path in NAV
            ], className="nav"),
            html.Button(t("app.lang_toggle", lang), id="app-lang-toggle", n_clicks=0, className="lang-btn"),
        ], id="app-header", className="app-header"),
        html.Main(dash.page_container, className="app-main"),
        html.Footer([
            html.Span(t("app.attribution", lang), id="app-attr-label"),
            html.Span(f"：{cfg.attribution or cfg.name}", className="attr"),
        ], id="app-footer", className="app-footer"),
    ], id="app-root", className="app-root")


def _register_shell_callbacks(app: dash.Dash) -> None:
    """Language toggle (persisted in localStorage) and the shell's labels."""
    from dash import Input, Output, State

    from pages._common import LANG_STORE, lang_of

    @app.callback(Output(LANG_STORE, "data"), Input("app-lang-toggle", "n_clicks"),
                  State(LANG_STORE, "data"), prevent_initial_call=True)
    def toggle_language(_clicks, lang):
        return "en" if lang_of(lang) == "zh" else "zh"

    nav_ids = [f"app-nav-{key.split('.')[1]}" for key, _ in NAV]

    @app.callback(
        [Output(i, "children") for i in nav_ids]
        + [Output("app-lang-toggle", "children"), Output("app-title", "children"),
           Output("app-attr-label", "children")],
        Input(LANG_STORE, "data"),
    )
    def shell_labels(lang):
        lang = lang_of(lang)
        return [t(key, lang) for key, _ in NAV] + [
            t("app.lang_toggle", lang), t("app.title", lang), t("app.attribution", lang)]

    # The page's language on <html lang> (screen readers, CJK glyph choice) and for the CSS that
    # names the date pickers' weekdays in Chinese (their calendar is a portal under <body>).
    app.clientside_callback(
        "function(l){var v=(l==='en')?'en':'zh-CN';document.documentElement.lang=v;return v;}",
        Output("app-root", "lang"), Input(LANG_STORE, "data"))

    @app.callback(Output("app-root", "className"), Input("_pages_location", "pathname"))
    def screen_mode(pathname):
        # The 大屏 page takes the whole screen: no header or footer, dark theme.
        return "app-root screen-mode" if (pathname or "").rstrip("/").endswith("/screen") else "app-root"


def _has_compress() -> bool:
    try:
        import flask_compress  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- the command line ----------------------------------------------------------------------
DEFAULT_WORKSPACE = "workspace"


def build_parser() -> argparse.ArgumentParser:
    """The ``pingan`` argument parser (subcommands as in design.md, "Command line")."""
    p = argparse.ArgumentParser(prog="pingan", description="平安预警 — crime early-warning board")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("demo", help="build the demo city workspace (示范市)")
    s.add_argument("--seed", type=int, default=None, help="random seed (default: the fixed demo seed)")
    s.add_argument("--workspace", default=DEFAULT_WORKSPACE)
    s.add_argument("--incidents", type=int, default=None, help="approximate number of incidents")
    s.add_argument("--end", default=None, help="last day of data, YYYY-MM-DD (default: end of last full week)")
    s.add_argument("--years", type=float, default=None, help="years of history (default 3)")

    s = sub.add_parser("fetch", help="fetch a real city's data into a workspace")
    s.add_argument("city", choices=["toronto"])
    s.add_argument("--workspace", default=None, help="default: ./workspace-toronto")

    s = sub.add_parser("workspace", help="copy a workspace between stores: a folder ↔ PostGIS (share, back up, export)")
    w = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    c = w.add_parser("copy", help="copy SRC's data into DST as one version (folder or postgresql://…?schema=CITY)")
    c.add_argument("source", metavar="SRC")
    c.add_argument("target", metavar="DST")
    c.add_argument("--replace", action="store_true", help="overwrite a DST that holds a workspace")

    s = sub.add_parser("ingest", help="ingest incident files into a workspace")
    s.add_argument("files", nargs="+", metavar="FILE")
    s.add_argument("--workspace", required=True)
    s.add_argument("--map", action="append", default=[], metavar="canonical=source",
                   help="map a source column to a canonical one (incident_id, occurred_at, category, lon, lat); "
                        "occurred_at=日期+时间 joins a date and a time column")
    s.add_argument("--coords", choices=["wgs84", "gcj02", "bd09"], default="wgs84")
    s.add_argument("--epsg", type=int, default=None, help="x/y are in this projected CRS (overrides --coords)")
    s.add_argument("--encoding", default="auto",
                   help="CSV encoding (auto detects UTF-8, UTF-8-BOM, GBK/GB18030, UTF-16, Big5)")
    s.add_argument("--timezone", default=None, help="time zone of the times (default: the workspace's)")
    s.add_argument("--boundary", default=None, help="study boundary file; points outside are quarantined")
    s.add_argument("--as-of", default=None, metavar="TIME",
                   help="what the files cover, e.g. \"2025-12-28 23:59\" (default: their latest incident time)")
    s.add_argument("--wait", type=float, default=None, metavar="SECONDS",
                   help="wait at most this long for another writer of the workspace (default: as long as it takes)")
    s.add_argument("--table", default=None, help="with a postgresql://USER@HOST:PORT/DB source: the table to read")
    s.add_argument("--where", default=None, metavar="SQL",
                   help="with a database source: an SQL condition run by the server (trusted operator input)")
    s.add_argument("--sheet", default=None, metavar="NAME|INDEX",
                   help="workbook sheet (.xls/.xlsx; default: the first that looks like incidents)")
    s.add_argument("--layer", default=None, metavar="NAME|INDEX", help="GeoPackage layer (default: the first)")
    s.add_argument("--centroids", action="store_true", help="take polygons/lines as their centroids")
    s.add_argument("--engine", choices=["local", "dask"], default="local",
                   help="dask: read, validate, assign and count on a Dask cluster (data/engine_dask.py)")
    s.add_argument("--scheduler", default=None, metavar="tcp://HOST:8786",
                   help="with --engine dask: the cluster's scheduler (default: a local cluster of 2 workers)")
    s.add_argument("--evaluate", action="store_true",
                   help="after the commit, refresh the board's model choice (pingan evaluate; tens of seconds)")
    s.add_argument("--blocksize", type=int, default=None, metavar="BYTES",
                   help="with --engine dask: bytes of CSV/Parquet input each worker task reads and validates "
                        "(default 64 MiB)")

    s = sub.add_parser("export", help="导出 one file of incidents, quarantine or counts (for tools that cannot read "
                                      "a folder of monthly parts)")
    s.add_argument("--workspace", required=True, help="folder or postgresql://…?schema=CITY")
    s.add_argument("table", choices=["incidents", "quarantine", "counts"],
                   help="incidents 警情, quarantine 隔离行, counts 周计数 (layer, area_id, period, category, count)")
    s.add_argument("out", metavar="OUT", help="OUT.parquet, OUT.csv or OUT.xlsx (xlsx: at most 1,048,575 rows)")

    s = sub.add_parser("areas", help="build area layers: admin boundaries or a generated grid")
    s.add_argument("--workspace", required=True)
    g = s.add_mutually_exclusive_group()
    g.add_argument("--boundaries", nargs="+", metavar="FILE")
    g.add_argument("--cell", type=float, metavar="METRES")
    s.add_argument("--population", default=None, metavar="FILE",
                   help="CSV/Excel of area id, population (人口) [, households (户数)] joined to the areas")
    s.add_argument("--hierarchy", default=None, help="load --boundaries as this named hierarchy, e.g. police")
    s.add_argument("--levels", default=None, metavar="L1,L2,…",
                   help="level names of --hierarchy, coarse to fine, e.g. 分局,派出所,警务区")
    s.add_argument("--shape", choices=["square", "hex"], default="square")
    s.add_argument("--name", default=None, help="layer name for a generated grid (default: cell)")
    s.add_argument("--level", default=None, help="admin level of the boundary file(s) when not in a column")
    s.add_argument("--id-column", default=None)
    s.add_argument("--name-column", default=None)
    s.add_argument("--parent-column", default=None)
    s.add_argument("--risk-factors", default=None, metavar="FILE",
                   help="risk-factor points (CSV/Excel/Parquet: type, lon, lat) for risk terrain (pingan risk)")

    s = sub.add_parser("risk", help="risk terrain: relative risk of each risk-factor type (RTM)")
    s.add_argument("--workspace", required=True)
    s.add_argument("--level", default=None, help="layer (default: the board's)")
    s.add_argument("--category", default=None, help="category or group (default: 全部)")
    s.add_argument("--lang", choices=("zh", "en"), default="zh")

    s = sub.add_parser("warn", help="four-colour warning table for a period")
    s.add_argument("--workspace", required=True)
    s.add_argument("--period", default=None, help="period start (default: the latest complete period)")
    s.add_argument("--freq", choices=["W", "M"], default="W")
    s.add_argument("--level", default=None, help="layer (default: the finest admin level)")
    s.add_argument("--hierarchy", default=None, help="hierarchy (admin, police …); default level: its finest")
    s.add_argument("--category", default=None, help="category or group (default: 全部)")
    s.add_argument("--mode", choices=["alert", "forecast", "yoy"], default="alert")
    s.add_argument("--model", default=None)
    s.add_argument("--partial", action="store_true",
                   help="the running, incomplete period instead (expectation pro-rated to the data's as-of time)")
    s.add_argument("--out", required=True)
    s.add_argument("--lang", choices=("zh", "en"), default="zh", help="language of the model line (default zh)")

    s = sub.add_parser("hotspots", help="hot-spot statistics on a layer")
    s.add_argument("--workspace", required=True)
    s.add_argument("--method", required=True, choices=["gistar", "moran", "emerging", "knox", "kde"])
    s.add_argument("--layer", default=None)
    s.add_argument("--category", default=None)
    s.add_argument("--start", default=None)
    s.add_argument("--end", default=None)
    s.add_argument("--seed", type=int, default=12345)
    s.add_argument("--permutations", type=int, default=999)
    s.add_argument("--hours", default=None, metavar="FROM-TO",
                   help="only incidents at these hours, e.g. 18-23 (gistar, moran, emerging, knox)")
    s.add_argument("--weekdays", default=None, metavar="D,D",
                   help="only incidents on these weekdays, 0 = Monday, e.g. 4,5,6 (gistar, moran, emerging, knox)")
    s.add_argument("--out", required=True)

    s = sub.add_parser("intervention", help="整治 evaluation: difference in differences, placebo test, displacement")
    s.add_argument("--workspace", required=True)
    s.add_argument("--area", action="append", required=True, metavar="ID",
                   help="a target area id (repeat for several areas of one layer)")
    s.add_argument("--start", required=True, help="the day the 整治 began, YYYY-MM-DD")
    s.add_argument("--end", default=None, help="last day evaluated (default: the last complete week)")
    s.add_argument("--layer", default=None, help="layer of the areas (default: the one holding them)")
    s.add_argument("--category", default=None, help="category or group (default: 全部)")
    s.add_argument("--buffer", type=float, default=500.0, metavar="METRES",
                   help="displacement ring around the target; control areas lie beyond it (500)")
    s.add_argument("--weeks-before", type=int, default=26, help="weeks before the start compared (26)")
    s.add_argument("--permutations", type=int, default=99, help="placebo sets of the permutation test (99)")
    s.add_argument("--out", required=True, metavar="FILE",
                   help=".json: everything; .csv/.xlsx/.parquet: the weekly series, the estimate beside it (FILE_estimate)")

    s = sub.add_parser("backtest", help="rolling-origin backtest of every model on a grid")
    s.add_argument("--incidents", required=True)
    s.add_argument("--cell", type=float, required=True)
    s.add_argument("--freq", default="W")
    s.add_argument("--start", required=True)
    s.add_argument("--end", default=None)
    s.add_argument("--category", default=None)
    s.add_argument("--models", nargs="+", default=None)
    s.add_argument("--risk-factors", default=None, metavar="FILE",
                   help="risk-factor points (type, lon, lat): each cell's distance/density features for gbm")
    s.add_argument("--no-related", action="store_true",
                   help="with --category: do not give blend the other categories' counts")
    s.add_argument("--json", required=True, dest="json_out")

    s = sub.add_parser("evaluate", help="the workspace's model evaluation; stores the board's model choice")
    s.add_argument("--workspace", required=True)
    s.add_argument("--category", default=None,
                   help="category or group (default: 全部 and every group of the taxonomy)")
    s.add_argument("--weeks", type=int, choices=(12, 26, 52), default=26, help="test weeks (26)")
    s.add_argument("--json", action="store_true", help="print the backtest JSON instead of the table")
    s.add_argument("--lang", choices=("zh", "en"), default="zh")

    s = sub.add_parser("detect", help="outbreak alarms on your own series (R surveillance's methods)")
    s.add_argument("--series", required=True, metavar="FILE.csv",
                   help="a 'period' column (week or month starts) and one column of counts per series")
    s.add_argument("--method", required=True,
                   choices=["farrington", "ears_c1", "ears_c2", "ears_c3", "cusum"])
    s.add_argument("--b", type=int, default=5, help="farrington: years back (5)")
    s.add_argument("--w", type=int, default=3, help="farrington: half-window in periods (3)")
    s.add_argument("--alpha", type=float, default=None,
                   help="level (farrington 0.05; ears_c1/c2 0.001, ears_c3 0.025)")
    s.add_argument("--no-trend", action="store_true", help="farrington: no time trend")
    s.add_argument("--noPeriods", type=int, default=1, dest="no_periods",
                   help="farrington: levels of the seasonal factor (1; R's example uses 10)")
    s.add_argument("--pastWeeksNotIncluded", type=int, default=None, dest="past_weeks",
                   help="farrington: recent periods left out of the baseline (default --w)")
    s.add_argument("--limit54", default="5,4", metavar="CASES,PERIODS",
                   help="farrington: no alarm under CASES cases in the last PERIODS (5,4; none = off)")
    s.add_argument("--threshold-method", choices=["delta", "nbPlugin", "muan"], default="delta")
    s.add_argument("--population", default=None, metavar="FILE.csv",
                   help="farrington: population offset, same layout as --series")
    s.add_argument("--out", required=True)

    s = sub.add_parser("serve", help="serve the board (Dash app)")
    s.add_argument("--workspace", default=DEFAULT_WORKSPACE)
    s.add_argument("--host", default="127.0.0.1", help="loopback by default; another host must be asked for")
    s.add_argument("--port", type=int, default=8050)
    s.add_argument("--debug", action="store_true")
    s.add_argument("--demo", action="store_true", help="build the demo city into --workspace if it is missing")

    s = sub.add_parser("brief", help="weekly briefing: PNG + PDF + HTML + Word + Excel")
    s.add_argument("--workspace", required=True)
    s.add_argument("--week", default=None)
    s.add_argument("--out", required=True)
    s.add_argument("--lang", choices=("zh", "en"), default="zh", help="language of the briefing (default zh)")
    s.add_argument("--level", default=None, help="area layer to brief (default: the board's)")
    s.add_argument("--hierarchy", default=None, help="hierarchy (admin, police …); default level: its finest")

    s = sub.add_parser("rank", help="一月一排位: the monthly ranking with 万人发案率 and rank change")
    s.add_argument("--workspace", required=True)
    s.add_argument("--month", default=None, help="YYYY-MM (default: the latest complete month)")
    s.add_argument("--freq", choices=["M", "W"], default="M", help="M: 一月一排位 (default); W: weekly")
    s.add_argument("--by", choices=["count", "rate", "level"], default="count",
                   help="发案数, 万人发案率 or the warning order (default count)")
    s.add_argument("--level", default=None, help="layer, e.g. subdistrict / 街道 / 派出所")
    s.add_argument("--hierarchy", default=None, help="hierarchy (admin, police …)")
    s.add_argument("--category", default=None, help="category or group (default: 全部)")
    s.add_argument("--top", type=int, default=None, help="only the first N ranks (新进: not in last top N)")
    s.add_argument("--lang", choices=("zh", "en"), default="zh")
    s.add_argument("--out", default=None, help="also write the table (.csv, .xlsx, .parquet …)")

    s = sub.add_parser("categories", help="raw categories → groups with their counts")
    s.add_argument("--workspace", required=True)
    s.add_argument("--lang", choices=("zh", "en"), default="zh")

    s = sub.add_parser("basemap", help="the offline base map under the maps: a local MBTiles/PMTiles file or an intranet tile server")
    s.add_argument("--workspace", required=True)
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--file", default=None, help="MBTiles or PMTiles of PNG/JPEG tiles; copied into W/basemap/")
    g.add_argument("--url", default=None, metavar="TEMPLATE", help="tile URL with {z} {x} {y}, e.g. http://10.1.2.3/tiles/{z}/{x}/{y}.png")
    g.add_argument("--none", action="store_true", help="no base map (the default)")
    s.add_argument("--attribution", default=None, help="source and licence of the tiles, shown on the map")

    s = sub.add_parser("watch", help="ingest every file dropped into a folder, then push new warnings")
    s.add_argument("--workspace", required=True)
    s.add_argument("--inbox", required=True, metavar="DIR", help="the folder watched (done/ and failed/ are made in it)")
    s.add_argument("--once", action="store_true", help="one round over the files there now, then exit")
    s.add_argument("--interval", type=float, default=60.0, metavar="SECONDS", help="seconds between rounds (60)")
    s.add_argument("--settle", type=float, default=2.0, metavar="SECONDS",
                   help="a file is taken once unchanged for this long (2; a copy in progress is not read)")
    s.add_argument("--map", action="append", default=[], metavar="canonical=source")
    s.add_argument("--coords", choices=["wgs84", "gcj02", "bd09"], default="wgs84")
    s.add_argument("--epsg", type=int, default=None)
    s.add_argument("--encoding", default="auto")
    s.add_argument("--timezone", default=None)

    s = sub.add_parser("notify", help="push new red/orange warnings to the [notify] webhooks (企业微信, 钉钉, JSON)")
    s.add_argument("--workspace", required=True)
    s.add_argument("--dry-run", action="store_true", help="print the messages, send nothing")
    s.add_argument("--test", action="store_true", help="send a test message to every webhook (exit 1 if one fails)")

    from data.accounts_cli import add_parsers  # pingan user add|list|remove|passwd, pingan audit

    add_parsers(sub)
    for name in _WITH_PROGRESS:  # long work: a progress bar on stderr when it is a terminal
        sub.choices[name].add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    return p


#: Subcommands that draw a progress bar (on a terminal's stderr, unless ``--quiet``).
_WITH_PROGRESS = ("demo", "fetch", "ingest", "backtest", "evaluate", "brief")


@contextlib.contextmanager
def _progress(args: argparse.Namespace, what: str):
    """A ``progress(fraction, label)`` callback drawing a tqdm bar on stderr, for a ``with``.

    Yields ``None`` (no bar, clean output) with ``--quiet`` or when stderr is not a terminal
    (pipes, tests, CI). The bar is removed when the work ends; results go to stdout as before.
    """
    if getattr(args, "quiet", False) or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=100, desc=what, file=sys.stderr, leave=False, dynamic_ncols=True,
              bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}") as bar:
        def update(fraction: float, label: str = "") -> None:
            bar.n = max(bar.n, min(100.0, 100.0 * float(fraction)))
            bar.set_postfix_str(label, refresh=False)
            bar.refresh()

        yield update


def _int_list(text: str | None, flag: str, sep: str = ",") -> list[int] | None:
    """``"18-23"`` or ``"4,5,6"`` as integers (None when not given); a bad value names the flag."""
    if text is None:
        return None
    try:
        return [int(v) for v in str(text).split(sep)]
    except ValueError:
        raise ValueError(f"{flag} {text!r}: expected integers separated by {sep!r}") from None


def _mapping(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--map {pair!r}: expected canonical=source, e.g. occurred_at=报警时间")
        k, v = pair.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _period_note(ws, table, freq: str, latest: bool = True) -> str:
    """Which period ``pingan warn`` shows, what the data cover, and any gaps in the data."""
    import pandas as pd

    from analytics.present.i18n import t
    from analytics.service.board import gaps

    p, a = pd.Timestamp(table.attrs["period"]), table.attrs["as_of"]
    lag = ws.config.reporting_lag / pd.Timedelta(days=1)
    if table.attrs.get("partial"):
        line = (f"周期 period: {p:%Y-%m-%d} {freq} — {t('board.partial_option', 'zh', as_of=f'{a:%m-%d %H:%M}')} / "
                f"{t('board.partial_option', 'en', as_of=f'{a:%m-%d %H:%M}')}; 预期按已过 {table.attrs['share']:.0%} 折算 "
                f"expectation pro-rated to {table.attrs['share']:.0%}")
    else:
        kw = {"period": f"{p:%Y-%m-%d}", "as_of": f"{a:%Y-%m-%d %H:%M}", "lag": f"{lag:g}"}
        key = "board.complete_note" if latest else "board.period_note"
        line = f"周期 period: {t(key, 'zh', **kw)} / {t(key, 'en', **kw)}"
    g = gaps(ws, freq)
    g = g[g["missing"]]
    if len(g):
        days = ", ".join(f"{d:%Y-%m-%d}" for d in g["period"])
        line += ("\n警告 warning: " + t("board.gap_warning", "zh", periods=days) + " / "
                 + t("board.gap_warning", "en", periods=days))
    return line


def _rate_note(table) -> str:
    """万人发案率: how many areas have a population; the others' rate is blank (never 0 or inf)."""
    import numpy as np

    from analytics.present.i18n import t

    pop = table["population"].to_numpy(float) if "population" in table else np.full(len(table), np.nan)
    n = int((np.isfinite(pop) & (pop > 0)).sum())
    key = "rank.rate_all" if n == len(table) else "rank.rate_some"
    kw = {"n": n, "total": len(table), "rest": len(table) - n}
    return f"{t(key, 'zh', **kw)} / {t(key, 'en', **kw)}"


def _push(ws) -> None:
    """After a refresh: new red/orange warnings to the ``[notify]`` webhooks (quiet without any)."""
    from analytics.service.notify import notify_warnings

    try:
        result = notify_warnings(ws)
    except ValueError as exc:  # the data are in: a push that cannot run is reported, not fatal
        print(f"notify: push failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
              file=sys.stderr, flush=True)
        return
    if not result.note:
        print(result.summary(), flush=True)


def _choose(ws) -> None:
    """After an ingest: refresh the board's model choice (outside the writer lock; a failure is
    reported, not fatal: the data are in and the last choice stays)."""
    from analytics.service.evaluation import refresh_choice

    try:
        choice = refresh_choice(ws)
    except ValueError as exc:
        print(f"evaluate: model choice not refreshed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
              file=sys.stderr, flush=True)
        return
    picked = ", ".join(f"{k} {v['model'] or '-'}" for k, v in choice.get("categories", {}).items())
    print(f"evaluate: model choice {picked}", flush=True)


def _watch(args: argparse.Namespace) -> int:
    """``pingan watch``: rounds until SIGTERM/SIGINT (or one round with ``--once``)."""
    import signal
    import threading

    from data.watch import watch_inbox

    ws = Workspace(args.workspace)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())  # systemd stop: finish the file, exit 0
    options = {"mapping": _mapping(args.map), "coords": args.coords, "epsg": args.epsg,
               "encoding": args.encoding, "timezone": args.timezone}
    print(f"pingan watch: {args.inbox} -> {ws.path}" + ("" if args.once else f", every {args.interval:g} s"),
          flush=True)
    try:
        done = watch_inbox(ws, args.inbox, once=args.once, interval=args.interval, settle=args.settle,
                           options=options, after=lambda _outcomes: (_choose(ws), _push(ws)), stop=stop,
                           log=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        return 0
    if args.once:
        print(f"pingan watch: {sum(o.status == 'done' for o in done)} done, "
              f"{sum(o.status == 'failed' for o in done)} failed", flush=True)
    return 0


def _risk_factors(args: argparse.Namespace) -> None:
    """``pingan areas --risk-factors FILE``: store the risk-factor points (pingan risk reads them)."""
    from analytics.service.risk import import_risk_factors
    from data.workspace import Workspace

    ws = Workspace(args.workspace)
    ws.require(ws.incidents_path)
    print(f"risk factors: {import_risk_factors(ws, args.risk_factors)} points from {args.risk_factors}")


def _run(args: argparse.Namespace) -> int:
    cmd = args.command
    if cmd == "demo":
        from data.demo import build_demo

        kw = {k: getattr(args, k) for k in ("seed", "incidents", "end", "years") if getattr(args, k) is not None}
        with _progress(args, "demo") as progress:
            summary = build_demo(args.workspace, progress=progress, **kw)
        print(summary if isinstance(summary, str) else json.dumps(summary, ensure_ascii=False, indent=1, default=str))
    elif cmd == "fetch":
        from data.fetch import fetch_city

        with _progress(args, f"fetch {args.city}") as progress:
            text = fetch_city(args.city, args.workspace or f"workspace-{args.city}", progress=progress)
        print(text)
    elif cmd == "workspace":
        from data.ingest_db import mask_url
        from data.workspace_copy import copy_workspace

        dst = copy_workspace(args.source, args.target, replace=args.replace)
        print(f"{mask_url(args.source)} → {dst.location}: version {dst.version}, {len(dst.incidents_frame(['incident_id'])):,} "
              f"incidents, layers {', '.join(dst.layers()) or 'none'}")
    elif cmd == "ingest":
        from data.engine_dask import engine
        from data.ingest import ingest_files
        from data.workspace import Workspace

        with engine(args.engine, args.scheduler, blocksize=args.blocksize), \
                Workspace(args.workspace).transaction(timeout=args.wait):
            ws = Workspace.create(args.workspace)  # one version; busy: exit 2
            with _progress(args, "ingest") as progress:
                report = ingest_files(
                    args.files, ws, mapping=_mapping(args.map), coords=args.coords, epsg=args.epsg,
                    encoding=args.encoding, timezone=args.timezone, boundary=args.boundary,
                    as_of=args.as_of, progress=progress, table=args.table, where=args.where,
                    sheet=args.sheet, layer=args.layer, centroids=args.centroids,
                )
            from data.ingest_db import mask_url

            args.files = [mask_url(f) for f in args.files]  # the audit line never holds a password
            print(report.summary())
            from data.pipeline import refresh  # after ingest: input errors are reported first

            print(refresh(ws))  # the ingest refreshed the counts already: this only reports them
        if args.evaluate:  # outside the writer lock; before the push, so it uses the week's model
            _choose(Workspace(args.workspace))
        _push(Workspace(args.workspace))  # after the commit: never a warning the workspace lacks
    elif cmd == "export":
        from data.export import export_table
        from data.workspace import Workspace

        print(f"wrote {args.out} ({export_table(Workspace(args.workspace), args.table, args.out):,} rows)")
    elif cmd == "areas" and args.risk_factors and not (args.boundaries or args.cell):
        _risk_factors(args)  # only the risk-factor points: the layers stay as they are
    elif cmd == "areas":
        from data.pipeline import build_areas
        from data.workspace import Workspace

        ws = Workspace(args.workspace)
        ws.require(ws.incidents_path)
        print(build_areas(
            ws, boundaries=args.boundaries, cell=args.cell, shape=args.shape, name=args.name,
            level=args.level, id_column=args.id_column, name_column=args.name_column,
            parent_column=args.parent_column, population=args.population, hierarchy=args.hierarchy,
            levels=None if args.levels is None else [v for v in args.levels.split(",") if v.strip()],
        ))
        if args.risk_factors:
            _risk_factors(args)
    elif cmd == "risk":
        from analytics.present.i18n import t
        from analytics.service import Service

        table = Service(args.workspace).risk_table(level=args.level, category=args.category)
        print(t("risk.title", args.lang, level=table.attrs.get("level", ""),
                category=table.attrs.get("category", ""), cases=table.attrs.get("cases", 0),
                areas=table.attrs.get("areas", 0)))
        print(t("risk.header", args.lang))
        for r in table.itertuples():
            print(f"{r.factor:<12s} {r.influence_m:>8.0f} {r.cells_exposed:>7d} {r.rr:>7.2f} "
                  f"[{r.rr_low:.2f}, {r.rr_high:.2f}] {'<0.001' if r.p < 0.001 else f'{r.p:.3f}':>9s}")
        if table.attrs.get("dropped"):
            print(t("risk.dropped", args.lang, factors=", ".join(table.attrs["dropped"])))
    elif cmd == "warn":
        from analytics.service.board import warning_table
        from data.hierarchies import level_for
        from data.io import write_table
        from data.workspace import Workspace

        ws = Workspace(args.workspace)
        table = warning_table(
            ws, level=level_for(ws, args.hierarchy, args.level), period=args.period, freq=args.freq,
            category=args.category, mode=args.mode, model=args.model, partial=args.partial,
        )
        from analytics.warning import Thresholds, fdr_confirmed, summary_line

        print(_period_note(ws, table, args.freq, latest=args.period is None))
        note = table.attrs.get("model_note") or {}
        if note.get(args.lang):  # which model made the expectations, and from which evaluation
            print(note[args.lang])
        table["fdr_confirmed"] = fdr_confirmed(table["p_exceed"])  # a badge, not a gate
        print(summary_line(table, table.attrs.get("thresholds", Thresholds())))
        if table.attrs.get("kappa") is not None:  # empirical Bayes: how much each area's own data counts
            print(f"empirical Bayes: κ = {table.attrs['kappa']:.1f}, median weight of an area's own data "
                  f"{table.attrs['own_weight']:.2f}")
        print(_rate_note(table))
        print(f"wrote {write_table(table, args.out)} ({len(table)} areas)")
    elif cmd == "rank":
        from analytics.present.rank_text import rank_report
        from analytics.service import Service
        from data.hierarchies import level_for

        svc = Service(args.workspace)
        level = level_for(svc.ws, args.hierarchy, args.level)
        if args.hierarchy and args.level is None:  # 一月一排位 of 派出所, not of 警务区
            level = svc.overview_level(args.hierarchy)
        text, table = rank_report(svc, level=level, month=args.month, freq=args.freq, by=args.by,
                                  category=args.category, top=args.top, lang=args.lang)
        print(text)
        if args.out:
            from data.io import write_table

            print(f"wrote {write_table(table, args.out)} ({len(table)} areas)")
    elif cmd == "categories":
        from analytics.present.rank_text import categories_report
        from analytics.service import Service

        text, problems = categories_report(Service(args.workspace), lang=args.lang)
        print(text)
        if problems:
            raise ValueError(problems[0])
    elif cmd == "hotspots":
        from analytics.service.hotspots import run_hotspots
        from data.io import write_table
        from data.workspace import Workspace

        table = run_hotspots(
            Workspace(args.workspace), args.method, layer=args.layer, category=args.category,
            start=args.start, end=args.end, seed=args.seed, permutations=args.permutations,
            hours=_int_list(args.hours, "--hours", sep="-"), weekdays=_int_list(args.weekdays, "--weekdays"),
        )
        print(f"wrote {write_table(table, args.out)} ({len(table)} rows)")
    elif cmd == "intervention":
        from analytics.present.intervention_text import (
            displacement_sentence,
            effect_sentence,
            write_intervention,
        )
        from analytics.service import Service

        result = Service(args.workspace).intervention(
            args.area, args.start, args.end, args.category, args.buffer, layer=args.layer,
            weeks_before=args.weeks_before, permutations=args.permutations,
        )
        print(effect_sentence(result))
        print(displacement_sentence(result))
        for path in write_intervention(result, args.out):
            print(f"wrote {path}")
    elif cmd == "backtest":
        from analytics.service.evaluation import backtest_file

        with _progress(args, "backtest") as progress:
            result = backtest_file(
                args.incidents, cell=args.cell, freq=args.freq, start=args.start, end=args.end,
                category=args.category, models=args.models, progress=progress,
                risk_factors=args.risk_factors, related=not args.no_related,
            )
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"wrote {args.json_out}")
    elif cmd == "evaluate":
        from analytics.present.evaluation_text import evaluation_report
        from data.workspace import Workspace

        with _progress(args, "evaluate") as progress:
            print(evaluation_report(Workspace(args.workspace), category=args.category, weeks=args.weeks,
                                    lang=args.lang, as_json=args.json, progress=progress))
    elif cmd == "detect":
        import pandas as pd

        from analytics.detect import detect, parse_limit54
        from data.io import write_table

        table = detect(
            pd.read_csv(args.series), args.method, b=args.b, w=args.w, alpha=args.alpha,
            trend=not args.no_trend, no_periods=args.no_periods, limit54=parse_limit54(args.limit54),
            threshold_method=args.threshold_method, past_weeks_not_included=args.past_weeks,
            population=pd.read_csv(args.population) if args.population else None,
        )
        print(f"{int(table['alarm'].sum())} alarms in {table['series'].nunique()} series "
              f"({int(table['upper'].notna().sum())} series-periods judged)")
        print(f"wrote {write_table(table, args.out)} ({len(table)} rows)")
    elif cmd == "serve":
        serve(args.workspace, host=args.host, port=args.port, debug=args.debug, demo=args.demo)
    elif cmd == "brief":
        from analytics.present.brief import make_brief
        from data.hierarchies import level_for
        from data.workspace import Workspace

        ws = Workspace(args.workspace)
        with _progress(args, "brief") as progress:
            paths = make_brief(ws, week=args.week, out=args.out, lang=args.lang,
                               level=level_for(ws, args.hierarchy, args.level), progress=progress)
        for p in (paths.values() if isinstance(paths, dict) else paths):
            print(p)
    elif cmd == "basemap":
        from data.tiles import set_basemap
        from data.workspace import Workspace

        print(set_basemap(Workspace(args.workspace), file=args.file, url=args.url, none=args.none,
                          attribution=args.attribution))
    elif cmd == "watch":
        return _watch(args)
    elif cmd == "notify":
        from analytics.service.notify import notify_warnings, send_test
        from data.workspace import Workspace

        ws = Workspace(args.workspace)
        ws.require(ws.config_path)
        result = send_test(ws) if args.test else notify_warnings(ws, dry_run=args.dry_run)
        print(result.summary())
        if args.dry_run:
            for m in result.messages:
                print(json.dumps(m["body"], ensure_ascii=False, indent=1))
        if args.test and any(not m["ok"] for m in result.messages):
            return 1
    elif cmd in ("user", "audit"):
        from data.accounts_cli import run_audit, run_user

        print(run_user(args) if cmd == "user" else run_audit(args))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pingan`` console script."""
    args = build_parser().parse_args(argv)
    try:
        code = _run(args)
        from data.accounts_cli import audit_command  # ingest, exports, briefing -> W/audit.log

        audit_command(args)
        return code
    except (ValueError, TypeError, FileNotFoundError, PermissionError, UnicodeDecodeError) as exc:
        # A user's mistake: one line naming the file / column / argument, exit 2.
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"pingan {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    if len(sys.argv) > 1:
        sys.exit(main())
    serve("workspace", demo=True)
