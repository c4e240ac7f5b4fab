"""平安预警 — the Dash app: warning board, big screen, hotspots, trends, evaluation, data.

``create_app(workspace)`` builds the app for one workspace (tests start it with dash_duo);
``serve(...)`` builds the demo workspace if it is missing and serves on loopback. Everything
is served from ``assets/`` and the installed packages: no CDN, no web fonts, no map tiles.

Run ``python app.py`` (demo workspace) or ``pingan serve --workspace W``.
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import dash
from dash import Input, Output, State, dcc, html

from analytics.present.i18n import DEFAULT_LANG, t
from data.workspace import Workspace
from pages._common import LANG_STORE, WS_KEY, lang_of, set_fallback_workspace

__all__ = ["create_app", "serve", "warm_up", "NAV"]

HERE = Path(__file__).resolve().parent

#: (i18n key, path) of the navigation bar, in order.
NAV: tuple[tuple[str, str], ...] = (
    ("nav.board", "/"),
    ("nav.hotspots", "/hotspots"),
    ("nav.trends", "/trends"),
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
    )
    app.server.config[WS_KEY] = ws
    set_fallback_workspace(ws)
    app.layout = _layout(ws)
    _register_shell_callbacks(app)
    return app


def serve(workspace: str | Path = "workspace", host: str = "127.0.0.1", port: int = 8050,
          debug: bool = False) -> None:
    """Serve the board for ``workspace``, building the demo city first if it is missing.

    Listens on loopback unless another ``host`` is asked for explicitly (then warns: the board
    shows incident locations and must not be exposed by accident).
    """
    ws = Workspace(workspace)
    if not ws.exists():
        from data.demo import build_demo

        print(f"{ws.path}: no workspace yet, building the demo city ...", flush=True)
        build_demo(str(ws.path))
    if not _is_loopback(host):
        print(f"WARNING: serving on {host}:{port} — reachable from other machines; "
              "incident locations are sensitive. Use 127.0.0.1 unless that is intended.",
              file=sys.stderr, flush=True)
    app = create_app(ws)
    warm_up(ws)
    print(f"Pingan: http://{host}:{port}/  (workspace {ws.path})", flush=True)
    app.run(host=host, port=port, debug=debug)


def warm_up(ws: Workspace) -> list[str]:
    """Compute the board's default view (coarsest and finest admin layers) before serving.

    The first visitor then gets the board from the cache instead of waiting for the first
    warning table to be fitted (on the demo city the first page load drops from about 4.6 s
    to 2.3 s with an empty browser cache). Returns the layers warmed.
    """
    from analytics.service import board
    from analytics.service import maps as mapdata

    layers = ws.layers()
    if not layers:
        return []
    warmed = list(dict.fromkeys([layers[0], board.default_level(ws)]))
    for layer in warmed:
        board.warning_table(ws, level=layer)
        board.kpis(ws, level=layer)
        mapdata.layer_geojson(ws, layer)
        mapdata.layer_table(ws, layer)
    return warmed


def _layout(ws: Workspace) -> html.Div:
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


if __name__ == "__main__":
    serve("workspace")
