"""The one neighbour builder: Queen contiguity of areas or grid cells, as pairs or lists.

Used by the hot-spot weights (:mod:`analytics.hotspots.weights`), the pooled model's spatial
lag (:mod:`analytics.models.pooled`) and the backtest's grid. Needs only shapely, so importing
it stays cheap for the models and the CLI.
"""

from __future__ import annotations

import numpy as np

__all__ = ["neighbour_lists", "queen_pairs"]


def queen_pairs(geoms, *, tolerance: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Queen neighbour pairs ``(i, j)``, ``i != j``, of geometries whose boundaries touch or overlap.

    The one neighbour builder of the project: a shapely STRtree ``intersects`` query,
    vectorised over all geometries (each pair appears in both orders).

    Parameters
    ----------
    geoms : array_like of shapely geometries
    tolerance : float
        Geometries closer than this (CRS units) also count as touching: generated grid cells
        whose shared edges differ in the last bits of a float (0 = exact topology).

    Returns
    -------
    left, right : ndarray of int
        Row positions, sorted by ``left`` then ``right``.
    """
    from shapely import STRtree

    geoms = np.asarray(geoms, dtype=object)
    if tolerance < 0:
        raise ValueError(f"tolerance: must be >= 0, got {tolerance}")
    tree = STRtree(geoms)
    if tolerance > 0:
        left, right = tree.query(geoms, predicate="dwithin", distance=tolerance)
    else:
        left, right = tree.query(geoms, predicate="intersects")
    keep = left != right
    order = np.lexsort((right[keep], left[keep]))
    return left[keep][order], right[keep][order]


def neighbour_lists(areas, *, id_column: str = "area_id",
                    tolerance: float = 0.0) -> dict[str, list[str]]:
    """Queen neighbours of every area as ``{area_id: [area_id, …]}`` (:func:`queen_pairs`).

    Parameters
    ----------
    areas : GeoDataFrame
        Areas with ``id_column``; areas without neighbours map to ``[]``.
    tolerance : float
        See :func:`queen_pairs`.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> import geopandas as gpd
    >>> g = gpd.GeoDataFrame({"area_id": ["a", "b", "c"]},
    ...                      geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(5, 5, 6, 6)])
    >>> neighbour_lists(g)
    {'a': ['b'], 'b': ['a'], 'c': []}
    """
    if id_column not in areas.columns:
        raise ValueError(f"areas: no {id_column!r} column to name the neighbours by")
    ids = areas[id_column].astype(str).to_numpy()
    left, right = queen_pairs(areas.geometry.to_numpy(), tolerance=tolerance)
    cuts = np.searchsorted(left, np.arange(len(ids) + 1))
    return {a: ids[right[cuts[i]:cuts[i + 1]]].tolist() for i, a in enumerate(ids)}
