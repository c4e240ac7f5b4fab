"""模型评估 — the backtest table, PAI / hit-rate by share of area and the 90 % interval coverage
of every model, from a rolling-origin backtest on the workspace's incidents (run once by
analytics.backtest, cached in ``W/cache/backtest.json`` until the workspace changes).

The backtest runs as a background job (pages/_jobs.py) when the page opens: a progress bar with
the model and test period, 取消 to stop it, and a message if it fails (e.g. too few weeks)."""

from __future__ import annotations

import dash
from dash import Input, Output, dash_table, dcc, html

from analytics.present.i18n import t
from analytics.service import Service
from pages._common import card, empty_figure, graph_config, lang_of
from pages._evaluation_view import (
    backtest_table,
    col_name,
    coverage_figure,
    pai_figure,
)
from pages._job_works import backtest_prepare, backtest_work
from pages._jobs import job_controls, register_job

dash.register_page(__name__, path="/evaluation", name=t("nav.evaluation"), title=t("app.title"), order=3)


def layout(lang: str | None = None, **_query) -> html.Div:
    lang = lang_of(lang)
    return html.Div([
        dcc.Store(id="evaluation-trigger", data=0),
        html.Div(t("eval.running", lang), className="hint"),
        job_controls("evaluation", lang),
        card(t("eval.table", lang), html.Div(id="evaluation-table")),
        html.Div([
            html.Div([card(t("eval.pai", lang), _graph("evaluation-pai", lang))], className="col-map"),
            html.Div([card(t("eval.calibration", lang), _graph("evaluation-coverage", lang))], className="col-side"),
        ], className="row"),
    ])


def _graph(id: str, lang: str) -> dcc.Graph:
    # blank (no empty axes) until the job has run, and when it fails
    return dcc.Graph(id=id, figure=empty_figure(""), config=graph_config(lang))


def show(_svc: Service, result: dict, lang: str) -> tuple:
    """The finished backtest (from the worker) as the table and the two charts."""
    table = backtest_table(result, lang)
    return (dash_table.DataTable(id="evaluation-grid", data=table.to_dict("records"), sort_action="native",
                                 columns=[{"name": col_name(c, lang), "id": c} for c in table.columns],
                                 style_cell={"fontFamily": "Noto Sans CJK SC, sans-serif", "fontSize": 13}),
            pai_figure(result, lang), coverage_figure(result, lang))


register_job("evaluation", start=Input("evaluation-trigger", "data"), prepare=backtest_prepare,
             work=backtest_work, show=show, initial=True,
             outputs=[Output("evaluation-table", "children"), Output("evaluation-pai", "figure"),
                      Output("evaluation-coverage", "figure")])
