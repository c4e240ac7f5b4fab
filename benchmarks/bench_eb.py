"""Benchmark: the empirical-Bayes board model on the demo city — bias, shrinkage, colours vs chance.

For each view (layer/category) over the last ``--weeks`` complete weeks (one-step-ahead, fitted
on the weeks before each, as the board does, through the same valid_from mask and floors):

- **bias** = mean forecast / mean observed (1 = unbiased; the demo city falls ~20 % a year);
- **kappa** (prior shape) and the **own-data weight** ``e / (e + kappa/m)`` (median over areas);
- **orange / red per week** under the default rule beside the number expected by chance
  (:func:`analytics.warning.expected_by_chance`).

Reference measured in the same run: the same model without the trend (``trend=False``), i.e.
what a level-only EB forecasts; the ratio column is bias(eb) / bias(reference).

Usage: ``python benchmarks/bench_eb.py [WORKSPACE] [--weeks 26]`` (default
/tmp/pingan_bench_colours; the demo city is built there if missing, ~1 min).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics.distributions import p_exceed  # noqa: E402
from analytics.models import EmpiricalBayes  # noqa: E402
from analytics.service import board  # noqa: E402
from analytics.warning import Thresholds, expected_by_chance, levels_from_p  # noqa: E402
from data.cube import CountMatrix  # noqa: E402
from data.workspace import Workspace  # noqa: E402

VIEWS = (("grid", "全部"), ("community", "全部"), ("grid", "故意伤害"), ("grid", "电信网络诈骗"))


def view(ws, level: str, category: str, weeks: int, **params) -> dict[str, float]:
    """One-step-ahead figures of ``EmpiricalBayes(**params)`` over the last ``weeks`` weeks."""
    _, name = board._group(ws, level, "W", category)
    keys, ps, Y = board._matrix(ws, level, "W", name)
    Yh = board._new_areas_missing(ws, level, "W", keys, ps, board._fit_matrix(ws, level, "W", name))
    parent = board._parent_map(ws, level)
    th = Thresholds.from_config(ws.config.thresholds)
    complete = set(board.periods(ws))
    idx = [j for j in range(len(ps)) if ps[j] in complete][-weeks:]
    acc = {k: [] for k in ("mu", "obs", "kappa", "weight", "orange", "red", "c_orange", "c_red")}
    for j in idx:
        m = EmpiricalBayes(parent=parent, **params).fit(CountMatrix(keys, ps[:j], Yh[:, :j], "W"))
        mu, al = m.predict(1, as_arrays=True)
        mu = np.maximum(mu[:, 0], board._floor_values(ws, level, keys, Yh[:, :j]))
        al = al[:, 0]
        y = Y[:, j]
        code = np.asarray(levels_from_p(p_exceed(y, mu, al), y, th, expected=mu).codes)
        chance = expected_by_chance({"mu": mu, "alpha": al}, th)
        for k, v in (("mu", mu.sum()), ("obs", y.sum()), ("kappa", m.kappa_),
                     ("weight", np.median(m.weight_)), ("orange", (code == 2).sum()),
                     ("red", (code == 3).sum()), ("c_orange", chance["orange"]),
                     ("c_red", chance["red"])):
            acc[k].append(float(v))
    out = {k: float(np.mean(v)) for k, v in acc.items()}
    out["bias"] = sum(acc["mu"]) / sum(acc["obs"])
    out["kappa"] = float(np.median(acc["kappa"]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workspace", nargs="?", default="/tmp/pingan_bench_colours")
    ap.add_argument("--weeks", type=int, default=26)
    args = ap.parse_args()
    ws = Workspace(args.workspace)
    if not ws.exists():
        from data.demo import build_demo

        print(f"building the demo city in {args.workspace} …", flush=True)
        build_demo(args.workspace)
    board.clear_cache()
    print(f"demo city {args.workspace}: last {args.weeks} complete weeks, one-step-ahead\n")
    head = (f"{'view':20s} {'bias':>6s} {'ref':>6s} {'ratio':>6s} {'kappa':>8s} {'own wt':>7s} "
            f"{'orange':>7s} {'chance':>7s} {'red':>6s} {'chance':>7s} {'sec':>5s}")
    print(head)
    print("-" * len(head))
    for level, cat in VIEWS:
        t0 = time.perf_counter()
        eb = view(ws, level, cat, args.weeks)
        ref = view(ws, level, cat, args.weeks, trend=False)
        label = f"{level}/{cat}"
        pad = label + " " * max(20 - sum(2 if ord(c) > 0x2E80 else 1 for c in label), 0)
        print(f"{pad} {eb['bias']:6.3f} {ref['bias']:6.3f} {eb['bias'] / ref['bias']:6.3f} "
              f"{eb['kappa']:8.3g} {eb['weight']:7.3f} {eb['orange']:7.2f} {eb['c_orange']:7.2f} "
              f"{eb['red']:6.2f} {eb['c_red']:7.2f} {time.perf_counter() - t0:5.1f}", flush=True)


if __name__ == "__main__":
    main()
