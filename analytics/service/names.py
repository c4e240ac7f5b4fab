"""Names people can read: an area without a human name is never shown by its raw id.

A generated cell (``c250_003173_009979``) or an admin area whose name is only its id gets

- 「<parent name>第k格」 (en "<parent> cell k") when it lies in a named admin area — the parent
  from ``parent_id`` when the layer has one, else the finest admin area of the workspace that
  contains the cell's representative point; ``k`` counts the parent's unnamed areas in reading
  order (north to south, then west to east), so the numbering is stable and findable on a map;
- else a grid reference: row letter (``A`` = northernmost row, ``Z``, ``AA`` …) plus column
  number (``1`` = westernmost), 「C7格」 / "cell C7", from the grid's own ``row``/``col`` when the
  layer is a generated grid, else from a virtual grid of the layer's median area size.

Areas with a real name keep it. :func:`display_names` is what the board, the 大屏 and the
briefing call; :func:`name_areas` is the same rule on frames (no workspace).

Examples
--------
>>> names = display_names(Workspace("workspace"), "cell")          # doctest: +SKIP
>>> names["c250_003173_009979"]                                   # doctest: +SKIP
'星台社区第3格'
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import shapely

from analytics.present.i18n import t
from analytics.service.cache import cached

__all__ = ["display_names", "name_areas", "is_unnamed", "grid_reference", "GENERATED_ID"]

#: Ids of generated grid cells (``layers.grids.cell_ids``): prefix c/h + size, column, row.
GENERATED_ID = re.compile(r"^[ch]\d+(?:\.\d+)?_-?\d+_-?\d+$")

_ADMIN = ("district", "subdistrict", "community", "grid")


def display_names(ws, layer: str, lang: str = "zh") -> pd.Series:
    """Display name of every area of ``layer``: a Series indexed by ``area_id`` (str).

    Parameters
    ----------
    ws : Workspace
    layer : str
        An area layer of the workspace (``ws.layers()``).
    lang : {"zh", "en"}

    Raises
    ------
    ValueError
        If ``layer`` is not a layer of the workspace.
    """
    if layer not in ws.layers():
        raise ValueError(f"layer {layer!r}: not in {ws.path} (layers: {', '.join(ws.layers()) or 'none'})")
    return cached(ws, "display_names", (layer, lang), lambda: _compute(ws, layer, lang)).copy()


def name_areas(areas, parents=None, lang: str = "zh") -> pd.Series:
    """The naming rule on frames: ``areas`` (area_id, name, geometry, optional parent_id,
    row, col) and ``parents`` (area_id, name, geometry of the admin areas that may contain them,
    same CRS), returning display names indexed by area_id."""
    ids = areas["area_id"].astype(str).to_numpy()
    raw = areas["name"] if "name" in areas else pd.Series([None] * len(areas), index=areas.index)
    names = pd.Series(raw.to_numpy(), index=ids, dtype=object)
    names = names.where(names.notna(), pd.Series(ids, index=ids)).astype(str)
    unnamed = is_unnamed(ids, names.to_numpy())
    if not unnamed.any():
        return names
    sub = areas[unnamed]
    parent = _parent_names(sub, parents)
    pts = shapely.point_on_surface(np.asarray(sub.geometry.values, dtype=object))
    xy = shapely.get_coordinates(pts)
    order = pd.DataFrame({"parent": parent, "y": -np.round(xy[:, 1], 3), "x": np.round(xy[:, 0], 3),
                          "id": ids[unnamed]})
    order = order.sort_values(["parent", "y", "x", "id"], kind="mergesort")
    k = (order.groupby("parent", sort=False, dropna=False).cumcount() + 1).sort_index().to_numpy()
    out = np.empty(len(sub), dtype=object)
    has = pd.notna(parent)
    if has.any():
        out[has] = [t("names.cell_in", lang, parent=p, k=int(i)) for p, i in zip(parent[has], k[has])]
    if (~has).any():
        refs = np.asarray(grid_reference(areas), dtype=object)  # whole layer: one frame of reference
        out[~has] = [t("names.grid_ref", lang, ref=r) for r in refs[np.flatnonzero(unnamed)[~has]]]
    names.iloc[np.flatnonzero(unnamed)] = out
    return names


def is_unnamed(ids, names) -> np.ndarray:
    """True where an area has no human name: empty, equal to its id, or a generated cell id."""
    ids = pd.Series(np.asarray(ids, dtype=object)).astype(str)
    names = pd.Series(np.asarray(names, dtype=object)).fillna("").astype(str).str.strip()
    return ((names == "") | (names == ids) | names.str.match(GENERATED_ID.pattern)).to_numpy()


def grid_reference(areas) -> list[str]:
    """Row letter + column number of each area (``A1`` = north-west corner).

    Uses the layer's ``row``/``col`` columns (generated grids), else bins representative points
    on a square grid of the median area's side; repeated references get ``-2``, ``-3`` ….
    """
    if {"row", "col"} <= set(areas.columns) and areas[["row", "col"]].notna().all().all():
        row = areas["row"].to_numpy(np.int64)
        col = areas["col"].to_numpy(np.int64)
    else:
        geoms = np.asarray(areas.geometry.values, dtype=object)
        xy = shapely.get_coordinates(shapely.point_on_surface(geoms))
        side = max(float(np.sqrt(np.median(shapely.area(geoms)))), 1e-9)
        col = np.floor(xy[:, 0] / side).astype(np.int64)
        row = np.floor(xy[:, 1] / side).astype(np.int64)
    if not len(row):
        return []
    refs = pd.Series([f"{_letters(r)}{c}" for r, c in zip(row.max() - row, col - col.min() + 1)])
    dup = refs.groupby(refs).cumcount()
    return [r if d == 0 else f"{r}-{d + 1}" for r, d in zip(refs, dup)]


# -- helpers --------------------------------------------------------------------------------------
def _compute(ws, layer: str, lang: str) -> pd.Series:
    areas = ws.areas(layer)
    layers = ws.layers()
    # A generated cell is about the size of an admin 网格, so it is named after its 社区 (or
    # coarser); an unnamed admin area after any coarser admin area.
    coarser = [lv for lv in _ADMIN if lv in layers and lv != layer
               and (_ADMIN.index(lv) < _ADMIN.index(layer) if layer in _ADMIN else lv != "grid")]
    frames = []
    for lv in coarser:
        a = ws.areas(lv)
        a = a[["area_id", "name", "geometry"]].to_crs(areas.crs)
        a["rank"] = _ADMIN.index(lv)
        frames.append(a)
    parents = pd.concat(frames, ignore_index=True) if frames else None
    return name_areas(areas, parents, lang)


def _parent_names(sub, parents) -> np.ndarray:
    """Name of each area's parent (by ``parent_id``, else the finest containing admin area)."""
    out = np.full(len(sub), None, dtype=object)
    if parents is None or not len(parents):
        return out
    pnames = parents.assign(area_id=parents["area_id"].astype(str))
    named = ~is_unnamed(pnames["area_id"].to_numpy(), pnames["name"].to_numpy())
    pnames = pnames[named]
    if not len(pnames):
        return out
    by_id = dict(zip(pnames["area_id"], pnames["name"].astype(str)))
    if "parent_id" in sub.columns:
        out = sub["parent_id"].astype(object).map(lambda v: by_id.get(str(v)) if pd.notna(v) else None)
        out = np.array(out.to_numpy(dtype=object), dtype=object)  # writable
    todo = np.flatnonzero(pd.isna(out))
    if len(todo):
        import geopandas as gpd

        pts = gpd.GeoDataFrame({"i": todo}, geometry=shapely.point_on_surface(
            np.asarray(sub.geometry.values, dtype=object)[todo]), crs=sub.crs)
        rank = pnames["rank"] if "rank" in pnames else pd.Series(0, index=pnames.index)
        polys = gpd.GeoDataFrame({"pname": pnames["name"].astype(str), "rank": rank},
                                 geometry=pnames.geometry.values, crs=pnames.crs)
        hit = gpd.sjoin(pts, polys, predicate="within", how="inner")
        # the finest admin level wins (community before subdistrict before district)
        hit = hit.sort_values(["i", "rank", "pname"], ascending=[True, False, True], kind="mergesort")
        hit = hit.drop_duplicates("i")
        out[hit["i"].to_numpy()] = hit["pname"].to_numpy()
    return out


def _letters(n: int) -> str:
    """0 → A, 25 → Z, 26 → AA (spreadsheet column letters)."""
    s = ""
    n = int(n) + 1
    while n > 0:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s
