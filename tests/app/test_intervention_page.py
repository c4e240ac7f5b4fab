"""The 整治评估 page in headless Chromium: it opens on the recorded 整治 with its sentence and
chart; choosing a 社区 and a start date redraws both."""

from __future__ import annotations

import pytest
from dash.testing.wait import until
from selenium.webdriver.common.keys import Keys

pytestmark = pytest.mark.browser


def _traces(dash_duo) -> int:
    return dash_duo.driver.execute_script(
        "var g = document.querySelector('#iv-series .js-plotly-plot');"
        "return g && g._fullData ? g._fullData.length : 0;")


def _start_line(dash_duo) -> str | None:
    return dash_duo.driver.execute_script(
        "var g = document.querySelector('#iv-series .js-plotly-plot');"
        "return g && g.layout.shapes && g.layout.shapes.length ? String(g.layout.shapes[0].x0) : null;")


def test_intervention_page_evaluates_a_chosen_area(dash_duo, app_factory):
    dash_duo.start_server(app_factory())
    dash_duo.driver.get(dash_duo.server_url + "/intervention")
    dash_duo.wait_for_element("#iv-effect", timeout=120)
    first = dash_duo.find_element("#iv-effect").text
    assert "较对照区" in first and "置换检验 P" in first
    assert "WDQ" in dash_duo.find_element("#iv-wdq").text or "转移" in dash_duo.find_element("#iv-wdq").text
    assert _traces(dash_duo) >= 4  # target and control lines with their before/after means
    # a 社区 and another start date
    dash_duo.select_dcc_dropdown("#iv-layer", value="社区")
    until(lambda: dash_duo.find_element("#iv-area").text.strip() != "", timeout=30)
    start = dash_duo.find_element("input#iv-start, #iv-start input, .dash-datepicker input")
    start.send_keys(Keys.CONTROL, "a")
    start.send_keys("2025-08-04", Keys.ENTER)
    until(lambda: "2025-08-04" in (_start_line(dash_duo) or ""), timeout=120)
    until(lambda: dash_duo.find_element("#iv-effect").text != first, timeout=120)
    text = dash_duo.find_element("#iv-effect").text
    assert "95% 区间" in text and "整治区域" in text  # one 社区: the few-areas note
    assert dash_duo.find_element("#iv-estimate").text.count("2025-08-04") == 1
    assert dash_duo.get_logs() == []
