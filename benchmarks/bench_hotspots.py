"""Benchmark: emerging hot spots on 4,000 cells × 156 weeks and a Knox table on 50,000 burglaries.

Both inputs are seeded synthetic data. Each figure is printed with the ratio against a
straightforward reference run in the same process on a subset and extrapolated:

- emerging: a per-period loop of ``esda.G_Local(star=True)`` (analytic z) plus a per-cell
  ``scipy.stats.kendalltau`` trend loop;
- Knox: all pairs by ``scipy.spatial.distance.pdist`` + ``np.histogram2d`` per permutation, on
  5,000 events, scaled by (n / 5,000)² × permutations.

Run: ``.venv/bin/python benchmarks/bench_hotspots.py [--permutations 999]``
"""

from __future__ import annotations

import argparse
import os
import time

import geopandas as gpd
import numpy as np
from shapely import box

from analytics.hotspots import EmergingHotSpots, KnoxTest, contiguity_weights


def bench_emerging(nx: int = 80, ny: int = 50, weeks: int = 156, seed: int = 1) -> None:
    import esda
    from scipy import stats

    rng = np.random.default_rng(seed)
    size = 250.0
    xs, ys = np.meshgrid(np.arange(nx) * size, np.arange(ny) * size)
    cells = gpd.GeoDataFrame(geometry=box(xs.ravel(), ys.ravel(), xs.ravel() + size, ys.ravel() + size),
                             crs="EPSG:32649")
    n = len(cells)
    base = rng.gamma(0.8, 1.0, n)
    trend = np.ones((n, weeks))
    grow = rng.choice(n, 60, replace=False)
    trend[grow] = np.linspace(1, 5, weeks)
    x = rng.poisson(base[:, None] * trend)

    t0 = time.perf_counter()
    w = contiguity_weights(cells)
    t_w = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    em = EmergingHotSpots().fit(x, w)
    t_fit, c_fit = time.perf_counter() - t0, time.process_time() - c0

    # reference: esda per period (analytic) on k periods, kendalltau per cell on m cells
    k, m = 12, 400
    w.transform = "B"
    t0 = time.perf_counter()
    zs = [esda.G_Local(x[:, t].astype(float), w, transform="B", star=True, permutations=0).Zs for t in range(k)]
    t_gi = (time.perf_counter() - t0) * weeks / k
    t0 = time.perf_counter()
    for i in range(m):
        stats.kendalltau(np.arange(weeks), em.z_[i])
    t_mk = (time.perf_counter() - t0) * n / m
    assert np.allclose(np.column_stack(zs), em.z_[:, :k])
    ref = t_gi + t_mk
    cats = dict(zip(*np.unique(em.category_, return_counts=True), strict=True))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"emerging hot spots: {n} cells × {weeks} weeks: weights {t_w:.2f} s, fit {t_fit:.2f} s wall / {c_fit:.2f} s CPU "
          f"(reference esda loop + kendalltau ≈ {ref:.1f} s extrapolated; ×{ref / t_fit:.0f} faster)")
    print(f"  categories: {cats}")


def bench_knox(n: int = 50_000, permutations: int = 999, seed: int = 2) -> None:
    from scipy.spatial.distance import pdist

    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 20_000, (n, 2))
    day = rng.integers(0, 3 * 365, n)
    k = n // 10  # near repeats: a tenth of burglaries follow another within ~100 m and 2 weeks
    src = rng.integers(k, n, k)
    xy[:k] = xy[src] + rng.normal(0, 60, (k, 2))
    day[:k] = day[src] + rng.integers(0, 14, k)
    d_edges, t_edges = (100, 200, 300, 400, 500), (7, 14, 21, 28)

    t0, c0 = time.perf_counter(), time.process_time()
    kt = KnoxTest(distance_bands=d_edges, time_bands=t_edges, permutations=permutations, seed=seed,
                  same_location_tol=None).fit(xy, day)
    t_knox, c_knox = time.perf_counter() - t0, time.process_time() - c0

    sub = 5_000
    ref_perms = 3
    t0 = time.perf_counter()
    dist = pdist(xy[:sub])
    de = np.r_[-1e-9, d_edges, np.inf]
    te = np.r_[-0.5, np.asarray(t_edges) + 0.5, np.inf]
    tabs = []
    for r in range(ref_perms + 1):
        d = day[:sub] if r == 0 else rng.permutation(day[:sub])
        dt = pdist(d[:, None].astype(float), "cityblock")
        tabs.append(np.histogram2d(dist, dt, bins=(de, te))[0])
    t_ref = (time.perf_counter() - t0) * (n / sub) ** 2 * (permutations + 1) / (ref_perms + 1)
    check = KnoxTest(distance_bands=d_edges, time_bands=t_edges, permutations=1,
                     same_location_tol=None).fit(xy[:sub], day[:sub])
    assert np.array_equal(check.observed_, tabs[0])
    f = kt.to_frame()
    print(f"knox: {n} burglaries, {kt.n_pairs_:,} pairs within {d_edges[-1]} m, {permutations} permutations: "
          f"{t_knox:.1f} s wall, {c_knox:.1f} s CPU (pdist + histogram2d reference ≈ {t_ref:.0f} s extrapolated; ×{t_ref / t_knox:.0f} faster)")
    print(f"  0-100 m × 0-7 days: observed {int(f.observed[0])}, expected {f.expected[0]:.1f}, "
          f"ratio {f.ratio[0]:.2f}, p {f.p[0]:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--permutations", type=int, default=999)
    args = ap.parse_args()
    bench_emerging()
    bench_knox(permutations=args.permutations)


if __name__ == "__main__":
    main()
