"""St. Louis rolling-origin backtest of every model: weekly, 150 m cells, 2019 as the test year.

Reports every model's hit rate / PAI / PEI, CRPS, log score and interval calibration (overall and
in sparse cells), seconds per model and in total, whether the best model beats the best
baseline on PAI@5% and CRPS, and outbreak detection on outbreaks injected into the St. Louis
counts at <= 1 false alarm per 100 area-weeks (detectors compared at matched false-alarm
rates). Writes the backtest JSON (design.md format) to benchmarks/out/.

    .venv/bin/python benchmarks/bench_backtest.py [/work/shared/data/stlouis/incidents.parquet]
        [--cell 150] [--start 2019-01-01] [--models ...] [--no-alarms]

Reference measured in the same run: the 15-week-mean baseline (Shanghai board rule).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.backtest import (
    backtest_counts,
    grid_counts,
    inject_outbreaks,
    rolling_forecasts,
    score_alarms,
)
from analytics.models import BASELINES, DETECTORS, MODELS
from analytics.service.evaluation import read_incidents
from analytics.warning import Thresholds, levels_from_p

DEFAULT = "/work/shared/data/stlouis/incidents.parquet"
OUT = Path(__file__).parent / "out"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("incidents", nargs="?", default=DEFAULT)
    ap.add_argument("--cell", type=float, default=150.0)
    ap.add_argument("--start", default="2019-01-01")
    ap.add_argument("--end", default=None)
    ap.add_argument("--models", nargs="+", default=None)
    ap.add_argument("--no-alarms", action="store_true")
    ap.add_argument("--outbreaks", type=int, default=60)
    args = ap.parse_args()
    path = Path(args.incidents)
    if not path.exists():
        print(f"skipped: {path} not found (the St. Louis benchmark data lives in /work/shared/data)")
        return
    t_all = time.perf_counter()
    df = read_incidents(path)
    counts, info = grid_counts(df, args.cell, freq="W", train_end=pd.Timestamp(args.start))
    periods = pd.DatetimeIndex(sorted(counts["period"].unique()))
    start = periods[periods >= pd.Timestamp(args.start)][0]
    print(f"gridded {len(df):,} incidents in {time.perf_counter() - t_all:.1f} s: "
          f"{counts['area_id'].nunique():,} cells x {len(periods)} weeks")
    names = args.models or list(MODELS)
    t_models = time.perf_counter()

    def progress(name, s):
        print(f"  {name:11s} PAI@5% {s['pai']['0.05']:.2f}  CRPS {s['crps']:.4f}  "
              f"cov90 {s['coverage_90']:.3f}  {s['seconds']:.1f} s "
              f"(elapsed {time.perf_counter() - t_models:.0f} s)", flush=True)

    result = backtest_counts(counts, start=start, end=args.end, models=names,
                             neighbours=info["neighbours"], on_model=progress)
    models_seconds = time.perf_counter() - t_models
    ms = result["models"]
    print(f"\n{result['n_cells']:,} cells, {result['n_periods']} test weeks, "
          f"{result['n_events']:,} test events\n")
    head = (f"{'model':11s} {'HR@1%':>6s} {'HR@5%':>6s} {'HR@10%':>6s} {'PAI@1%':>6s} "
            f"{'PAI@5%':>6s} {'PAI@10%':>7s} {'PEI@5%':>6s} {'CRPS':>7s} {'logS':>6s} "
            f"{'cov80':>6s} {'cov90':>6s} {'cov95':>6s} {'cov90sp':>7s} {'int90':>6s} {'sec':>6s}")
    print(head)
    for name, s in ms.items():
        print(f"{name:11s} {s['hit_rate']['0.01']:6.3f} {s['hit_rate']['0.05']:6.3f} "
              f"{s['hit_rate']['0.10']:6.3f} {s['pai']['0.01']:6.2f} {s['pai']['0.05']:6.2f} "
              f"{s['pai']['0.10']:7.2f} {s['pei']['0.05']:6.3f} {s['crps']:7.4f} "
              f"{s['log_score']:6.3f} {s['coverage_80']:6.3f} {s['coverage_90']:6.3f} "
              f"{s['coverage_95']:6.3f} {s['coverage_90_sparse']:7.3f} "
              f"{s['coverage_90_interval']:6.3f} {s['seconds']:6.1f}")
    base = [n for n in ms if n in BASELINES]
    rest = [n for n in ms if n not in BASELINES]
    if base and rest:
        for metric, better in (("PAI@5%", max), ("CRPS", min)):
            get = (lambda n: ms[n]["pai"]["0.05"]) if metric == "PAI@5%" else (lambda n: ms[n]["crps"])
            b, m = better(base, key=get), better(rest, key=get)
            beats = get(m) > get(b) if metric == "PAI@5%" else get(m) < get(b)
            print(f"{metric}: best model {m} {get(m):.4f} vs best baseline {b} {get(b):.4f} -> "
                  f"{'beats' if beats else 'does NOT beat'} it "
                  f"({(get(m) / get(b) - 1) * 100:+.1f}%)")
    ref = ms.get("mean15", {}).get("seconds")
    print(f"\nmodels: {models_seconds:.1f} s wall for {len(ms)} models x {result['n_periods']} "
          f"weeks (target < 180 s); fit+predict seconds vs mean15 reference:")
    print("  " + ", ".join(f"{n} {s['seconds']:.1f} s"
                           + (f" ({s['seconds'] / ref:.1f}x)" if ref else "") for n, s in ms.items()))
    out = {"n_cells": result["n_cells"], "n_periods": result["n_periods"],
           "n_events": result["n_events"], "cell_m": args.cell, "freq": "W",
           "start": str(start.date()), "end": str((pd.Timestamp(args.end) if args.end else periods[-1]).date()),
           "category": "全部", "models": ms}
    if not args.no_alarms:
        out["alarms"] = alarms(counts, periods[periods >= start], info, args.outbreaks)
    out["seconds_total"] = time.perf_counter() - t_all
    OUT.mkdir(exist_ok=True)
    dest = OUT / f"{path.parent.name or 'incidents'}_backtest.json"
    dest.write_text(json.dumps(_clean(out), ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"\ntotal {out['seconds_total']:.1f} s; wrote {dest}")


def alarms(counts, test, info, n_outbreaks: int) -> dict:
    """Outbreak detection at <= 1 false alarm per 100 area-weeks."""
    t0 = time.perf_counter()
    injected, truth = inject_outbreaks(counts, test[:-3], n=n_outbreaks, duration=3, size=2.0,
                                       seed=2019)
    fcs = {}
    for name in [*DETECTORS, "eb", "glm"]:
        fcs[name] = rolling_forecasts(injected, name, test, statistic=True,
                                      neighbours=info["neighbours"])
    res = score_alarms(fcs, truth, target_far=0.01)
    # the board's own red rule (p <= 0.01 and >= 3 cases), without tuning
    th = Thresholds()
    for name, fc in fcs.items():
        from analytics.distributions import p_exceed

        p = p_exceed(fc["observed"], fc["mu"], fc["alpha"])
        red = np.asarray(levels_from_p(p, fc["observed"], th, expected=fc["mu"]) == "red")
        fc2 = fc[["area_id", "category", "period"]].assign(statistic=red.astype(float))
        native = score_alarms({name: fc2}, truth, target_far=1.0)[name]
        inside_far = _far(fc, truth, red)
        res[name]["red_rule_pod"] = native["pod"]
        res[name]["red_rule_false_per_100"] = inside_far
    print(f"\noutbreaks: {len(truth)} injected (3 weeks, +2 sd per week, >= 2 cases), "
          f"{time.perf_counter() - t0:.1f} s")
    print(f"{'detector':11s} {'POD@1/100':>9s} {'false/100':>9s} {'delay':>6s}  "
          f"{'red-rule POD':>12s} {'red false/100':>13s}")
    for name, r in res.items():
        print(f"{name:11s} {r['pod']:9.3f} {r['false_alarms_per_100']:9.2f} "
              f"{r['median_delay']:6.1f}  {r['red_rule_pod']:12.3f} {r['red_rule_false_per_100']:13.2f}")
    return res


def _far(fc, truth, alarm) -> float:
    key = fc["area_id"] + "|" + fc["category"]
    inside = np.zeros(len(fc), bool)
    for ob in truth.itertuples():
        inside |= ((key == f"{ob.area_id}|{ob.category}") & (fc["period"] >= ob.start)
                   & (fc["period"] <= ob.end)).to_numpy()
    return float(100 * alarm[~inside].mean())


def _clean(obj):
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, float | np.floating):
        return None if not np.isfinite(obj) else round(float(obj), 6)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


if __name__ == "__main__":
    main()
