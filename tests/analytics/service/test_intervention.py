"""整治 evaluation on the small demo: a planted 50 % drop in one 社区 is recovered within its
interval, ``pingan intervention`` writes its files and rejects bad input with exit 2, and the
façade checks the user's area scope."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from analytics.service import Service
from analytics.service.intervention import evaluate_intervention
from data.workspace import Workspace

START = "2025-07-07"


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    from data.demo import build_demo

    path = tmp_path_factory.mktemp("intervention") / "workspace"
    build_demo(str(path), seed=7, incidents=20_000, years=2, end="2025-12-28")
    return Workspace(path)


def _busiest_community(ws) -> str:
    assigned = pd.read_parquet(ws.read_path("assignments.parquet"), columns=["community"])
    counts = assigned["community"].value_counts()
    return str(next(c for c in counts.index if not str(c).startswith("D02S05")))  # not the demo's 整治


@pytest.mark.slow
def test_planted_halving_of_one_community_is_recovered(ws, tmp_path):
    # a copy of the demo where half of one 社区's incidents after START are deleted (seeded)
    path = tmp_path / "planted"
    shutil.copytree(ws.path, path)
    planted = Workspace(path)
    target = _busiest_community(planted)
    inc = planted.incidents_frame()
    assigned = pd.read_parquet(planted.read_path("assignments.parquet"), columns=["incident_id", "community"])
    in_target = inc["incident_id"].astype(str).map(
        dict(zip(assigned["incident_id"].astype(str), assigned["community"].astype(str)))).eq(target)
    after = pd.to_datetime(inc["occurred_at"]) >= pd.Timestamp(START)
    drop = (in_target & after).to_numpy() & (np.random.default_rng(3).random(len(inc)) < 0.5)
    from data.pipeline import refresh

    with planted.transaction() as tx:
        tx.write_parquet("incidents.parquet", inc[~drop].reset_index(drop=True))
        refresh(planted)
    r = evaluate_intervention(planted, area_ids=[target], start=START, permutations=99)
    did = r["did"]
    assert did["ci_low"] < 0.5 < did["ci_high"], did
    assert did["ci_high"] < 1
    assert r["permutation"]["p"] < 0.15  # small 社区 make noisy placebos: 9 of 99 as extreme
    assert r["intervention"]["layer"] == "community" and r["weeks_before"] == 26
    # the weekly series add up to the before/after counts of the WDQ
    s = r["series"]
    assert s.loc[~s["post"], "treated"].sum() == r["counts"]["a_before"]
    assert s.loc[s["post"], "control"].sum() == r["counts"]["c_after"]
    # and the untouched workspace shows no such drop for the same 社区
    base = evaluate_intervention(ws, area_ids=[target], start=START, permutations=0)
    assert base["did"]["ci_high"] > 0.8 and base["did"]["rate_ratio"] > did["rate_ratio"] + 0.25


def test_few_target_areas_get_the_wider_interval(ws):
    r = evaluate_intervention(ws, area_ids=[_busiest_community(ws)], start=START, permutations=0)
    did = r["did"]
    assert did["se"] == pytest.approx(max(did["se_model"], did["se_cluster"]))
    assert r["permutation"] is None


def test_cli_writes_series_and_estimate(ws, tmp_path, capsys):
    from app import main

    area = _busiest_community(ws)
    out = tmp_path / "iv.csv"
    assert main(["intervention", "--workspace", str(ws.path), "--area", area, "--start", START,
                 "--category", "两抢一盗", "--buffer", "300", "--permutations", "19", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "置换检验 P=" in printed and "95% 区间" in printed
    series = pd.read_csv(out)
    assert list(series.columns) == ["period", "post", "treated", "control", "buffer"]
    assert series["post"].sum() > 0 and (~series["post"]).sum() == 26
    est = pd.read_csv(tmp_path / "iv_estimate.csv")
    assert est.loc[0, "area_ids"] == area and est.loc[0, "category"] == "两抢一盗"
    assert est.loc[0, "ci_low"] < est.loc[0, "rate_ratio"] < est.loc[0, "ci_high"]
    assert est.loc[0, "n_permutations"] == 19 and est.loc[0, "buffer_m"] == 300
    assert est.loc[0, "a_before"] == series.loc[~series["post"], "treated"].sum()
    js = tmp_path / "iv.json"
    assert main(["intervention", "--workspace", str(ws.path), "--area", area, "--start", START,
                 "--end", "2025-09-30", "--permutations", "0", "--out", str(js)]) == 0
    doc = json.loads(js.read_text(encoding="utf-8"))
    assert doc["intervention"]["end"] == "2025-10-05" and doc["weeks_after"] == 13
    assert len(doc["series"]) == 26 + 13 and doc["estimate"]["rate_ratio"] == doc["did"]["rate_ratio"]


@pytest.mark.parametrize("args,needle", [
    (["--area", "不存在", "--start", START], "--area '不存在'"),
    (["--start", "someday"], "--start"),
    (["--start", "2031-01-01"], "no complete week"),
    (["--start", START, "--category", "不存在"], "--category"),
    (["--start", START, "--end", "2025-01-01"], "--end"),
    (["--start", START, "--buffer", "-5"], "--buffer"),
])
def test_cli_user_errors_exit_2_with_one_line(ws, tmp_path, capsys, args, needle):
    from app import main

    if "--area" not in args:
        args = ["--area", _busiest_community(ws), *args]
    code = main(["intervention", "--workspace", str(ws.path), *args, "--out", str(tmp_path / "x.csv")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and needle in err[0], err


def test_service_checks_the_scope(ws):
    from analytics.service import ScopeError

    communities = ws.areas("community")
    mine, other = communities.iloc[0], communities.iloc[-1]
    from data.accounts import User

    user = User("wang", "grid", str(mine["area_id"]))
    svc = Service(ws, user)
    with pytest.raises(ScopeError):
        svc.intervention([str(other["area_id"])], START, permutations=0)
    r = svc.intervention([str(mine["area_id"])], START, permutations=0)
    assert r["intervention"]["area_ids"] == [str(mine["area_id"])]
    assert Service(ws).intervention(str(mine["area_id"]), START, permutations=0) is not None
