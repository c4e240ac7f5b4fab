"""Hot-spot analytics: Gi*, local Moran, KDE, emerging hot spots, near-repeat (Knox),
concentration, camera coverage and 整治 (intervention) evaluation.

One statistic per module; each is a pure function or fitted object on arrays /
GeoDataFrames. :func:`run_hotspots` (the ``pingan hotspots`` command) and the ``*_layer`` /
``*_table`` functions of :mod:`analytics.hotspots.service` bind them to a workspace.
"""

from __future__ import annotations

from analytics.hotspots.gistar import GiStar, gistar_z
from analytics.hotspots.moran import LocalMoran
from analytics.hotspots.weights import build_weights, contiguity_weights, distance_weights

__all__ = [
    "GiStar",
    "LocalMoran",
    "build_weights",
    "contiguity_weights",
    "distance_weights",
    "gistar_z",
]
