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
from analytics.service.basemap import cover
from analytics.service.maps import polygons_xy
from pages._common import base_layout, layout_dict
from pages._maps import plain_text

__all__ = ["selected_values", "effective_filters", "incident_map", "tile_images", "density_trace", "count_bar", "class_traces", "HOT_COLORS",
           "DENSITY_COLORS", "DENSITY_FLOOR"]

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


#: Kernel density colours: transparent below :data:`DENSITY_FLOOR` of the peak, so the outlines
#: and the quiet parts of the city stay visible; then yellow → dark red.
DENSITY_COLORS = [[0.0, "rgba(255,255,178,0.35)"], [0.25, "#fecc5c"], [0.5, "#fd8d3c"],
                  [0.75, "#f03b20"], [1.0, "#bd0026"]]
DENSITY_FLOOR = 0.03


def effective_filters(hours, weekdays, hour_pick: list | None, wd_pick: list | None) -> tuple[tuple, list]:
    """The hours (inclusive pair) and weekdays of the incidents on the map: the sliders and
    checkboxes narrowed by the bars picked in the hour / weekday charts (no weekday = none)."""
    low, high = (int(h) for h in (hours or (0, 23)))
    days = sorted({int(d) for d in (range(7) if weekdays is None else weekdays)})
    if hour_pick:
        low, high = max(low, int(min(hour_pick))), min(high, int(max(hour_pick)))
    if wd_pick:
        days = sorted(set(days) & {int(d) for d in wd_pick})
    if low > high:  # the picked hours lie outside the slider's range: nothing is on the map
        return (0, 23), []
    return (low, high), days


def density_trace(surface: dict, lang: str) -> dict:
    """A heatmap of the service's kernel density (:meth:`Service.density`) on its lon/lat nodes,
    in incidents per km², with values under :data:`DENSITY_FLOOR` of the peak left out."""
    z = np.asarray(surface["density"], dtype=float)
    peak = float(z.max()) if z.size else 0.0
    z = np.where(z >= DENSITY_FLOOR * peak, np.round(z, 2), np.nan) if peak > 0 else np.full(z.shape, np.nan)
    unit = t("hot.density_unit", lang)
    return {"type": "heatmap", "x": np.round(surface["lon"], 6), "y": np.round(surface["lat"], 6), "z": z,
            "zmin": 0, "zmax": peak or 1, "colorscale": DENSITY_COLORS, "zsmooth": "best", "opacity": 0.8,
            "name": t("hot.density", lang), "hovertemplate": "%{z:.1f} " + unit + "<extra></extra>",
            "colorbar": {"thickness": 10, "len": 0.5, "title": {"text": unit, "side": "right"}}}


def incident_map(svc, frame: pd.DataFrame, view: str, lang: str, overlays: dict, outline_layer: str,
                 height: int = 620, density: dict | None = None, basemap: dict | None = None) -> dict:
    """Points (or the kernel ``density`` surface under faint points) of ``frame`` with area
    outlines and overlay layers.

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
    if view == "density" and density is not None:
        data.insert(0, density_trace(density, lang))  # under the outlines and the overlays
    # Points are always drawn so box / lasso selection works in every view.
    cats = frame["category"].astype(str)
    names = {c: label(c, lang) for c in cats.unique()}
    hover = (pd.Series(plain_text(cats.map(names)), index=frame.index) + "<br>" + frame["when"]).tolist()
    # Under the KDE they are invisible and silent (stacked faint points would paint the peaks
    # blue and their labels would hide the density's), yet still selectable.
    surface = view == "density" and density is not None
    data.append({"type": "scattergl", "x": lon_pts, "y": lat_pts, "mode": "markers", "name": t("hot.points", lang),
                 "marker": {"size": 4 if not surface else 3, "color": "#1d4e89",
                            "opacity": 0.55 if not surface else 0.0},
                 "hovertext": hover, "hoverinfo": "text" if not surface else "skip",
                 "showlegend": not surface})
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
    if basemap:
        layout["images"] = tile_images(basemap, lon, lat)
    return {"data": data, "layout": layout}


def tile_images(basemap: dict, lon, lat, max_tiles: int = 48) -> list[dict]:
    """The base map's tiles over the extent of ``lon``/``lat`` as layout images under the
    traces of a lon/lat plot (this map stays cartesian for its box/lasso selection and the
    KDE heatmap). Each tile is stretched between its edges in degrees; within one tile the
    Web Mercator rows are linear in latitude to well under a pixel at city zooms."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if not np.isfinite(lon).any():
        return []
    bounds = (np.nanmin(lon), np.nanmin(lat), np.nanmax(lon), np.nanmax(lat))
    tiles = cover(bounds, max_tiles=max_tiles, minzoom=int(basemap.get("minzoom", 0)),
                  maxzoom=int(basemap.get("maxzoom", 18)))
    url = str(basemap["tiles"])
    return [{"source": url.replace("{z}", str(t["z"])).replace("{x}", str(t["x"])).replace("{y}", str(t["y"])),
             # 0.4 % wider and taller than the tile: no hairline seams where the browser antialiases
             "xref": "x", "yref": "y", "x": t["west"], "y": t["north"], "sizex": (t["east"] - t["west"]) * 1.004,
             "sizey": (t["north"] - t["south"]) * 1.004, "sizing": "stretch", "xanchor": "left", "yanchor": "top",
             "layer": "below", "opacity": float(basemap.get("opacity", 1.0))} for t in tiles]


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
