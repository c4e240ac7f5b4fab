"""The hotspot page's helpers without a browser: the map's effective hour/weekday filters and the
kernel density trace."""

import numpy as np
import pytest

from pages._hotspots_view import DENSITY_FLOOR, density_trace, effective_filters


@pytest.mark.parametrize("hours, days, hour_pick, wd_pick, expect", [
    ([0, 23], list(range(7)), None, None, ((0, 23), list(range(7)))),
    ([6, 20], [0, 1, 2], [3, 8, 9], None, ((6, 9), [0, 1, 2])),
    ([0, 23], [0, 5, 6], None, [5, 6, 3], ((0, 23), [5, 6])),
    ([18, 23], list(range(7)), [2, 4], None, ((0, 23), [])),  # picked hours outside the range: nothing
])
def test_effective_filters_narrow_the_sliders_by_the_picked_bars(hours, days, hour_pick, wd_pick, expect):
    assert effective_filters(hours, days, hour_pick, wd_pick) == expect


def test_density_trace_hides_the_faint_tail_and_names_the_unit():
    z = np.array([[0.0, 1.4, 2.0], [DENSITY_FLOOR * 50.0, 20.0, 50.0]])
    surface = {"lon": np.array([120.0, 120.001, 120.002]), "lat": np.array([30.0, 30.001]), "density": z}
    tr = density_trace(surface, "zh")
    assert tr["type"] == "heatmap" and tr["zmax"] == 50.0
    assert np.isnan(tr["z"][0, :2]).all() and not np.isnan(tr["z"][1]).any() and tr["z"][0, 2] == 2.0  # 3 % of 50 = 1.5
    assert tr["colorbar"]["title"]["text"] == "起/平方公里"
    assert density_trace(surface, "en")["colorbar"]["title"]["text"] == "cases per km²"
    empty = density_trace({**surface, "density": np.zeros((2, 3))}, "en")
    assert np.isnan(empty["z"]).all()
