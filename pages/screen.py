"""大屏 — big-screen mode: full screen, dark, large type, rotating through the levels
(区 → 街道 → 社区 → 网格) of the latest period with a dcc.Interval."""

from __future__ import annotations

import dash
import pandas as pd
from dash import Input, Output, State, callback, dcc, html

from analytics.present.i18n import label, t
from pages._board_view import board_frame, kpi_tiles, legend
from pages._common import (
    LANG_STORE,
    empty_figure,
    graph_config,
    lang_of,
    service,
)
from pages._maps import level_map

dash.register_page(__name__, path="/screen", name=t("nav.screen"), title=t("app.title"), order=5)

#: Seconds each level stays on the wall.
ROTATE_SECONDS = 15


def layout(lang: str | None = None, **_query) -> html.Div:
    lang = lang_of(lang)
    svc = service()
    return html.Div([
        dcc.Interval(id="screen-interval", interval=ROTATE_SECONDS * 1000, n_intervals=0),
        html.Div([dcc.Link("×", href="/", className="screen-exit", title=t("nav.board", lang))],
                 style={"textAlign": "right"}),
        html.H1(f"{svc.city} · {t('screen.title', lang)}", className="screen-title"),
        html.Div(id="screen-sub", className="screen-sub"),
        html.Div(id="screen-kpis", className="kpis"),
        html.Div(id="screen-legend", className="legend", style={"justifyContent": "center"}),
        dcc.Graph(id="screen-map", config={**graph_config(lang), "displayModeBar": False},
                  style={"height": "68vh"}),
    ], className="screen")


@callback(Output("screen-map", "figure"), Output("screen-legend", "children"),
          Output("screen-sub", "children"), Output("screen-kpis", "children"),
          Input("screen-interval", "n_intervals"), State(LANG_STORE, "data"))
def rotate(n, lang):
    lang = lang_of(lang)
    svc = service()
    layers = svc.admin_layers()
    if not layers:
        return empty_figure(t("app.no_data", lang), dark=True), [], "", []
    layer = layers[(n or 0) % len(layers)]
    period = str(pd.Timestamp(svc.latest_period("W")).date())
    shown, frame = board_frame(svc, layer, [], period, "W", None, "alert")
    fig = level_map(svc.layer_geojson(shown), frame, lang, dark=True, height=None, labels=len(frame) <= 40)
    sub = f"{period} · {t('screen.rotating', lang, layer=label(shown, lang))}"
    kpis = kpi_tiles(svc.kpis(period, "W", None, layer), lang)
    return fig, legend(frame, lang), sub, kpis
