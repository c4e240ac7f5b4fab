"""UTM estimation and the metres-only guard."""

from __future__ import annotations

import pytest

from layers.crs import estimate_utm_crs, require_projected


@pytest.mark.parametrize(
    ("lon", "lat", "epsg"),
    [(106.63, 26.65, 32648), (113.88, 22.55, 32649), (-90.2, 38.6, 32615), (151.2, -33.9, 32756)],
)
def test_utm_zone(lon, lat, epsg):
    assert estimate_utm_crs([lon, float("nan")], [lat, 0.0 * float("nan")]).to_epsg() == epsg


def test_utm_refuses_projected_numbers():
    with pytest.raises(ValueError, match="not lon/lat"):
        estimate_utm_crs([500000.0], [2900000.0])


def test_require_projected():
    assert require_projected("EPSG:32648").to_epsg() == 32648
    with pytest.raises(ValueError, match="geographic CRS"):
        require_projected("EPSG:4326", "grid")
    with pytest.raises(ValueError, match="no CRS"):
        require_projected(None, "grid")
    with pytest.raises(ValueError, match="US survey foot|foot"):
        require_projected("EPSG:2240", "grid")  # a State Plane zone in US feet
