"""GCJ-02 / BD-09 conversions against published test vectors and by round trip."""

import numpy as np
import pytest
from pyproj import Geod

from layers.coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    in_china,
    projected_to_wgs84,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

# (wgs lat, wgs lng, gcj lat, gcj lng): test vectors of googollee/eviltransform, python/test.py
EVIL = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]
# Input (116.404, 39.915) and the results in wandergis/coordtransform, test/app.js
WANDERGIS_IN = (116.404, 39.915)
WANDERGIS = {
    "bd09togcj02": (116.39762729119315, 39.90865673957631),
    "gcj02tobd09": (116.41036949371029, 39.92133699351021),
    "wgs84togcj02": (116.41024449916938, 39.91640428150164),
    # coordtransform's gcj02towgs84 is the one-step approximation (~ 0.1 m off); we iterate.
    "gcj02towgs84": (116.39775550083061, 39.91359571849836),
}
_GEOD = Geod(ellps="WGS84")


def _metres(lon1, lat1, lon2, lat2):
    return _GEOD.inv(lon1, lat1, lon2, lat2)[2]


@pytest.mark.parametrize("wlat,wlng,glat,glng", EVIL)
def test_eviltransform_vectors(wlat, wlng, glat, glng):
    lon, lat = wgs84_to_gcj02(wlng, wlat)
    assert lon == pytest.approx(glng, abs=1e-9)
    assert lat == pytest.approx(glat, abs=1e-9)
    blon, blat = gcj02_to_wgs84(glng, glat)
    assert _metres(blon, blat, wlng, wlat) < 0.01  # eviltransform's exact test asks < 0.5 m


def test_coordtransform_vectors():
    x, y = WANDERGIS_IN
    for name, fn in [("bd09togcj02", bd09_to_gcj02), ("gcj02tobd09", gcj02_to_bd09),
                     ("wgs84togcj02", wgs84_to_gcj02)]:
        lon, lat = fn(x, y)
        assert (float(lon), float(lat)) == pytest.approx(WANDERGIS[name], abs=1e-9), name
    lon, lat = gcj02_to_wgs84(x, y)
    assert _metres(lon, lat, *WANDERGIS["gcj02towgs84"]) < 0.5
    # and our inverse is exact: forward of it gives the input back
    flon, flat = wgs84_to_gcj02(lon, lat)
    assert abs(flon - x) < 1e-7 and abs(flat - y) < 1e-7


def test_round_trips_across_china_within_half_a_metre():
    rng = np.random.default_rng(20240305)
    lon = rng.uniform(73.5, 134.5, 20_000)
    lat = rng.uniform(18.5, 53.0, 20_000)
    glon, glat = wgs84_to_gcj02(lon, lat)
    shift = _metres(lon, lat, glon, glat)
    assert np.median(shift) > 50  # the offset is real (hundreds of metres) …
    blon, blat = gcj02_to_wgs84(glon, glat)
    assert np.max(_metres(lon, lat, blon, blat)) < 0.5  # … and undone to well below 0.5 m
    assert np.max(np.abs(blon - lon)) < 1e-6
    bdlon, bdlat = wgs84_to_bd09(lon, lat)
    wlon, wlat = bd09_to_wgs84(bdlon, bdlat)
    assert np.max(_metres(lon, lat, wlon, wlat)) < 0.5
    g2lon, g2lat = bd09_to_gcj02(*gcj02_to_bd09(glon, glat))
    assert np.max(_metres(glon, glat, g2lon, g2lat)) < 0.5


def test_outside_china_unchanged_and_nan_propagates():
    lon = np.array([-90.2, 2.35, 150.0, np.nan, 116.4])
    lat = np.array([38.6, 48.85, -33.9, 30.0, np.nan])
    assert in_china(lon, lat).tolist() == [False, False, False, False, False]
    for fn in (wgs84_to_gcj02, gcj02_to_wgs84):
        olon, olat = fn(lon, lat)
        np.testing.assert_array_equal(olon, lon)
        np.testing.assert_array_equal(olat, lat)


def test_to_wgs84_dispatch_and_projected():
    lon, lat = to_wgs84([116.404], [39.915], "wgs84")
    assert lon[0] == 116.404
    g = to_wgs84([116.404], [39.915], "gcj02")
    b = to_wgs84(*gcj02_to_bd09(116.404, 39.915), "bd09")
    assert _metres(g[0][0], g[1][0], float(b[0]), float(b[1])) < 0.5
    with pytest.raises(ValueError, match="--coords"):
        to_wgs84([1], [1], "utm")
    # UTM 50N: 500000 E, 4419000 N is on the central meridian 117°E
    lon, lat = projected_to_wgs84([500000.0], [4419000.0], 32650)
    assert lon[0] == pytest.approx(117.0, abs=1e-9)
    assert 39.9 < lat[0] < 40.0
    with pytest.raises(ValueError, match="--epsg"):
        projected_to_wgs84([0.0], [0.0], 999999)
