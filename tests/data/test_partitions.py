"""Monthly parts and the weekly update in O(new rows) (data/partitions.py).

On a real demo workspace (build_demo, 5 admin/grid layers), switched to parts by a low
``[extra] partition_rows``: several weekly ingests (the first migrates the single files), a late
file touching an old month, a new category and a re-ingest of the same file; after each, the
counts cube updated in place must equal a full recount, the assignments line up with the
incidents row for row, and rows in = used + quarantined. Then ``pingan ingest`` is killed with
SIGKILL around its commit point: the workspace is the old or the new version, and a re-run
converges to the uninterrupted result.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data import pipeline
from data.ingest import ingest_files
from data.partitions import is_partitioned, part_files
from data.workspace import Workspace

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
_CLI = "import sys; from app import main; sys.exit(main())"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    from data.demo import build_demo

    path = tmp_path_factory.mktemp("demo") / "w"
    build_demo(str(path), seed=7, incidents=6_000, years=1, end="2025-12-28", cameras=200, n_grids=300)
    return path


def _week(ws: Workspace, path: Path, seed: int, start: str, n: int = 150, *, category: str | None = None) -> Path:
    """``n`` incidents at places of the workspace's own incidents, in the week from ``start``;
    two rows without coordinates (quarantined)."""
    rng = np.random.default_rng(seed)
    inc = ws.incidents_frame()
    rows = inc.iloc[rng.integers(0, len(inc), n)].reset_index(drop=True)
    rows["incident_id"] = [f"WK{seed}-{i:04d}" for i in range(n)]
    minutes = rng.integers(0, 7 * 24 * 60, n)
    rows["occurred_at"] = (pd.Timestamp(start) + pd.to_timedelta(minutes, unit="min")).strftime("%Y-%m-%d %H:%M")
    if category is not None:
        rows.loc[: n // 4, "category"] = category
    rows["lon"] = rows["lon"].astype(str)
    rows.loc[:1, "lon"] = ""
    rows.to_csv(path, index=False)
    return path


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype({"area_id": str, "category": str})
    return frame.sort_values(["area_id", "period", "category"], ignore_index=True)


def _full_recount(ws: Workspace) -> dict[str, pd.DataFrame]:
    """Counts of every layer from a full recount, in a throw-away copy of the workspace."""
    copy = Workspace(Path(str(ws.path) + "-recount"))
    shutil.rmtree(copy.path, ignore_errors=True)
    shutil.copytree(ws.path, copy.path)
    layers = copy.layers()
    with copy.transaction() as tx:
        pipeline._refresh(copy, tx, layers, pipeline._inputs(copy, layers))
    out = {lv: _sorted(pipeline.counts(copy, lv)) for lv in layers}
    shutil.rmtree(copy.path)
    return out


def _check_aligned(ws: Workspace) -> None:
    inc = ws.incidents_frame(["incident_id", "occurred_at"])
    asg = pd.read_parquet(ws.assignments_path)  # the folder of parts, as an analyst reads it
    assert asg["incident_id"].astype(str).tolist() == inc["incident_id"].astype(str).tolist()
    assert inc["incident_id"].is_unique
    t = pd.to_datetime(inc["occurred_at"])
    assert t.is_monotonic_increasing  # parts in name order = the canonical order
    for part in part_files(ws, "incidents.parquet"):
        months = pd.to_datetime(pd.read_parquet(part, columns=["occurred_at"])["occurred_at"]).dt.strftime("%Y-%m")
        assert set(months) == {part.stem}


def test_weekly_ingests_update_in_place_and_equal_a_full_recount(demo, tmp_path):
    path = tmp_path / "w"
    shutil.copytree(demo, path)
    ws = Workspace(path)
    ws.update_config(extra={**ws.config.extra, "partition_rows": 1_000})
    assert not is_partitioned(ws)  # an old single-file workspace
    n0 = len(ws.incidents_frame(["incident_id"]))
    files = [
        _week(ws, tmp_path / "w1.csv", 1, "2025-12-29"),  # migrates to parts, full recount
        _week(ws, tmp_path / "w2.csv", 2, "2026-01-05"),  # a new week (and month) after the cube
        _week(ws, tmp_path / "late.csv", 3, "2025-03-03"),  # late: an old month
        _week(ws, tmp_path / "w3.csv", 4, "2026-01-12", category="新型诈骗"),  # a category never seen
        _week(ws, tmp_path / "early.csv", 5, "2024-06-03"),  # before the first week of the cube
    ]
    used = 0
    for i, f in enumerate(files):
        report = ingest_files([f], ws)
        assert report.rows_in == report.rows_used + report.rows_quarantined == 150
        assert report.by_reason == {"missing_coordinates": 2}
        used += report.rows_used
        assert is_partitioned(ws) and is_partitioned(ws, "assignments.parquet")
        made = pipeline._made_from(ws)
        assert ("the history was not recounted" in made["report"]) == (i > 0), made["report"]
        recount = _full_recount(ws)
        for layer in ws.layers():
            got = _sorted(pipeline.counts(ws, layer))
            pd.testing.assert_frame_equal(got, recount[layer], check_categorical=False)
        _check_aligned(ws)
    assert len(ws.incidents_frame(["incident_id"])) == n0 + used
    assert "新型诈骗" in set(pipeline.counts(ws, "district")["category"].astype(str))
    # the same file again adds nothing and writes nothing
    version = ws.version
    again = ingest_files([files[2]], ws)
    assert again.already_ingested == [str(files[2])] and again.rows_in == 0 and ws.version == version
    # only the touched months were rewritten by the last ingests
    stamps = {p.name: p.stat().st_mtime_ns for p in part_files(ws, "incidents.parquet")}
    ingest_files([_week(ws, tmp_path / "w4.csv", 6, "2026-01-19")], ws)
    changed = {p.name for p in part_files(ws, "incidents.parquet") if stamps.get(p.name) != p.stat().st_mtime_ns}
    assert changed == {"2026-01.parquet"}


def _state(path: Path) -> dict[str, pd.DataFrame]:
    ws = Workspace(path)
    layers = ws.layers()
    return {
        "incidents": ws.incidents_frame(["incident_id", "occurred_at", "category", "lon", "lat"]),
        "assignments": pd.read_parquet(ws.assignments_path).astype(str),
        "quarantine": ws.quarantine()[["source_file", "source_row", "reason"]],
        "log": pd.read_parquet(ws.ingested_path, columns=["sha256", "rows_in", "rows_used"]),
        **{f"counts:{lv}": _sorted(pipeline.counts(ws, lv)) for lv in layers},
    }


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(a[k].shape == b[k].shape and a[k].equals(b[k]) for k in a)


@pytest.fixture(scope="module")
def killed(demo, tmp_path_factory) -> dict:
    """A workspace in parts (old state), a late weekly file, and the state its ingest makes."""
    root = tmp_path_factory.mktemp("kill")
    base = root / "base"
    shutil.copytree(demo, base)
    ws = Workspace(base)
    ws.update_config(extra={**ws.config.extra, "partition_rows": 1_000})
    ingest_files([_week(ws, root / "w1.csv", 1, "2025-12-29")], ws)  # now in parts
    new_file = _week(ws, root / "late.csv", 3, "2025-03-03")
    done = root / "done"
    shutil.copytree(base, done)
    ingest_files([new_file], Workspace(done))
    state = {"base": base, "file": new_file, "old": _state(base), "new": _state(done)}
    assert not _same(state["old"], state["new"])
    return state


@pytest.mark.parametrize("when", ["staged", "committed", "switching", "switched"])
def test_a_killed_incremental_ingest_leaves_old_or_new_and_rerun_converges(when, killed, tmp_path):
    victim = tmp_path / "victim"
    shutil.copytree(killed["base"], victim)
    proc = subprocess.run([sys.executable, "-c", _CLI, "ingest", str(killed["file"]), "--workspace", str(victim)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PINGAN_CRASH_AT": when})
    assert proc.returncode == -9, proc.stderr  # SIGKILL at that point
    state = _state(victim)  # opening finishes or discards the interrupted transaction
    assert _same(state, killed["new"]) == (when != "staged")
    assert _same(state, killed["old"]) == (when == "staged")
    ingest_files([killed["file"]], Workspace(victim))  # re-run: converges, never doubles
    assert _same(_state(victim), killed["new"])


def test_a_workspace_in_parts_copies_into_postgis(killed, postgres_database):
    from data.workspace_pg import copy_folder

    src = Workspace(killed["base"])
    assert is_partitioned(src) and is_partitioned(src, "assignments.parquet")
    dst = copy_folder(src.path, postgres_database)
    assert dst.backend == "postgis"
    pd.testing.assert_frame_equal(dst.incidents_frame(), src.incidents_frame())
    assert pd.read_parquet(dst.read_path("assignments.parquet")).astype(str).equals(
        pd.read_parquet(src.assignments_path).astype(str))
    assert len(dst.incidents()) == len(src.incidents())  # PostGIS points made from lon/lat


@pytest.mark.slow
def test_a_new_workspace_written_in_parts_in_one_transaction_is_readable(tmp_path, monkeypatch):
    """The demo (300k incidents) is ingested and its areas counted in one transaction: the
    parts staged by the ingest must be readable by the area step before anything is committed
    (`pingan demo` failed with 'incidents.parquet: not found')."""
    import data.partitions
    from data.demo import build_demo

    monkeypatch.setattr(data.partitions, "PARTITION_ROWS", 5_000)
    build_demo(tmp_path / "w", seed=7, incidents=20_000, years=2, end="2025-12-28")
    ws = Workspace(tmp_path / "w")
    assert is_partitioned(ws) and len(part_files(ws, "incidents.parquet")) > 12
    n = len(ws.incidents_frame())
    counts = pd.read_parquet(ws.counts_path)
    assert n > 15_000
    assert int(counts["count"].sum()) == n * len(ws.layers())
