"""Map figures of the pages: the four-colour choropleth (board, big screen) and value maps.

Plain ``go.Choropleth`` on a geo subplot with ``visible=False`` (no base map, so plotly.js
fetches no topojson) and ``fitbounds="locations"``; geometry comes from analytics.service.maps.

With a base map (``config.toml`` ``[basemap]``, :meth:`Service.basemap`) the same figure is drawn
on MapLibre instead (:func:`on_tiles`: ``choroplethmap`` on a ``map`` subplot whose style is one
raster source — the intranet server's or the app's ``/tiles`` route — and no glyphs, sprites or
hosted styles, so nothing is fetched from the internet; text labels need glyphs and are left out).
"""

from __future__ import annotations

import math

import flask
import numpy as np
import pandas as pd

from analytics.present.i18n import label, t
from analytics.service.maps import polygons_xy, subset
from pages._common import FONT_FAMILY, LEVEL_COLORS, LEVELS, layout_dict

__all__ = ["level_map", "value_map", "plain_text", "GEO", "on_tiles", "background"]

#: Geo subplot without any base map: nothing is fetched from the web.
GEO = dict(visible=False, fitbounds="locations", projection_type="mercator",
           bgcolor="rgba(0,0,0,0)", showframe=False)

_NO_LEVEL = "#c9ced6"


def plain_text(values) -> np.ndarray:
    """Names from data as plotly text: ``<``, ``>`` and ``&`` escaped, so a name such as
    ``<a href="http://…">`` shows as text instead of becoming a live link in a hover or label."""
    out = np.asarray(values).astype(str)
    for ch, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        out = np.char.replace(out, ch, entity)
    return out


def _with_rate(text: np.ndarray, frame: pd.DataFrame, lang: str) -> np.ndarray:
    """「12」 → 「12 · 万人发案率 3.45」 where the area has a population (the hover's cases line)."""
    if "rate" not in frame:
        return text
    rate = frame["rate"].to_numpy(float)
    extra = np.char.mod(f" · {t('col.rate', lang)} %.2f", np.nan_to_num(rate))
    return np.where(np.isfinite(rate), np.char.add(text, extra), text).astype(str)


def _discrete_scale() -> list[list]:
    n = len(LEVELS)
    scale = []
    for i, lv in enumerate(LEVELS):
        scale += [[i / n, LEVEL_COLORS[lv]], [(i + 1) / n, LEVEL_COLORS[lv]]]
    return scale


def level_map(geojson: dict, frame: pd.DataFrame, lang: str, *, dark: bool = False,
              height: int | None = 560, labels: bool | None = None, basemap: dict | None = None) -> dict:
    """Four-colour choropleth of ``frame`` (area_id, name, level, observed, expected, reason_*).

    Returned as a plain figure dict: ``go.Figure`` would deep-copy and validate the GeoJSON of
    every 网格 on each redraw (half a second for 2,500 grids); a dict goes straight to JSON.

    Parameters
    ----------
    geojson : dict
        FeatureCollection with ``id`` = area_id (analytics.service.maps.layer_geojson).
    frame : DataFrame
        One row per area to draw, with the warning table's columns.
    lang : str
        Language of hover text.
    labels : bool, optional
        Write area names on the map; default when at most 40 areas are drawn (not on a base
        map: MapLibre text needs glyph files).
    basemap : dict, optional
        :meth:`Service.basemap`: draw on these tiles (:func:`on_tiles`).
    """
    ids = frame["area_id"].astype(str).to_numpy()
    level = pd.Categorical(frame["level"].astype("string").to_numpy(dtype=object), categories=list(LEVELS))
    z = np.where(level.codes >= 0, level.codes, np.nan).astype(float)
    reason = frame.get(f"reason_{lang}", frame.get("reason_zh", pd.Series([""] * len(frame))))
    expected = np.round(frame["expected"].to_numpy(dtype=float), 1) if "expected" in frame else np.full(len(frame), np.nan)
    # Text arrays (numpy "U") reach the JSON encoder as one list; plotly walks object lists
    # value by value, which dominated the redraw of 2,500 网格.
    observed = frame["observed"].to_numpy() if "observed" in frame else np.full(len(frame), np.nan)
    custom = np.column_stack([
        plain_text(frame["name"].astype(str).to_numpy(dtype=str)),
        _with_rate(np.where(pd.isna(observed), "", pd.Series(observed).astype(str).str.removesuffix(".0"))
                   .astype(str), frame, lang),
        np.where(np.isnan(expected), "", np.char.mod("%.1f", np.nan_to_num(expected))).astype(str),
        np.array([label(v, lang) if isinstance(v, str) else t("board.no_data", lang)
                  for v in level.astype(object)], dtype=str),
        plain_text(reason.fillna("").astype(str).to_numpy(dtype=str)),
    ])
    hover = (f"<b>%{{customdata[0]}}</b><br>{t('col.observed', lang)}: %{{customdata[1]}}"
             f"<br>{t('col.expected', lang)}: %{{customdata[2]}}<br>{t('col.level', lang)}: %{{customdata[3]}}"
             "<br>%{customdata[4]}<extra></extra>")
    gj = subset(geojson, ids)
    data = []
    missing = np.isnan(z)
    if missing.any():  # areas without a level (no data) in neutral grey
        data.append({"type": "choropleth", "geojson": gj, "locations": ids[missing].tolist(),
                     "featureidkey": "id", "z": [0] * int(missing.sum()), "showscale": False,
                     "colorscale": [[0, _NO_LEVEL], [1, _NO_LEVEL]], "hoverinfo": "skip"})
    data.append({
        "type": "choropleth", "geojson": gj, "locations": ids.astype(str), "featureidkey": "id",
        "z": z, "zmin": 0, "zmax": len(LEVELS),
        "colorscale": _discrete_scale(), "showscale": False, "customdata": custom, "hovertemplate": hover,
        "marker": {"line": {"color": "#0b1726" if dark else "#ffffff", "width": 0.4 if len(ids) > 300 else 1.0}},
    })
    if labels if labels is not None else len(ids) <= 40:
        lon, lat = _label_points(frame)
        if lon is not None:
            data.append({"type": "scattergeo", "lon": lon.tolist(), "lat": lat.tolist(),
                         "text": plain_text(frame["name"]).tolist(), "mode": "text", "hoverinfo": "skip",
                         "textfont": {"family": FONT_FAMILY, "size": 16 if dark else 11,
                                      "color": "#ffffff" if dark else "#1f2933"}})
    layout = layout_dict(dark=dark, height=height)
    layout.update(geo=_geo_dict(), clickmode="event", dragmode=False, showlegend=False,
                  margin={"l": 0, "r": 0, "t": 0, "b": 0})
    fig = {"data": data, "layout": layout}
    return on_tiles(fig, gj, basemap, dark=dark, size=(720, height or 760)) if basemap else fig


def value_map(geojson: dict, ids, values, names, title: str, *, colorscale: str = "YlOrRd",
              zmid: float | None = None, height: int = 520, basemap: dict | None = None) -> dict:
    """Continuous choropleth (counts, z-scores) of the given areas, as a figure dict."""
    ids = np.asarray(ids).astype(str)
    trace = {"type": "choropleth", "geojson": subset(geojson, ids), "locations": ids.tolist(),
             "featureidkey": "id", "z": np.asarray(values, dtype=float).tolist(), "colorscale": colorscale,
             "text": plain_text(names).tolist(),
             "hovertemplate": "<b>%{text}</b><br>%{z:.2f}<extra></extra>",
             "marker": {"line": {"color": "#ffffff", "width": 0.3}},
             "colorbar": {"title": {"text": title}, "thickness": 12, "len": 0.6}}
    if zmid is not None:
        trace["zmid"] = zmid
    layout = layout_dict(height=height)
    layout.update(geo=_geo_dict(), margin={"l": 0, "r": 0, "t": 0, "b": 0})
    fig = {"data": [trace], "layout": layout}
    return on_tiles(fig, trace["geojson"], basemap, size=(720, height)) if basemap else fig


def background(svc) -> dict | None:
    """The base map of ``svc``'s workspace for a figure, or None: :meth:`Service.basemap` with the
    tile route made absolute for this request (MapLibre may fetch from a worker, where a relative
    URL resolves against nothing)."""
    origin = flask.request.host_url if flask.has_request_context() else ""
    return svc.basemap(origin)


#: Opacity of the coloured areas over a base map (the streets stay readable through them).
AREA_OPACITY = 0.6


def on_tiles(fig: dict, geojson: dict, basemap: dict, *, dark: bool = False,
             size: tuple[int, int] = (900, 560)) -> dict:
    """``fig`` (choropleth traces on a geo subplot) redrawn on a MapLibre ``map`` subplot over the
    raster tiles of ``basemap`` (:meth:`Service.basemap`), fitted to ``geojson``'s bounds.

    The style is a dict with one raster source and a plain background layer: no hosted style, no
    glyphs, no sprite (a text trace would need glyphs, so label traces are dropped). Colours,
    hover and ``clickData`` (``points[0].location``) stay as they were; the areas become
    :data:`AREA_OPACITY` translucent so the tiles show through. ``size`` is the map's expected
    size in pixels, for the zoom that fits the areas.
    """
    data = []
    for trace in fig["data"]:
        if trace.get("type") == "choropleth":
            trace = {**trace, "type": "choroplethmap",
                     "marker": {**trace.get("marker", {}), "opacity": AREA_OPACITY}}
            data.append(trace)
        elif trace.get("type") != "scattergeo":
            data.append(trace)
    source = {"type": "raster", "tiles": [basemap["tiles"]], "tileSize": 256,
              "minzoom": int(basemap.get("minzoom", 0)), "maxzoom": int(basemap.get("maxzoom", 18))}
    if basemap.get("attribution"):
        source["attribution"] = str(plain_text([basemap["attribution"]])[0])
    style = {"version": 8, "sources": {"basemap": source}, "layers": [
        {"id": "background", "type": "background", "paint": {"background-color": "#0b1726" if dark else "#eef1f4"}},
        {"id": "basemap", "type": "raster", "source": "basemap",
         "paint": {"raster-opacity": float(basemap.get("opacity", 1.0))}},
    ]}
    layout = {k: v for k, v in fig["layout"].items() if k != "geo"}
    view = _fit(geojson, size)
    layout["map"] = {"style": style, **{k: v for k, v in view.items() if k != "bounds"}}
    if "bounds" in view:  # assets/basemap_fit.js fits these in the map's real size
        layout["meta"] = {"pingan_fit": view["bounds"]}
    return {"data": data, "layout": layout}


def _fit(geojson: dict, size: tuple[int, int]) -> dict:
    """Centre and zoom that show every area of ``geojson`` in ``size`` pixels (Web Mercator,
    MapLibre's 512-pixel world at zoom 0), with a small margin; and the bounds themselves."""
    lon, lat = polygons_xy(geojson)
    if not np.isfinite(lon).any():
        return {}
    west, east = float(np.nanmin(lon)), float(np.nanmax(lon))
    south, north = float(np.nanmin(lat)), float(np.nanmax(lat))

    def merc(v: float) -> float:
        return math.log(math.tan(math.pi / 4 + math.radians(v) / 2))

    width, height = size
    zx = math.log2(width * 360.0 / (512.0 * max(east - west, 1e-6)))
    zy = math.log2(height * 2 * math.pi / (512.0 * max(merc(north) - merc(south), 1e-9)))
    centre_lat = math.degrees(math.atan(math.sinh((merc(north) + merc(south)) / 2)))
    return {"center": {"lon": (west + east) / 2, "lat": centre_lat}, "zoom": round(min(zx, zy) - 0.2, 2),
            "bounds": [round(west, 6), round(south, 6), round(east, 6), round(north, 6)]}


def _geo_dict() -> dict:
    geo = {k: v for k, v in GEO.items() if k != "projection_type"}
    geo["projection"] = {"type": GEO["projection_type"]}
    return geo


def _label_points(frame: pd.DataFrame):
    if "lon" in frame and "lat" in frame:
        return frame["lon"].to_numpy(), frame["lat"].to_numpy()
    return None, None
