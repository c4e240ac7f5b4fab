"""Latency of ``pingan watch``: from a file dropped into the inbox to a refreshed board.

Builds the demo city (seed 7, 20,000 incidents, 2 years to 2025-12-28), starts a real
``pingan watch --interval I --settle S`` process on an inbox, then ``--reps`` times drops a CSV of
``--rows`` new incidents in the latest complete week (written under ``.part`` and renamed in, as a
careful sender does) and measures the time until ``Service(ws).kpis()`` in this process shows the
new cases — split into *drop → committed* (the watcher's settle wait, polling and ingest with the
counts refresh) and *committed → board* (this process recomputing the board for the new version).

Reference, in the same run: the same kind of file ingested in-process (``ingest_files`` + the
same ``kpis()``), i.e. what any refresh costs without a watcher. Prints both and their ratio.

    .venv/bin/python benchmarks/bench_watch.py [--reps 3] [--rows 50] [--interval 1] [--settle 1] [--model eb]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def drop_frame(ws, n: int, tag: str, seed: int) -> pd.DataFrame:
    """``n`` new incidents at random existing incident places, in the week of 2025-12-22."""
    rng = np.random.default_rng(seed)
    src = ws.incidents_frame(["lon", "lat", "category"]).sample(n, random_state=seed)
    times = pd.Timestamp("2025-12-22") + pd.to_timedelta(rng.integers(0, 6 * 86400, n), unit="s")
    return pd.DataFrame({"incident_id": [f"{tag}-{i}" for i in range(n)], "occurred_at": times,
                         "category": src["category"].to_numpy(), "lon": src["lon"].to_numpy(),
                         "lat": src["lat"].to_numpy()})


def total(ws) -> int:
    from analytics.service import Service

    return int(Service(ws).kpis()["total"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rows", type=int, default=50)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--settle", type=float, default=1.0)
    ap.add_argument("--model", default=None, help="pin [board] model (default: the workspace's default)")
    args = ap.parse_args()

    from data.demo import build_demo
    from data.ingest import ingest_files
    from data.workspace import Workspace

    tmp = Path(tempfile.mkdtemp(prefix="bench_watch_"))
    proc = None
    try:
        build_demo(str(tmp / "base"), seed=7, incidents=20_000, years=2, end="2025-12-28")
        if args.model:
            base = Workspace(tmp / "base")
            base.update_config(board={**base.config.board, "model": args.model})
        shutil.copytree(tmp / "base", tmp / "ref")
        shutil.copytree(tmp / "base", tmp / "w")
        ws, ref = Workspace(tmp / "w"), Workspace(tmp / "ref")
        inbox = tmp / "inbox"
        inbox.mkdir()

        # reference: the same refresh in-process (ingest + counts + the board's KPIs)
        direct = []
        for k in range(args.reps):
            before = total(ref)
            path = tmp / f"ref{k}.csv"
            drop_frame(ref, args.rows, f"R{k}", k).to_csv(path, index=False)
            t0 = time.perf_counter()
            ingest_files([path], ref)
            after = total(ref)
            direct.append(time.perf_counter() - t0)
            assert after == before + args.rows, (before, after)

        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "watch", "--workspace", str(ws.path),
                                 "--inbox", str(inbox), "--interval", str(args.interval), "--settle",
                                 str(args.settle)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert "pingan watch:" in proc.stdout.readline()
        latency, commit = [], []
        for k in range(args.reps):
            before, version = total(ws), ws.version
            frame = drop_frame(ws, args.rows, f"W{k}", 100 + k)
            part = inbox / f"drop{k}.csv.part"
            frame.to_csv(part, index=False)
            t0 = time.perf_counter()
            part.rename(inbox / f"drop{k}.csv")
            while ws.version == version:
                time.sleep(0.01)
            t_commit = time.perf_counter()
            while total(ws) != before + args.rows:
                time.sleep(0.01)
            latency.append(time.perf_counter() - t0)
            commit.append(t_commit - t0)
            assert (inbox / "done" / f"drop{k}.csv").exists() or ws.version > version
        med, med_ref, med_commit = (statistics.median(v) for v in (latency, direct, commit))
        print(f"watch (--interval {args.interval:g} --settle {args.settle:g}), {args.rows} rows per drop, "
              f"{args.reps} drops on the demo city, board model {args.model or 'default'}:")
        print(f"  drop -> refreshed board: median {med:.2f} s (all: {', '.join(f'{v:.2f}' for v in latency)})")
        print(f"    of which drop -> committed (settle + poll + ingest + counts): median {med_commit:.2f} s")
        print(f"  reference, in-process ingest + refreshed board: median {med_ref:.2f} s")
        print(f"  ratio watch / in-process: {med / med_ref:.2f}")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
