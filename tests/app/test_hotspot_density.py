"""The hotspot page in headless Chromium: 密度 draws the service's quartic kernel density (not a
histogram in degrees), and the Gi* overlay follows the hour filter like the points do."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dash.testing.wait import until
from selenium.webdriver.common.keys import Keys

from analytics.service import Service
from pages._hotspots_view import HOT_COLORS, class_traces

pytestmark = pytest.mark.browser

OUT = Path(__file__).resolve().parents[1] / "output"


def _traces(dash_duo, kind: str) -> list:
    """(type, name, number of x values, max z) of the map's traces of ``kind`` (heatmap / fill)."""
    test = "t.type === 'heatmap'" if kind == "heatmap" else "t.fill === 'toself'"
    return dash_duo.driver.execute_script(
        "var g = document.querySelector('#hot-map .js-plotly-plot');"
        "if (!g || !g.data) return [];"
        f"return g.data.filter(function (t) {{ return {test}; }}).map(function (t) {{"
        " var z = t.z ? [].concat.apply([], Array.from(t.z).map(function (r) { return Array.from(r); })) : [];"
        " var m = z.reduce(function (a, b) { return b === null || isNaN(b) ? a : Math.max(a, b); }, 0);"
        " return [t.type, t.name || '', t.x ? t.x.length : 0, m]; });")


def test_density_is_the_kde_and_gistar_follows_the_hours(dash_duo, app_factory, app_workspace):
    dash_duo.start_server(app_factory())
    dash_duo.driver.get(dash_duo.server_url + "/hotspots")
    dash_duo.wait_for_element("#hot-hour g.point path", timeout=60)
    svc = Service(app_workspace)
    frame = svc.incidents()
    end = frame["date"].max()
    start = end - pd.Timedelta(days=89)
    cat = svc.category_choices()[0]
    layer = svc.hotspot_layer()

    def expected_gistar(hours):
        table = svc.hotspots("gistar", layer=layer, category=cat, start=str(start.date()), end=str(end.date()),
                             seed=12345, permutations=99, hours=hours, weekdays=range(7))
        return [["scatter", tr["name"], len(tr["x"]), 0] for tr in class_traces(svc, layer, table, "zh", HOT_COLORS)]

    # Gi* on the whole day …
    dash_duo.find_elements("#hot-overlays input")[0].click()  # Gi*
    whole_day = expected_gistar((0, 23))
    until(lambda: _traces(dash_duo, "fill") == whole_day, timeout=120)
    # … then only 18–23 h: the points and the Gi* overlay both follow
    thumb = dash_duo.find_element("#hot-hours .dash-slider-thumb-1")
    thumb.send_keys(*[Keys.ARROW_RIGHT] * 18)
    n = int(((frame["date"] >= start) & (frame["date"] <= end) & (frame["hour"] >= 18)).sum())
    dash_duo.wait_for_text_to_equal("#hot-selected", f"已选 {n:,} 起案件", timeout=60)
    evening = expected_gistar((18, 23))
    assert evening != whole_day
    until(lambda: _traces(dash_duo, "fill") == evening, timeout=120)
    # 密度: a heatmap of the service's quartic KDE of exactly these incidents
    assert _traces(dash_duo, "heatmap") == []
    dash_duo.find_elements("#hot-view input")[1].click()
    surface = svc.density(cat, str(start.date()), str(end.date()), (18, 23), range(7))
    assert surface["n_events"] == n
    peak = float(np.round(surface["density"].max(), 2))
    until(lambda: len(_traces(dash_duo, "heatmap")) == 1, timeout=60)
    [(kind, name, nx, top)] = _traces(dash_duo, "heatmap")
    assert (name, nx) == ("密度", len(surface["lon"])) and top == pytest.approx(peak)
    dash_duo.wait_for_contains_text("#hot-selected", "四次核密度", timeout=30)
    assert not any(t[0] == "histogram2dcontour" for t in json.loads(json.dumps(_traces(dash_duo, "all"))))
    OUT.mkdir(exist_ok=True)
    dash_duo.driver.save_screenshot(str(OUT / "hotspots_density.png"))
    assert dash_duo.get_logs() == []
