"""趋势 — time series per area and category with the expected band and warning markers, this
year vs last year, hour × weekday heat map and the CompStat comparison."""

from __future__ import annotations

import dash
from dash import Input, Output, State, callback, dash_table, dcc, html

from analytics.present.i18n import label, t
from analytics.service import ScopeError
from analytics.service.incidents import area_incidents, compstat, filter_incidents
from pages._common import (
    LANG_STORE,
    card,
    control,
    dropdown,
    empty_figure,
    graph_config,
    lang_of,
    service,
)
from pages._trends_view import (
    band_figure,
    compstat_labels,
    heatmap_figure,
    year_figure,
)

dash.register_page(__name__, path="/trends", name=t("nav.trends"), title=t("app.title"), order=2)


def layout(lang: str | None = None, area: str | None = None, **_query) -> html.Div:
    lang = lang_of(lang)
    svc = service()
    layers = svc.admin_layers()
    cats = svc.category_choices()
    return html.Div([
        html.Div([
            control(t("ctl.level", lang), dropdown("trend-layer", [(x, label(x, lang)) for x in layers], layers[0])),
            control(t("ctl.area", lang), dcc.Dropdown(id="trend-area", className="dd", clearable=False),
                    width="220px"),
            control(t("ctl.category", lang), dropdown("trend-category", [(c, label(c, lang)) for c in cats], cats[0])),
            control(t("ctl.freq", lang), dcc.RadioItems(
                id="trend-freq", options=[{"label": t(f"freq.{f}", lang), "value": f} for f in ("W", "M")],
                value="W", inline=True, className="radio")),
        ], className="controls"),
        card(t("trend.series", lang), dcc.Loading(dcc.Graph(id="trend-series", config=graph_config(lang)))),
        html.Div([
            html.Div([card(t("trend.yoy_chart", lang), dcc.Graph(id="trend-yoy", config=graph_config(lang)))],
                     className="col-map"),
            html.Div([card(t("trend.heatmap", lang), dcc.Graph(id="trend-heatmap", config=graph_config(lang)))],
                     className="col-side"),
        ], className="row"),
        card(t("trend.compstat", lang), html.Div(id="trend-compstat")),
    ])


@callback(Output("trend-area", "options"), Output("trend-area", "value"), Input("trend-layer", "value"))
def area_options(layer):
    try:
        table = service().layer_table(layer)
    except ScopeError:
        return [], None
    return ([{"label": f"{n}（{a}）", "value": a} for a, n in zip(table["area_id"], table["name"])],
            str(table["area_id"].iloc[0]) if len(table) else None)


@callback(Output("trend-series", "figure"), Input("trend-area", "value"), Input("trend-category", "value"),
          Input("trend-freq", "value"), State(LANG_STORE, "data"))
def series(area_id, category, freq, lang):
    lang = lang_of(lang)
    if area_id is None:
        return empty_figure(t("app.no_data", lang))
    try:
        tr = service().trend(area_id, category, freq, 104 if freq == "W" else 36)
    except ScopeError:
        return empty_figure(t("app.refused", lang))
    return band_figure(tr, lang)


@callback(Output("trend-yoy", "figure"), Output("trend-heatmap", "figure"), Output("trend-compstat", "children"),
          Input("trend-area", "value"), Input("trend-category", "value"), State("trend-layer", "value"),
          State(LANG_STORE, "data"))
def comparisons(area_id, category, layer, lang):
    lang, svc = lang_of(lang), service()
    try:
        area_id = svc.check_area(area_id, layer) if area_id else None
        area_of = svc.area_of_incident(layer)
    except ScopeError:
        area_id, area_of = None, None
    frame = svc.incidents()
    members = svc.members(category, frame["category"].unique())
    mask = filter_incidents(frame, categories=members) & area_incidents(frame, area_of, area_id)
    sel = frame.loc[mask.to_numpy(), ["date", "hour", "weekday"]]
    end = frame["date"].max()
    table = compstat_labels(compstat(sel, end), lang)
    cols = [{"name": t("trend.window", lang), "id": "window"}, {"name": t("trend.current", lang), "id": "current"},
            {"name": t("trend.compare", lang), "id": "compare"},
            {"name": t("trend.change", lang), "id": "change", "type": "numeric",
             "format": dash_table.FormatTemplate.percentage(1)}]
    records = table.astype(object).where(table.notna(), None).to_dict("records")
    return (year_figure(sel, end, lang, start=frame["date"].min()), heatmap_figure(sel, lang),
            dash_table.DataTable(id="trend-compstat-table", data=records, columns=cols,
                                 style_cell={"fontFamily": "Noto Sans CJK SC, sans-serif", "fontSize": 14}))
