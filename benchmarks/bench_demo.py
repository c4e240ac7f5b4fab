"""Benchmark: build the default-size demo city (≈300k incidents, 3 years) end to end.

Prints the build time, incidents per second, the time of each phase (generation, raw files,
ingest, areas + assignments + counts) and the ratio against a reference measured in the same
run: writing the same incident rows to GeoParquet once (what any pipeline must at least do).

    .venv/bin/python benchmarks/bench_demo.py [--incidents N] [--years Y]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import psutil


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--incidents", type=int, default=300_000)
    ap.add_argument("--years", type=float, default=3)
    ap.add_argument("--end", default="2026-11-22")
    args = ap.parse_args()

    from data.demo import build_demo
    from data.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        ws_path = Path(tmp) / "demo"
        t0 = time.perf_counter()
        cpu0 = psutil.Process().cpu_times()
        summary = build_demo(ws_path, incidents=args.incidents, years=args.years, end=args.end)
        cpu1 = psutil.Process().cpu_times()
        build = time.perf_counter() - t0
        rss = psutil.Process().memory_info().rss / 2**20

        # reference: write the resulting incident rows (with geometry) to GeoParquet once
        inc = Workspace(ws_path).incidents()
        t1 = time.perf_counter()
        inc.to_parquet(Path(tmp) / "ref.parquet", index=False)
        ref = time.perf_counter() - t1

    n = summary["incidents"]
    print(json.dumps({"phases_s": summary["seconds"], "areas": summary["areas"]}, ensure_ascii=False))
    print(f"demo build: {build:.1f} s wall, {cpu1.user + cpu1.system - cpu0.user - cpu0.system:.1f} s CPU, "
          f"{n:,} incidents, {n / build:,.0f} incidents/s, RSS {rss:,.0f} MiB")
    print(f"reference (GeoParquet write of the same {n:,} rows): {ref:.2f} s")
    print(f"ratio build / reference: {build / ref:.1f}x; load average {psutil.getloadavg()[0]:.1f} "
          f"on {psutil.cpu_count()} cores")


if __name__ == "__main__":
    main()
