"""How much ranking headroom is there? Hindsight hot-spot maps against issue 17's ×1.05 target.

For each city and category of :mod:`benchmarks.bench_forecast_target` (150 m cells, the same 52
test weeks), every test week is ranked by maps that **see the future**: the category's counts
over all weeks — training and the other 51 test weeks — except the week itself, kernel-smoothed
at 0, 1.5 or 3 cell spacings, with 0, 10, 30 or 100 % of the other categories' counts (scaled to
the category's total) added. The best of these 12 maps, chosen with hindsight too, is a
yardstick no forecast is given: it knows where the test year's cases fell. When 1.05 × the best
baseline's PAI@5 % is above it, the target asks a forecast to rank the cells better than a
clairvoyant long-run map does.

Prints, per run: the best baseline's and the best model's PAI@5 % (from
``benchmarks/out/forecast_target.json`` or ``--results``, when they hold the run), the target, and the hindsight
maps. Developer data only (``/work/shared/data``)::

    .venv/bin/python benchmarks/bench_forecast_ceiling.py [--cities stlouis toronto] [--categories ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from bench_forecast_target import CITIES, OUT, load, summary

from analytics.backtest import grid_counts, grid_related, hit_rates
from analytics.models.kde import _coords_frame, _spacing, kernel_weights
from data.cube import to_matrix

BANDWIDTHS = (0.0, 1.5, 3.0)
OTHER_SHARES = (0.0, 0.1, 0.3, 1.0)


def hindsight(city: str, category: str, weeks: int = 52, cell: float = 150.0) -> dict[str, float]:
    mine, others, start, _ = load(city, category, weeks)
    counts, info = grid_counts(mine, cell, train_end=pd.Timestamp(start))
    m = to_matrix(counts)
    test = np.flatnonzero(m.periods >= pd.Timestamp(start))[:weeks]
    Y = m.Y.astype(float)
    Z = grid_related(others, info, cell, "W", m.periods).loc[m.keys["area_id"]].to_numpy()
    Z = Z * (Y.sum() / max(Z.sum(), 1.0))
    spacing = _spacing(m.keys, info["coords"], _coords_frame(info["coords"]))
    mats = kernel_weights(m.keys, info["coords"], np.asarray(BANDWIDTHS) * spacing)
    obs = Y[:, test].T
    out = {}
    for h, W in zip(BANDWIDTHS, mats):
        for share in OTHER_SHARES:
            maps = np.stack([W @ ((Y.sum(1) - Y[:, j]) + share * (Z.sum(1) - Z[:, j])) for j in test])
            out[f"h{h:g}/others{share:g}"] = hit_rates(maps, obs, shares=(0.05,))["pai"]["0.05"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cities", nargs="+", default=list(CITIES))
    ap.add_argument("--categories", nargs="+", default=None)
    ap.add_argument("--results", nargs="+", type=Path, default=[OUT],
                    help="forecast_target.json file(s) of bench_forecast_target.py")
    args = ap.parse_args()
    honest = {}
    for path in args.results:
        honest.update(json.loads(path.read_text()) if path.exists() else {})
    print(f"{'city/category':34s} {'baseline':>8s} {'model':>8s} {'target':>8s} {'hindsight':>9s}  best map")
    for city in args.cities:
        for cat in args.categories or CITIES[city][2]:
            maps = hindsight(city, cat)
            best = max(maps, key=maps.get)
            run = honest.get(f"{city}/{cat}")
            base = model = target = float("nan")
            if run is not None:
                s = summary(run)
                base = run["models"][s["baseline"]]["pai"]["0.05"]
                model = run["models"][s["model"]]["pai"]["0.05"]
                target = 1.05 * base
            print(f"{city + '/' + cat:34s} {base:8.3f} {model:8.3f} {target:8.3f} {maps[best]:9.3f}  {best}",
                  flush=True)


if __name__ == "__main__":
    main()
