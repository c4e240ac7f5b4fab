"""Weekly update: one week's file into a large workspace, in place vs a full rewrite + recount.

Builds the demo city (its five layers: 区, 街道, 社区, 网格 and the 500 m cells), adds a
synthetic history of ``--incidents`` incidents (places of the demo's incidents with 30 m of
jitter, uniform times over its two years, its category mix), then ingests one week's file
(``--incidents`` / 104 rows, dated the week after the history) in a fresh process into

- the workspace in monthly parts (data/partitions.py: touched months, new rows assigned,
  counts cube updated in place), and
- the same workspace as single files (the layout before: the incident table rewritten, every
  incident reassigned and recounted) — the reference, measured in the same run.

Each ingest runs in its own process: time to the committed version (board data ready: the
layer's counts read back), and the process's peak RSS. The two resulting cubes are compared.

With ``--postgis`` the same workspace is copied into two schemas of a PostgreSQL + PostGIS
server (a temporary one on loopback, as benchmarks/bench_postgis.py, unless ``--url``), and the
week goes into

- one whose counts are current: appended rows, their assignments and count cells added in one
  database transaction (data/partitions.py ``_append_rows``, data/pg_counts.py), and
- one whose counts' record was removed, so the ingest does what PostGIS always did before:
  the whole incident table staged and loaded again, every incident reassigned and recounted.

    .venv/bin/python benchmarks/bench_weekly_update.py --incidents 1000000
    .venv/bin/python benchmarks/bench_weekly_update.py --incidents 1000000 --week-rows 60000 --postgis
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_CHILD = r"""
import json, sys, time
def _hwm():  # this process since its exec (ru_maxrss would include the forked parent)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
t0 = time.perf_counter()
from data.ingest import ingest_files
from data.pipeline import counts
from data.workspace import Workspace
ws = Workspace(sys.argv[1])
t1 = time.perf_counter()
r = ingest_files([sys.argv[2]], ws)
t2 = time.perf_counter()
board = counts(ws, "community")
t3 = time.perf_counter()
print(json.dumps({"ingest_s": t2 - t1, "ready_s": t3 - t1, "import_s": t1 - t0, "rows": r.rows_used,
                  "peak_mb": _hwm()}))
"""


def _history(demo: Path, n: int, out: Path, seed: int) -> Path:
    from data.workspace import Workspace

    rng = np.random.default_rng(seed)
    inc = Workspace(demo).incidents_frame()
    pick = rng.integers(0, len(inc), n)
    t0, t1 = pd.to_datetime(inc["occurred_at"]).min(), pd.to_datetime(inc["occurred_at"]).max()
    span = int((t1 - t0).total_seconds())
    frame = pd.DataFrame({
        "incident_id": pd.Series(np.arange(n)).map("H{:09d}".format),
        "occurred_at": t0 + pd.to_timedelta(rng.integers(0, span, n), unit="s"),
        "category": inc["category"].to_numpy()[pick],
        "lon": inc["lon"].to_numpy()[pick] + rng.normal(0, 0.0003, n),
        "lat": inc["lat"].to_numpy()[pick] + rng.normal(0, 0.0003, n),
    })
    frame.to_parquet(out, index=False)
    return out


def _week(demo: Path, n: int, out: Path, seed: int, after: pd.Timestamp) -> Path:
    from data.workspace import Workspace

    rng = np.random.default_rng(seed)
    inc = Workspace(demo).incidents_frame()
    pick = rng.integers(0, len(inc), n)
    start = (after + pd.Timedelta(days=1)).normalize()
    frame = pd.DataFrame({
        "incident_id": pd.Series(np.arange(n)).map("WK{:08d}".format),
        "occurred_at": start + pd.to_timedelta(rng.integers(0, 7 * 86400, n), unit="s"),
        "category": inc["category"].to_numpy()[pick],
        "lon": inc["lon"].to_numpy()[pick], "lat": inc["lat"].to_numpy()[pick],
    })
    frame.to_parquet(out, index=False)
    return out


def _single_file_copy(src: Path, dst: Path) -> None:
    """The same workspace in the single-file layout (what every workspace was before parts)."""
    import pyarrow.parquet as pq

    from data.partitions import part_files
    from data.workspace import Workspace

    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("incidents.parquet", "assignments.parquet"))
    ws = Workspace(src)
    for name in ("incidents.parquet", "assignments.parquet"):
        files = part_files(ws, name)
        schema = pq.read_schema(files[0])
        with pq.ParquetWriter(dst / name, schema) as w:
            for f in files:
                w.write_table(pq.read_table(f).cast(schema))
    dws = Workspace(dst)
    dws.update_config(extra={**dws.config.extra, "partition_rows": 10**12})
    with dws.transaction():  # the counts' record of their inputs names the single file now
        from data.pipeline import refresh

        refresh(dws)


def _run(ws: Path, week: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(ws), str(week)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--incidents", type=int, default=1_000_000)
    ap.add_argument("--week-rows", type=int, default=None, help="default: incidents / 104 (one of two years' weeks)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dir", default=None, help="work folder (default: a temporary one, removed)")
    ap.add_argument("--postgis", action="store_true", help="the week into PostGIS: appended vs a full rewrite")
    ap.add_argument("--url", default=None, help="with --postgis: a database with PostGIS (default: a temporary server)")
    args = ap.parse_args()
    from data.demo import build_demo
    from data.ingest import ingest_files
    from data.pipeline import counts
    from data.workspace import Workspace

    tmp = Path(args.dir or tempfile.mkdtemp(prefix="bench_weekly_"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        parts = tmp / "parts"
        t = time.perf_counter()
        build_demo(str(parts), seed=args.seed, incidents=20_000, years=2, end="2025-12-28")
        hist = _history(parts, args.incidents - len(Workspace(parts).incidents_frame(["incident_id"])),
                        tmp / "history.parquet", args.seed)
        ingest_files([hist], Workspace(parts))
        ws = Workspace(parts)
        n = len(ws.incidents_frame(["incident_id"]))
        last = pd.to_datetime(ws.incidents_frame(["occurred_at"])["occurred_at"]).max()
        print(f"workspace: {n:,} incidents in {len(list((parts / 'incidents.parquet').glob('*.parquet')))} monthly "
              f"parts, layers {', '.join(ws.layers())}; built in {time.perf_counter() - t:.0f} s")
        week = _week(parts, args.week_rows or max(1, args.incidents // 104), tmp / "week.parquet", args.seed + 1, last)
        if args.postgis:
            _postgis(parts, week, tmp, args.url)
            return
        single = tmp / "single"
        _single_file_copy(parts, single)
        inplace = _run(parts, week)
        full = _run(single, week)
        for layer in Workspace(parts).layers():
            a = counts(Workspace(parts), layer).astype({"area_id": str, "category": str})
            b = counts(Workspace(single), layer).astype({"area_id": str, "category": str})
            key = ["area_id", "period", "category"]
            assert a.sort_values(key, ignore_index=True).equals(b.sort_values(key, ignore_index=True)), layer
        print(f"week file: {inplace['rows']:,} rows; cubes of both layouts identical (all layers)")
        print(f"{'':<28}{'ingest s':>10}{'ready s':>10}{'peak MB':>10}")
        for name, r in (("in place (monthly parts)", inplace), ("full rewrite + recount", full)):
            print(f"{name:<28}{r['ingest_s']:>10.2f}{r['ready_s']:>10.2f}{r['peak_mb']:>10.0f}")
        print(f"ratio full / in place: time {full['ready_s'] / inplace['ready_s']:.1f}x, "
              f"peak memory {full['peak_mb'] / inplace['peak_mb']:.1f}x  (interpreter start + imports "
              f"{inplace['import_s']:.1f} s not included)")
    finally:
        if args.dir is None:
            shutil.rmtree(tmp, ignore_errors=True)


def _postgis(parts: Path, week: Path, tmp: Path, url: str | None) -> None:
    """The week into PostGIS: appended (counts current) vs the whole table rewritten and recounted."""
    import os
    from contextlib import nullcontext

    from bench_postgis import temporary_server

    from data import pg_tables
    from data.pipeline import _MADE_FROM, counts
    from data.workspace import Workspace
    from data.workspace_pg import close_connections, copy_workspace

    os.environ["PINGAN_CACHE"] = str(tmp / "cache")  # the children's local copies too
    with (temporary_server() if url is None else nullcontext(url)) as db:
        t = time.perf_counter()
        targets = {how: f"{db}?schema={how}" for how in ("appended", "rewritten")}
        for target in targets.values():
            copy_workspace(parts, target, replace=True)
        stale = Workspace(targets["rewritten"])  # as before this change: nothing says the counts are current
        with stale.write_lock() as lock, lock.conn.transaction():
            meta = stale.metadata("counts.parquet")
            pg_tables.set_metadata(lock.conn, stale.schema, "counts.parquet",
                                   {k: v for k, v in meta.items() if k != _MADE_FROM})
        print(f"copied into two PostGIS schemas in {time.perf_counter() - t:.0f} s")
        close_connections()
        runs = {how: _run(target, week) for how, target in targets.items()}
        for layer in Workspace(targets["appended"]).layers():
            a, b = (counts(Workspace(target), layer).astype({"area_id": str, "category": str})
                    for target in targets.values())
            key = ["area_id", "period", "category"]
            assert a.sort_values(key, ignore_index=True).equals(b.sort_values(key, ignore_index=True)), layer
        n = runs["appended"]["rows"]
        print(f"week file: {n:,} rows into PostGIS; both cubes identical (all layers)")
        print(f"{'':<34}{'ingest s':>10}{'ready s':>10}{'peak MB':>10}")
        for name, r in (("appended (rows + count cells)", runs["appended"]),
                        ("full rewrite + recount", runs["rewritten"])):
            print(f"{name:<34}{r['ingest_s']:>10.2f}{r['ready_s']:>10.2f}{r['peak_mb']:>10.0f}")
        full, inplace = runs["rewritten"], runs["appended"]
        print(f"ratio full / appended: time {full['ready_s'] / inplace['ready_s']:.1f}x, "
              f"peak memory {full['peak_mb'] / inplace['peak_mb']:.1f}x  (interpreter start + imports "
              f"{inplace['import_s']:.1f} s not included)")


if __name__ == "__main__":
    main()
