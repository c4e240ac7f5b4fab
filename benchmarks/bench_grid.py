"""Grid assignment by arithmetic (GridSpec.index + GridIndex) vs sjoin on the same grid.

Builds a 250 m square and hex grid over a 40 km city, assigns ``--n`` points with
:class:`layers.assign.GridIndex`, prints points/s for the raw ``GridSpec.index`` arithmetic
and for the full lookup, and the ratio against ``geopandas.sjoin`` on the same cells
(sjoin on ``--sjoin-n`` points, scaled per point).

    .venv/bin/python benchmarks/bench_grid.py [--n 10000000] [--cell 250]
"""

from __future__ import annotations

import argparse
import time

import geopandas as gpd
import numpy as np
import shapely

from layers.assign import GridIndex
from layers.grids import GridSpec, make_grid


def _best(fn, repeat):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--sjoin-n", type=int, default=1_000_000)
    ap.add_argument("--cell", type=float, default=250.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    m = args.sjoin_n
    rng = np.random.default_rng(0)
    cx, cy, r = 500_000.0, 3_000_000.0, 20_000.0
    boundary = shapely.Point(cx, cy).buffer(r, quad_segs=64)
    x = rng.uniform(cx - r, cx + r, args.n)
    y = rng.uniform(cy - r, cy + r, args.n)
    for shape in ("square", "hex"):
        spec = GridSpec(0.0, 0.0, args.cell, shape, "EPSG:32650")
        grid = make_grid(spec, boundary)
        idx = GridIndex(spec, grid["col"], grid["row"], grid.geometry.values, grid["partial"])
        t_index = _best(lambda spec=spec: spec.index(x, y), args.repeat)
        t_locate = _best(lambda idx=idx: idx.locate(x, y), args.repeat)
        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x[:m], y[:m]), crs=grid.crs)
        t_sjoin = _best(lambda pts=pts, grid=grid: gpd.sjoin(pts, grid[["area_id", "geometry"]], predicate="within", how="left"), 1)
        t_sjoin += _best(lambda: gpd.points_from_xy(x[:m], y[:m]), 1)  # sjoin needs the points
        per_ours = t_locate / args.n
        per_sjoin = t_sjoin / m
        print(
            f"{shape:6s} {len(grid):,} cells: GridSpec.index {args.n / t_index / 1e6:.1f} M points/s, "
            f"GridIndex.locate {args.n / t_locate / 1e6:.1f} M points/s, "
            f"sjoin {m / t_sjoin / 1e6:.2f} M points/s, ratio {per_sjoin / per_ours:.0f}x (target index >= 15 M/s)"
        )


if __name__ == "__main__":
    main()
