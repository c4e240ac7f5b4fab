"""Hot-spot analytics: Gi*, local Moran, KDE, emerging hot spots, near-repeat (Knox),
concentration, camera coverage and 整治 (intervention) evaluation.

One statistic per module, each a pure function or fitted object on arrays / GeoDataFrames:
:mod:`~analytics.hotspots.gistar`, :mod:`~analytics.hotspots.moran`,
:mod:`~analytics.hotspots.kde`, :mod:`~analytics.hotspots.emerging` (with
:mod:`~analytics.hotspots.mannkendall`), :mod:`~analytics.hotspots.knox`,
:mod:`~analytics.hotspots.concentration`, :mod:`~analytics.hotspots.cameras`,
:mod:`~analytics.hotspots.intervention`. :mod:`~analytics.hotspots.service` binds them to a
workspace for the app; :func:`run_hotspots` is the ``pingan hotspots`` command.
"""

from __future__ import annotations

import pandas as pd

from analytics.hotspots.concentration import concentration_summary
from analytics.hotspots.emerging import CATEGORIES, EmergingHotSpots, classify_emerging
from analytics.hotspots.gistar import GiStar, gistar_z
from analytics.hotspots.intervention import did_rate_ratio, weighted_displacement_quotient
from analytics.hotspots.kde import kde_surface, quartic_density
from analytics.hotspots.knox import KnoxTest, repeat_locations
from analytics.hotspots.mannkendall import mann_kendall
from analytics.hotspots.moran import LocalMoran
from analytics.hotspots.service import (
    camera_gaps,
    cold_cameras,
    concentration,
    count_cube,
    default_layer,
    emerging_layer,
    evaluate_intervention,
    gistar_layer,
    kde_layer,
    knox_table,
    moran_layer,
    repeat_table,
)
from analytics.hotspots.weights import build_weights, contiguity_weights, distance_weights

__all__ = [
    "run_hotspots",
    "METHODS",
    # workspace functions (app, CLI, brief)
    "gistar_layer",
    "moran_layer",
    "emerging_layer",
    "kde_layer",
    "knox_table",
    "repeat_table",
    "concentration",
    "camera_gaps",
    "cold_cameras",
    "evaluate_intervention",
    "count_cube",
    "default_layer",
    # statistics
    "GiStar",
    "LocalMoran",
    "EmergingHotSpots",
    "KnoxTest",
    "CATEGORIES",
    "classify_emerging",
    "gistar_z",
    "mann_kendall",
    "quartic_density",
    "kde_surface",
    "repeat_locations",
    "concentration_summary",
    "did_rate_ratio",
    "weighted_displacement_quotient",
    "build_weights",
    "contiguity_weights",
    "distance_weights",
]

#: Methods of ``pingan hotspots --method``.
METHODS: tuple[str, ...] = ("gistar", "moran", "emerging", "knox", "kde")


def run_hotspots(
    ws,
    method: str,
    *,
    layer: str | None = None,
    category: str | None = None,
    start=None,
    end=None,
    seed: int = 12345,
    permutations: int = 999,
    **kw,
) -> pd.DataFrame:
    """Run one hot-spot method on a workspace (the ``pingan hotspots`` command).

    Parameters
    ----------
    ws : Workspace
    method : {"gistar", "moran", "emerging", "knox", "kde"}
    layer : str, optional
        Area layer; default ``grid`` if present, else the first layer (not used by knox).
    category : str, optional
        Category or group; default all (全部).
    start, end : str or Timestamp, optional
        Inclusive window (``YYYY-MM-DD``).
    seed, permutations : int
        Permutation inference (gistar, moran, knox).
    **kw
        Passed to the method's function (e.g. ``weights="distance", threshold=500`` or
        ``bandwidth=300``, ``distance_bands=…``).

    Returns
    -------
    GeoDataFrame or DataFrame
        gistar: one row per area with ``area_id, name, value, z, p, p_fdr, class`` + geometry;
        moran: ``I, quadrant, z, p, p_fdr, class``; emerging: ``category, trend_z, trend_p …``;
        kde: ``density`` per cell; knox: the distance × time band table.
    """
    if method not in METHODS:
        raise ValueError(f"--method {method!r}: use one of {', '.join(METHODS)}")
    if permutations is not None and permutations < 0:
        raise ValueError(f"--permutations must be >= 0, not {permutations}")
    if method == "knox":
        return knox_table(ws, category, start, end, permutations=max(permutations, 1), seed=seed, **kw)
    layer = default_layer(ws, layer)
    if method == "gistar":
        return gistar_layer(ws, layer, category, start, end, permutations=permutations, seed=seed, **kw)
    if method == "moran":
        return moran_layer(ws, layer, category, start, end, permutations=max(permutations, 1), seed=seed, **kw)
    if method == "emerging":
        return emerging_layer(ws, layer, category, start, end, **kw)
    return kde_layer(ws, layer, category, start, end, **kw)
