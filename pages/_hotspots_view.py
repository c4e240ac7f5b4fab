"""Presentation helpers of the hotspot page: incident filters, selection regions and figures.

The statistics (Gi*, emerging hot spots, Knox) and the incident filters come from the service;
here incidents are only drawn. The map is a lon/lat cartesian plot (scaleanchor keeps the aspect),
so box / lasso selections come back as plain coordinates for cross-filtering.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analytics.present.i18n import label, t
from analytics.service.maps import polygons_xy
from pages._common import base_layout, layout_dict
from pages._maps import plain_text

__all__ = ["selected_values", "incident_map", "count_bar", "class_traces", "HOT_COLORS"]

#: Hot/cold class colours (ArcGIS-like reds and blues).
HOT_COLORS: dict[str, str] = {
    "hot_99": "#b2182b", "hot_95": "#ef8a62", "hot_90": "#fddbc7",
    "cold_99": "#2166ac", "cold_95": "#67a9cf", "cold_90": "#d1e5f0",
}


def selected_values(selected: dict | None) -> list | None:
    """x values of the bars picked by a click or box selection on a bar chart (None = all)."""
    if not selected or not selected.get("points"):
        return None
    return sorted({p["x"] for p in selected["points"]})


def incident_map(svc, frame: pd.DataFrame, view: str, lang: str, overlays: dict, outline_layer: str,
                 height: int = 620) -> dict:
    """Points / density / grid counts of ``frame`` with area outlines and overlay layers.

    A plain figure dict with rounded coordinates: tens of thousands of points serialise in
    tens of milliseconds (``go.Figure`` validation would cost more than the data).
    """
    # numpy arrays go to orjson as they are (lists would be walked value by value)
    lon_pts = np.round(frame["lon"].to_numpy(dtype=float), 5)
    lat_pts = np.round(frame["lat"].to_numpy(dtype=float), 5)
    data = list(overlays.get("classes", []))
    lon, lat = polygons_xy(svc.layer_geojson(outline_layer))
    data.append({"type": "scattergl", "x": lon, "y": lat, "mode": "lines", "hoverinfo": "skip",
                 "line": {"color": "#8a94a3", "width": 1}, "showlegend": False})
    if view == "density" and len(frame):
        data.append({"type": "histogram2dcontour", "x": lon_pts, "y": lat_pts, "colorscale": "YlOrRd",
                     "ncontours": 12, "showscale": False, "opacity": 0.7, "hoverinfo": "skip",
                     "contours": {"coloring": "fill", "showlines": False}, "name": t("hot.density", lang)})
    elif view == "grid" and len(frame):
        data.append({"type": "histogram2d", "x": lon_pts, "y": lat_pts, "nbinsx": 60, "nbinsy": 60,
                     "colorscale": [[0, "rgba(255,255,255,0)"], [0.001, "#fff3b0"], [1, "#b10026"]],
                     "colorbar": {"thickness": 10, "len": 0.5, "title": {"text": t("col.count", lang)}},
                     "name": t("hot.grid_counts", lang)})
    # Points are always drawn (faint under a surface) so box / lasso selection works in every view.
    cats = frame["category"].astype(str)
    names = {c: label(c, lang) for c in cats.unique()}
    hover = (pd.Series(plain_text(cats.map(names)), index=frame.index) + "<br>" + frame["when"]).tolist()
    data.append({"type": "scattergl", "x": lon_pts, "y": lat_pts, "mode": "markers", "name": t("hot.points", lang),
                 "marker": {"size": 4 if view == "points" else 2, "color": "#1d4e89",
                            "opacity": 0.55 if view == "points" else 0.15},
                 "hovertext": hover, "hoverinfo": "text"})
    if overlays.get("cameras") is not None:
        cams = overlays["cameras"]
        data.append({"type": "scattergl", "x": np.round(cams["lon"].to_numpy(dtype=float), 5),
                     "y": np.round(cams["lat"].to_numpy(dtype=float), 5), "mode": "markers",
                     "name": t("hot.cameras", lang), "hoverinfo": "name",
                     "marker": {"symbol": "triangle-up", "size": 5, "color": "#6a1b9a", "opacity": 0.45}})
    ratio = 1 / np.cos(np.radians(_mid_lat(frame, lat)))
    layout = layout_dict(height=height)
    layout.update(xaxis={"visible": False}, yaxis={"visible": False, "scaleanchor": "x", "scaleratio": ratio},
                  dragmode="lasso", margin={"l": 0, "r": 0, "t": 10, "b": 0}, uirevision="hot-map",
                  legend={"orientation": "h", "y": 0, "yanchor": "top", "x": 0})
    return {"data": data, "layout": layout}


def class_traces(svc, layer: str, table: pd.DataFrame, lang: str, colors: dict[str, str],
                 column: str = "class") -> list[dict]:
    """One filled polygon trace per hot/cold class of ``table`` (area_id and ``column``)."""
    gj = svc.layer_geojson(layer)
    traces = []
    for cls, color in colors.items():
        ids = table.loc[table[column].astype(str) == cls, "area_id"].astype(str)
        if ids.empty:
            continue
        lon, lat = polygons_xy(gj, ids)
        traces.append({"type": "scatter", "x": lon, "y": lat, "fill": "toself", "mode": "lines",
                       "fillcolor": color, "line": {"color": color, "width": 0.5}, "name": label(cls, lang),
                       "hoverinfo": "name", "opacity": 0.75})
    return traces


def count_bar(values: pd.Series, lang: str, title: str, selected: list | None = None,
              labels: dict | None = None) -> go.Figure:
    """A bar chart of counts (hour, weekday, category) that can be clicked / box-selected."""
    x = values.index.tolist()
    colors = ["#1d4e89" if selected is None or v in selected else "#b8c4d4" for v in x]
    text = [labels.get(v, v) for v in x] if labels else None
    fig = go.Figure(go.Bar(x=x, y=values.to_numpy(), marker_color=colors, hovertext=text,
                           hovertemplate="%{hovertext}: %{y}<extra></extra>" if text else "%{x}: %{y}<extra></extra>"))
    if labels:
        fig.update_xaxes(tickmode="array", tickvals=x, ticktext=text)
    base_layout(fig, height=220)
    fig.update_layout(dragmode="select",
                      clickmode="event+select", margin={"l": 30, "r": 8, "t": 24, "b": 30})
    return fig


def _mid_lat(frame: pd.DataFrame, lat) -> float:
    vals = np.asarray(lat, dtype=float)
    vals = vals[np.isfinite(vals)]
    if vals.size:
        return float((vals.min() + vals.max()) / 2)
    return float(frame["lat"].mean()) if len(frame) else 30.0
