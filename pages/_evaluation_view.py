"""Presentation helpers of the evaluation page: the backtest table and its charts (the backtest
itself comes from ``Service.backtest``)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from analytics.present.i18n import TEXT, t
from pages._common import base_layout

__all__ = ["backtest_table", "pai_figure", "coverage_figure", "col_name", "model_name"]


def model_name(code: str, lang: str) -> str:
    """A model's name for people (「经验贝叶斯（伽马-泊松）」), its code when it has none."""
    key = f"brief.model.{code}"
    return t(key, lang) if key in TEXT else code


def backtest_table(result: dict, lang: str = "zh") -> pd.DataFrame:
    """One row per model: hit rate and PAI at 1/5/10 % of area, PEI at 5 %, CRPS, coverage, seconds."""
    rows = []
    for name, m in result.get("models", {}).items():
        row = {"model": model_name(name, lang)}
        for share in ("0.01", "0.05", "0.10"):
            row[f"hit_{share}"] = round(float(m["hit_rate"].get(share, float("nan"))), 3)
            row[f"pai_{share}"] = round(float(m["pai"].get(share, float("nan"))), 2)
        row["pei_0.05"] = round(float(m.get("pei", {}).get("0.05", float("nan"))), 3)
        row["crps"] = round(float(m.get("crps", float("nan"))), 4)
        row["coverage_90"] = round(float(m.get("coverage_90", float("nan"))), 3)
        row["seconds"] = round(float(m.get("seconds", float("nan"))), 2)
        rows.append(row)
    return pd.DataFrame(rows).sort_values("pai_0.05", ascending=False) if rows else pd.DataFrame()


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
    if "_" in col and col.split("_")[0] in ("hit", "pai", "pei"):
        kind, share = col.split("_", 1)
        name = {"hit": t("eval.hit", lang), "pai": "PAI", "pei": "PEI"}[kind]
        return f"{name} @{float(share):.0%}"
    return {"crps": t("eval.crps", lang), "coverage_90": t("eval.calibration", lang),
            "seconds": t("eval.seconds", lang)}.get(col, col)
