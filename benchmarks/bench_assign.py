"""Point → polygon assignment: layers.assign vs geopandas.sjoin(predicate="within").

Polygons: a Voronoi tessellation of ``--polygons`` seeded points clipped to a 50 km box
(UTM metres); points: ``--n`` uniform points over a slightly larger box. Both methods are timed
in the same run, index build included; the script checks they agree on every point that lies
strictly inside a polygon and prints both times and the ratio.

    .venv/bin/python benchmarks/bench_assign.py [--n 2000000] [--polygons 4000]
"""

from __future__ import annotations

import argparse
import time

import geopandas as gpd
import numpy as np
import shapely

from layers.assign import assign_points


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2_000_000)
    ap.add_argument("--polygons", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="best of N for both methods")
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    side = 50_000.0
    box = shapely.box(0, 0, side, side)
    seeds = shapely.multipoints(rng.uniform(0, side, (args.polygons, 2)))
    polys = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=box)), box)
    areas = gpd.GeoDataFrame(
        {"area_id": [f"A{i:05d}" for i in range(len(polys))]}, geometry=polys, crs="EPSG:32650"
    )
    x = rng.uniform(-0.01 * side, 1.01 * side, args.n)
    y = rng.uniform(-0.01 * side, 1.01 * side, args.n)

    ours, ref = np.inf, np.inf
    for _ in range(args.repeat):
        t = time.perf_counter()
        got = assign_points(areas, x, y)
        ours = min(ours, time.perf_counter() - t)
        t = time.perf_counter()
        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=areas.crs)
        joined = gpd.sjoin(pts, areas, predicate="within", how="left")
        joined = joined[~joined.index.duplicated(keep="first")]
        ref = min(ref, time.perf_counter() - t)

    want = joined["area_id"].to_numpy(dtype=object)
    inside = ~joined["area_id"].isna().to_numpy()
    agree = (got.to_numpy(dtype=object)[inside] == want[inside]).all()
    print(f"points {args.n:,}  polygons {len(polys):,}  assigned {int(got.notna().sum()):,}")
    print(f"layers.assign.assign_points: {ours:.3f} s  ({args.n / ours / 1e6:.1f} M points/s)")
    print(f"geopandas.sjoin(within):     {ref:.3f} s")
    print(f"ratio sjoin / ours: {ref / ours:.1f}x   (target >= 10x)   agree on interior points: {agree}")


if __name__ == "__main__":
    main()
