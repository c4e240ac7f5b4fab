"""Knox (near repeat) obeys the hotspot page's hour and weekday filters, as Gi* and emerging do:
its input is exactly the window's incidents at those hours / on those days (counted here by
hand from the incidents file), through the service, the façade and ``pingan hotspots``."""

import numpy as np
import pandas as pd
import pytest

from analytics.hotspots.knox import KnoxTest
from analytics.service import Service
from analytics.service.hotspots import knox_table, run_hotspots, window_incidents
from data.workspace import Workspace

START, END = "2025-10-01", "2025-12-28"
BANDS = {"distance_bands": (100, 200, 400), "time_bands": (7, 14)}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    from data.demo import build_demo

    path = tmp_path_factory.mktemp("knoxfilters") / "workspace"
    build_demo(str(path), seed=11, incidents=6_000, years=1, end="2025-12-28", cameras=50, n_grids=300)
    return Workspace(path)


def _by_hand(ws, hours=None, weekdays=None) -> pd.DataFrame:
    inc = ws.incidents_frame(["incident_id", "occurred_at", "lon", "lat"])
    t = inc["occurred_at"]
    keep = (t >= pd.Timestamp(START)) & (t < pd.Timestamp(END) + pd.Timedelta(days=1)) & inc["lon"].notna()
    if hours is not None:
        keep &= (t.dt.hour >= hours[0]) & (t.dt.hour <= hours[1])
    if weekdays is not None:
        keep &= t.dt.dayofweek.isin(weekdays)
    return inc.loc[keep]


@pytest.mark.parametrize("hours,weekdays", [((18, 23), None), (None, [5, 6]), ((0, 5), [0, 1, 2, 3, 4])])
def test_knox_takes_only_the_filtered_incidents(ws, hours, weekdays):
    everything = knox_table(ws, None, START, END, permutations=9, **BANDS)
    table = knox_table(ws, None, START, END, permutations=9, hours=hours, weekdays=weekdays, **BANDS)
    expected = _by_hand(ws, hours, weekdays)
    assert table["n_events"].iloc[0] == len(expected) < everything["n_events"].iloc[0] == len(_by_hand(ws))
    assert len(expected) > 50
    # the same table as the Knox test run on those incidents directly
    inc = window_incidents(ws, None, START, END, hours=hours, weekdays=weekdays)
    assert sorted(inc["incident_id"]) == sorted(expected["incident_id"])
    direct = KnoxTest(permutations=9, seed=12345, **BANDS).fit(inc[["x", "y"]].to_numpy(), inc["occurred_at"])
    assert np.array_equal(direct.to_frame()["observed"].to_numpy(), table["observed"].to_numpy())


def test_all_hours_and_days_is_no_filter(ws):
    full = knox_table(ws, None, START, END, permutations=9, **BANDS)
    same = knox_table(ws, None, START, END, permutations=9, hours=(0, 23), weekdays=range(7), **BANDS)
    pd.testing.assert_frame_equal(full, same)


def test_the_facade_and_the_cli_pass_the_filters_to_knox(ws, tmp_path):
    from app import main

    svc = Service(ws)
    kw = {"category": None, "start": START, "end": END, "seed": 12345, "permutations": 9}
    night = svc.hotspots("knox", hours=(18, 23), weekdays=[4, 5, 6], **kw)
    assert night["n_events"].iloc[0] == len(_by_hand(ws, (18, 23), [4, 5, 6]))
    assert svc.hotspots("knox", **kw)["n_events"].iloc[0] == len(_by_hand(ws))
    out = tmp_path / "knox.csv"
    assert main(["hotspots", "--workspace", str(ws.path), "--method", "knox", "--start", START, "--end", END,
                 "--permutations", "9", "--hours", "18-23", "--weekdays", "4,5,6", "--out", str(out)]) == 0
    assert pd.read_csv(out)["n_events"].iloc[0] == len(_by_hand(ws, (18, 23), [4, 5, 6]))
    direct = run_hotspots(ws, "knox", start=START, end=END, permutations=9, hours=(18, 23), weekdays=[4, 5, 6])
    assert direct["n_events"].iloc[0] == len(_by_hand(ws, (18, 23), [4, 5, 6]))
