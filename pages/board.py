"""预警看板 — the four-colour board: map with drill-down 区→街道→社区→网格, KPI tiles, legend
with counts, the ranking table (一月一排位) and the one-click weekly briefing."""

from __future__ import annotations

import dash
import pandas as pd
from dash import ALL, Input, Output, State, callback, ctx, dash_table, dcc, html

from analytics.present.i18n import label, t
from analytics.service import ScopeError
from analytics.service.board import PARTIAL
from pages._board_view import (
    alert_list,
    alert_path,
    board_frame,
    board_kpis,
    chain,
    crumbs,
    drill_path,
    kpi_tiles,
    legend,
    period_label,
    ranked_frame,
    ranking_export,
    table_columns,
    table_rows,
)
from pages._common import (
    LANG_STORE,
    LEVEL_COLORS,
    LEVELS,
    card,
    control,
    empty_figure,
    graph_config,
    lang_of,
    refused,
    service,
)
from pages._job_works import brief_cleanup, brief_prepare, brief_show, brief_work
from pages._jobs import job_controls, register_job
from pages._maps import background, level_map

dash.register_page(__name__, path="/", name=t("nav.board"), title=t("app.title"), order=0)

def layout(lang: str | None = None, **_query) -> html.Div:
    lang = lang_of(lang)
    svc = service()
    layers = svc.admin_layers()
    cats = svc.category_choices()
    brief = ([html.Button(t("board.brief", lang), id="board-brief", n_clicks=0, className="btn")]
             if svc.may("brief") else [])
    # Every choice persists in the browser session: switching 中文/EN rebuilds the page with the
    # same week, category, level, mode and drill-down.
    keep = {"persistence": True, "persistence_type": "session"}
    return html.Div([
        html.Div([
            control(t("ctl.freq", lang), dcc.RadioItems(
                id="board-freq", options=[{"label": t(f"freq.{f}", lang), "value": f} for f in ("W", "M")],
                value="W", inline=True, className="radio", **keep)),
            control(t("ctl.period", lang), dcc.Dropdown(id="board-period", clearable=False, className="dd", **keep)),
            control(t("ctl.category", lang), dcc.Dropdown(
                id="board-category", options=[{"label": label(c, lang), "value": c} for c in cats], value=cats[0],
                clearable=False, className="dd", **keep)),
            html.Div(control(t("ctl.hierarchy", lang), dcc.Dropdown(  # 行政区划 / 公安辖区 (when there are two)
                id="board-hierarchy", options=[{"label": hierarchy_label(h, lang), "value": h}
                                               for h in svc.hierarchies()] or [{"label": "", "value": "admin"}],
                value=next(iter(svc.hierarchies()), "admin"), clearable=False, className="dd", **keep)),
                style=None if len(svc.hierarchies()) > 1 else {"display": "none"}),
            control(t("ctl.level", lang), dcc.Dropdown(
                id="board-layer", options=[{"label": label(x, lang), "value": x} for x in layers],
                value=svc.overview_level(), clearable=False, className="dd", **keep)),
            control(t("ctl.rank_by", lang), dcc.RadioItems(
                id="board-rank-by", options=[{"label": t(f"rank.by.{b}", lang), "value": b}
                                             for b in ("level", "count", "rate")],
                value=svc.ws.config.board.get("rank_by", "level"), inline=True, className="radio", **keep)),
            control(t("ctl.mode", lang), dcc.RadioItems(
                id="board-mode", options=[{"label": t(f"mode.{m}", lang), "value": m}
                                          for m in ("alert", "forecast", "yoy")],
                value="alert", inline=True, className="radio", **keep)),
            *brief,
            dcc.Link(t("board.screen", lang), href="/screen", className="hint"),
        ], className="controls"),
        dcc.Store(id="board-path", data=[], storage_type="session"),
        dcc.Store(id="board-brief-files"),
        dcc.Download(id="board-download"),
        job_controls("board-brief", lang),
        html.Div(id="board-brief-status", className="status"),
        html.Div(id="board-kpis", className="kpis"),
        html.Div([
            html.Div([card(t("board.title", lang), html.Div([
                html.Div(id="board-crumbs", className="crumbs"),
                html.Div(id="board-legend", className="legend"),
                dcc.Loading(dcc.Graph(id="board-map", config=graph_config(lang), style={"height": "600px"})),
                html.Div(t("board.drill_hint", lang), className="hint"),
            ]))], className="col-map"),
            html.Div([
                card(t("board.alerts", lang), html.Div(id="board-alerts"), id="board-alerts-card"),
                card(t("board.ranking", lang), dash_table.DataTable(
                    id="board-table", sort_action="native", page_size=15, style_table={"overflowX": "auto"},
                    style_cell={"fontFamily": "Noto Sans CJK SC, sans-serif", "fontSize": 13, "textAlign": "left",
                                "maxWidth": 260, "whiteSpace": "normal", "height": "auto"},
                    style_cell_conditional=[{"if": {"column_id": "name"}, "minWidth": 80},
                                            {"if": {"column_id": "change"}, "minWidth": 40},
                                            {"if": {"column_id": "rate"}, "minWidth": 52},
                                            {"if": {"column_id": "below"}, "minWidth": 64},
                                            {"if": {"column_id": "level"}, "minWidth": 44},
                                            {"if": {"column_id": "reason"}, "minWidth": 200}],
                    style_data_conditional=[{"if": {"filter_query": f'{{level_code}} = "{lv}"', "column_id": "level"},
                                             "backgroundColor": LEVEL_COLORS[lv],
                                             "color": "#1f2933" if lv == "yellow" else "#ffffff"} for lv in LEVELS],
                ), id="board-table-card", title_id="board-ranking-title"),
                html.Div([html.Button(t("export.xlsx", lang), id="board-export-xlsx", n_clicks=0, className="btn"),
                          html.Button(t("export.csv", lang), id="board-export-csv", n_clicks=0, className="btn"),
                          dcc.Download(id="board-export")], className="row export-row"),
            ], className="col-side"),
        ], className="row"),
    ])


@callback(Output("board-period", "options"), Output("board-period", "value"),
          Input("board-freq", "value"), State(LANG_STORE, "data"), State("board-period", "value"))
def period_options(freq, lang, current):
    svc = service()
    periods = [pd.Timestamp(p) for p in svc.periods(freq)]
    if not periods:
        return [], None
    options = [{"label": period_label(p, freq), "value": str(p.date())} for p in reversed(periods)]
    if svc.partial_period(freq) is not None:  # the running period, on request, never the default
        stamp = f"{pd.Timestamp(svc.as_of()):%m-%d %H:%M}"
        options.insert(0, {"label": t("board.partial_option", lang, as_of=stamp), "value": PARTIAL})
    if current in {o["value"] for o in options}:  # the user's week survives a language switch
        return options, current
    return options, str(pd.Timestamp(svc.latest_period(freq)).date())


@callback(Output("board-path", "data"), Input("board-map", "clickData"),
          Input({"type": "board-crumb", "index": ALL}, "n_clicks"),
          Input({"type": "board-alert", "index": ALL}, "n_clicks"), Input("board-layer", "value"),
          State("board-path", "data"), State("board-period", "value"), State("board-freq", "value"),
          State("board-category", "value"), prevent_initial_call=True)
def drill(click, _crumbs, _alerts, layer, path, period, freq, category):
    trigger = ctx.triggered_id
    svc = service()
    if trigger == "board-layer":
        # Another level starts from the whole city. A re-rendered page (the language switch) sets
        # the same level again: the user's drill-down, which starts in that level, stays.
        return [] if path and not _starts_in(svc, layer, path) else dash.no_update
    if isinstance(trigger, dict) and trigger.get("type") == "board-crumb":  # back up to that level
        return (path or [])[: trigger["index"]] if ctx.triggered[0]["value"] else dash.no_update
    if isinstance(trigger, dict):  # a line of the 红橙预警清单: show that area among its siblings
        if not ctx.triggered[0]["value"]:
            return dash.no_update
        target = alert_path(svc.alerts(period, freq, category, hierarchy=svc.hierarchy_of(layer)),
                            str(trigger["index"]), chain(svc, layer))
        return target if target is not None else dash.no_update
    return drill_path(path or [], chain(svc, layer), _clicked(click))


def _starts_in(svc, layer, path: list) -> bool:
    """Whether a drill-down ``path`` (from the browser) starts at an area of ``layer``."""
    if not isinstance(path, list) or not path:
        return False
    try:
        svc.check_area(path[0], layer)
    except ScopeError:
        return False
    return True


@callback(Output("board-map", "figure"), Output("board-legend", "children"),
          Output("board-table", "data"), Output("board-table", "columns"), Output("board-crumbs", "children"),
          Output("board-ranking-title", "children"), Output("board-kpis", "children"),
          Output("board-alerts", "children"),
          Input("board-period", "value"), Input("board-category", "value"), Input("board-mode", "value"),
          Input("board-path", "data"), Input("board-rank-by", "value"), State("board-layer", "value"),
          State("board-freq", "value"), State(LANG_STORE, "data"))
def render(period, category, mode, path, by, layer, freq, lang):
    lang = lang_of(lang)
    if period is None:
        return empty_figure(t("app.no_data", lang)), [], [], [], [], t("board.ranking", lang), [], []
    svc = service()
    try:
        shown, frame = board_frame(svc, layer, path or [], period, freq, category, mode)
        values = board_kpis(svc, shown, path or [], period, freq, category, mode, frame)
        frame = ranked_frame(svc, frame, shown, period, freq, category, by, mode)  # 排位 with ↑↓ and 万人发案率
        alerts = (svc.alerts(period, freq, category, hierarchy=svc.hierarchy_of(layer)) if mode == "alert"
                  else None)
    except ScopeError:
        return (empty_figure(t("app.refused", lang)), [], [], [], [], t("board.ranking", lang),
                [refused(lang)], [])
    fig = level_map(svc.layer_geojson(shown), frame, lang, basemap=background(svc))
    return (fig, legend(frame, lang), table_rows(frame, lang), table_columns(lang),
            crumbs(svc, layer, path or [], lang),
            _ranking_title(frame, freq, by, lang),
            kpi_tiles(values, lang), alert_list(alerts, lang) if alerts is not None else [])


def _ranking_title(frame, freq: str, by: str | None, lang: str) -> str:
    """「本周排位 · 按万人发案率」, and how many areas have no population (so no rate, no rank)."""
    title = t("board.ranking" if freq == "M" else "board.ranking_week", lang) + " · " + t(f"rank.by.{by or 'level'}", lang)
    missing = int(frame["rate"].isna().sum()) if "rate" in frame else len(frame)
    if by == "rate" and missing:
        title += " · " + t("rank.no_population", lang, n=missing)
    return title


@callback(Output("board-layer", "options"), Output("board-layer", "value"), Input("board-hierarchy", "value"),
          State("board-layer", "value"), State(LANG_STORE, "data"))
def hierarchy_layers(hierarchy, current, lang):
    """The levels of the chosen hierarchy (区…网格 or 分局…警务区); the user's level when it is one."""
    svc = service()
    chosen = hierarchy if hierarchy in svc.hierarchies() else None  # a scoped user: their own only
    layers = svc.chain(chosen)
    options = [{"label": label(x, lang_of(lang)), "value": x} for x in layers]
    return options, current if current in layers else svc.overview_level(chosen)


def hierarchy_label(name: str, lang: str) -> str:
    """行政区划 / 公安辖区, or the hierarchy's own name."""
    try:
        return t(f"hierarchy.{name}", lang)
    except KeyError:  # a hierarchy named by the office: its own name
        return name


# The weekly briefing runs in a worker process (pages/_jobs.py): progress bar, 取消, and a
# message when it fails; the files come back as download ids of this user only.
register_job("board-brief", start=Input("board-brief", "n_clicks"), state=[State("board-period", "value")],
             prepare=brief_prepare, work=brief_work, show=brief_show, cleanup=brief_cleanup,
             outputs=[Output("board-brief-files", "data"), Output("board-brief-status", "children")],
             running=[(Output("board-brief", "disabled"), True, False)])


@callback(Output("board-download", "data"), Input({"type": "board-dl", "index": ALL}, "n_clicks"),
          State("board-brief-files", "data"), prevent_initial_call=True)
def download_briefing(_clicks, files):
    if not ctx.triggered[0]["value"] or not isinstance(files, dict):
        return dash.no_update
    try:  # only an id this server made for this user redeems a file; a path gives nothing
        path = service().download(files.get(str(ctx.triggered_id["index"])))
    except PermissionError:
        return dash.no_update
    return dcc.send_file(str(path))


@callback(Output("board-export", "data"), Input("board-export-xlsx", "n_clicks"),
          Input("board-export-csv", "n_clicks"), State("board-period", "value"), State("board-category", "value"),
          State("board-mode", "value"), State("board-path", "data"), State("board-layer", "value"),
          State("board-freq", "value"), State(LANG_STORE, "data"), prevent_initial_call=True)
def export_ranking(_x, _c, period, category, mode, path, layer, freq, lang):
    """The ranking as shown (same layer, drill-down and scope), as an Excel or CSV file."""
    lang = lang_of(lang)
    if period is None or not ctx.triggered[0]["value"]:
        return dash.no_update
    svc = service()
    try:
        shown, frame = board_frame(svc, layer, path or [], period, freq, category, mode)
        name, data = svc.export(ranking_export(frame, lang), f"ranking_{shown}_{period}",
                                "csv" if ctx.triggered_id == "board-export-csv" else "xlsx")
    except ScopeError:
        return dash.no_update
    return dcc.send_bytes(data, name)


def _clicked(click) -> str | None:
    try:
        return str(click["points"][0]["location"])
    except (TypeError, KeyError, IndexError):
        return None
