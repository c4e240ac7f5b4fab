"""大屏 — the wall screen: one designed 1920×1080 view (scales to 3840×2160, no scrollbar at
1366×768) that a leader reads from five metres: city and 第N周, the KPIs with 同比/环比 and the
chance figures, the four-colour map rotating through the levels (区 → 街道 → 社区 → 网格), the
named red/orange list with reasons (kept while the map rotates), the 12-week city trend beside last
year, and the monthly ranking (一月一排位)."""

from __future__ import annotations

import dash
import numpy as np
import pandas as pd
from dash import Input, Output, State, callback, dcc, html

from analytics.present.i18n import label, t
from analytics.service.ranking import change_text
from pages._board_view import alert_list, board_frame, board_kpis, kpi_tiles, legend
from pages._common import (
    LANG_STORE,
    LEVEL_COLORS,
    empty_figure,
    graph_config,
    lang_of,
    layout_dict,
    service,
)
from pages._maps import background, level_map

dash.register_page(__name__, path="/screen", name=t("nav.screen"), title=t("app.title"), order=5)

#: Seconds each level stays on the wall.
ROTATE_SECONDS = 15
#: Rows of the monthly ranking and lines of the red/orange list on the wall.
RANK_ROWS = 8
ALERT_ROWS = 10


def layout(lang: str | None = None, **_query) -> html.Div:
    lang = lang_of(lang)
    svc = service()
    return html.Div([
        dcc.Interval(id="screen-interval", interval=ROTATE_SECONDS * 1000, n_intervals=0),
        html.Header([
            html.Div([html.Span(svc.city, className="screen-city"),
                      html.Span(t("screen.title", lang), className="screen-title")], className="screen-head"),
            html.Div(id="screen-sub", className="screen-sub"),
            dcc.Link("×", href="/", className="screen-exit", title=t("nav.board", lang)),
        ], className="screen-top"),
        html.Div(id="screen-kpis", className="screen-kpis"),
        html.Div([
            html.Section([html.H2(t("board.alerts", lang), className="screen-h"),
                          html.Div(id="screen-alerts", className="screen-scroll")], className="screen-panel"),
            html.Section([
                html.Div(id="screen-legend", className="legend screen-legend"),
                dcc.Graph(id="screen-map", config={**graph_config(lang), "displayModeBar": False},
                          className="screen-map", responsive=True),
            ], className="screen-panel screen-center"),
            html.Section([
                html.H2(t("screen.trend", lang), className="screen-h"),
                dcc.Graph(id="screen-trend", config={"displayModeBar": False, "staticPlot": True},
                          className="screen-trend", style={"height": "24vh"}, responsive=True),
                html.H2(id="screen-rank-title", className="screen-h"),
                html.Div(id="screen-rank", className="screen-rank"),
            ], className="screen-panel"),
        ], className="screen-main"),
    ], className="screen")


@callback(Output("screen-map", "figure"), Output("screen-legend", "children"),
          Output("screen-sub", "children"), Output("screen-kpis", "children"),
          Output("screen-alerts", "children"), Output("screen-trend", "figure"),
          Output("screen-rank", "children"), Output("screen-rank-title", "children"),
          Input("screen-interval", "n_intervals"), State(LANG_STORE, "data"))
def rotate(n, lang):
    lang = lang_of(lang)
    svc = service()
    layers = svc.admin_layers()
    if not layers:
        blank = empty_figure(t("app.no_data", lang), dark=True)
        return blank, [], "", [], [], blank, [], ""
    # start on the overview level (街道), then rotate through the others
    start = layers.index(svc.overview_level()) if svc.overview_level() in layers else 0
    layer = layers[(start + (n or 0)) % len(layers)]
    period = pd.Timestamp(svc.latest_period("W"))
    day = str(period.date())
    shown, frame = board_frame(svc, layer, [], day, "W", None, "alert")
    fig = level_map(svc.layer_geojson(shown), frame, lang, dark=True, height=None, labels=len(frame) <= 40,
                    basemap=background(svc))
    values = board_kpis(svc, shown, [], day, "W", None, "alert", frame)
    # the wall names the model in one short line under the week; the board's longer note (how
    # it was chosen) would push the KPI numbers out of their row at 1366×768
    model = values.get("model")
    sub = [html.Span(week_title(period, lang), className="screen-week"),
           html.Span(t("screen.rotating", lang, layer=label(shown, lang)), className="screen-rotating")]
    if model:
        sub.append(html.Span(t("board.model", lang, model=t(f"brief.model.{model}", lang)),
                             className="screen-rotating", id="screen-model"))
    kpis = kpi_tiles({**values, "model_note": None}, lang)
    alerts = alert_list(svc.alerts(day, "W", None), lang, limit=ALERT_ROWS)
    rank, rank_title = monthly_ranking(svc, lang)
    return (fig, legend(frame, lang), sub, kpis, alerts, trend_figure(svc.recent_totals(12), lang),
            rank, rank_title)


def week_title(period: pd.Timestamp, lang: str) -> str:
    """「2026年第48周（11-23至11-29）」: the ISO week number and its dates."""
    end = period + pd.Timedelta(days=6)
    iso = period.isocalendar()
    return t("screen.week", lang, year=iso.year, n=iso.week, start=f"{period:%m-%d}", end=f"{end:%m-%d}")


def trend_figure(totals: pd.DataFrame, lang: str) -> dict:
    """Weekly cases of the last 12 weeks (bars) against the same weeks last year (line)."""
    x = [f"{p.month}/{p.day}" for p in pd.to_datetime(totals["period"])]
    data = [{"type": "bar", "x": x, "y": totals["observed"].to_numpy(), "name": t("screen.this_year", lang),
             "marker": {"color": "#4f8fd6"}}]
    if totals["last_year"].notna().any():
        data.append({"type": "scatter", "x": x, "y": totals["last_year"].to_numpy(), "mode": "lines+markers",
                     "name": t("screen.last_year", lang), "line": {"color": "#f2c14e", "dash": "dot", "width": 3}})
    layout = layout_dict(dark=True)
    layout.update(margin={"l": 40, "r": 10, "t": 28, "b": 26}, showlegend=True, bargap=0.25,
                  legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1, "xanchor": "right",
                          "font": {"size": 13}, "bgcolor": "rgba(0,0,0,0)"},
                  xaxis={"tickfont": {"size": 12}, "gridcolor": "#1f3a5c", "type": "category", "tickangle": 0,
                         "nticks": 6},
                  yaxis={"tickfont": {"size": 12}, "gridcolor": "#1f3a5c", "rangemode": "tozero"})
    return {"data": data, "layout": layout}


def monthly_ranking(svc, lang: str) -> tuple[html.Table | html.Div, str]:
    """一月一排位: the overview level's latest complete month, in the office's order (``[board]
    rank_by``: warning level, cases or 万人发案率), with last month's rank as ↑↓ / 新进."""
    level = svc.overview_level()
    by = svc.ws.config.board.get("rank_by", "count")
    try:
        table = svc.ranking(level=level, freq="M", by=by, top=RANK_ROWS)
    except ValueError:  # less than three months of data
        return html.Div(t("app.no_data", lang), className="hint"), t("screen.ranking", lang, month="")
    month = pd.Timestamp(table.attrs["period"]) if table.attrs.get("period") is not None else None
    rows = [html.Tr([html.Td(int(r.rank), className="screen-rank-n"),
                     html.Td(change_text(r.change, r.new, lang), className=_move_class(r.change, r.new)),
                     html.Td(str(r.name), title=str(r.name)),
                     html.Td(f"{int(r.observed)}", className="screen-num"),
                     html.Td("—" if not np.isfinite(r.rate) else f"{r.rate:.2f}", className="screen-num"),
                     html.Td(_change(r.yoy), className="screen-num"),
                     html.Td(html.Span(label(str(r.level), lang), className="screen-badge",
                                       style={"background": LEVEL_COLORS[str(r.level)]}))])
            for r in table.head(RANK_ROWS).itertuples()]
    head = html.Tr([html.Th(t(f"col.{c}", lang)) for c in ("rank", "change", "name", "observed", "rate", "yoy",
                                                           "level")])
    title = t("screen.ranking", lang, month=f"{month:%Y-%m}" if month is not None else "")
    return html.Table([html.Thead(head), html.Tbody(rows)], className="screen-table"), title


def _move_class(change, new) -> str:
    """Up (worse: more cases) in red, down in green, 新进 in amber, on the wall."""
    if bool(new):
        return "screen-move screen-move-new"
    if change is None or pd.isna(change) or int(change) == 0:
        return "screen-move"
    return "screen-move screen-move-up" if int(change) > 0 else "screen-move screen-move-down"


def _change(x) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{x:+.0%}"
