"""Fit + predict one period for 4,000 areas x 156 weeks, every model (target < 5 s each).

Prints seconds per model and the ratio against the 15-week-mean baseline (the Shanghai board's
rule) measured in the same run. Synthetic seeded counts (gamma-mixed Poisson with season).

    .venv/bin/python benchmarks/bench_models.py [--areas 4000] [--weeks 156] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from analytics.models import MODELS, make_model


def synthetic(n_areas: int, n_weeks: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    periods = pd.date_range("2022-01-03", periods=n_weeks, freq="W-MON")
    season = 1 + 0.25 * np.sin(2 * np.pi * periods.day_of_year.to_numpy() / 365.25)
    base = rng.gamma(0.6, 1.0, size=n_areas)
    lam = base[:, None] * season[None, :] * rng.gamma(4, 0.25, size=(n_areas, n_weeks))
    return pd.DataFrame({
        "area_id": np.repeat([f"G{i:05d}" for i in range(n_areas)], n_weeks),
        "period": np.tile(periods, n_areas),
        "category": "全部",
        "count": rng.poisson(lam).ravel().astype(np.int64),
    })


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--areas", type=int, default=4000)
    ap.add_argument("--weeks", type=int, default=156)
    ap.add_argument("--repeat", type=int, default=3, help="best of N")
    args = ap.parse_args()
    counts = synthetic(args.areas, args.weeks)
    side = int(np.ceil(np.sqrt(args.areas)))
    ids = [f"G{i:05d}" for i in range(args.areas)]
    neighbours = {a: [ids[j] for j in (i - 1, i + 1, i - side, i + side) if 0 <= j < args.areas]
                  for i, a in enumerate(ids)}
    parent = {a: f"C{i // 25:04d}" for i, a in enumerate(ids)}
    print(f"{args.areas} areas x {args.weeks} weeks ({len(counts):,} rows), best of {args.repeat}")
    times = {}
    for name in ["mean15", *[m for m in MODELS if m != "mean15"]]:
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            make_model(name, neighbours=neighbours, parent=parent).fit(counts).predict(1)
            best = min(best, time.perf_counter() - t0)
        times[name] = best
    ref = times["mean15"]
    print(f"{'model':12s} {'seconds':>8s} {'x mean15':>9s}  target < 5 s")
    for name, s in times.items():
        print(f"{name:12s} {s:8.2f} {s / ref:9.1f}  {'ok' if s < 5 else 'SLOW'}")


if __name__ == "__main__":
    main()
