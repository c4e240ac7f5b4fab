"""Presentation helpers of the trends page: the expected-band chart, this year vs last year,
hour × weekday heat map and the CompStat-style window comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analytics.present.i18n import t
from pages._common import LEVEL_COLORS, base_layout

__all__ = ["band_figure", "year_figure", "heatmap_figure", "compstat", "area_incidents", "area_of_incident"]


def band_figure(tr: pd.DataFrame, lang: str) -> go.Figure:
    """Observed counts over the q80 / q95 band of the expected count, warning markers on top.

    ``tr`` is analytics.service.board.trend's frame: period, observed, expected, q80, q95, q99, level.
    """
    x = pd.to_datetime(tr["period"])
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=tr["q95"], mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=x, y=np.zeros(len(tr)), mode="lines", line={"width": 0}, fill="tonexty",
                             fillcolor="rgba(29,78,137,0.12)", name=t("trend.band95", lang), hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=x, y=tr["q80"], mode="lines", line={"width": 0}, fill="tozeroy",
                             fillcolor="rgba(29,78,137,0.18)", name=t("trend.band80", lang), hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=x, y=tr["expected"], mode="lines", line={"color": "#1d4e89", "dash": "dot"},
                             name=t("trend.expected", lang)))
    fig.add_trace(go.Scatter(x=x, y=tr["observed"], mode="lines+markers", line={"color": "#1f2933"},
                             marker={"size": 4}, name=t("trend.observed", lang)))
    for lv in ("yellow", "orange", "red"):
        hit = tr["level"].astype(str) == lv
        if hit.any():
            fig.add_trace(go.Scatter(x=x[hit], y=tr.loc[hit, "observed"], mode="markers",
                                     marker={"size": 11, "color": LEVEL_COLORS[lv], "line": {"color": "#333", "width": 1}},
                                     name=f"{t('trend.warnings', lang)}·{t('level.' + lv, lang)}"))
    base_layout(fig, height=360)
    fig.update_layout(hovermode="x unified")
    fig.update_xaxes(tickformat="%Y-%m")
    return fig


def year_figure(frame: pd.DataFrame, end: pd.Timestamp, lang: str) -> go.Figure:
    """Weekly counts of this year against the same weeks of last year (incidents in ``frame``)."""
    fig = go.Figure()
    for offset, key, dash_ in ((0, "trend.this_year", "solid"), (1, "trend.last_year", "dot")):
        year = end.year - offset
        sel = frame[frame["date"].dt.year == year]
        weekly = sel.groupby(sel["date"].dt.isocalendar().week.astype(int)).size()
        if offset == 0:
            weekly = weekly[weekly.index <= end.isocalendar().week]
        weekly = weekly[weekly.index <= 52]
        fig.add_trace(go.Scatter(x=weekly.index, y=weekly.to_numpy(), mode="lines+markers",
                                 line={"dash": dash_}, name=f"{t(key, lang)} ({year})"))
    base_layout(fig, height=300)
    fig.update_layout(xaxis_title="ISO week")
    return fig


def heatmap_figure(frame: pd.DataFrame, lang: str) -> go.Figure:
    """Counts by hour of day (x) and weekday (y)."""
    cube = pd.crosstab(frame["weekday"], frame["hour"]).reindex(index=range(7), columns=range(24), fill_value=0)
    fig = go.Figure(go.Heatmap(z=cube.to_numpy(), x=list(range(24)), y=[t(f"wd.{d}", lang) for d in range(7)],
                               colorscale="YlOrRd", hovertemplate="%{y} %{x}:00 — %{z}<extra></extra>",
                               colorbar={"thickness": 10}))
    base_layout(fig, height=300)
    fig.update_layout(yaxis={"autorange": "reversed"})
    return fig


def compstat(frame: pd.DataFrame, end: pd.Timestamp, lang: str) -> pd.DataFrame:
    """CompStat windows ending on ``end`` (inclusive): last 28 days vs the previous 28 and the
    same 28 days last year; year to date vs last year to date.

    Returns a frame with columns window, current, compare, change (fraction, NaN if compare = 0).
    """
    d = frame["date"]
    end = pd.Timestamp(end).normalize()

    def n(lo, hi):
        return int(((d >= lo) & (d <= hi)).sum())

    last28 = (end - pd.Timedelta(days=27), end)
    prev28 = (end - pd.Timedelta(days=55), end - pd.Timedelta(days=28))
    ly28 = (last28[0] - pd.DateOffset(years=1), end - pd.DateOffset(years=1))
    ytd = (pd.Timestamp(year=end.year, month=1, day=1), end)
    lytd = (pd.Timestamp(year=end.year - 1, month=1, day=1), end - pd.DateOffset(years=1))
    rows = [
        (f"{t('trend.last28', lang)} / {t('trend.prev28', lang)}", n(*last28), n(*prev28)),
        (f"{t('trend.last28', lang)} / {t('trend.ly28', lang)}", n(*last28), n(*ly28)),
        (f"{t('trend.ytd', lang)} / {t('trend.ly_ytd', lang)}", n(*ytd), n(*lytd)),
    ]
    out = pd.DataFrame(rows, columns=["window", "current", "compare"])
    out["change"] = np.where(out["compare"] > 0, (out["current"] - out["compare"]) / out["compare"].where(out["compare"] > 0), np.nan)
    return out


def area_incidents(frame: pd.DataFrame, area_of: pd.Series | None, area_id: str | None) -> pd.Series:
    """Mask of the rows of ``frame`` whose area (``area_of``, aligned on the incident frame's
    index) is ``area_id``; all rows when there is no area or no assignments."""
    if not area_id or area_of is None:
        return pd.Series(True, index=frame.index)
    return pd.Series(area_of.reindex(frame.index).to_numpy() == str(area_id), index=frame.index)


def area_of_incident(ws, frame: pd.DataFrame, layer: str) -> pd.Series | None:
    """The ``layer`` area_id of every row of ``frame`` (incident frame), from assignments.parquet.

    Computed once per workspace stamp by the page (a join on 300,000 ids costs a few hundred
    ms; comparing an aligned array afterwards costs a few)."""
    if not ws.assignments_path.exists():
        return None
    assign = pd.read_parquet(ws.assignments_path, columns=["incident_id", layer])
    area = frame[["incident_id"]].merge(assign, on="incident_id", how="left")[layer]
    return pd.Series(area.astype(object).to_numpy(), index=frame.index)
