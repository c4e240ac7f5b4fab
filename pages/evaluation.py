"""模型评估 — every model's backtest on the workspace's incidents for a category (全部 or a group
of the board) and a test span (12 / 26 / 52 weeks): the table with the best candidate marked
(★, the board's model for that category), PAI by share of area and 90 % interval coverage, and
which model the board uses and from which evaluation.

A result stored for the request and this version of the data
(:func:`analytics.service.evaluation.stored_evaluation`) is shown at once, without a worker.
Otherwise the backtest runs as a background job (pages/_jobs.py) — when the page opens, or on
运行评估 for another category or span: a progress bar with the model and test week, 取消 to stop
it, a message if it fails (e.g. too few weeks). Its result is stored; at 26 weeks it also updates
the board's model choice. Only roles that may see the data (``data``) evaluate.
"""

from __future__ import annotations

import dash
from dash import Input, Output, State, callback, ctx, dash_table, dcc, html, no_update

from analytics.present.i18n import label, t
from analytics.service import Service
from analytics.service.evaluation import ALL, CHOICE_WEEKS, SPANS, canonical_name, stored_evaluation
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
from pages._evaluation_view import (
    backtest_table,
    col_name,
    coverage_figure,
    pai_figure,
    status_lines,
)
from pages._job_works import evaluation_prepare, evaluation_work
from pages._jobs import job_controls, register_job

dash.register_page(__name__, path="/evaluation", name=t("nav.evaluation"), title=t("app.title"), order=3)


def layout(lang: str | None = None, **_query) -> html.Div:
    lang = lang_of(lang)
    groups = _groups(service())
    return html.Div([
        dcc.Store(id="evaluation-trigger", data=0),
        html.Div(t("eval.running", lang), className="hint"),
        html.Div([
            control(t("eval.category", lang),
                    dropdown("evaluation-category", [(g, label(g, lang)) for g in groups], groups[0])),
            control(t("eval.weeks", lang), dcc.RadioItems(
                id="evaluation-weeks", value=CHOICE_WEEKS, inline=True, className="radio",
                options=[{"label": t("eval.weeks_option", lang, n=n), "value": n} for n in SPANS])),
            html.Button(t("eval.run", lang), id="evaluation-run", n_clicks=0, className="btn"),
        ], className="controls"),
        job_controls("evaluation", lang),
        html.Div(id="evaluation-note", className="hint"),
        card(t("eval.table", lang), html.Div(id="evaluation-table")),
        html.Div([
            html.Div([card(t("eval.pai", lang), _graph("evaluation-pai", lang))], className="col-map"),
            html.Div([card(t("eval.calibration", lang), _graph("evaluation-coverage", lang))], className="col-side"),
        ], className="row"),
    ])


def _groups(svc: Service) -> list[str]:
    """全部 and the taxonomy's groups the board offers (read from the counts, not the incidents)."""
    groups = set(svc.ws.config.taxonomy.groups)
    return [c for c in svc.category_choices() if c == ALL or c in groups] or [ALL]


def _graph(id: str, lang: str) -> dcc.Graph:
    # blank (no empty axes) until a result is shown, and when the job fails
    return dcc.Graph(id=id, figure=empty_figure(""), config=graph_config(lang))


def show(svc: Service, result: dict, lang: str, category=None, weeks=None) -> tuple:
    """A finished evaluation as the note, the table and the two charts.

    ``category``/``weeks``: the selectors when a job finishes. If the user has meanwhile chosen
    another category or span, the view stays as it is and the note says the result is ready
    (it is stored: choosing it again shows it at once).
    """
    if category is not None or weeks is not None:
        asked = (canonical_name(category if isinstance(category, str) else None),
                 weeks if isinstance(weeks, int) and not isinstance(weeks, bool) else None)
        done = (result.get("category"), result.get("_weeks"))
        if asked != done:
            svc.require("data")
            try:
                current = stored_evaluation(svc.ws, asked[0], asked[1] or CHOICE_WEEKS)
            except ValueError:
                current = None
            if current is not None:  # the user looks at a stored result: it stays
                return show(svc, current, lang)
            # what the user now looks at has no result yet; the other one is ready
            ready = t("eval.finished_other", lang, category=label(str(done[0]), lang), n=done[1])
            none = t("eval.none_yet", lang, category=label(asked[0], lang), n=asked[1] or CHOICE_WEEKS)
            return (html.Div([html.Div(none), html.Div(ready, id="evaluation-finished-other")]),
                    no_update, no_update, no_update)
    table = backtest_table(result, lang)
    grid = dash_table.DataTable(
        id="evaluation-grid", data=table.to_dict("records"), sort_action="native",
        columns=[{"name": col_name(c, lang), "id": c} for c in table.columns],
        style_cell={"fontFamily": "Noto Sans CJK SC, sans-serif", "fontSize": 13},
        style_data_conditional=[{"if": {"filter_query": '{best} = "★"'}, "fontWeight": "bold",
                                 "backgroundColor": "#fff4d6"}])
    return (status_lines(svc.ws, result, lang), grid, pai_figure(result, lang),
            coverage_figure(result, lang))


@callback(Output("evaluation-note", "children", allow_duplicate=True),
          Output("evaluation-table", "children", allow_duplicate=True),
          Output("evaluation-pai", "figure", allow_duplicate=True),
          Output("evaluation-coverage", "figure", allow_duplicate=True),
          Output("evaluation-trigger", "data"),
          Input("evaluation-category", "value"), Input("evaluation-weeks", "value"),
          Input("evaluation-run", "n_clicks"), State("evaluation-trigger", "data"),
          State(LANG_STORE, "data"), prevent_initial_call="initial_duplicate")
def stored_or_start(category, weeks, _run, trigger, lang):
    """A stored result for the request is shown at once. Otherwise the job starts when the page
    opens (the default request is the one ``pingan watch`` evaluates every week) or on 运行评估;
    another category or span only says there is no result yet, so trying a few settings does
    not start a worker for each."""
    lang = lang_of(lang)
    svc = service()
    start = int(trigger or 0) + 1 if isinstance(trigger, int) else 1
    if ctx.triggered_id == "evaluation-run":
        return no_update, no_update, no_update, no_update, start
    try:
        weeks = int(weeks or CHOICE_WEEKS)  # from the browser: checked, as the category is
        svc.require("data")
        result = stored_evaluation(svc.ws, category, weeks)
    except (PermissionError, ValueError, TypeError):  # the job's prepare says why, in words
        result = None
    if result is not None:
        return *show(svc, result, lang), no_update
    blank = empty_figure("")
    if ctx.triggered_id is None:  # the page opens
        return "", None, blank, blank, start
    note = t("eval.none_yet", lang, category=label(category or ALL, lang), n=weeks)
    return html.Div(note, id="evaluation-none"), None, blank, blank, no_update


register_job("evaluation", start=Input("evaluation-trigger", "data"), prepare=evaluation_prepare,
             work=evaluation_work,
             show=show, show_state=True,
             state=[State("evaluation-category", "value"), State("evaluation-weeks", "value")],
             outputs=[Output("evaluation-note", "children"), Output("evaluation-table", "children"),
                      Output("evaluation-pai", "figure"), Output("evaluation-coverage", "figure")])
