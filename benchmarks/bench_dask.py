"""Ingest → assign → count of a large file: the local engine vs a 2-worker Dask cluster.

Builds the demo city (five layers), writes a synthetic ``--incidents`` history (places of the
demo's incidents with 30 m of jitter, its category mix, uniform times over two years), and
ingests it into two copies of the demo workspace, each in a fresh process:

- ``local``: ``ingest_files`` as ``pingan ingest`` runs it;
- ``dask``: the same under ``data.engine_dask.engine("dask")`` — a LocalCluster of 2 worker
  processes (1 thread each) assigns and counts the monthly parts.

Printed: wall time of the ingest, peak RSS (``VmHWM``) of the client process and of each
worker, the parts and their mean size, and whether the two workspaces' counts are identical. The scaling model in the README ("When one machine is not enough",
"Dask") is checked against these figures.

``--format csv`` writes the history as a CSV (with an address column, as an office export has)
and compares where reading and validation run, each engine into a copy of the demo (5 layers:
ingest, assign, count) and into an empty workspace (read + validate + store only):

- ``local``: everything in one process;
- ``dask, client validates``: the Dask engine with reading and validation kept on the client
  (as before issue 18's worker-side validation; assign + count on the cluster);
- ``dask, workers validate``: CSV blocks of ``--blocksize`` bytes read and validated on the workers.

    .venv/bin/python benchmarks/bench_dask.py --incidents 1000000
    nice -n 10 .venv/bin/python benchmarks/bench_dask.py --incidents 1000000 --format csv
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_CHILD = r"""
import json, sys, time
from data.engine_dask import engine
from data.ingest import ingest_files
from data.workspace import Workspace

def peak_mb():  # VmHWM: this process since its exec (ru_maxrss would count a forked parent)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

if __name__ == "__main__":
    ws, src, name, blocksize = Workspace(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    if name == "dask-client":  # the Dask engine with reading + validation on the client
        import data.ingest
        data.ingest.current_client = lambda: None  # only ingest's read/validate switch; refresh still uses the cluster
    with engine("dask" if name.startswith("dask") else name, blocksize=(blocksize or None) if name == "dask" else None) as client:
        t0, c0 = time.perf_counter(), time.process_time()
        r = ingest_files([src], ws)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        workers = sorted(client.run(peak_mb).values()) if client is not None else []
    print(json.dumps({"seconds": seconds, "cpu": cpu, "client_mb": peak_mb(), "workers_mb": workers,
                      "rows": r.rows_used}))
"""


def _run(ws: Path, src: Path, engine: str, blocksize: int = 0) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(ws), str(src), engine, str(blocksize)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _csv(src: Path, out: Path, seed: int) -> Path:
    """The history as an office export: text times, an address column."""
    import numpy as np
    import pandas as pd

    frame = pd.read_parquet(src)
    rng = np.random.default_rng(seed)
    frame["occurred_at"] = frame["occurred_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    frame["address"] = "云岩区中华北路" + pd.Series(rng.integers(1, 999, len(frame))).astype(str) + "号"
    frame.to_csv(out, index=False, float_format="%.6f")
    return out


def _csv_modes(tmp: Path, demo: Path, src: Path, blocksize: int) -> None:
    from data.workspace import Workspace

    csv = _csv(src, tmp / "history.csv", 1)
    print(f"{csv.stat().st_size / 2**20:,.0f} MB CSV; --blocksize {blocksize / 2**20:g} MiB; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (times need an idle machine)")
    modes = {"local": "local", "dask-client": "dask, client validates", "dask": "dask, workers validate"}
    print(f"{'into':<7}{'engine':<24}{'ingest s':>10}{'client CPU s':>13}{'client MB':>11}  workers MB")
    for into in ("demo", "empty"):
        peaks = {}
        for mode, label in modes.items():
            ws = tmp / f"{into}-{mode}"
            if into == "demo":
                shutil.copytree(demo, ws)
            else:
                Workspace.create(ws)
            r = _run(ws, csv, mode, blocksize)
            peaks[mode] = r["client_mb"]
            print(f"{into:<7}{label:<24}{r['seconds']:>10.1f}{r['cpu']:>13.1f}{r['client_mb']:>11.0f}  "
                  f"{', '.join(f'{m:.0f}' for m in r['workers_mb']) or '-'}")
            shutil.rmtree(ws, ignore_errors=True)
        print(f"{into:<7}(load average now {os.getloadavg()[0]:.1f})")
        print(f"{into:<7}client peak, client validates / workers validate: {peaks['dask-client'] / peaks['dask']:.2f}x; "
              f"local / workers validate: {peaks['local'] / peaks['dask']:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--incidents", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dir", default=None, help="work folder (default: a temporary one, removed)")
    ap.add_argument("--format", choices=["parquet", "csv"], default="parquet",
                    help="csv: where reading and validation run (see the module docstring)")
    ap.add_argument("--blocksize", type=int, default=16 << 20, help="bytes per worker block (--format csv)")
    args = ap.parse_args()
    from bench_weekly_update import _history

    from data.demo import build_demo
    from data.pipeline import counts
    from data.workspace import Workspace

    tmp = Path(args.dir or tempfile.mkdtemp(prefix="bench_dask_"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        demo = tmp / "demo"
        build_demo(str(demo), seed=args.seed, incidents=20_000, years=2, end="2025-12-28")
        src = _history(demo, args.incidents, tmp / "history.parquet", args.seed)
        if args.format == "csv":
            _csv_modes(tmp, demo, src, args.blocksize)
            return
        results = {}
        for engine in ("local", "dask"):
            ws = tmp / engine
            shutil.copytree(demo, ws)
            t = time.perf_counter()
            results[engine] = _run(ws, src, engine)
            results[engine]["process_s"] = time.perf_counter() - t
        parts = sorted((tmp / "dask" / "incidents.parquet").glob("*.parquet"))
        same = all(
            counts(Workspace(tmp / "local"), lv).astype(str).equals(counts(Workspace(tmp / "dask"), lv).astype(str))
            for lv in Workspace(tmp / "local").layers()
        )
        n = results["local"]["rows"]
        print(f"{n:,} incidents ingested (+20,000 of the demo), 5 layers; {len(parts)} monthly parts of "
              f"{n / max(1, len(parts)):,.0f} rows; counts identical: {same}")
        print(f"{'engine':<22}{'ingest s':>10}{'process s':>11}{'client MB':>11}  workers MB")
        for engine, r in results.items():
            label = "local" if engine == "local" else "dask, 2 workers"
            print(f"{label:<22}{r['seconds']:>10.1f}{r['process_s']:>11.1f}{r['client_mb']:>11.0f}  "
                  f"{', '.join(f'{m:.0f}' for m in r['workers_mb']) or '-'}")
        print(f"ratio dask / local: time {results['dask']['seconds'] / results['local']['seconds']:.2f}x")
    finally:
        if args.dir is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
