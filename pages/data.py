"""数据 — workspace summary (rows, dates, layers, attribution), the quarantine with reasons, and
an upload of the next week's file through the same ingest_files + refresh as the CLI."""

from __future__ import annotations

import dash
import pandas as pd
from dash import Input, Output, State, callback, dash_table, dcc, html

from analytics.present.i18n import TEXT, label, t
from analytics.service import ScopeError
from pages._common import LANG_STORE, card, lang_of, refused, service

dash.register_page(__name__, path="/data", name=t("nav.data"), title=t("app.title"), order=4)

_QUARANTINE_ROWS = 500


def layout(lang: str | None = None, **_query) -> html.Div:
    lang = lang_of(lang)
    svc = service()
    if not svc.may("data"):
        return refused(lang)
    upload = ([dcc.Input(id="data-as-of", type="text", placeholder=t("data.as_of_hint", lang), debounce=True,
                         style={"width": "100%"}),
               dcc.Upload(id="data-upload", children=html.Div(t("data.upload_hint", lang)), className="upload",
                          multiple=False)] if svc.may("upload") else [])
    return html.Div([
        html.Div([
            html.Div([card(t("data.summary", lang), html.Div(id="data-summary"))], className="col-side"),
            html.Div([card(t("data.upload", lang), html.Div([
                *upload,
                dcc.Loading(html.Div(id="data-upload-result", className="status")),
            ]))], className="col-map"),
        ], className="row"),
        card(t("data.quarantine", lang), html.Div([
            html.Div([html.Button(t("export.xlsx", lang), id="data-export", n_clicks=0, className="btn"),
                      dcc.Download(id="data-export-file")], className="row export-row"),
            html.Div(id="data-quarantine")])),
    ])


@callback(Output("data-summary", "children"), Output("data-quarantine", "children"),
          Input("data-upload-result", "children"), State(LANG_STORE, "data"))
def summary(_result, lang):
    lang = lang_of(lang)
    svc = service()
    try:
        return ([summary_list(svc.summary(), lang), period_note(svc, lang)],
                quarantine_tables(svc.quarantine(), lang))
    except ScopeError:
        return refused(lang), []


@callback(Output("data-upload-result", "children"), Input("data-upload", "contents"),
          State("data-upload", "filename"), State("data-as-of", "value"), State(LANG_STORE, "data"),
          prevent_initial_call=True)
def upload(contents, filename, as_of, lang):
    lang = lang_of(lang)
    if contents is None:
        return dash.no_update
    try:
        report = service().upload(contents, filename, as_of=(as_of or "").strip() or None)
    except ScopeError:
        return refused(lang)
    except (ValueError, UnicodeDecodeError) as exc:  # the user's file: say what is wrong with it
        return html.Div([html.Strong(t("data.upload_failed", lang)), html.Span(str(exc).splitlines()[0])],
                        className="not-ready", id="data-upload-error")
    return html.Div([
        html.Div(t("data.accepted", lang, used=f"{report.rows_used:,}", quarantined=f"{report.rows_quarantined:,}",
                   rows=f"{report.rows_in:,}"), id="data-upload-counts"),
        html.Pre(report.summary(), className="hint"),
    ])


def summary_list(info: dict, lang: str) -> html.Dl:
    """Rows, date range, layers with area counts, attribution (from ``Service.summary``)."""
    layers = ", ".join(f"{label(x, lang)} {n:,}" for x, n in info["layers"].items())
    items = [
        (t("data.incidents", lang), f"{info['incidents']:,}"),
        (t("data.quarantined", lang), f"{info['quarantined']:,}"),
        (t("data.date_range", lang), f"{info['first']:%Y-%m-%d} ~ {info['last']:%Y-%m-%d}"
         if info["first"] is not None else "—"),
        (t("data.layers", lang), layers or "—"),
        (t("app.attribution", lang), info["attribution"] or "—"),
    ]
    children = []
    for k, v in items:
        children += [html.Dt(k), html.Dd(v)]
    return html.Dl(children, className="summary-grid", id="data-summary-list")


def period_note(svc, lang: str) -> html.Div:
    """The data's as-of time, reporting lag and latest complete week; a warning naming gaps."""
    try:
        as_of, latest = svc.as_of(), svc.latest_period("W")
    except ValueError:  # no incidents or no complete week yet: the summary says so
        return html.Div()
    lag = svc.ws.config.reporting_lag / pd.Timedelta(days=1)
    kids = [html.Div(t("board.complete_note", lang, period=f"{latest:%Y-%m-%d}",
                       as_of=f"{as_of:%Y-%m-%d %H:%M}", lag=f"{lag:g}"), className="hint", id="data-as-of")]
    gaps = svc.gaps("W")
    if len(gaps):
        days = ", ".join(f"{d:%Y-%m-%d}" for d in gaps["period"])
        kids.append(html.Div(t("board.gap_warning", lang, periods=days), className="not-ready", id="data-gaps"))
    return html.Div(kids)


def quarantine_tables(q: pd.DataFrame, lang: str) -> html.Div:
    """Counts by reason, then the first rows with their original values."""
    if q.empty:
        return html.Div(t("app.no_data", lang), className="hint")
    resolved = q["resolved"].to_numpy(bool) if "resolved" in q else None
    open_rows = q[~resolved] if resolved is not None else q
    by = open_rows["reason"].astype(str).value_counts().rename_axis("reason").reset_index(name="rows")
    by["reason_label"] = [label(r, lang) for r in by["reason"]]
    # rows still to fix first; those a later file brought in are marked, not hidden
    head = pd.concat([open_rows, q[resolved]] if resolved is not None else [q]).head(_QUARANTINE_ROWS)
    if resolved is not None:
        head = head.assign(resolved=[t("data.resolved_yes", lang) if v else "" for v in head["resolved"]])
    head = head.astype("string").fillna("")
    style = {"fontFamily": "Noto Sans CJK SC, sans-serif", "fontSize": 13, "textAlign": "left"}
    n_resolved = int(resolved.sum()) if resolved is not None else 0
    return html.Div([
        html.Div(t("data.resolved", lang, n=f"{n_resolved:,}"), className="hint", id="data-resolved")
        if n_resolved else html.Div(),
        dash_table.DataTable(id="data-reasons", data=by.to_dict("records"), style_cell=style,
                             columns=[{"name": t("col.reason", lang), "id": "reason_label"},
                                      {"name": t("col.reason_code", lang), "id": "reason"},
                                      {"name": t("col.rows", lang), "id": "rows"}]),
        html.Br(),
        dash_table.DataTable(id="data-quarantine-table", data=head.to_dict("records"), page_size=15,
                             columns=[{"name": t(f"col.{c}", lang) if f"col.{c}" in TEXT else c, "id": c}
                                      for c in head.columns], style_cell=style,
                             style_table={"overflowX": "auto"}, sort_action="native"),
    ])


@callback(Output("data-export-file", "data"), Input("data-export", "n_clicks"), prevent_initial_call=True)
def export_quarantine(n):
    """Every quarantined row with its reason, for the office to fix and send again."""
    if not n:
        return dash.no_update
    svc = service()
    try:
        name, data = svc.export(svc.quarantine(), "quarantine", "xlsx")
    except ScopeError:
        return dash.no_update
    return dcc.send_bytes(data, name)
