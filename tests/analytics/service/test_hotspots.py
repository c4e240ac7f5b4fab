"""The workspace functions and ``pingan hotspots`` on a small seeded demo city."""

import numpy as np
import pandas as pd
import pytest

from analytics.hotspots import CATEGORIES, GiStar, build_weights
from analytics.service.hotspots import (
    camera_gaps,
    cold_cameras,
    concentration,
    count_cube,
    run_hotspots,
)
from analytics.service.intervention import evaluate_intervention
from data.workspace import Workspace

START, END = "2025-09-01", "2025-12-28"


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    from data.demo import build_demo

    path = tmp_path_factory.mktemp("hotspots") / "workspace"
    build_demo(str(path), seed=7, incidents=20_000, years=2, end="2025-12-28")
    return Workspace(path)


def test_gistar_contract_and_consistency(ws):
    out = run_hotspots(ws, "gistar", start=START, end=END, permutations=99, seed=3)
    grid = ws.areas("grid")
    assert len(out) == len(grid) and out["area_id"].is_unique
    assert {"area_id", "z", "p", "p_fdr", "class", "geometry"} <= set(out.columns)
    assert set(out["class"]) <= {"hot_99", "hot_95", "hot_90", "cold_99", "cold_95", "cold_90",
                                 "not_significant"}
    assert (out["class"].str.startswith("hot")).any()
    areas, periods, x = count_cube(ws, "grid", None, START, END)
    assert periods.min() >= pd.Timestamp(START) - pd.Timedelta(days=6)
    ref = GiStar(permutations=99, seed=3).fit(x.sum(axis=1), build_weights(areas))
    np.testing.assert_allclose(out["z"].to_numpy(), ref.z_)
    again = run_hotspots(ws, "gistar", start=START, end=END, permutations=99, seed=3)
    pd.testing.assert_frame_equal(pd.DataFrame(out.drop(columns="geometry")),
                                  pd.DataFrame(again.drop(columns="geometry")))


def test_other_methods(ws):
    moran = run_hotspots(ws, "moran", layer="community", permutations=99, start=START, end=END)
    assert len(moran) == len(ws.areas("community"))
    assert set(moran["quadrant"]) <= {"HH", "LL", "HL", "LH"}
    em = run_hotspots(ws, "emerging", layer="community", category="两抢一盗")
    assert set(em["category"]) <= set(CATEGORIES)
    kde = run_hotspots(ws, "kde", start=START, end=END, bandwidth=400.0)
    assert (kde["density"] >= 0).all() and kde["density"].max() > 0
    knox = run_hotspots(ws, "knox", category="入室盗窃", start="2025-01-01", end=END, permutations=19)
    assert len(knox) == 7 * 5  # same location + 5 bands + beyond, 4 time bands + beyond
    total = knox["observed"].sum()
    n = int(knox["n_events"].iloc[0])
    assert total == n * (n - 1) // 2


def test_user_errors_name_the_argument(ws):
    with pytest.raises(ValueError, match="--method"):
        run_hotspots(ws, "lisa")
    with pytest.raises(ValueError, match="--layer"):
        run_hotspots(ws, "gistar", layer="nope")
    with pytest.raises(ValueError, match="--category"):
        run_hotspots(ws, "gistar", category="不存在", permutations=0)
    with pytest.raises(ValueError, match="--start"):
        run_hotspots(ws, "gistar", start="yesterday-ish", permutations=0)


def test_crackdown_recovered(ws):
    truth = ws.extra("interventions").iloc[0]
    r = evaluate_intervention(ws, buffer_m=500.0)
    did = r["did"]
    assert did["ci_low"] < 1 + truth["effect"] < did["ci_high"]
    assert did["ci_high"] < 1
    assert r["wdq"]["success_measure"] < 0
    assert r["counts"]["a_after"] < r["counts"]["a_before"]


def test_concentration_and_cameras(ws):
    c = concentration(ws, start=START, end=END)
    assert c.n_cells == len(ws.areas("grid"))
    assert c.top_shares[0.1] > 0.1  # crime is concentrated
    gaps = camera_gaps(ws, start=START, end=END, distance=50.0, permutations=99)
    assert gaps["class"].isin(["hot_95", "hot_99"]).all()
    assert (gaps["gap"] == (gaps["online_within"] == 0)).all()
    cold = cold_cameras(ws, layer="grid", start="2025-12-01", end=END)
    assert set(cold["reason"]) <= {"persistent_cold_spot", "no_incidents"}
    assert len(cold) > 0


def test_cli_writes_table(ws, tmp_path):
    from app import main

    out = tmp_path / "gi.csv"
    assert main(["hotspots", "--workspace", str(ws.path), "--method", "gistar", "--permutations", "49",
                 "--start", START, "--end", END, "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert {"area_id", "z", "p", "p_fdr", "class"} <= set(table.columns)
