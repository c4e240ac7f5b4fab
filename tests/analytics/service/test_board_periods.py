"""Honest periods on the demo city (issue 14, items 3 and 4): the default week is the latest
complete one under the recorded as-of time and the reporting lag, the running week is shown
only on request with a pro-rated expectation, and a week without data is a gap — grey, not
green, and left out of fitting."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from analytics.models import make_model
from analytics.service import board
from app import main
from data.cube import CountMatrix
from data.pipeline import refresh
from data.workspace import Workspace

END = "2025-12-28"  # a Sunday
LAST_WEEK = pd.Timestamp("2025-12-22")
PREV_WEEK = pd.Timestamp("2025-12-15")
GAP = pd.Timestamp("2025-11-03")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Workspace:
    from data.demo import build_demo

    path = tmp_path_factory.mktemp("periods") / "demo"
    build_demo(str(path), seed=7, incidents=20_000, years=2, end=END)
    board.clear_cache()
    return Workspace(path)


def _copy(ws: Workspace, dest, keep, as_of=None) -> Workspace:
    """A copy of ``ws`` holding only the incidents ``keep(times)`` selects, as one transaction.

    Its sources' as-of time is ``as_of``, else the latest incident kept — what ingest records
    for an export without ``--as-of``.
    """
    shutil.copytree(ws.path, dest)
    out = Workspace(dest)
    inc = out.incidents()
    k = keep(pd.to_datetime(inc["occurred_at"])).to_numpy()
    with out.transaction() as tx:
        tx.write_parquet("incidents.parquet", inc[k])
        log = pd.read_parquet(out.read_path("ingested.parquet"))
        log["as_of"] = pd.Timestamp(as_of) if as_of is not None else pd.to_datetime(inc["occurred_at"][k]).max()
        tx.write_parquet("ingested.parquet", log)
        refresh(out)
    return out


@pytest.fixture(scope="module")
def truncated(demo, tmp_path_factory) -> Workspace:
    """The demo with data only up to Sunday 2025-12-28 00:30."""
    cut = pd.Timestamp("2025-12-28 00:30")
    return _copy(demo, tmp_path_factory.mktemp("trunc") / "w", lambda t: t <= cut)


@pytest.fixture(scope="module")
def gapped(demo, tmp_path_factory) -> Workspace:
    """The demo with the week of 2025-11-03 deleted."""
    end = GAP + pd.Timedelta(days=7)
    return _copy(demo, tmp_path_factory.mktemp("gap") / "w", lambda t: (t < GAP) | (t >= end),
                 as_of=demo.as_of())


@pytest.mark.slow
def test_demo_records_as_of_so_its_last_week_is_complete(demo):
    # end of Sunday + the default 1-day lag
    assert demo.as_of() == pd.Timestamp("2025-12-30 00:00")
    assert board.latest_period(demo) == LAST_WEEK
    assert board.partial_period(demo) is None
    assert board.warning_table(demo).attrs["period"] == LAST_WEEK


@pytest.mark.slow
def test_truncated_to_sunday_0030_defaults_to_the_previous_week(demo, truncated):
    assert truncated.as_of() <= pd.Timestamp("2025-12-28 00:30")
    assert board.latest_period(truncated) == PREV_WEEK
    assert board.partial_period(truncated) == LAST_WEEK
    table = board.warning_table(truncated)
    assert (table["period"] == PREV_WEEK).all()
    assert not table.attrs["partial"]
    # the week before is the same as on the full demo: the truncation did not touch it
    full = board.warning_table(demo, period=PREV_WEEK)
    assert table["observed"].sum() == full["observed"].sum()
    # the running week only on request (and never as the complete week it is not)
    with pytest.raises(ValueError, match="no complete"):
        board.warning_table(truncated, period=LAST_WEEK)


@pytest.mark.slow
def test_partial_week_is_compared_with_the_pro_rated_forecast(demo, truncated):
    part = board.warning_table(truncated, partial=True)
    assert part.attrs["partial"] and (part["period"] == LAST_WEEK).all()
    share = part.attrs["share"]
    assert 0.75 < share < 0.95  # Monday to Saturday night of a week
    # the fit uses the weeks up to 12-15, identical in both workspaces, so the expectation is
    # exactly the full-week forecast times the share of its cases due by Sunday 00:30
    full = board.warning_table(demo, period=LAST_WEEK).set_index("area_id")
    got = part.set_index("area_id").loc[full.index]
    np.testing.assert_allclose(got["expected"], full["expected"] * share, rtol=1e-9)
    # the observed counts so far, not the full week
    assert got["observed"].sum() < full["observed"].sum()
    assert got["observed"].sum() == pytest.approx(got["expected"].sum(), rel=0.25)
    assert part["reason_zh"].str.contains("不完整").all()
    assert part["reason_en"].str.contains("incomplete").all()
    # the dropdown's value and the KPIs take the same route
    assert board.warning_table(truncated, period=board.PARTIAL).attrs["share"] == share
    k = board.kpis(truncated, period=board.PARTIAL)
    assert k["partial"] and k["period"] == LAST_WEEK and k["total"] == int(got["observed"].sum())
    with pytest.raises(ValueError, match="no incomplete"):
        board.warning_table(demo, partial=True)
    with pytest.raises(ValueError, match="alert"):
        board.warning_table(truncated, partial=True, mode="yoy")


@pytest.mark.slow
def test_lag_setting_moves_the_default_week(demo, tmp_path):
    ws = Workspace(shutil.copytree(demo.path, tmp_path / "w"))
    ws.update_config(periods={"lag_days": 2})  # as of Tue 00:00, Sunday's week needs until Wed
    assert board.latest_period(ws) == PREV_WEEK
    assert board.partial_period(ws) == LAST_WEEK


@pytest.mark.slow
def test_deleted_week_is_missing_not_green(gapped):
    g = board.gaps(gapped)
    assert g.loc[g["missing"], "period"].tolist() == [GAP]
    assert g.loc[g["period"] == GAP, "total"].item() == 0
    table = board.warning_table(gapped, period=GAP)
    assert table.attrs["missing"]
    assert table["level"].isna().all()  # grey on maps, not 2,500 greens
    assert (table["reason_zh"] == "数据缺失").all() and (table["reason_en"] == "no data").all()
    assert board.level_counts(table)["green"] == 0
    tr = board.trend(gapped, table["area_id"].iloc[0], n_periods=20)
    assert tr.loc[tr["period"] == GAP, "missing"].item()
    assert tr.loc[tr["period"] == GAP, "level"].isna().item()


@pytest.mark.slow
@pytest.mark.parametrize("model", ["eb", "ewma", "mean4"])
def test_forecast_after_a_gap_does_not_fall(demo, gapped, model):
    after = GAP + pd.Timedelta(days=7)
    with_week = board.warning_table(demo, period=after, model=model)["expected"].sum()
    without = board.warning_table(gapped, period=after, model=model)["expected"].sum()
    assert without == pytest.approx(with_week, rel=0.05)
    # what the zeros would have done (the check can fail): refit on the raw matrix
    keys, ps, Y = board._matrix(gapped, board.default_level(gapped), "W", "全部")
    j = ps.get_loc(after)
    raw = make_model(model, parent=board._parent_map(gapped, board.default_level(gapped)))
    zeros = raw.fit(CountMatrix(keys, ps[:j], Y[:, :j], "W")).predict(1)["mu"].sum()
    assert zeros < 0.95 * with_week


def test_low_totals_by_hand():
    x = [100, 104, 97, 101, 99, 0, 12, 102, 50]
    expected, p_low, miss = board.low_totals(x)
    assert miss.tolist() == [False] * 5 + [True, True, False, True]
    assert np.isnan(expected[:4]).all() and expected[4] == pytest.approx(100.5)
    assert expected[7] == 100  # the gaps did not enter the baseline
    # a known holiday (春节) may halve the total without being taken for missing data
    scale = np.ones(len(x))
    scale[-1] = board.FESTIVAL_FLOOR
    _, p2, miss2 = board.low_totals(x, scale=scale)
    assert not miss2[-1] and p2[-1] > 0.001
    assert p_low[-1] < 0.001
    with pytest.raises(ValueError, match="scale"):
        board.low_totals(x, scale=[1.0, 1.0])


@pytest.mark.slow
def test_demo_has_no_false_gaps_over_chun_jie(demo):
    """Three 春节 dips (−40 %) in the demo are holidays, not missing data."""
    g = board.gaps(demo)
    assert not g["missing"].any()
    assert len(g) > 100


@pytest.mark.slow
def test_cli_warn_says_which_period_and_warns_of_gaps(truncated, gapped, tmp_path, capsys):
    assert main(["warn", "--workspace", str(truncated.path), "--out", str(tmp_path / "a.csv")]) == 0
    out = capsys.readouterr().out
    assert "2025-12-15" in out and "latest complete period" in out and "2025-12-27" in out
    assert main(["warn", "--workspace", str(truncated.path), "--partial", "--out", str(tmp_path / "b.csv")]) == 0
    out = capsys.readouterr().out
    assert "不完整" in out and "incomplete" in out and "2025-12-22" in out
    assert pd.read_csv(tmp_path / "b.csv")["period"].astype(str).str.startswith("2025-12-22").all()
    assert main(["warn", "--workspace", str(gapped.path), "--out", str(tmp_path / "c.csv")]) == 0
    out = capsys.readouterr().out
    assert "数据缺失" in out and "No data: 2025-11-03" in out
    assert main(["warn", "--workspace", str(gapped.path), "--partial", "--out", str(tmp_path / "d.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--partial" in err[0]


def test_upload_records_the_given_as_of(tmp_path):
    """The app's upload takes the same ``as_of`` as ``pingan ingest --as-of``."""
    import base64

    from analytics.service import Service

    ws = Workspace.create(tmp_path / "w")
    csv = "id,datetime,type,lng,lat\na1,2024-03-04 08:00,扒窃,106.7,26.6\n"
    url = "data:text/csv;base64," + base64.b64encode(csv.encode()).decode()
    svc = Service(ws)
    assert svc.upload(url, "a.csv", as_of="2024-03-10 23:59").rows_used == 1
    assert svc.as_of() == ws.as_of() == pd.Timestamp("2024-03-10 23:59")
    csv2 = "id,datetime,type,lng,lat\nb1,2024-03-05 08:00,扒窃,106.7,26.6\n"
    svc.upload("data:text/csv;base64," + base64.b64encode(csv2.encode()).decode(), "b.csv")
    assert svc.as_of() == pd.Timestamp("2024-03-10 23:59")  # an older export does not move it back


@pytest.mark.slow
def test_partial_yoy_uses_the_same_share(truncated):
    part = board.warning_table(truncated, partial=True)
    ly = part["observed_last_year"].to_numpy(float)
    ok = ly > 0
    want = part["observed"].to_numpy(float)[ok] / (ly[ok] * part.attrs["share"]) - 1
    np.testing.assert_allclose(part["yoy"].to_numpy(float)[ok], want)
    fc = board.warning_table(truncated, mode="forecast")
    assert fc.attrs["share"] == 1.0 and not fc.attrs["partial"]
