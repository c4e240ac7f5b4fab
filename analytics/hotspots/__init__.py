"""Hot-spot analytics: Gi*, local Moran, KDE, emerging hot spots, near-repeat (Knox),
concentration, camera coverage and 整治 (intervention) evaluation.

One statistic per module, each a pure function or fitted object on arrays / GeoDataFrames:
:mod:`~analytics.hotspots.gistar`, :mod:`~analytics.hotspots.moran`,
:mod:`~analytics.hotspots.kde`, :mod:`~analytics.hotspots.emerging` (with
:mod:`~analytics.hotspots.mannkendall`), :mod:`~analytics.hotspots.knox`,
:mod:`~analytics.hotspots.concentration`, :mod:`~analytics.hotspots.cameras`,
:mod:`~analytics.hotspots.intervention`. Nothing here reads a workspace:
:mod:`analytics.service.hotspots` binds them to one for the app, the CLI and the briefing.
"""

from __future__ import annotations

from analytics.hotspots.concentration import concentration_summary
from analytics.hotspots.emerging import CATEGORIES, EmergingHotSpots, classify_emerging
from analytics.hotspots.gistar import GiStar, gistar_z
from analytics.hotspots.intervention import did_rate_ratio, weighted_displacement_quotient
from analytics.hotspots.kde import kde_surface, quartic_density
from analytics.hotspots.knox import KnoxTest, repeat_locations
from analytics.hotspots.mannkendall import mann_kendall
from analytics.hotspots.moran import LocalMoran
from analytics.hotspots.weights import build_weights, contiguity_weights, distance_weights

__all__ = [
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
