"""CRPS of count forecasts: the closed form against the old sum over the support, and the GLM backtest.

Issue 15 ("Long work"): the GLM backtest of a user's 1,500-cell grid never finished, inside
``analytics.distributions.crps``, which summed ``(F(k) - 1{k >= y})**2`` over ``k = 0 .. kmax`` with
``kmax`` the 1 - 1e-10 quantile of the widest forecast in a chunk of 20,000 rows: one hot cell with a
large mean and dispersion stretched every row of its chunk to tens of thousands of terms.

Measured in one run, on the small demo city (seed 7, 20,000 incidents, two years; built in a
temporary folder) gridded at 250 m, 2025 as the test year:

1. the GLM backtest end to end with the new ``crps`` (target: < 10 s);
2. ``crps`` on the GLM's forecasts: new vs the old summation (reference, kept below verbatim);
3. the same forecasts with 1 % of cells made hot (mean x ``--hot``, dispersion >= 1, outcomes drawn
   from that forecast), the case that made the old sum blow up; the old one in a subprocess that is
   stopped after ``--limit`` seconds.

    .venv/bin/python benchmarks/bench_crps.py [--incidents FILE.parquet] [--cell 250]
        [--start 2025-01-01] [--hot 200] [--limit 120]

``--incidents`` takes any canonical incident file (e.g. St. Louis) instead of the demo.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import queue
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.backtest import _rolling_arrays, backtest_incidents, grid_counts
from analytics.distributions import cdf, crps, quantile
from analytics.service.evaluation import read_incidents
from data.cube import to_matrix


def _crps_old(observed, mu, alpha, chunk: int = 20000) -> np.ndarray:
    """The summation ``crps`` this benchmark replaces (reference)."""
    y = np.ravel(np.asarray(observed, dtype=float))
    mu = np.ravel(np.broadcast_to(np.asarray(mu, dtype=float), y.shape))
    al = np.ravel(np.broadcast_to(np.asarray(alpha, dtype=float), y.shape))
    out = np.empty(y.size)
    order = np.argsort(mu, kind="stable")
    for s in range(0, y.size, chunk):
        idx = order[s : s + chunk]
        top = quantile(1 - 1e-10, mu[idx], al[idx])
        kmax = int(max(top.max(), y[idx].max())) + 1
        k = np.arange(kmax + 1, dtype=float)
        F = cdf(k[None, :], mu[idx, None], al[idx, None])
        step = (y[idx, None] <= k[None, :]).astype(float)
        out[idx] = ((F - step) ** 2).sum(axis=1)
    return out


def _old_in_child(y, mu, alpha, results) -> None:
    t0 = time.perf_counter()
    out = _crps_old(y, mu, alpha)
    results.put((time.perf_counter() - t0, out))


def _time_old(y, mu, alpha, limit: float):
    """``(seconds, scores)`` of the old summation, or ``(None, None)`` if stopped at ``limit``."""
    results = mp.get_context("fork").Queue()
    child = mp.get_context("fork").Process(target=_old_in_child, args=(y, mu, alpha, results))
    child.start()
    try:
        seconds, out = results.get(timeout=limit)
    except queue.Empty:  # the old sum is still running at the limit
        seconds, out = None, None
    child.kill()
    child.join()
    return seconds, out


def _compare(label: str, y, mu, alpha, limit: float) -> None:
    t0 = time.perf_counter()
    new = crps(y, mu, alpha)
    t_new = time.perf_counter() - t0
    kmax = int(quantile(1 - 1e-10, mu.max(), alpha[np.argmax(mu)]))
    t_old, old = _time_old(y, mu, alpha, limit)
    print(f"{label}: {y.size:,} forecasts, largest mean {mu.max():.1f}, old kmax of its chunk >= {kmax:,}")
    print(f"  new crps {t_new:7.3f} s  (mean {np.mean(new):.6f}, finite {np.isfinite(new).all()})")
    if t_old is None:
        print(f"  old crps stopped after {limit:.0f} s  ->  ratio > {limit / t_new:,.0f}x")
        return
    both = np.isfinite(old) & np.isfinite(new)
    diff = np.max(np.abs(old[both] - new[both]) / np.maximum(1, np.abs(old[both])))
    print(f"  old crps {t_old:7.3f} s  ->  ratio {t_old / t_new:,.1f}x; largest relative difference "
          f"{diff:.1e} ({int((~np.isfinite(old)).sum())} old NaN)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--incidents", default=None, help="canonical incident file (default: the small demo)")
    ap.add_argument("--cell", type=float, default=250.0)
    ap.add_argument("--start", default="2025-01-01")
    ap.add_argument("--hot", type=float, default=200.0, help="mean multiplier of the hot cells")
    ap.add_argument("--limit", type=float, default=120.0, help="seconds before the old sum is stopped")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="pingan-bench-crps-") as tmp:
        if args.incidents is None:
            from data.demo import build_demo

            t0 = time.perf_counter()
            build_demo(Path(tmp) / "demo", seed=7, incidents=20_000, years=2, end="2025-12-28")
            path = Path(tmp) / "demo" / "incidents.parquet"
            print(f"small demo built in {time.perf_counter() - t0:.1f} s")
        else:
            path = Path(args.incidents)
        inc = read_incidents(path)

    t0 = time.perf_counter()
    result = backtest_incidents(inc, cell=args.cell, start=args.start, models=["glm"])
    total = time.perf_counter() - t0
    print(f"GLM backtest, {result['n_cells']:,} cells x {result['n_periods']} test weeks at "
          f"{args.cell:g} m: {total:.1f} s end to end (fit+predict {result['models']['glm']['seconds']:.1f} s; "
          f"target < 10 s) CRPS {result['models']['glm']['crps']}")

    counts, info = grid_counts(inc, args.cell, freq="W", train_end=pd.Timestamp(args.start))
    m = to_matrix(counts)
    test = m.periods[m.periods >= pd.Timestamp(args.start)]
    mu, alpha, _, _ = _rolling_arrays(m, "glm", test, neighbours=info["neighbours"])
    y = m.Y[:, m.periods.get_indexer(test)].T.astype(float)
    _compare("GLM forecasts", y.ravel(), mu.ravel(), alpha.ravel(), args.limit)

    rng = np.random.default_rng(15)
    hot = rng.random(mu.shape[1]) < 0.01
    mu_h, al_h = mu.copy(), alpha.copy()
    mu_h[:, hot] *= args.hot
    al_h[:, hot] = np.maximum(al_h[:, hot], 1.0)
    y_h = y.copy()
    n, p = 1 / al_h[:, hot], 1 / (1 + al_h[:, hot] * mu_h[:, hot])
    y_h[:, hot] = rng.negative_binomial(n, p)
    _compare(f"with 1 % hot cells (mean x{args.hot:g}, alpha >= 1)", y_h.ravel(), mu_h.ravel(),
             al_h.ravel(), args.limit)


if __name__ == "__main__":
    main()
