"""The board's period list offers the running week on request, the data page states the
as-of time and gaps, and no-data areas say 「数据缺失」 on the map and in the legend."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from analytics.service import board
from app import create_app
from data.pipeline import refresh
from data.workspace import Workspace


@pytest.fixture(scope="module")
def truncated(app_workspace, tmp_path_factory) -> Workspace:
    """The app's demo with data only up to 00:30 on the last Sunday."""
    last = board.latest_period(app_workspace)
    cut = last + pd.Timedelta(days=6, minutes=30)
    ws = Workspace(shutil.copytree(app_workspace.path, tmp_path_factory.mktemp("tr") / "w"))
    inc = ws.incidents()
    keep = (pd.to_datetime(inc["occurred_at"]) <= cut).to_numpy()
    with ws.transaction() as tx:
        tx.write_parquet("incidents.parquet", inc[keep])
        log = pd.read_parquet(ws.read_path("ingested.parquet"))
        log["as_of"] = pd.to_datetime(inc["occurred_at"][keep]).max()  # what ingest records
        tx.write_parquet("ingested.parquet", log)
        refresh(ws)
    return ws


def test_period_list_offers_the_running_week_but_defaults_to_the_complete_one(app_workspace, truncated):
    app = create_app(truncated)  # pages register with an app first
    from pages.board import period_options

    last = board.latest_period(app_workspace)
    with app.server.test_request_context("/"):
        options, value = period_options("W", "zh", None)
        assert options[0]["value"] == board.PARTIAL
        assert options[0]["label"].startswith("截至 ") and options[0]["label"].endswith("（不完整）")
        assert value == str((last - pd.Timedelta(days=7)).date())  # the previous, complete week
        assert str(last.date()) not in [o["value"] for o in options]
        en, _ = period_options("W", "en", None)
        assert en[0]["label"].endswith("(incomplete)")
    full = create_app(app_workspace)
    with full.server.test_request_context("/"):
        options, value = period_options("W", "zh", None)
        assert board.PARTIAL not in [o["value"] for o in options]  # nothing running: no extra entry
        assert value == str(last.date())


def test_data_page_states_as_of_and_gaps(app_workspace):
    from analytics.service import Service

    create_app(app_workspace)
    from pages.data import period_note

    text = str(period_note(Service(app_workspace), "zh"))
    assert "数据截至" in text and "报告滞后 1 天" in text
    assert str(board.latest_period(app_workspace).date()) in text
    assert "data-gaps" not in text  # the demo has no gap


def test_no_data_areas_in_legend_and_hover(app_workspace):
    from pages._board_view import legend
    from pages._maps import level_map

    create_app(app_workspace)
    table = board.warning_table(app_workspace, level="district")
    table["level"] = pd.Categorical([None] * len(table), dtype=table["level"].dtype)
    items = legend(table, "zh")
    assert f"数据缺失 {len(table)}" in str(items[-1])
    from analytics.service import Service

    fig = level_map(Service(app_workspace).layer_geojson("district"), table, "en")
    hover = np.asarray(fig["data"][-1]["customdata"] if fig["data"][-1]["type"] == "choropleth"
                       else fig["data"][1]["customdata"])
    assert (hover[:, 3] == "no data").all()


def test_upload_takes_the_as_of_typed_on_the_data_page(app_workspace, tmp_path):
    import base64

    ws = Workspace(shutil.copytree(app_workspace.path, tmp_path / "w"))
    app = create_app(ws)
    from pages.data import upload

    one = ws.incidents_frame().iloc[[0]]
    csv = (f"id,datetime,type,lng,lat\nnew-1,{one['occurred_at'].iloc[0]:%Y-%m-%d %H:%M},"
           f"{one['category'].iloc[0]},{one['lon'].iloc[0]},{one['lat'].iloc[0]}\n")
    url = "data:text/csv;base64," + base64.b64encode(csv.encode()).decode()
    later = ws.as_of() + pd.Timedelta(days=2)
    with app.server.test_request_context("/data"):
        out = upload(url, "next.csv", f" {later:%Y-%m-%d %H:%M} ", "zh")
    assert "data-upload-counts" in str(out)
    assert Workspace(ws.path).as_of() == later
    log = pd.read_parquet(ws.ingested_path)
    assert log["as_of"].iloc[-1] == later and log["name"].iloc[-1] == "next.csv"  # the name the user gave
