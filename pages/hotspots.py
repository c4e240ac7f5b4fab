"""热点分析 — incidents as points / kernel density (the service's quartic KDE), filters (category, dates, hour,
weekday), cross-filtering between the map and the charts, Gi* / emerging / camera overlays and
the near-repeat (Knox) table."""

from __future__ import annotations

import dash
import pandas as pd
from dash import Input, Output, State, callback, ctx, dash_table, dcc, html

from analytics.present.i18n import TEXT, label, t
from analytics.service.incidents import filter_incidents, region_mask
from pages._common import (
    LANG_STORE,
    card,
    control,
    dropdown,
    graph_config,
    lang_of,
    service,
)
from pages._hotspots_view import (
    HOT_COLORS,
    class_traces,
    count_bar,
    effective_filters,
    incident_map,
    selected_values,
)
from pages._maps import background

dash.register_page(__name__, path="/hotspots", name=t("nav.hotspots"), title=t("app.title"), order=1)

_EMERGING_COLORS = {"new_hot_spot": "#67000d", "consecutive_hot_spot": "#cb181d",
                    "intensifying_hot_spot": "#ef3b2c", "persistent_hot_spot": "#fb6a4a",
                    "sporadic_hot_spot": "#fcbba1", "oscillating_hot_spot": "#fc9272",
                    "historical_hot_spot": "#fee0d2", "diminishing_hot_spot": "#fdd0a2"}


def layout(lang: str | None = None, **_query) -> html.Div:
    lang = lang_of(lang)
    svc = service()
    frame = svc.incidents()
    start, end = default_window(frame)
    first = frame["date"].min() if len(frame) else end
    cats = svc.category_choices()
    overlays = [("gistar", t("hot.gistar", lang)), ("emerging", t("hot.emerging", lang))]
    if svc.has_extra("cameras"):
        overlays.append(("cameras", t("hot.cameras", lang)))
    return html.Div([
        html.Div([
            control(t("ctl.category", lang), dropdown("hot-category", [(c, label(c, lang)) for c in cats], cats[0])),
            control(t("ctl.dates", lang), dcc.DatePickerRange(
                id="hot-dates", start_date=start.date(), end_date=end.date(), display_format="YYYY-MM-DD", first_day_of_week=1,
                min_date_allowed=first.date(), max_date_allowed=end.date(),
                start_date_placeholder_text=t("ctl.date_from", lang), end_date_placeholder_text=t("ctl.date_to", lang))),
            control(t("ctl.hours", lang), dcc.RangeSlider(id="hot-hours", min=0, max=23, step=1, value=[0, 23],
                                                         marks={h: str(h) for h in range(0, 24, 3)}),
                    width="260px"),
            control(t("ctl.weekdays", lang), dcc.Checklist(
                id="hot-weekdays", options=[{"label": t(f"wd.{d}", lang), "value": d} for d in range(7)],
                value=list(range(7)), inline=True, className="radio")),
            control(t("ctl.view", lang), dcc.RadioItems(
                id="hot-view", options=[{"label": t(k, lang), "value": v} for v, k in
                                        (("points", "hot.points"), ("density", "hot.density"))],
                value="points", inline=True, className="radio")),
            control(t("ctl.layers", lang), dcc.Checklist(
                id="hot-overlays", options=[{"label": lab, "value": v} for v, lab in overlays], value=[],
                inline=True, className="radio")),
            html.Button(t("ctl.reset", lang), id="hot-reset", n_clicks=0, className="btn"),
        ], className="controls"),
        html.Div([html.Div(id="hot-selected", className="hint"),
                  html.Button(t("export.incidents", lang), id="hot-export", n_clicks=0, className="btn"),
                  dcc.Download(id="hot-export-file")], className="row export-row"),
        html.Div([
            html.Div([card(t("hot.title", lang), dcc.Loading(dcc.Graph(id="hot-map", config=graph_config(lang))))],
                     className="col-map"),
            html.Div([
                card(t("hot.by_hour", lang), dcc.Graph(id="hot-hour", config=graph_config(lang))),
                card(t("hot.by_weekday", lang), dcc.Graph(id="hot-weekday", config=graph_config(lang))),
                card(t("hot.by_category", lang), dcc.Graph(id="hot-category-chart", config=graph_config(lang))),
            ], className="col-side"),
        ], className="row"),
        html.Div([html.Button(t("export.hotspots", lang), id="hot-export-gistar", n_clicks=0, className="btn"),
                  html.Button(t("export.knox", lang), id="hot-export-knox", n_clicks=0, className="btn"),
                  dcc.Download(id="hot-export-table")], className="row export-row"),
        card(t("hot.knox", lang), html.Div(id="hot-knox")),
    ])


@callback(Output("hot-map", "selectedData"), Output("hot-hour", "selectedData"),
          Output("hot-weekday", "selectedData"), Output("hot-category", "value"),
          Output("hot-dates", "start_date"), Output("hot-dates", "end_date"), Output("hot-hours", "value"),
          Output("hot-weekdays", "value"), Output("hot-view", "value"), Output("hot-overlays", "value"),
          Input("hot-reset", "n_clicks"), prevent_initial_call=True)
def reset_selection(_n):
    """重置筛选: every filter and selection back to how the page opens."""
    start, end = default_window(service().incidents())
    return (None, None, None, service().category_choices()[0], start.date(), end.date(), [0, 23],
            list(range(7)), "points", [])


def default_window(frame) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The page's opening window: the last 90 days of data."""
    end = frame["date"].max() if len(frame) else pd.Timestamp.now().normalize()
    first = frame["date"].min() if len(frame) else end
    return max(first, end - pd.Timedelta(days=89)), end


@callback(Output("hot-map", "figure"), Output("hot-hour", "figure"), Output("hot-weekday", "figure"),
          Output("hot-category-chart", "figure"), Output("hot-selected", "children"),
          Input("hot-category", "value"), Input("hot-dates", "start_date"), Input("hot-dates", "end_date"),
          Input("hot-hours", "value"), Input("hot-weekdays", "value"), Input("hot-view", "value"),
          Input("hot-overlays", "value"), Input("hot-map", "selectedData"), Input("hot-hour", "selectedData"),
          Input("hot-weekday", "selectedData"), State(LANG_STORE, "data"))
def render(category, start, end, hours, weekdays, view, overlays, map_sel, hour_sel, wd_sel, lang):
    lang, svc = lang_of(lang), service()
    frame = svc.incidents()
    members = svc.members(category, frame["category"].unique())
    base = filter_incidents(frame, categories=members, start=start, end=end, hours=hours, weekdays=weekdays)
    hour_pick, wd_pick = selected_values(hour_sel), selected_values(wd_sel)
    in_region = region_mask(frame, map_sel)
    by_hour = base & filter_incidents(frame, weekdays=wd_pick) & in_region
    by_wd = base & filter_incidents(frame, hours=_span(hour_pick)) & in_region
    on_map = base & filter_incidents(frame, hours=_span(hour_pick), weekdays=wd_pick)
    both = on_map & in_region
    layers = svc.admin_layers()
    # the map's incidents = the filters ∩ the bars picked: the KDE and the overlays take the same
    map_hours, map_days = effective_filters(hours, weekdays, hour_pick, wd_pick)
    surface = svc.density(category, start, end, map_hours, map_days) if view == "density" else None
    fig_map = incident_map(svc, frame[on_map], view, lang,
                           _overlays(svc, overlays or [], category, start, end, lang, map_hours, map_days),
                           layers[min(1, len(layers) - 1)], density=surface, basemap=background(svc))
    wd_labels = {d: t(f"wd.{d}", lang) for d in range(7)}
    return (fig_map,
            count_bar(frame.loc[by_hour, "hour"].value_counts().reindex(range(24), fill_value=0), lang,
                      t("hot.by_hour", lang), hour_pick),
            count_bar(frame.loc[by_wd, "weekday"].value_counts().reindex(range(7), fill_value=0), lang,
                      t("hot.by_weekday", lang), wd_pick, wd_labels),
            count_bar(frame.loc[both, "category"].value_counts().head(12), lang, t("hot.by_category", lang),
                      labels={c: label(c, lang) for c in members}),
            t("hot.selected", lang, n=f"{int(both.sum()):,}")
            + ("" if surface is None else " · " + t("hot.density_note", lang, h=f"{surface['bandwidth_m']:g}",
                                                     cell=f"{surface['cell_m']:.0f}")))


@callback(Output("hot-knox", "children"), Input("hot-category", "value"), Input("hot-dates", "start_date"),
          Input("hot-dates", "end_date"), Input("hot-hours", "value"), Input("hot-weekdays", "value"),
          Input("hot-hour", "selectedData"), Input("hot-weekday", "selectedData"), State(LANG_STORE, "data"))
def knox(category, start, end, hours, weekdays, hour_sel, wd_sel, lang):
    lang = lang_of(lang)
    # the incidents on the map: the same hours and weekdays as the points and the Gi* overlay
    map_hours, map_days = effective_filters(hours, weekdays, selected_values(hour_sel), selected_values(wd_sel))
    try:
        table = service().hotspots("knox", category=category, start=start, end=end, seed=12345, permutations=99,
                                   hours=map_hours, weekdays=map_days)
    except ValueError as exc:  # too few incidents in the window
        return html.Div(str(exc), className="hint")
    table = pd.DataFrame(table).drop(columns=["n_events", "n_pairs_within"], errors="ignore").round(3)
    if "distance_band" in table:
        table["distance_band"] = table["distance_band"].astype(str).replace("same location", t("knox.same", lang))
    if "significant" in table:
        table["significant"] = [t("knox.yes" if v else "knox.no", lang) for v in table["significant"]]
    return dash_table.DataTable(data=table.astype(object).where(table.notna(), None).to_dict("records"),
                                columns=[{"name": t(f"knox.{c}", lang) if f"knox.{c}" in TEXT else str(c), "id": str(c)}
                                         for c in table.columns],
                                page_size=12, sort_action="native", id="hot-knox-table",
                                style_cell={"fontFamily": "Noto Sans CJK SC, sans-serif", "fontSize": 13})


@callback(Output("hot-export-file", "data"), Input("hot-export", "n_clicks"),
          State("hot-category", "value"), State("hot-dates", "start_date"), State("hot-dates", "end_date"),
          State("hot-hours", "value"), State("hot-weekdays", "value"), State("hot-map", "selectedData"),
          State("hot-hour", "selectedData"), State("hot-weekday", "selectedData"), prevent_initial_call=True)
def export_incidents(n, category, start, end, hours, weekdays, map_sel, hour_sel, wd_sel):
    """The incidents the map and charts show (every filter and selection), within the user's scope."""
    if not n:
        return dash.no_update
    svc = service()
    frame = svc.incidents()
    members = svc.members(category, frame["category"].unique())
    hour_pick, wd_pick = selected_values(hour_sel), selected_values(wd_sel)
    mask = (filter_incidents(frame, categories=members, start=start, end=end, hours=hours, weekdays=weekdays)
            & filter_incidents(frame, hours=_span(hour_pick), weekdays=wd_pick) & region_mask(frame, map_sel))
    rows = frame.loc[mask.to_numpy(), ["incident_id", "occurred_at", "category", "lon", "lat"]]
    name, data = svc.export(rows, f"incidents_{start}_{end}", "xlsx")
    return dcc.send_bytes(data, name)


@callback(Output("hot-export-table", "data"), Input("hot-export-gistar", "n_clicks"),
          Input("hot-export-knox", "n_clicks"), State("hot-category", "value"), State("hot-dates", "start_date"),
          State("hot-dates", "end_date"), State("hot-hours", "value"), State("hot-weekdays", "value"),
          State("hot-hour", "selectedData"), State("hot-weekday", "selectedData"), State(LANG_STORE, "data"),
          prevent_initial_call=True)
def export_hotspot_table(_g, _k, category, start, end, hours, weekdays, hour_sel, wd_sel, lang):
    """The Gi* table (per area, with z, p, p_fdr and class) or the Knox table of the current filters."""
    if not ctx.triggered[0]["value"]:
        return dash.no_update
    lang, svc = lang_of(lang), service()
    try:
        map_hours, map_days = effective_filters(hours, weekdays, selected_values(hour_sel), selected_values(wd_sel))
        if ctx.triggered_id == "hot-export-knox":
            table = svc.hotspots("knox", category=category, start=start, end=end, seed=12345, permutations=99,
                                 hours=map_hours, weekdays=map_days)
            name = f"knox_{start}_{end}"
        else:
            layer = svc.hotspot_layer()
            table = svc.hotspots("gistar", layer=layer, category=category, start=start, end=end, seed=12345,
                                 permutations=99, hours=map_hours, weekdays=map_days)
            names = svc.layer_table(layer).set_index("area_id")["name"]
            table = pd.DataFrame(table).drop(columns="geometry", errors="ignore")
            table["name"] = table["area_id"].astype(str).map(names)
            table["class"] = [label(c, lang) for c in table["class"].astype(str)]
            name = f"gistar_{layer}_{start}_{end}"
        file_name, data = svc.export(table, name, "xlsx")
    except ValueError:  # too few incidents in the window
        return dash.no_update
    return dcc.send_bytes(data, file_name)


def _overlays(svc, chosen: list[str], category, start, end, lang, hours=(0, 23), weekdays=range(7)) -> dict:
    """Overlay traces: Gi* and emerging classes (of the incidents at ``hours`` on ``weekdays``,
    as the points) and the cameras, from the service."""
    out: dict = {"classes": []}
    layer = svc.hotspot_layer()
    weekdays = list(weekdays)
    if "gistar" in chosen and weekdays:
        table = svc.hotspots("gistar", layer=layer, category=category, start=start, end=end,
                             seed=12345, permutations=99, hours=hours, weekdays=weekdays)
        out["classes"] += class_traces(svc, layer, table, lang, HOT_COLORS)
    if "emerging" in chosen and weekdays:
        table = svc.hotspots("emerging", layer=layer, category=category, seed=12345, permutations=99,
                             hours=hours, weekdays=weekdays)
        out["classes"] += class_traces(svc, layer, table, lang, _EMERGING_COLORS, column="category")
    if "cameras" in chosen:
        out["cameras"] = svc.cameras()
    return out


def _span(picked: list | None):
    return None if not picked else (min(picked), max(picked))
