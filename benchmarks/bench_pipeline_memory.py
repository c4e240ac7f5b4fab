"""Ingest + assign + count of N synthetic incidents: wall time and peak RSS.

Writes ``--n`` (default 10,000,000) canonical incidents (3 years, 10 categories, a 30 km city)
to a Parquet file, then runs the real workspace pipeline in this process:
``data.ingest.ingest_files`` (when present; ``--no-ingest`` writes incidents.parquet
directly) and ``data.pipeline.build_areas(cell=250)`` (grid, assignment of every incident,
dense weekly counts). Prints wall time per step, peak RSS (target <= 4 GB), and the ratio
against a reference measured in the same run: the textbook geopandas route
(``points_from_xy`` + ``sjoin`` on the same grid + ``groupby`` count) on a ``--ref-n``
subsample, scaled linearly to N.

    .venv/bin/python benchmarks/bench_pipeline_memory.py [--n 10000000] [--no-ingest]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def _synthetic(n: int, path: Path, seed: int = 0) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from data.taxonomy import DEMO_CATEGORIES

    rng = np.random.default_rng(seed)
    hubs = rng.uniform([106.55, 26.50], [106.85, 26.75], (40, 2))
    h = rng.integers(0, len(hubs), n)
    lon = hubs[h, 0] + rng.normal(0, 0.02, n)
    lat = hubs[h, 1] + rng.normal(0, 0.02, n)
    t0 = np.datetime64("2022-01-03T00:00", "s")
    occurred = t0 + rng.integers(0, 3 * 365 * 86400, n).astype("timedelta64[s]")
    cats = np.asarray(DEMO_CATEGORIES, dtype=object)
    ids = pa.compute.binary_join_element_wise("I", pa.array(np.arange(n)).cast(pa.string()), "")
    table = pa.table({
        "incident_id": ids,
        "occurred_at": pa.array(occurred.astype("datetime64[us]")),
        "category": pa.DictionaryArray.from_arrays(rng.integers(0, len(cats), n).astype(np.int32), pa.array(cats)),
        "lon": lon,
        "lat": lat,
    })
    pq.write_table(table, path)


def _reference(src: Path, m: int, cell: float) -> float:
    """Seconds for the geopandas route on the first ``m`` incidents."""
    import geopandas as gpd
    import shapely

    from layers.crs import estimate_utm_crs

    t = time.perf_counter()
    inc = pd.read_parquet(src).iloc[:m]
    crs = estimate_utm_crs(inc["lon"].to_numpy(), inc["lat"].to_numpy())
    pts = gpd.GeoDataFrame(inc, geometry=gpd.points_from_xy(inc["lon"], inc["lat"]), crs=4326).to_crs(crs)
    x0, y0, x1, y1 = pts.total_bounds
    xs = np.arange(np.floor(x0 / cell) * cell, x1 + cell, cell)
    ys = np.arange(np.floor(y0 / cell) * cell, y1 + cell, cell)
    gx, gy = np.meshgrid(xs, ys)
    grid = gpd.GeoDataFrame({"cell": np.arange(gx.size)},
                            geometry=shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + cell, gy.ravel() + cell), crs=crs)
    joined = gpd.sjoin(pts, grid, predicate="within", how="left")
    joined["week"] = joined["occurred_at"].dt.to_period("W").dt.start_time
    joined.groupby(["cell", "week", "category"], observed=True).size()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--ref-n", type=int, default=1_000_000)
    ap.add_argument("--cell", type=float, default=250.0)
    ap.add_argument("--no-ingest", action="store_true", help="write incidents.parquet directly")
    args = ap.parse_args()

    from data.pipeline import build_areas, counts
    from data.workspace import Config, Workspace

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "incidents.parquet"
        t = time.perf_counter()
        _synthetic(args.n, src)
        print(f"synthetic {args.n:,} incidents: {time.perf_counter() - t:.1f} s")
        base = _peak_gb()
        ws = Workspace.create(Path(tmp) / "ws", Config(name="bench"))
        start = time.perf_counter()
        ingest = None
        if not args.no_ingest:
            try:
                from data.ingest import ingest_files as ingest
            except ImportError:
                print("data.ingest not available: writing incidents.parquet directly")
        t = time.perf_counter()
        if ingest is not None:
            report = ingest([src], ws)
            print(f"ingest: {time.perf_counter() - t:.1f} s  peak RSS {_peak_gb():.2f} GB")
            print("  " + report.summary().replace("\n", "\n  "))
        else:
            import geopandas as gpd

            inc = pd.read_parquet(src)
            inc["category"] = inc["category"].astype("str")
            gpd.GeoDataFrame(inc, geometry=gpd.points_from_xy(inc["lon"], inc["lat"]), crs=4326).to_parquet(ws.incidents_path)
            del inc
            print(f"write incidents: {time.perf_counter() - t:.1f} s  peak RSS {_peak_gb():.2f} GB")
        t = time.perf_counter()
        report = build_areas(ws, cell=args.cell)
        print(f"areas + assign + counts: {time.perf_counter() - t:.1f} s  peak RSS {_peak_gb():.2f} GB")
        print("  " + report.replace("\n", "\n  "))
        t = time.perf_counter()
        total = counts(ws, "cell")["count"].sum()
        print(f"counts(ws, 'cell') read: {time.perf_counter() - t:.1f} s, total {total:,}")
        ours = time.perf_counter() - start
        peak = _peak_gb()
        m = min(args.ref_n, args.n)
        ref = _reference(src, m, args.cell) * args.n / m
        print(f"pipeline wall time {ours:.1f} s; peak RSS {peak:.2f} GB (before pipeline {base:.2f} GB; target <= 4 GB)")
        print(f"reference (geopandas points_from_xy + sjoin + groupby, {m:,} scaled to {args.n:,}): {ref:.1f} s; "
              f"ratio reference / ours {ref / ours:.1f}x")


if __name__ == "__main__":
    main()
