"""数据 — workspace summary (rows, dates, layers, attribution), the quarantine with every fault of
each row in the reader's language, and an upload of the next week's file: the CLI's options
(coordinate system, columns, encoding, sheet/layer, centroids), a preview of the first rows and
of what would be quarantined (a dry run of the same ingest, nothing written), then the commit
through the same ``ingest_files`` + refresh as ``pingan ingest``, with a visible result or error."""

from __future__ import annotations

import json

import dash
import pandas as pd
from dash import Input, Output, State, callback, dash_table, dcc, html

from analytics.present.i18n import TEXT, label, t
from analytics.service import ScopeError
from pages._common import LANG_STORE, card, control, dropdown, lang_of, refused, service
from pages._jobs import JobFailed, job_controls, register_job

dash.register_page(__name__, path="/data", name=t("nav.data"), title=t("app.title"), order=4)

__all__ = ["layout", "upload", "upload_options", "upload_prepare", "upload_work", "upload_show", "reason_text",
           "render_reasons", "note_lines", "quarantine_tables", "summary_list", "period_note"]

_QUARANTINE_ROWS = 500
_PREVIEW_SHOWN = 10
_COORDS = ("wgs84", "gcj02", "bd09", "epsg")
_ENCODINGS = (("auto", "auto"), ("gb18030", "gb18030"), ("big5", "big5"), ("utf-8", "utf8"), ("utf-16", "utf16"))
#: Mapping controls: (component id suffix, i18n key suffix); "time" joins occurred_at=DATE+TIME.
_MAPS = (("occurred_at", "occurred_at"), ("time", "occurred_time"), ("category", "category"), ("lon", "lon"),
         ("lat", "lat"), ("incident_id", "incident_id"))
_OPTION_IDS = ("data-coords", "data-epsg", "data-encoding", "data-sheet", "data-centroids",
               *(f"data-map-{k}" for k, _ in _MAPS))
_STYLE = {"fontFamily": "Noto Sans CJK SC, sans-serif", "fontSize": 13, "textAlign": "left"}


def layout(lang: str | None = None, **_query) -> html.Div:
    lang = lang_of(lang)
    svc = service()
    if not svc.may("data"):
        return refused(lang)
    upload = _upload_controls(lang) if svc.may("upload") else []
    return html.Div([
        html.Div([
            html.Div([card(t("data.summary", lang), html.Div(id="data-summary"))], className="col-side"),
            html.Div([card(t("data.upload", lang), html.Div([
                *upload,
                dcc.Loading(html.Div(id="data-preview")),
                dcc.Loading(html.Div(id="data-upload-result", className="status")),
            ]))], className="col-map"),
        ], className="row"),
        card(t("data.quarantine", lang), html.Div([
            html.Div([html.Button(t("export.xlsx", lang), id="data-export", n_clicks=0, className="btn"),
                      dcc.Download(id="data-export-file")], className="row export-row"),
            html.Div(id="data-quarantine")])),
    ])


def _upload_controls(lang: str) -> list:
    coords = dropdown("data-coords", [(c, t(f"data.coords.{c}", lang)) for c in _COORDS], "wgs84")
    enc = dropdown("data-encoding", [(v, t(f"data.encoding.{k}", lang)) for v, k in _ENCODINGS], "auto")
    maps = [control(t(f"data.map.{key}", lang),
                    dcc.Dropdown(id=f"data-map-{cid}", options=[], value=None, clearable=True,
                                 placeholder=t("data.map.auto", lang), className="dd"), width="150px")
            for cid, key in _MAPS]
    return [
        dcc.Input(id="data-as-of", type="text", placeholder=t("data.as_of_hint", lang), debounce=True,
                  style={"width": "100%"}),
        dcc.Upload(id="data-upload", children=html.Div(t("data.upload_hint", lang)), className="upload",
                   multiple=False),
        html.Details([
            html.Summary(t("data.upload_options", lang)),
            html.Div([
                control(t("data.coords", lang), coords, width="190px"),
                control(t("data.epsg_hint", lang), dcc.Input(id="data-epsg", type="number", debounce=True,
                                                             placeholder="4547"), width="130px"),
                control(t("data.encoding", lang), enc, width="190px"),
                control(t("data.sheet", lang), dcc.Input(id="data-sheet", type="text", debounce=True,
                                                         placeholder=t("data.sheet_hint", lang)), width="190px"),
                dcc.Checklist(id="data-centroids", options=[{"label": t("data.centroids", lang), "value": "on"}],
                              value=[]),
            ], className="row controls"),
            html.Div(t("data.mapping", lang), className="hint"),
            html.Div(maps, className="row controls"),
        ], id="data-options"),
        html.Button(t("data.commit", lang), id="data-commit", n_clicks=0, className="btn", disabled=True),
        job_controls("data-up", lang),  # the commit runs as a background job: progress, 取消
    ]


def upload_options(coords=None, epsg=None, encoding=None, sheet=None, centroids=None, m_time=None, m_clock=None,
                   m_cat=None, m_lon=None, m_lat=None, m_id=None) -> dict:
    """The page's controls as :meth:`Service.upload` options (the CLI's flags).

    Raises
    ------
    ValueError
        A projected coordinate system without an EPSG code, or a separate time column without
        the date column.

    Examples
    --------
    >>> upload_options("gcj02", None, "big5", "1", ["on"], "日期", "时间", None, None, None, None)
    {'coords': 'gcj02', 'encoding': 'big5', 'sheet': '1', 'layer': '1', 'centroids': True, 'mapping': {'occurred_at': '日期+时间'}}
    """
    out: dict = {}
    if coords == "epsg":
        if epsg in (None, ""):
            raise ValueError("--epsg: a projected coordinate system needs its EPSG code (e.g. 4547)")
        out["epsg"] = int(epsg)
    elif coords:
        out["coords"] = coords
    if encoding and encoding != "auto":
        out["encoding"] = encoding
    if sheet not in (None, "") and str(sheet).strip():
        out["sheet"] = out["layer"] = str(sheet).strip()
    if centroids:
        out["centroids"] = True
    if m_clock and not m_time:
        raise ValueError("--map occurred_at=DATE+TIME: choose the date column as well as the time column")
    mapping = {"occurred_at": f"{m_time}+{m_clock}" if m_clock else m_time, "category": m_cat, "lon": m_lon,
               "lat": m_lat, "incident_id": m_id}
    mapping = {k: v for k, v in mapping.items() if v}
    if mapping:
        out["mapping"] = mapping
    return out


# -- preview: a dry run of the same ingest ---------------------------------------------------
@callback(Output("data-preview", "children"), Output("data-commit", "disabled"),
          *(Output(f"data-map-{k}", "options") for k, _ in _MAPS),
          Input("data-upload", "contents"), *(Input(i, "value") for i in _OPTION_IDS),
          State("data-upload", "filename"), State(LANG_STORE, "data"), prevent_initial_call=True)
def preview(contents, *args):
    """Validate the chosen file with the chosen options; nothing is written."""
    *values, filename, lang = args
    lang = lang_of(lang)
    same = [dash.no_update] * len(_MAPS)
    if contents is None:
        return dash.no_update, True, *same
    try:
        report = service().upload(contents, filename, dry_run=True, **upload_options(*values))
    except ScopeError:
        return refused(lang), True, *same
    except (ValueError, UnicodeDecodeError) as exc:
        return _error(exc, lang, "data-preview-error"), True, *same
    cols = next(iter(report.columns.values()), [])
    options = [{"label": c, "value": c} for c in cols]
    return preview_block(report, lang), False, *([options] * len(_MAPS))


def preview_block(report, lang: str) -> html.Div:
    """Counts, column mapping, notes, the first usable rows and the rows that would be quarantined."""
    mapped = next(iter(report.mapped.values()), {})
    shown = {"geometry": t("data.geometry", lang), "generated (row hash)": t("data.generated", lang)}
    kids = [
        html.H4(t("data.preview", lang)),
        html.Div(t("data.preview_counts", lang, rows=f"{report.rows_in:,}", used=f"{report.rows_used:,}",
                   quarantined=f"{report.rows_quarantined:,}"), id="data-preview-counts"),
        html.Div(t("data.preview_mapped", lang, mapped="，".join(
            f"{t(f'data.map.{k}', lang)}←{shown.get(v, v)}" for k, v in mapped.items())), className="hint"),
    ]
    enc = next(iter(report.encodings.values()), "")
    if enc and not enc.startswith("utf-8"):
        kids.append(html.Div(t("data.preview_encoding", lang, encoding=enc), className="hint"))
    if report.already_ingested:
        kids.append(html.Div(t("data.already", lang), className="not-ready"))
    kids += note_lines(report.notes, lang)
    used = report.preview_used
    if used is not None and len(used):
        head = used.head(_PREVIEW_SHOWN).astype("string").fillna("")
        kids += [html.Div(t("data.preview_used", lang, n=len(head)), className="ctl-label"),
                 dash_table.DataTable(id="data-preview-used", data=head.to_dict("records"), style_cell=_STYLE,
                                      columns=[{"name": _col_name(c, lang), "id": c} for c in head.columns],
                                      style_table={"overflowX": "auto"})]
    bad = report.preview_quarantined
    if bad is not None and len(bad):
        head = render_reasons(bad.head(_PREVIEW_SHOWN), lang).drop(columns=["source_file"], errors="ignore")
        head = head.astype("string").fillna("")
        kids += [html.Div(t("data.preview_bad", lang, n=len(head)), className="ctl-label"),
                 dash_table.DataTable(id="data-preview-bad", data=head.to_dict("records"), style_cell=_STYLE,
                                      columns=[{"name": _col_name(c, lang), "id": c} for c in head.columns],
                                      style_table={"overflowX": "auto"})]
    return html.Div(kids, className="preview")


# -- commit: a background job (pages/_jobs.py) with progress and 取消 -------------------------
def upload_prepare(svc, lang: str, contents, filename, as_of, *values) -> dict:
    """In the request: the role, the size limit and the options, checked before a worker starts."""
    if contents is None:
        raise JobFailed(t("data.upload_hint", lang))
    try:
        options = upload_options(*values)
        svc.upload_check(contents, filename)
    except ScopeError:
        raise
    except ValueError as exc:
        raise JobFailed(t("data.upload_failed", lang) + str(exc).splitlines()[0]) from exc
    return {"contents": contents, "filename": filename, "as_of": (as_of or "").strip() or None, "options": options}


def upload_work(svc, args: dict, progress) -> dict:
    """In the worker: the real ingest + refresh; what the page shows of its report."""
    lang = args.get("lang", "zh")

    def step(fraction: float, label: str = "") -> None:
        progress(fraction, "upload_write" if label == "write" else "done" if label == "done" else "upload_read")

    try:
        report = svc.upload(args["contents"], args["filename"], as_of=args["as_of"], progress=step,
                            **args["options"])
    except ValueError as exc:  # the user's file: say what is wrong with it, in words
        raise JobFailed(t("data.upload_failed", lang) + str(exc).splitlines()[0]) from exc
    return {"rows_in": report.rows_in, "rows_used": report.rows_used, "rows_quarantined": report.rows_quarantined,
            "already": bool(report.already_ingested),
            "notes": [(str(n), getattr(n, "key", ""), dict(getattr(n, "params", {}))) for n in report.notes]}


def upload_show(svc, value: dict, lang: str) -> tuple[html.Div]:
    """The result: rows in / used / quarantined, a file ingested before, the readers' notes."""
    kids = [html.Div(t("data.accepted", lang, used=f"{value['rows_used']:,}",
                       quarantined=f"{value['rows_quarantined']:,}", rows=f"{value['rows_in']:,}"),
                     id="data-upload-counts")]
    if value["already"]:
        kids.append(html.Div(t("data.already", lang), className="not-ready", id="data-upload-already"))
    notes = [_Note(text, key, params) for text, key, params in value["notes"]]
    return (html.Div(kids + note_lines(notes, lang)),)


class _Note(str):
    """A reader note back from the worker (text, key, params)."""

    def __new__(cls, text: str, key: str = "", params: dict | None = None) -> _Note:
        obj = super().__new__(cls, text)
        obj.key, obj.params = key, dict(params or {})
        return obj


register_job("data-up", start=Input("data-commit", "n_clicks"),
             state=[State("data-upload", "contents"), State("data-upload", "filename"), State("data-as-of", "value"),
                    *(State(i, "value") for i in _OPTION_IDS)],
             prepare=upload_prepare, work=upload_work, show=upload_show,
             outputs=[Output("data-upload-result", "children")],
             running=[(Output("data-commit", "disabled"), True, False)])


def upload(contents, filename, as_of, lang, _n=None, *values):
    """The commit in one call, without a worker (scripts and tests): prepare, work, show."""
    lang = lang_of(lang)
    svc = service()
    try:
        args = upload_prepare(svc, lang, contents, filename, as_of, *values)
        value = upload_work(svc, {**args, "lang": lang}, lambda *_: None)
    except ScopeError:
        return refused(lang)
    except JobFailed as exc:
        return html.Div(str(exc), className="not-ready", id="data-upload-error")
    return upload_show(svc, value, lang)[0]


def note_lines(notes: list, lang: str) -> list[html.Div]:
    """What the readers chose (sheet, layer, title row, centroids …) in ``lang``: a note with a
    key (:class:`data.ingest_read.Note`) through the table, any other as it is."""
    out = []
    for n in notes:
        key = f"data.note.{getattr(n, 'key', '')}"
        out.append(html.Div(t(key, lang, **n.params) if key in TEXT else str(n), className="hint"))
    return out


def _error(exc: Exception, lang: str, id: str) -> html.Div:
    return html.Div([html.Strong(t("data.upload_failed", lang)), html.Span(str(exc).splitlines()[0])],
                    className="not-ready", id=id)


# -- reasons in the reader's language --------------------------------------------------------
def reason_text(params: object, lang: str, code: object = None, detail: object = None) -> str:
    """Every fault of one quarantined row as one text in ``lang``, from its ``reason_params``
    (JSON list of {key, code, …}); rows quarantined before reason_params existed fall back to
    the reason's label and the stored (English) detail.

    Examples
    --------
    >>> reason_text('[{"key":"zero_coordinates","code":"zero_coordinates","x":"经度","y":"纬度"}]', "zh")
    '经度/纬度 为 (0, 0)'
    """
    try:
        items = json.loads(str(params), strict=False) if params not in (None, "") and not pd.isna(params) else None
    except (ValueError, TypeError):
        items = None
    if not isinstance(items, list) or not items:
        if lang == "en" and detail not in (None, "") and not pd.isna(detail):
            return str(detail)
        return label(code, lang) if code is not None else ""
    parts = []
    for it in items:
        key = f"reason_detail.{it.get('key', it.get('code'))}"
        try:
            fields = {k: v for k, v in it.items() if k not in ("key", "code")}
            parts.append(t(key, lang, **fields) if key in TEXT else label(it.get("code"), lang))
        except (KeyError, IndexError):  # a parameter the template wants is missing
            parts.append(label(it.get("code"), lang))
    return t("reason_detail.sep", lang).join(parts)


def render_reasons(q: pd.DataFrame, lang: str) -> pd.DataFrame:
    """``q`` with ``reason_detail`` in ``lang`` (all faults) and without the machine-only
    ``reason_params``; ``reason`` and ``reasons`` keep their codes."""
    if q.empty or "reason" not in q:
        return q.drop(columns=["reason_params"], errors="ignore")
    params = q["reason_params"] if "reason_params" in q else pd.Series(None, index=q.index, dtype=object)
    detail = q["reason_detail"] if "reason_detail" in q else pd.Series(None, index=q.index, dtype=object)
    text = [reason_text(p, lang, c, d) for p, c, d in zip(params, q["reason"], detail, strict=True)]
    out = q.drop(columns=["reason_params"], errors="ignore").copy()
    out["reason_detail"] = pd.Series(text, index=q.index, dtype=object)
    return out


def _col_name(c: str, lang: str) -> str:
    return t(f"col.{c}", lang) if f"col.{c}" in TEXT else c


# -- summary and quarantine ----------------------------------------------------------------
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
    """Counts by reason, then the first rows with their original values and every fault."""
    if q.empty:
        return html.Div(t("app.no_data", lang), className="hint")
    resolved = q["resolved"].to_numpy(bool) if "resolved" in q else None
    open_rows = q[~resolved] if resolved is not None else q
    by = open_rows["reason"].astype(str).value_counts().rename_axis("reason").reset_index(name="rows")
    by["reason_label"] = [label(r, lang) for r in by["reason"]]
    # rows still to fix first; those a later file brought in are marked, not hidden
    head = pd.concat([open_rows, q[resolved]] if resolved is not None else [q]).head(_QUARANTINE_ROWS)
    head = render_reasons(head, lang).drop(columns=["reasons"], errors="ignore")
    head["reason"] = [label(r, lang) for r in head["reason"]]
    if resolved is not None:
        head = head.assign(resolved=[t("data.resolved_yes", lang) if v else "" for v in head["resolved"]])
    head = head.astype("string").fillna("")
    n_resolved = int(resolved.sum()) if resolved is not None else 0
    return html.Div([
        html.Div(t("data.resolved", lang, n=f"{n_resolved:,}"), className="hint", id="data-resolved")
        if n_resolved else html.Div(),
        dash_table.DataTable(id="data-reasons", data=by.to_dict("records"), style_cell=_STYLE,
                             columns=[{"name": t("col.reason", lang), "id": "reason_label"},
                                      {"name": t("col.reason_code", lang), "id": "reason"},
                                      {"name": t("col.rows", lang), "id": "rows"}]),
        html.Br(),
        dash_table.DataTable(id="data-quarantine-table", data=head.to_dict("records"), page_size=15,
                             columns=[{"name": _col_name(c, lang), "id": c} for c in head.columns],
                             style_cell=_STYLE, style_table={"overflowX": "auto"}, sort_action="native"),
    ])


@callback(Output("data-export-file", "data"), Input("data-export", "n_clicks"), State(LANG_STORE, "data"),
          prevent_initial_call=True)
def export_quarantine(n, lang=None):
    """Every quarantined row with its reason codes and every fault in the reader's language,
    for the office to fix and send again."""
    if not n:
        return dash.no_update
    svc = service()
    try:
        name, data = svc.export(render_reasons(svc.quarantine(), lang_of(lang)), "quarantine", "xlsx")
    except ScopeError:
        return dash.no_update
    return dcc.send_bytes(data, name)
