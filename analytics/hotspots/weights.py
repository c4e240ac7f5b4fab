"""Spatial weights for the hot-spot statistics: contiguity or a distance band in metres.

Weights are built once per layer and handed to every statistic as a
:class:`libpysal.weights.W` whose ``id_order`` follows the row order of the areas. The
hot paths (Gi* over a whole space-time cube, conditional permutations) use the scipy
sparse matrix ``w.sparse`` directly.
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
from libpysal.weights import WSP, W
from scipy.spatial import cKDTree

from analytics.neighbours import queen_pairs
from layers.crs import require_projected

__all__ = [
    "contiguity_weights",
    "distance_weights",
    "build_weights",
    "padded_neighbours",
]


def contiguity_weights(areas: gpd.GeoDataFrame, *, kind: str = "queen") -> W:
    """Queen or rook contiguity between polygons (binary).

    Parameters
    ----------
    areas : GeoDataFrame
        Polygons; row order becomes the weights' order.
    kind : {"queen", "rook"}
        Queen: boundaries touch or overlap (:func:`analytics.neighbours.queen_pairs`, the one
        neighbour builder); rook: an edge is shared (libpysal).

    Returns
    -------
    libpysal.weights.W
        Binary weights with ids ``0..n-1`` (row positions). Islands have no neighbours.
    """
    from libpysal.weights import Rook

    if kind not in ("queen", "rook"):
        raise ValueError(f"kind must be 'queen' or 'rook', not {kind!r}")
    geoms = areas.geometry.reset_index(drop=True)
    n = len(geoms)
    if kind == "queen":  # the one neighbour builder (analytics.neighbours)
        left, right = queen_pairs(geoms.to_numpy())
        mat = sp.csr_matrix((np.ones(len(left)), (left, right)), shape=(n, n))
        w = WSP(mat, id_order=list(range(n))).to_W(silence_warnings=True)
    else:
        with warnings.catch_warnings():
            # islands / disconnected parts are legitimate (a grid clipped by a river); the
            # statistics handle areas without neighbours, so libpysal's warning is only noise
            warnings.filterwarnings("ignore", message=".*(island|not fully connected|disconnected).*")
            w = Rook.from_iterable(list(geoms), ids=list(range(n)))
    w.transform = "B"
    return w


def distance_weights(areas: gpd.GeoDataFrame, threshold: float) -> W:
    """Binary fixed-distance band between area centroids, in metres.

    Parameters
    ----------
    areas : GeoDataFrame
        Areas (polygons or points) in a projected CRS in metres.
    threshold : float
        Neighbours are areas whose centroids lie within ``threshold`` metres.

    Raises
    ------
    ValueError
        If the layer is in a geographic CRS (degrees are not metres) or threshold <= 0.
    """
    require_projected(areas.crs, "areas for distance-band weights")
    if not threshold > 0:
        raise ValueError(f"threshold must be a positive distance in metres, not {threshold!r}")
    xy = _centroids(areas)
    tree = cKDTree(xy)
    pairs = tree.query_pairs(float(threshold), output_type="ndarray")
    n = len(xy)
    rows = np.concatenate([pairs[:, 0], pairs[:, 1]])
    cols = np.concatenate([pairs[:, 1], pairs[:, 0]])
    mat = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    # WSP keeps areas without neighbours (W.from_sparse would drop them and shrink the matrix)
    return WSP(mat, id_order=list(range(n))).to_W(silence_warnings=True)


def build_weights(
    areas: gpd.GeoDataFrame, *, kind: str = "queen", threshold: float | None = None
) -> W:
    """Contiguity (``kind`` queen/rook) or, when ``kind="distance"``, a distance band."""
    if kind == "distance":
        if threshold is None:
            raise ValueError("kind='distance' needs threshold (metres)")
        return distance_weights(areas, threshold)
    return contiguity_weights(areas, kind=kind)


def padded_neighbours(mat: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Neighbour weights of each row, left-aligned and zero-padded.

    Returns ``(weights, counts)``: ``weights`` of shape (n, kmax) holding each row's
    off-diagonal weights (the diagonal is excluded), and the number of neighbours per row.
    Conditional permutation draws ``counts[i]`` other values for row ``i``.
    """
    mat = sp.csr_matrix(mat, dtype=float, copy=True)
    mat.setdiag(0)
    mat.eliminate_zeros()
    counts = np.diff(mat.indptr)
    kmax = int(counts.max()) if len(counts) else 0
    out = np.zeros((mat.shape[0], max(kmax, 1)))
    row = np.repeat(np.arange(mat.shape[0]), counts)
    pos = np.arange(mat.nnz) - np.repeat(mat.indptr[:-1], counts)
    out[row, pos] = mat.data
    return out, counts


def _centroids(areas: gpd.GeoDataFrame) -> np.ndarray:
    geom = areas.geometry
    pts = geom if (geom.geom_type == "Point").all() else geom.centroid
    return np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])
