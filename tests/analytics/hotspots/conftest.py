"""Small seeded lattices and point sets for the hot-spot tests."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box


def square_grid(nx: int, ny: int, size: float = 100.0, crs: str = "EPSG:32649") -> gpd.GeoDataFrame:
    """nx × ny square cells of ``size`` metres, row-major ids c000, c001 …"""
    xs, ys = np.meshgrid(np.arange(nx) * size, np.arange(ny) * size)
    geoms = [box(x, y, x + size, y + size) for x, y in zip(xs.ravel(), ys.ravel())]
    ids = [f"c{i:03d}" for i in range(nx * ny)]
    return gpd.GeoDataFrame({"area_id": ids}, geometry=geoms, crs=crs)


@pytest.fixture
def make_grid():
    """The :func:`square_grid` factory."""
    return square_grid


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)
