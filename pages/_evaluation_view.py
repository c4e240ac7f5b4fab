"""Presentation helpers of the evaluation page: the backtest table (one table with the command
line's, :func:`analytics.present.evaluation_text.evaluation_table`), the note saying when the
evaluation ran and which model the board uses, and the charts."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from dash import html

from analytics.present.evaluation_text import (
    choice_text,
    evaluation_table,
    model_name,
    result_note,
    target_text,
)
from analytics.present.i18n import t
from pages._common import base_layout

__all__ = ["backtest_table", "status_lines", "pai_figure", "coverage_figure", "col_name", "model_name"]


def backtest_table(result: dict, lang: str = "zh") -> pd.DataFrame:
    """One row per model, best PAI@5 % first: ★ on the best candidate, hit rate and PAI at 1/5/10 %
    of area, PEI at 5 %, log score, CRPS, coverage, seconds."""
    return evaluation_table(result, lang)


def status_lines(ws, result: dict, lang: str) -> html.Div:
    """When and on what the shown evaluation ran, and the board's model for its category."""
    return html.Div([html.Div(result_note(result, lang), id="evaluation-when"),
                     html.Div(target_text(result, lang), id="evaluation-target"),
                     html.Div(choice_text(ws, result.get("category"), lang), id="evaluation-choice")])


def pai_figure(result: dict, lang: str) -> go.Figure:
    fig = go.Figure()
    for name, m in result.get("models", {}).items():
        shares = sorted(m["pai"], key=float)
        fig.add_trace(go.Scatter(x=[float(s) for s in shares], y=[m["pai"][s] for s in shares],
                                 mode="lines+markers", name=model_name(name, lang)))
    base_layout(fig, height=340)
    fig.update_layout(xaxis={"title": t("eval.area_share", lang), "tickformat": ".0%"}, yaxis_title="PAI")
    return fig


def coverage_figure(result: dict, lang: str) -> go.Figure:
    names = list(result.get("models", {}))
    cover = [result["models"][n].get("coverage_90") for n in names]
    fig = go.Figure(go.Bar(x=[model_name(n, lang) for n in names], y=cover, marker_color="#1d4e89",
                           name=t("eval.calibration", lang)))
    fig.add_hline(y=0.9, line_dash="dash", line_color="#e53935")
    base_layout(fig, height=340)
    fig.update_layout(yaxis={"range": [0, 1], "tickformat": ".0%"})
    return fig


def col_name(col: str, lang: str) -> str:
    if col == "model":
        return t("eval.model", lang)
    if col == "best":
        return t("eval.winner", lang)
    if "_" in col and col.split("_")[0] in ("hit", "pai", "pei"):
        kind, share = col.split("_", 1)
        name = {"hit": t("eval.hit", lang), "pai": "PAI", "pei": "PEI"}[kind]
        return f"{name} @{float(share):.0%}"
    return {"crps": t("eval.crps", lang), "log_score": t("eval.log_score", lang), "coverage_90": t("eval.calibration", lang),
            "seconds": t("eval.seconds", lang)}.get(col, col)
