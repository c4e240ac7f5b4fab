"""整治评估 — did a 整治 (crackdown) work? Choose the target area(s), the start, the category:
the weekly series of the target, the control areas and the buffer ring before and after, the
difference-in-differences estimate with its interval and placebo test in a sentence, and
displacement (WDQ) in another. The evaluation is ``Service.intervention`` (scope-checked)."""

from __future__ import annotations

import dash
import pandas as pd
from dash import Input, Output, State, callback, dcc, html

from analytics.present.i18n import label, t
from analytics.present.intervention_text import (
    displacement_sentence,
    effect_sentence,
    estimate_table,
    zone_table,
)
from analytics.service import ScopeError
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
from pages._intervention_view import series_figure, small_table

#: texts of the multi-select dropdown (dcc.Dropdown ``labels``), all from the i18n table.
_DROPDOWN_LABELS = ("select_all", "deselect_all", "selected_count", "search", "clear_search",
                    "clear_selection", "no_options_found")

dash.register_page(__name__, path="/intervention", name=t("nav.intervention"), title=t("app.title"), order=3)


def layout(lang: str | None = None, **_query) -> html.Div:
    lang = lang_of(lang)
    svc = service()
    layers = svc.admin_layers()
    cats = svc.category_choices()
    periods = svc.periods("W")
    last = periods[-1] if periods else pd.Timestamp.now().normalize()
    first = periods[0] if periods else last
    preset = _preset(svc, layers)
    layer = preset["layer"] if preset else ("community" if "community" in layers else layers[-1])
    start = preset["start"] if preset else max(first + pd.Timedelta(weeks=1), last - pd.Timedelta(weeks=12))
    category = preset["group"] if preset and preset["group"] in cats else cats[0]
    return html.Div([
        html.Div([
            control(t("iv.layer", lang), dropdown("iv-layer", [(x, label(x, lang)) for x in layers], layer)),
            control(t("iv.target", lang), dcc.Dropdown(
                id="iv-area", multi=True, className="dd", style={"width": "320px"},
                placeholder=t("iv.target_pick", lang),
                labels={k: t(f"iv.dd.{k}", lang) for k in _DROPDOWN_LABELS})),
            control(t("iv.start", lang), dcc.DatePickerSingle(
                id="iv-start", date=start.date(), display_format="YYYY-MM-DD", first_day_of_week=1,
                min_date_allowed=first.date(), max_date_allowed=(last + pd.Timedelta(days=6)).date())),
            control(t("iv.end", lang), dcc.DatePickerSingle(
                id="iv-end", date=None, display_format="YYYY-MM-DD", first_day_of_week=1, clearable=True,
                placeholder=t("iv.end_latest", lang),
                min_date_allowed=first.date(), max_date_allowed=(last + pd.Timedelta(days=6)).date())),
            control(t("ctl.category", lang), dropdown("iv-category", [(c, label(c, lang)) for c in cats], category)),
            control(t("iv.buffer", lang), dcc.Input(id="iv-buffer", type="number", min=0, step=50, value=500,
                                                    debounce=True, className="num")),
        ], className="controls"),
        dcc.Store(id="iv-preset", data=preset and {"layer": preset["layer"], "area_ids": preset["area_ids"]}),
        html.Div(t("iv.hint", lang) + (t("iv.preset", lang, name=preset["name"]) if preset else ""),
                 className="hint"),
        card(t("iv.result", lang), dcc.Loading(html.Div(id="iv-sentence", className="iv-sentence"))),
        html.Div([
            html.Div([card(t("iv.series", lang), dcc.Graph(id="iv-series", config=graph_config(lang)))],
                     className="col-map"),
            html.Div([card(t("iv.numbers", lang), html.Div(id="iv-numbers"))], className="col-side"),
        ], className="row"),
    ])


@callback(Output("iv-area", "options"), Output("iv-area", "value"), Input("iv-layer", "value"),
          State("iv-preset", "data"))
def area_options(layer, preset):
    try:
        table = service().layer_table(layer)
    except ScopeError:
        return [], []
    options = [{"label": f"{n}（{a}）", "value": a} for a, n in zip(table["area_id"], table["name"])]
    if preset and preset["layer"] == layer:  # the recorded 整治 first
        return options, preset["area_ids"]
    return options, [str(table["area_id"].iloc[0])] if len(table) else []


@callback(Output("iv-sentence", "children"), Output("iv-series", "figure"), Output("iv-numbers", "children"),
          Input("iv-area", "value"), Input("iv-start", "date"), Input("iv-end", "date"),
          Input("iv-category", "value"), Input("iv-buffer", "value"), State("iv-layer", "value"),
          State(LANG_STORE, "data"))
def evaluate(areas, start, end, category, buffer, layer, lang):
    lang = lang_of(lang)
    if not areas or not start:
        return html.P(t("iv.hint", lang)), empty_figure(t("app.no_data", lang)), None
    try:
        r = service().intervention(areas, start, end, category, float(buffer or 0), layer=layer)
    except ScopeError:
        return html.P(t("app.refused", lang)), empty_figure(t("app.refused", lang)), None
    except ValueError as exc:
        msg = t("app.error", lang, msg=str(exc).splitlines()[0])
        return html.P(msg, className="iv-error"), empty_figure(msg), None
    iv = r["intervention"]
    rule = t("iv.control_rule", lang, layer=label(iv["layer"], lang), buffer=f"{iv['buffer_m']:g}",
             n=iv["n_control_areas"])
    return ([html.P(effect_sentence(r, lang), id="iv-effect", className="iv-effect"),
             html.P(displacement_sentence(r, lang), id="iv-wdq"), html.P(rule, className="hint")],
            series_figure(r, lang),
            [small_table("iv-zones", zone_table(r, lang)), html.Div(style={"height": "12px"}),
             small_table("iv-estimate", estimate_table(r, lang))])


def _preset(svc, layers: list[str]) -> dict | None:
    """The workspace's first recorded 整治 on a layer of the page, if any."""
    for rec in svc.recorded_interventions():
        if rec["layer"] in layers:
            return rec
    return None
