"""Map figures of the pages: the four-colour choropleth (board, big screen) and value maps.

Plain ``go.Choropleth`` on a geo subplot with ``visible=False`` (no base map, so plotly.js
fetches no topojson) and ``fitbounds="locations"``; geometry comes from analytics.mapdata.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analytics.i18n import label, t
from analytics.mapdata import subset
from pages._common import FONT_FAMILY, LEVEL_COLORS, LEVELS, base_layout

__all__ = ["level_map", "value_map", "GEO"]

#: Geo subplot without any base map: nothing is fetched from the web.
GEO = dict(visible=False, fitbounds="locations", projection_type="mercator",
           bgcolor="rgba(0,0,0,0)", showframe=False)

_NO_LEVEL = "#c9ced6"


def _discrete_scale() -> list[list]:
    n = len(LEVELS)
    scale = []
    for i, lv in enumerate(LEVELS):
        scale += [[i / n, LEVEL_COLORS[lv]], [(i + 1) / n, LEVEL_COLORS[lv]]]
    return scale


def level_map(geojson: dict, frame: pd.DataFrame, lang: str, *, dark: bool = False,
              height: int = 560, labels: bool | None = None) -> go.Figure:
    """Four-colour choropleth of ``frame`` (area_id, name, level, observed, expected, reason_*).

    Parameters
    ----------
    geojson : dict
        FeatureCollection with ``id`` = area_id (analytics.mapdata.layer_geojson).
    frame : DataFrame
        One row per area to draw, with the warning table's columns.
    lang : str
        Language of hover text.
    labels : bool, optional
        Write area names on the map; default when at most 40 areas are drawn.
    """
    ids = frame["area_id"].astype(str).to_numpy()
    gj = subset(geojson, ids)
    level = pd.Categorical(frame["level"].astype("string").to_numpy(dtype=object), categories=list(LEVELS))
    z = np.where(level.codes >= 0, level.codes, np.nan).astype(float)
    reason = frame.get(f"reason_{lang}", frame.get("reason_zh", pd.Series([""] * len(frame))))
    custom = np.column_stack([
        frame["name"].astype(str).to_numpy(),
        frame.get("observed", pd.Series([np.nan] * len(frame))).to_numpy(),
        np.round(frame.get("expected", pd.Series([np.nan] * len(frame))).to_numpy(dtype=float), 1),
        [label(v, lang) if isinstance(v, str) else "" for v in level.astype(object)],
        reason.fillna("").astype(str).to_numpy(),
    ])
    hover = (f"<b>%{{customdata[0]}}</b><br>{t('col.observed', lang)}: %{{customdata[1]}}"
             f"<br>{t('col.expected', lang)}: %{{customdata[2]}}<br>{t('col.level', lang)}: %{{customdata[3]}}"
             "<br>%{customdata[4]}<extra></extra>")
    line = "#0b1726" if dark else "#ffffff"
    fig = go.Figure(go.Choropleth(
        geojson=gj, locations=ids, featureidkey="id", z=z, zmin=0, zmax=len(LEVELS),
        colorscale=_discrete_scale(), showscale=False, customdata=custom, hovertemplate=hover,
        marker={"line": {"color": line, "width": 0.4 if len(ids) > 300 else 1.0}},
    ))
    if np.isnan(z).any():  # areas without a level (no data) in neutral grey underneath
        missing = ids[np.isnan(z)]
        fig.add_trace(go.Choropleth(geojson=gj, locations=missing, featureidkey="id",
                                    z=np.zeros(len(missing)), colorscale=[[0, _NO_LEVEL], [1, _NO_LEVEL]],
                                    showscale=False, hoverinfo="skip"))
    if labels if labels is not None else len(ids) <= 40:
        lon, lat = _label_points(frame)
        if lon is not None:
            fig.add_trace(go.Scattergeo(lon=lon, lat=lat, text=frame["name"].astype(str), mode="text",
                                        textfont={"family": FONT_FAMILY, "size": 16 if dark else 11,
                                                  "color": "#ffffff" if dark else "#1f2933"},
                                        hoverinfo="skip"))
    fig.update_geos(**GEO)
    fig.update_layout(clickmode="event", dragmode=False)
    base_layout(fig, dark=dark, height=height)
    fig.update_layout(margin={"l": 0, "r": 0, "t": 0, "b": 0})
    return fig


def value_map(geojson: dict, ids, values, names, title: str, *, colorscale: str = "YlOrRd",
              zmid: float | None = None, height: int = 520) -> go.Figure:
    """Continuous choropleth (counts, z-scores) of the given areas."""
    ids = np.asarray(ids).astype(str)
    gj = subset(geojson, ids)
    fig = go.Figure(go.Choropleth(
        geojson=gj, locations=ids, featureidkey="id", z=np.asarray(values, dtype=float),
        zmid=zmid, colorscale=colorscale, text=np.asarray(names).astype(str),
        hovertemplate="<b>%{text}</b><br>%{z:.2f}<extra></extra>",
        marker={"line": {"color": "#ffffff", "width": 0.3}},
        colorbar={"title": {"text": title}, "thickness": 12, "len": 0.6},
    ))
    fig.update_geos(**GEO)
    base_layout(fig, height=height)
    fig.update_layout(margin={"l": 0, "r": 0, "t": 0, "b": 0})
    return fig


def _label_points(frame: pd.DataFrame):
    if "lon" in frame and "lat" in frame:
        return frame["lon"].to_numpy(), frame["lat"].to_numpy()
    return None, None
