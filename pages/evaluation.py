"""模型评估 — the backtest table, PAI / hit-rate by share of area and the 90 % interval coverage
of every model, from a rolling-origin backtest on the workspace's incidents (run once by
analytics.backtest, cached in ``W/cache/backtest.json`` until the workspace changes)."""

from __future__ import annotations

import dash
from dash import Input, Output, State, callback, dash_table, dcc, html

from analytics.present.i18n import t
from pages._common import (
    LANG_STORE,
    card,
    empty_figure,
    graph_config,
    lang_of,
    refused,
    service,
)
from pages._evaluation_view import (
    backtest_table,
    col_name,
    coverage_figure,
    pai_figure,
)

dash.register_page(__name__, path="/evaluation", name=t("nav.evaluation"), title=t("app.title"), order=3)


def layout(lang: str | None = None, **_query) -> html.Div:
    lang = lang_of(lang)
    return html.Div([
        dcc.Store(id="evaluation-trigger", data=0),
        html.Div(t("eval.running", lang), className="hint"),
        card(t("eval.table", lang), dcc.Loading(html.Div(id="evaluation-table"))),
        html.Div([
            html.Div([card(t("eval.pai", lang), dcc.Graph(id="evaluation-pai", config=graph_config(lang)))],
                     className="col-map"),
            html.Div([card(t("eval.calibration", lang), dcc.Graph(id="evaluation-coverage", config=graph_config(lang)))],
                     className="col-side"),
        ], className="row"),
    ])


@callback(Output("evaluation-table", "children"), Output("evaluation-pai", "figure"),
          Output("evaluation-coverage", "figure"), Input("evaluation-trigger", "data"), State(LANG_STORE, "data"))
def show(_trigger, lang):
    lang = lang_of(lang)
    svc = service()
    if not svc.may("data"):
        msg = t("app.refused", lang)
        return refused(lang), empty_figure(msg), empty_figure(msg)
    result = svc.backtest()
    table = backtest_table(result, lang)
    return (dash_table.DataTable(id="evaluation-grid", data=table.to_dict("records"), sort_action="native",
                                 columns=[{"name": col_name(c, lang), "id": c} for c in table.columns],
                                 style_cell={"fontFamily": "Noto Sans CJK SC, sans-serif", "fontSize": 13}),
            pai_figure(result, lang), coverage_figure(result, lang))
