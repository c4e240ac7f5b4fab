"""Issue 18's acceptance check: the Dask engine's tables equal the local engine's on St. Louis.

A workspace gets the first 20,000 St. Louis incidents (local engine), a 500 m grid and the
city's neighbourhoods as layers; two copies of it then ingest the remaining 221,748 rows — one
with ``--engine local``, one with ``--engine dask`` (a LocalCluster of 2 workers; the file cut
into CSV byte ranges of ``--blocksize`` read and validated on the workers). Printed: each
engine's time, and whether incidents, assignments, quarantine, the ingest log's accounting and
every layer's counts are equal (exit 1 if not).

Developer data only (``/work/shared/data``; never read by tests)::

    nice -n 10 .venv/bin/python benchmarks/check_dask_stlouis.py [--blocksize 4000000]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = Path("/work/shared/data/stlouis")
CLI = "import sys; from app import main; sys.exit(main(sys.argv[1:]))"


def _ingest(path: Path, file: Path, *args: str) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CLI, "ingest", str(file), "--workspace", str(path), *args],
                          cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"ingest {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def _state(path: Path) -> dict[str, pd.DataFrame]:
    from data.pipeline import counts
    from data.workspace import Workspace

    ws = Workspace(path)
    log = pd.read_parquet(ws.ingested_path)
    state = {
        "incidents": ws.incidents_frame().sort_values("incident_id", ignore_index=True),
        "assignments": pd.read_parquet(ws.assignments_path).astype(str)
        .sort_values("incident_id", ignore_index=True),
        "quarantine": ws.quarantine()[["source_file", "source_row", "reason"]]
        .assign(source_file=lambda q: q["source_file"].map(lambda s: Path(str(s)).name)),
        "accounting": log[["rows_in", "rows_used", "rows_quarantined"]].reset_index(drop=True),
    }
    for layer in ws.layers():
        state[f"counts:{layer}"] = counts(ws, layer).astype({"area_id": str, "category": str})
    return state


def main() -> int:
    from data.ingest import ingest_files
    from data.pipeline import build_areas
    from data.workspace import Workspace

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocksize", type=int, default=4_000_000)
    args = ap.parse_args()
    df = pd.read_parquet(DATA / "incidents.parquet").sort_values("occurred_at", kind="stable")
    with tempfile.TemporaryDirectory(prefix="dask-stl-") as tmp:
        root = Path(tmp)
        first, rest = df.iloc[:20_000], df.iloc[20_000:]
        first.to_csv(root / "first.csv", index=False)
        rest.to_csv(root / "rest.csv", index=False)
        base = root / "base"
        ws = Workspace.create(base)
        ingest_files([root / "first.csv"], ws)
        build_areas(ws, cell=500)
        build_areas(ws, boundaries=[DATA / "neighbourhoods.geojson"])
        results = {}
        for engine in ("local", "dask"):
            shutil.copytree(base, root / engine)
            extra = ["--blocksize", str(args.blocksize)] if engine == "dask" else []
            seconds = _ingest(root / engine, root / "rest.csv", "--engine", engine, *extra)
            results[engine] = _state(root / engine)
            print(f"{engine:5s}: {len(rest):,} rows in {seconds:.1f} s")
        local, dask = results["local"], results["dask"]
        same = True
        for key in local:
            try:
                pd.testing.assert_frame_equal(local[key], dask[key], obj=key)
                print(f"  {key:28s} equal ({len(local[key]):,} rows)")
            except AssertionError as exc:
                same = False
                print(f"  {key:28s} DIFFERENT: {str(exc).splitlines()[0]}")
        acc = local["accounting"].sum()
        print(f"rows in {int(acc['rows_in']):,} = used {int(acc['rows_used']):,} + quarantined "
              f"{int(acc['rows_quarantined']):,}; dask == local: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
