"""Camera coverage against hot spots: hot cells without an online camera, cameras in cold cells.

Distances are from the cell polygon (0 inside it) to the camera point, in metres, in the cells'
projected CRS; cameras are reprojected to it. A "hot" cell is a Gi* hot spot at 95 % or more
(``class`` of :class:`analytics.hotspots.GiStar`) or, with ``top_k``, one of the ``k`` cells
with the most incidents.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from layers.crs import require_projected

__all__ = ["coverage_gaps", "cameras_in_cells"]

HOT_CLASSES: tuple[str, ...] = ("hot_95", "hot_99")


def coverage_gaps(
    cells: gpd.GeoDataFrame,
    cameras: gpd.GeoDataFrame,
    *,
    distance: float = 100.0,
    hot_classes=HOT_CLASSES,
    top_k: int | None = None,
    count_column: str = "count",
    class_column: str = "class",
) -> gpd.GeoDataFrame:
    """Hot cells and how far their nearest online camera is.

    Parameters
    ----------
    cells : GeoDataFrame
        Cells in a projected CRS with ``area_id`` and ``class_column`` (or ``count_column``
        when ``top_k`` is given).
    cameras : GeoDataFrame
        Camera points with a boolean ``online`` column (all assumed online if absent).
    distance : float
        A hot cell is a gap when no online camera lies within ``distance`` metres.
    hot_classes : sequence of str
        Gi* classes that count as hot.
    top_k : int, optional
        Use the ``k`` cells with the highest ``count_column`` instead of Gi* classes.

    Returns
    -------
    GeoDataFrame
        The hot cells with ``nearest_online_m``, ``online_within`` (cameras within
        ``distance``) and ``gap`` (bool), gaps first, then by count / z.
    """
    crs = require_projected(cells.crs, "cells for camera coverage")
    if not distance >= 0:
        raise ValueError(f"distance must be >= 0 metres, not {distance!r}")
    if top_k is not None:
        if count_column not in cells.columns:
            raise ValueError(f"cells have no column {count_column!r} (needed for top_k)")
        hot = cells.nlargest(int(top_k), count_column)
    else:
        if class_column not in cells.columns:
            raise ValueError(f"cells have no column {class_column!r}; run Gi* first or pass top_k")
        hot = cells[cells[class_column].isin(list(hot_classes))]
    hot = hot.copy()
    cams = _online(cameras, crs)
    geoms = hot.geometry.to_numpy()
    if len(cams) == 0 or len(hot) == 0:
        hot["nearest_online_m"] = np.inf
        hot["online_within"] = 0
    else:
        tree = shapely.STRtree(cams.geometry.to_numpy())
        idx, dist = tree.query_nearest(geoms, return_distance=True, all_matches=False)
        nearest = np.full(len(hot), np.inf)
        nearest[idx[0]] = dist
        hot["nearest_online_m"] = nearest
        hit = tree.query(geoms, predicate="dwithin", distance=distance)
        hot["online_within"] = np.bincount(hit[0], minlength=len(hot))
    hot["gap"] = hot["online_within"] == 0
    order = [c for c in ("gap", count_column, "z") if c in hot.columns]
    return hot.sort_values(order, ascending=False, kind="stable")


def cameras_in_cells(cameras: gpd.GeoDataFrame, cells: gpd.GeoDataFrame, mask) -> gpd.GeoDataFrame:
    """Cameras standing in the cells selected by ``mask`` (e.g. persistent cold spots or cells
    with no incident in the window), with the cell's ``area_id``.

    Parameters
    ----------
    cameras : GeoDataFrame
        Camera points (any CRS; reprojected).
    cells : GeoDataFrame
        Cells in a projected CRS with ``area_id``.
    mask : array-like of bool
        Which cells (row order of ``cells``).
    """
    crs = require_projected(cells.crs, "cells for camera placement")
    if cameras.crs is None:
        raise ValueError("cameras have no CRS; expected EPSG:4326 or the cells' CRS")
    sel = cells.loc[np.asarray(mask, dtype=bool), ["area_id", "geometry"]]
    cams = cameras.to_crs(crs)
    joined = gpd.sjoin(cams, sel, how="inner", predicate="within")
    return joined.drop(columns=["index_right"], errors="ignore")


def _online(cameras: gpd.GeoDataFrame, crs) -> gpd.GeoDataFrame:
    if cameras.crs is None:
        raise ValueError("cameras have no CRS; expected EPSG:4326 or the cells' CRS")
    cams = cameras
    if "online" in cams.columns:
        cams = cams[cams["online"].astype(bool)]
    return cams.to_crs(crs)
