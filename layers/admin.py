"""The admin hierarchy 区 > 街道 > 社区 > 网格: parents by overlap, and its validation.

Areas follow design.md: ``area_id, name, level, parent_id, geometry`` in a projected CRS.
When a layer's ``parent_id`` is missing, each area's parent is the area of the next coarser
level that overlaps it most (:func:`infer_parents`). :func:`validate_hierarchy` reports, in
square metres, where the hierarchy is not a clean nesting: children reaching outside their
parent, siblings overlapping, parents not covered by their children.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import shapely

from layers.crs import require_projected

__all__ = ["infer_parents", "validate_hierarchy", "ISSUE_KINDS"]

#: Kinds of issue reported by :func:`validate_hierarchy`.
ISSUE_KINDS: tuple[str, ...] = ("outside_parent", "missing_parent", "overlap", "gap")


def infer_parents(children, parents) -> pd.Series:
    """For each child, the ``area_id`` of the parent it overlaps most (``None`` if none).

    Parameters
    ----------
    children, parents : GeoDataFrame
        Same projected CRS; ``parents`` has ``area_id``.

    Returns
    -------
    pandas.Series of str, aligned with ``children``.
    """
    _same_crs(children, parents)
    cg = np.asarray(children.geometry.values, dtype=object)
    pg = np.asarray(parents.geometry.values, dtype=object)
    ci, pi = shapely.STRtree(pg).query(cg, predicate="intersects")
    area = shapely.area(shapely.intersection(cg[ci], pg[pi]))
    # largest overlap per child; ties go to the lower parent position (lexsort is stable)
    order = np.lexsort((pi, -area, ci))
    ci, pi, area = ci[order], pi[order], area[order]
    first = np.ones(ci.size, dtype=bool)
    first[1:] = ci[1:] != ci[:-1]
    best = np.full(len(cg), -1, dtype=np.int64)
    keep = first & (area > 0)
    best[ci[keep]] = pi[keep]
    ids = pd.array(parents["area_id"].astype("str").to_numpy(dtype=object), dtype="str")
    return pd.Series(ids.take(best, allow_fill=True), index=children.index)


def validate_hierarchy(layers, *, min_area: float = 1.0) -> pd.DataFrame:
    """Issues of an admin hierarchy, with their areas in m².

    Parameters
    ----------
    layers : mapping level → GeoDataFrame, or one GeoDataFrame with a ``level`` column
        Areas in one projected CRS.
    min_area : float, default 1.0
        Issues smaller than this many m² (floating-point slivers) are not reported.

    Returns
    -------
    DataFrame
        ``kind, area_id, other_id, area_m2`` where kind is one of :data:`ISSUE_KINDS`:

        - ``outside_parent``: part of ``area_id`` outside its parent ``other_id``;
        - ``missing_parent``: ``parent_id`` ``other_id`` is not an area (area_m2 = the child's area);
        - ``overlap``: siblings (same level) ``area_id`` and ``other_id`` overlap;
        - ``gap``: part of parent ``area_id`` covered by none of its children.
    """
    frame = _stack(layers)
    require_projected(frame.crs, "admin layers")
    rows: list[pd.DataFrame] = []
    geom = np.asarray(frame.geometry.values, dtype=object)
    ids = frame["area_id"].astype("str").to_numpy(dtype=object)
    pos = pd.Index(ids)
    parent = frame["parent_id"].astype("str")
    has_parent = parent.notna().to_numpy()
    ppos = np.full(len(frame), -1)
    ppos[has_parent] = pos.get_indexer(parent[has_parent])
    missing = has_parent & (ppos < 0)
    if missing.any():
        rows.append(_issues("missing_parent", ids[missing], parent[missing], shapely.area(geom[missing])))
    linked = np.flatnonzero(ppos >= 0)
    if linked.size:
        out = shapely.area(shapely.difference(geom[linked], geom[ppos[linked]]))
        big = out >= min_area
        rows.append(_issues("outside_parent", ids[linked[big]], ids[ppos[linked[big]]], out[big]))
    # overlaps between areas of the same level
    a, b = shapely.STRtree(geom).query(geom, predicate="intersects")
    levels = frame["level"].astype("str").to_numpy(dtype=object)
    pair = (a < b) & (levels[a] == levels[b])
    a, b = a[pair], b[pair]
    if a.size:
        inter = shapely.area(shapely.intersection(geom[a], geom[b]))
        big = inter >= min_area
        rows.append(_issues("overlap", ids[a[big]], ids[b[big]], inter[big]))
    # gaps: parent area not covered by its children
    if linked.size:
        kids = pd.Series(geom[linked]).groupby(ppos[linked])
        union = kids.agg(lambda g: shapely.union_all(g.to_numpy()))  # one union per parent
        par = union.index.to_numpy()
        gap = shapely.area(geom[par]) - shapely.area(shapely.intersection(geom[par], union.to_numpy()))
        big = gap >= min_area
        rows.append(_issues("gap", ids[par[big]], [None] * int(big.sum()), gap[big]))
    if not rows:
        return _issues("gap", [], [], [])
    return pd.concat(rows, ignore_index=True)


def _issues(kind, area_id, other_id, area_m2) -> pd.DataFrame:
    n = len(area_id)
    return pd.DataFrame(
        {
            "kind": pd.array([kind] * n, dtype="str"),
            "area_id": pd.array(np.asarray(area_id, dtype=object), dtype="str"),
            "other_id": pd.array(np.asarray(other_id, dtype=object), dtype="str"),
            "area_m2": np.asarray(area_m2, dtype=np.float64),
        }
    )


def _stack(layers):
    import geopandas as gpd

    if isinstance(layers, Mapping):
        frames = [g.assign(level=lvl) if "level" not in g.columns else g for lvl, g in layers.items()]
        if not frames:
            raise ValueError("validate_hierarchy: no layers given")
        crs = frames[0].crs
        for f in frames[1:]:
            _same_crs(frames[0], f)
        cols = ["area_id", "level", "parent_id", "geometry"]
        return gpd.GeoDataFrame(pd.concat([f[cols] for f in frames], ignore_index=True), geometry="geometry", crs=crs)
    return layers


def _same_crs(a, b) -> None:
    if a.crs != b.crs:
        raise ValueError(
            f"CRS mismatch: {a.crs.to_string() if a.crs else None} vs {b.crs.to_string() if b.crs else None}"
        )
