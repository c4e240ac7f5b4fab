"""Presentation helpers of the trends page: the expected-band chart, this year vs last year,
hour × weekday heat map and the CompStat-style window comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analytics.present.i18n import t
from pages._common import LEVEL_COLORS, base_layout

__all__ = ["band_figure", "year_figure", "heatmap_figure", "compstat_labels"]


def band_figure(tr: pd.DataFrame, lang: str) -> go.Figure:
    """Observed counts over the usual range of the expected count, warning markers on top.

    ``tr`` is analytics.service.board.trend's frame: period, observed, expected, q05, q80, q95,
    q99, level. The band runs from the 5 % to the 95 % quantile (a 90 % interval) and, darker,
    from 5 % to 80 % — from the lower quantile, never from zero.
    """
    x = pd.to_datetime(tr["period"])
    low = tr["q05"] if "q05" in tr else pd.Series(np.zeros(len(tr)), index=tr.index)
    fig = go.Figure()
    for upper, key, alpha in (("q95", "trend.band95", 0.12), ("q80", "trend.band80", 0.18)):
        fig.add_trace(go.Scatter(x=x, y=low, mode="lines", line={"width": 0}, showlegend=False,
                                 hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=x, y=tr[upper], mode="lines", line={"width": 0}, fill="tonexty",
                                 fillcolor=f"rgba(29,78,137,{alpha})", name=t(key, lang), hoverinfo="skip"))
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


def year_figure(frame: pd.DataFrame, end: pd.Timestamp, lang: str, start: pd.Timestamp | None = None) -> go.Figure:
    """Weekly counts of this ISO year against the same ISO weeks of last year.

    Weeks without a case are drawn as zeros (not skipped and joined over); weeks before the data
    begin (``start``, default the first incident in ``frame``) are left empty.
    """
    fig = go.Figure()
    iso = frame["date"].dt.isocalendar()
    end_iso = pd.Timestamp(end).isocalendar()
    first = pd.Timestamp(start if start is not None else (frame["date"].min() if len(frame) else end))
    for offset, key, dash_ in ((0, "trend.this_year", "solid"), (1, "trend.last_year", "dot")):
        year = end_iso.year - offset
        last_week = end_iso.week if offset == 0 else 52
        weeks = pd.RangeIndex(1, last_week + 1)
        counts = iso["week"][(iso["year"] == year).to_numpy()].astype(int).value_counts()
        y = counts.reindex(weeks, fill_value=0).astype(float)
        monday = pd.to_datetime([pd.Timestamp.fromisocalendar(year, int(w), 1) for w in weeks])
        y[np.asarray(monday + pd.Timedelta(days=6) < first.normalize())] = np.nan  # no data yet
        fig.add_trace(go.Scatter(x=weeks, y=y.to_numpy(), mode="lines+markers", connectgaps=False,
                                 line={"dash": dash_}, name=f"{t(key, lang)} ({year})"))
    base_layout(fig, height=300)
    fig.update_layout(xaxis_title=t("trend.week_axis", lang))
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


def compstat_labels(table: pd.DataFrame, lang: str) -> pd.DataFrame:
    """CompStat windows (:func:`analytics.service.incidents.compstat`) with their names in ``lang``."""
    names = {"last28/prev28": ("trend.last28", "trend.prev28"), "last28/ly28": ("trend.last28", "trend.ly28"),
             "ytd/ly_ytd": ("trend.ytd", "trend.ly_ytd")}
    window = [f"{t(names[w][0], lang)} / {t(names[w][1], lang)}" for w in table["window"]]
    return table.assign(window=window)
