"""Presentation helpers of the evaluation page: the workspace's cached backtest and its charts."""

from __future__ import annotations

import json

import pandas as pd
import plotly.graph_objects as go

from analytics.present.i18n import t
from pages._common import base_layout, optional

__all__ = ["workspace_backtest", "backtest_table", "pai_figure", "coverage_figure", "col_name",
           "CELL_M", "TEST_WEEKS", "SLOW_MODELS"]

#: Backtest settings for the workspace: 500 m cells, weekly, the last 12 weeks as test periods.
CELL_M = 500.0
TEST_WEEKS = 12
#: Models left out of the in-app backtest: minutes instead of seconds on a 2-core machine
#: (``pingan backtest`` runs them).
SLOW_MODELS = frozenset({"gbm"})


def workspace_backtest(ws) -> dict | None:
    """The backtest JSON of the workspace, computed once and cached in ``W/cache/backtest.json``."""
    path = ws.path / "cache" / "backtest.json"
    stamp = ws.stamp()
    if path.exists():
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached.get("_stamp") == stamp:
            return cached
    bt = optional("analytics.backtest")
    if bt is None:
        return None
    end = pd.Timestamp(ws.incidents_frame(["occurred_at"])["occurred_at"].max()).normalize()
    start = (end - pd.Timedelta(weeks=TEST_WEEKS)).to_period("W-SUN").start_time
    models = [m for m in _registry() if m not in SLOW_MODELS]
    result = bt.backtest_file(str(ws.incidents_path), cell=CELL_M, freq="W", start=str(start.date()),
                              end=None, category=None, models=models or None)
    result = {**result, "_stamp": stamp}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    return result


def _registry() -> list[str]:
    models = optional("analytics.models")
    return list(getattr(models, "MODELS", {})) if models is not None else []


def backtest_table(result: dict) -> pd.DataFrame:
    """One row per model: hit rate and PAI at 1/5/10 % of area, PEI at 5 %, CRPS, coverage, seconds."""
    rows = []
    for name, m in result.get("models", {}).items():
        row = {"model": name}
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
                                 mode="lines+markers", name=name))
    base_layout(fig, height=340)
    fig.update_layout(xaxis={"title": t("eval.area_share", lang), "tickformat": ".0%"}, yaxis_title="PAI")
    return fig


def coverage_figure(result: dict, lang: str) -> go.Figure:
    names = list(result.get("models", {}))
    cover = [result["models"][n].get("coverage_90") for n in names]
    fig = go.Figure(go.Bar(x=names, y=cover, marker_color="#1d4e89", name=t("eval.calibration", lang)))
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
