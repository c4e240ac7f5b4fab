"""Issue 17's target: the best model's PAI@5 % against the best baseline's, on unseen cities.

For each city and category: 150 m square cells, weekly, the last 52 complete weeks as test
periods (rolling origin, every model refitted on the weeks before each one: the project's
backtest, :func:`analytics.backtest.backtest_incidents`, with the cell centres as ``coords``).
The baselines are the counting ones and the kernel-smoothed ones
(:data:`analytics.models.BASELINES`); every other forecasting model is a candidate. Printed per
run: the best baseline and the best model by PAI@5 %, their ratio (target >= 1.05), the CRPS,
log score and 90 % coverage (target 0.87-0.93) of both. The other categories' incidents of the
same weeks are counted on the same cells and given to the models that learn from them (``blend``;
``--no-related`` leaves them out; the baselines never use them). The JSON of every run is written to
``benchmarks/out/forecast_target.json``.

Developer data only (``/work/shared/data``; never read by tests)::

    .venv/bin/python benchmarks/bench_forecast_target.py [--cities stlouis toronto]
        [--categories Burglary ...] [--models ...] [--weeks 52] [--no-related]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd

from analytics.backtest import backtest_incidents
from analytics.models import BASELINES, DETECTORS, MODELS

DATA = Path("/work/shared/data")
OUT = Path(__file__).parent / "out" / "forecast_target.json"
#: city -> (first day kept, test start, categories)
CITIES = {
    "stlouis": ("2016-01-01", "2019-01-07",
                ["Burglary", "Larceny-theft", "Motor vehicle theft", "Aggravated Assault"]),
    "toronto": ("2018-01-01", "2021-01-04", ["Break and Enter", "Auto Theft", "Assault", "Robbery"]),
}


def load(city: str, category: str, weeks: int) -> tuple[pd.DataFrame, pd.DataFrame, str, pd.Timestamp]:
    """``(category's incidents, the other categories' incidents, test start, last test week)``
    from the first day kept to the end of the test weeks."""
    first, start, _ = CITIES[city]
    df = pd.read_parquet(DATA / city / "incidents.parquet",
                         columns=["occurred_at", "category", "lat", "lon"])
    end = pd.Timestamp(start) + pd.Timedelta(weeks=weeks - 1)
    df = df[(df["occurred_at"] >= first) & (df["occurred_at"] < end + pd.Timedelta(days=7))]
    mine = (df["category"] == category).to_numpy()
    return df[mine], df.loc[~mine, ["occurred_at", "lon", "lat"]], start, end


def run(city: str, category: str, models: list[str], weeks: int, cell: float,
        related: bool = True) -> dict:
    df, others, start, end = load(city, category, weeks)
    others = others if related else None
    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    res = backtest_incidents(df, cell=cell, freq="W", start=start, end=str(end.date()),
                             category=category, models=models, others=others)
    res["wall_seconds"] = round(time.perf_counter() - t0, 1)
    res["cpu_seconds"] = round(time.process_time() - c0, 1)  # this process only: less load-bound
    # the machine may be shared: the 1-minute load average before and after the run
    res["load_average"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
    return res


def summary(res: dict) -> dict:
    ms = res["models"]
    pai = {n: m["pai"]["0.05"] for n, m in ms.items() if m["pai"]["0.05"] is not None}
    base = [n for n in pai if n in BASELINES]
    rest = [n for n in pai if n not in BASELINES]
    b = max(base, key=pai.get)
    best = max(rest, key=pai.get) if rest else b
    return {"baseline": b, "model": best, "ratio": pai[best] / pai[b]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cities", nargs="+", default=list(CITIES))
    ap.add_argument("--categories", nargs="+", default=None)
    ap.add_argument("--models", nargs="+", default=[m for m in MODELS if m not in DETECTORS])
    ap.add_argument("--weeks", type=int, default=52)
    ap.add_argument("--cell", type=float, default=150.0)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--no-related", action="store_true",
                    help="do not give the models the other categories' counts")
    args = ap.parse_args()
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    head = (f"{'city':8s} {'category':20s} {'cells':>5s} {'events':>6s} {'model':12s} {'PAI5':>6s} "
            f"{'CRPS':>8s} {'logS':>7s} {'cov90':>6s} {'sec':>6s}")
    for city in args.cities:
        for cat in args.categories or CITIES[city][2]:
            res = run(city, cat, args.models, args.weeks, args.cell, not args.no_related)
            results[f"{city}/{cat}"] = res
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False))
            s = summary(res)
            print(head)
            for name, m in sorted(res["models"].items(), key=lambda kv: -(kv[1]["pai"]["0.05"] or 0)):
                tag = " <- best baseline" if name == s["baseline"] else (
                    " <- best model" if name == s["model"] else "")
                print(f"{city:8s} {cat:20s} {res['n_cells']:5d} {res['n_events']:6d} {name:12s} "
                      f"{m['pai']['0.05']:6.3f} {m['crps']:8.5f} {m['log_score']:7.4f} "
                      f"{m['coverage_90']:6.3f} {m['seconds']:6.1f}{tag}")
            print(f"=> {city}/{cat}: {s['model']} / {s['baseline']} PAI@5% = {s['ratio']:.3f} "
                  f"(target >= 1.05); wall {res['wall_seconds']} s, CPU {res['cpu_seconds']} s (models "
                  f"{sum(m['seconds'] for m in res['models'].values()):.0f} s), load average "
                  f"{res['load_average'][0]:.1f} -> {res['load_average'][1]:.1f} on "
                  f"{os.cpu_count()} cores\n", flush=True)


if __name__ == "__main__":
    main()
