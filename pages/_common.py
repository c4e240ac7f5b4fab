"""Shared plumbing of the Dash pages: the service of the running app for the user asking,
figure styling and small layout pieces.

Pages reach the workspace only through :func:`service` — an :class:`analytics.service.Service`
bound to the signed-in user — which caches by workspace version and applies the user's area
scope; a page never reads files and never filters by itself.

Not a page (the leading underscore keeps Dash Pages from importing it as one).
"""

from __future__ import annotations

from typing import Any

import dash
import flask
import plotly.graph_objects as go
from dash import dcc, html

from analytics.present.i18n import DEFAULT_LANG, LANGS, label, plotly_locale, t
from analytics.present.palette import FONT_FAMILY, LEVEL_COLORS
from analytics.service import Service
from analytics.warning import LEVELS
from data.workspace import Workspace

__all__ = [
    "WS_KEY", "LANG_STORE", "service", "served_workspace", "lang_of", "graph_config",
    "base_layout", "layout_dict", "empty_figure", "level_colors", "control", "card",
    "not_ready", "refused", "dropdown", "set_fallback_workspace", "LEVELS", "LEVEL_COLORS", "FONT_FAMILY", "t",
    "label",
]

#: Flask config key holding the app's Workspace (set by app.create_app).
WS_KEY = "PINGAN_WORKSPACE"
#: id of the app-wide language store (dcc.Store, localStorage).
LANG_STORE = "app-lang"

_FALLBACK: dict[str, Workspace] = {}


def service() -> Service:
    """The workspace of the running app as the user of the current request may see it."""
    from pages._auth import current_user

    remote = (flask.request.remote_addr or "?") if flask.has_request_context() else "local"
    return Service(served_workspace(), current_user(), remote=remote)


def served_workspace() -> Workspace:
    """The workspace served by the current app (from the Flask app config)."""
    if flask.has_app_context() and WS_KEY in flask.current_app.config:
        return flask.current_app.config[WS_KEY]
    if "ws" in _FALLBACK:  # layouts built outside a request (Dash validation, scripts)
        return _FALLBACK["ws"]
    raise RuntimeError("no Pingan workspace configured: build the app with app.create_app(workspace)")


def set_fallback_workspace(ws: Workspace) -> None:
    """Remember ``ws`` for code that runs outside a request context."""
    _FALLBACK["ws"] = ws


def lang_of(value: object) -> str:
    """A valid language from the store value (default Chinese)."""
    return value if value in LANGS else DEFAULT_LANG


def graph_config(lang: str) -> dict:
    """dcc.Graph config: plotly locale (zh-CN vendored in assets/), no plotly cloud links."""
    # topojsonURL: plotly.js geo fetches a base map even when it is hidden; serve it locally.
    return {"locale": plotly_locale(lang), "displaylogo": False, "showLink": False,
            "topojsonURL": dash.get_asset_url("vendor/topojson/")}


def base_layout(fig: go.Figure, *, dark: bool = False, height: int | None = None) -> go.Figure:
    """House style: CJK font, tight margins, transparent background."""
    fig.update_layout(
        font={"family": FONT_FAMILY, "size": 13, "color": "#e8eef5" if dark else "#1f2933"},
        margin={"l": 8, "r": 8, "t": 36, "b": 8},
        paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
        hoverlabel={"font": {"family": FONT_FAMILY}},
        legend={"orientation": "h", "y": -0.12},
    )
    if height:
        fig.update_layout(height=height)
    return fig


def layout_dict(*, dark: bool = False, height: int | None = None) -> dict:
    """The house-style layout of :func:`base_layout` as a plain dict (for figure dicts)."""
    out = {
        "font": {"family": FONT_FAMILY, "size": 13, "color": "#e8eef5" if dark else "#1f2933"},
        "margin": {"l": 8, "r": 8, "t": 36, "b": 8},
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
        "hoverlabel": {"font": {"family": FONT_FAMILY}},
    }
    if height:
        out["height"] = height
    return out


def empty_figure(text: str, *, dark: bool = False) -> go.Figure:
    """A blank figure carrying one message (no data, module missing …)."""
    fig = go.Figure()
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"size": 16})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return base_layout(fig, dark=dark)


def level_colors() -> dict[str, str]:
    return dict(LEVEL_COLORS)


def control(title: str, component, *, width: str | None = None) -> html.Div:
    """A labelled control in the page's control bar."""
    style = {"minWidth": width} if width else None
    return html.Div([html.Label(title, className="ctl-label"), component], className="ctl", style=style)


def card(title: str, body, *, id: str | None = None, className: str = "", title_id: str | None = None) -> html.Div:
    kw = {"id": id} if id else {}
    head = html.H3(title, className="card-title", **({"id": title_id} if title_id else {}))
    return html.Div([head, body], className=f"card {className}", **kw)


def not_ready(what: str, lang: str) -> html.Div:
    return html.Div(t("app.not_ready", lang, what=what), className="not-ready")


def refused(lang: str) -> html.Div:
    """What a page shows where the user's role or area scope does not reach."""
    return html.Div(t("app.refused", lang), className="not-ready")


def dropdown(id: str, options: list[tuple[str, str]], value: Any, *, clearable: bool = False,
             multi: bool = False) -> dcc.Dropdown:
    return dcc.Dropdown(id=id, options=[{"label": lab, "value": v} for v, lab in options],
                        value=value, clearable=clearable, multi=multi, className="dd")
