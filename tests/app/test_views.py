"""The app's plumbing without a browser: offline configuration, loopback guard, and the
small presentation helpers (drill-down path, filters, selections, CompStat windows)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from analytics.service.incidents import compstat, filter_incidents, region_mask
from app import _is_loopback, create_app
from pages._board_view import drill_path
from pages._hotspots_view import selected_values


@pytest.fixture(scope="module")
def client(app_workspace):
    return create_app(app_workspace).server.test_client()


def test_index_is_offline(client):
    html = client.get("/").get_data(as_text=True)
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert urls and all(u.startswith("/") for u in urls), urls
    assert "cdn" not in html.lower()
    assert "/assets/style.css" in html and "plotly-locale-zh-cn.js" in html


def test_bundles_come_from_installed_packages(client):
    # plotly.min.js is served by Dash from the plotly package, gzip-compressed.
    deps = client.get("/_dash-layout", headers={"Accept-Encoding": "gzip"})
    assert deps.status_code == 200
    html = client.get("/").get_data(as_text=True)
    assert "_dash-component-suites/dash/dcc" in html


def test_loopback_guard():
    assert _is_loopback("127.0.0.1") and _is_loopback("::1") and _is_loopback("localhost")
    assert not _is_loopback("0.0.0.0") and not _is_loopback("192.168.1.5") and not _is_loopback("example.org")


def test_drill_path():
    chain = ["district", "subdistrict", "community", "grid"]
    assert drill_path([], chain, "D01") == ["D01"]
    assert drill_path(["D01", "D01S01"], chain, "D01S01C01") == ["D01", "D01S01", "D01S01C01"]
    # At the finest level a click keeps the path (nothing below a 网格).
    assert drill_path(["D01", "D01S01", "D01S01C01"], chain, "D01S01C01G001") == ["D01", "D01S01", "D01S01C01"]


def _frame():
    ts = pd.to_datetime(["2026-01-05 08:10", "2026-01-06 23:30", "2026-01-10 12:00", "2026-01-11 03:00"])
    return pd.DataFrame({
        "incident_id": list("abcd"), "occurred_at": ts, "category": ["抢劫", "扒窃", "抢劫", "毒品"],
        "lon": [106.60, 106.61, 106.70, 106.80], "lat": [26.60, 26.61, 26.70, 26.80],
        "date": ts.normalize(), "hour": ts.hour, "weekday": ts.day_of_week,
    })


def test_filters_by_hand():
    f = _frame()
    assert filter_incidents(f).tolist() == [True] * 4
    assert filter_incidents(f, categories=["抢劫"]).tolist() == [True, False, True, False]
    assert filter_incidents(f, start="2026-01-06", end="2026-01-10").tolist() == [False, True, True, False]
    assert filter_incidents(f, hours=(8, 12)).tolist() == [True, False, True, False]
    assert filter_incidents(f, weekdays=[5, 6]).tolist() == [False, False, True, True]  # Sat, Sun


def test_map_selections():
    f = _frame()
    box = {"range": {"x": [106.65, 106.75], "y": [26.75, 26.65]}}
    assert region_mask(f, box).tolist() == [False, False, True, False]
    lasso = {"lassoPoints": {"x": [106.55, 106.65, 106.65, 106.55], "y": [26.55, 26.55, 26.65, 26.65]}}
    assert region_mask(f, lasso).tolist() == [True, True, False, False]
    assert region_mask(f, None).all()
    assert selected_values({"points": [{"x": 5}, {"x": 3}, {"x": 5}]}) == [3, 5]
    assert selected_values({"points": []}) is None


def test_compstat_windows_by_hand():
    end = pd.Timestamp("2026-03-31")
    days = pd.to_datetime([
        "2026-03-31", "2026-03-04",            # last 28 days: 03-04 … 03-31
        "2026-03-03", "2026-02-04",            # previous 28: 02-04 … 03-03
        "2025-03-10",                          # same 28 days last year
        "2026-01-01",                          # year to date only
        "2025-01-15", "2025-04-01",            # last YTD (01-01 … 03-31 2025) has 01-15 and 03-10
    ])
    table = compstat(pd.DataFrame({"date": days}), end)
    assert table["current"].tolist() == [2, 2, 5]
    assert table["compare"].tolist() == [2, 1, 2]
    assert table["change"].tolist() == pytest.approx([0.0, 1.0, 1.5])
    assert np.isnan(compstat(pd.DataFrame({"date": days[:1]}), end)["change"].iloc[0])


def test_serve_a_mistyped_workspace_is_an_error_not_a_new_demo(tmp_path, capsys):
    from app import main

    missing = tmp_path / "mycty"
    assert main(["serve", "--workspace", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "no workspace there" in err and "pingan demo" in err
    assert not missing.exists()  # nothing was built behind the user's back


def test_serve_without_areas_says_what_to_run(tmp_path, capsys):
    from app import main

    csv = tmp_path / "a.csv"
    csv.write_text("incident_id,occurred_at,category,lon,lat\nA1,2024-03-05 10:00,盗窃,106.6,26.6\n"
                   "A2,2024-03-06 11:00,盗窃,106.61,26.61\n", encoding="utf-8")
    ws = tmp_path / "w"
    assert main(["ingest", str(csv), "--workspace", str(ws)]) == 0
    capsys.readouterr()
    assert main(["serve", "--workspace", str(ws)]) == 2
    assert "pingan areas" in capsys.readouterr().err


def test_the_trend_band_starts_at_its_lower_quantile():
    from pages._trends_view import band_figure

    tr = pd.DataFrame({"period": pd.date_range("2024-01-01", periods=3, freq="W-MON"), "observed": [5, 9, 2],
                       "expected": [4.0, 4.0, 4.0], "q05": [1.0, 1.0, 1.0], "q80": [6.0, 6.0, 6.0],
                       "q95": [8.0, 8.0, 8.0], "q99": [10.0, 10.0, 10.0], "level": ["green"] * 3})
    fig = band_figure(tr, "zh")
    fills = [i for i, tr_ in enumerate(fig.data) if tr_.fill == "tonexty"]
    assert fills and all(list(fig.data[i - 1].y) == [1.0, 1.0, 1.0] for i in fills)  # filled from q05
    assert not any(tr_.fill == "tozeroy" for tr_ in fig.data)


def test_this_year_vs_last_year_draws_quiet_weeks_as_zero():
    from pages._trends_view import year_figure

    days = pd.to_datetime(["2025-01-06", "2025-01-20", "2026-01-05", "2026-01-19", "2026-02-02"])
    fig = year_figure(pd.DataFrame({"date": days}), pd.Timestamp("2026-02-08"), "zh")
    this, last = fig.data
    assert list(this.x) == [1, 2, 3, 4, 5, 6] and list(this.y) == [0, 1, 0, 1, 0, 1]  # quiet weeks are zeros
    assert np.isnan(last.y[0])  # ISO week 1 of 2025 ended before the first case: no data, not zero
    assert list(last.y[1:4]) == [1, 0, 1] and len(last.y) == 52


def test_models_are_named_for_people():
    from pages._evaluation_view import backtest_table

    result = {"models": {"eb": {"hit_rate": {"0.05": 0.2}, "pai": {"0.05": 4.0}}, "mystery": {"hit_rate": {}, "pai": {}}}}
    zh = backtest_table(result, "zh")["model"].tolist()
    assert "经验贝叶斯（伽马-泊松）" in zh and "mystery" in zh and "eb" not in zh
    assert "empirical Bayes (gamma-Poisson)" in backtest_table(result, "en")["model"].tolist()
