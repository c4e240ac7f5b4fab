"""Presentation helpers of the 整治评估 page: the before/after chart and the tables (the
evaluation itself comes from ``Service.intervention``; the sentences from
:mod:`analytics.present.intervention_text`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import dash_table

from analytics.present.i18n import t
from pages._common import FONT_FAMILY, base_layout

__all__ = ["series_figure", "small_table", "indexed"]

#: zone -> (i18n key, colour): the target red, the control blue, the buffer amber.
ZONES: dict[str, tuple[str, str]] = {
    "treated": ("iv.treated", "#c62828"),
    "control": ("iv.control", "#1d4e89"),
    "buffer": ("iv.buffer_zone", "#e0a100"),
}


def indexed(series: pd.DataFrame, zone: str) -> np.ndarray:
    """A zone's weekly counts as an index, its mean before the start = 100 (NaN if that mean is 0)."""
    before = series.loc[~series["post"].astype(bool), zone].mean()
    counts = series[zone].to_numpy(float)
    return counts / before * 100 if before > 0 else np.full(len(counts), np.nan)


def smoothed(index: np.ndarray, post: np.ndarray, weeks: int = 4) -> np.ndarray:
    """Trailing ``weeks``-week mean of ``index``, restarted at the start (never mixing before
    and after)."""
    out = np.empty(len(index))
    for part in (~post, post):
        out[part] = pd.Series(index[part]).rolling(weeks, min_periods=1).mean().to_numpy()
    return out


def series_figure(result: dict, lang: str) -> go.Figure:
    """Weekly incidents of the target, control and buffer zones as indices (mean before = 100,
    4-week moving average, the raw count in the hover), with a vertical line at the start and
    each zone's mean before and after dashed."""
    s = result["series"]
    start = pd.Timestamp(result["intervention"]["start"])
    post = s["post"].astype(bool).to_numpy()
    fig = go.Figure()
    for zone, (key, colour) in ZONES.items():
        y = indexed(s, zone)
        if np.isnan(y).all():
            continue
        name = t(key, lang)
        fig.add_trace(go.Scatter(
            x=s["period"], y=smoothed(y, post), mode="lines", name=name, customdata=s[zone], legendgroup=zone,
            line={"color": colour, "width": 2.8 if zone == "treated" else 1.8},
            hovertemplate=f"{name} %{{x|%Y-%m-%d}}<br>{t('iv.index', lang)} %{{y:.0f}} · %{{customdata}} {t('iv.cases', lang)}<extra></extra>"))
        for part in (~post, post):
            xs = s["period"][part]
            fig.add_trace(go.Scatter(x=[xs.min(), xs.max()], y=[np.nanmean(y[part])] * 2, mode="lines",
                                     line={"color": colour, "dash": "dash", "width": 1.5}, legendgroup=zone,
                                     showlegend=False, hoverinfo="skip"))
    fig.add_shape(type="line", x0=start, x1=start, y0=0, y1=1, yref="paper",
                  line={"color": "#1f2933", "width": 1.5, "dash": "dot"})
    fig.add_annotation(x=start, y=1, yref="paper", text=t("iv.start_line", lang), showarrow=False,
                       xanchor="left", yanchor="top", xshift=4, font={"size": 12})
    base_layout(fig, height=380)
    fig.update_layout(yaxis={"title": t("iv.index", lang), "rangemode": "tozero"}, hovermode="closest",
                      xaxis={"tickformat": "%Y-%m"},
                      legend={"orientation": "h", "y": -0.15})
    return fig


def small_table(id: str, frame: pd.DataFrame) -> dash_table.DataTable:
    """A plain read-only table of display strings and numbers."""
    return dash_table.DataTable(
        id=id, data=frame.to_dict("records"), columns=[{"name": c, "id": c} for c in frame.columns],
        style_cell={"fontFamily": FONT_FAMILY, "fontSize": 14, "textAlign": "left", "padding": "4px 10px"},
        style_header={"fontWeight": "bold"})
