"""Benchmark: how many oranges and reds the board shows, against chance, before and after issue 14.

For the demo city, over the last 52 complete weeks, prints per view (grid/全部, grid/故意伤害,
grid/电信网络诈骗 by default) the mean number of orange and red areas a week under

- **before**: the rule before issue 14 (``min_count_orange = 0``, ``min_excess_red = 0``:
  orange on ``p <= 0.05`` alone, red on ``p <= 0.01`` and >= 3 cases), and
- **after**: the default rule (orange also >= 3 cases; red also ``observed - expected >= 3``),

each beside the number expected by chance if every forecast were right
(:func:`analytics.warning.expected_by_chance`, same rule, same floors), and the share of shown
oranges with <= 2 cases. Then the planted outbreaks (the demo's ground truth,
``W/extra/outbreaks.parquet``): how many outbreak-weeks are orange-or-red and red in their own
view (their layer and category), before and after.

The board is read through :func:`analytics.service.board.warning_table` (default model), once
per view and week; both rules are applied to the same predictive table with
:func:`analytics.warning.levels_from_p` (the table's own colours are checked against the
"after" rule), so the two columns differ only by the rule.

Usage: ``python benchmarks/bench_colours.py [WORKSPACE] [--weeks 52]`` (default
/tmp/pingan_bench_colours; the demo city is built there if missing, ~1 min).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics.service import board  # noqa: E402
from analytics.warning import Thresholds, expected_by_chance, levels_from_p  # noqa: E402
from data.workspace import Workspace  # noqa: E402

RULES = {"before": Thresholds(min_count_orange=0, min_excess_red=0), "after": Thresholds()}
VIEWS = (("grid", "全部"), ("grid", "故意伤害"), ("grid", "电信网络诈骗"))


def _pad(text: str, width: int) -> str:
    """Left-justify counting CJK characters as two columns (terminal width)."""
    import unicodedata

    cols = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(width - cols, 0)


def colours(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Oranges, reds, chance oranges/reds and oranges with <= 2 cases, per rule, for one table."""
    obs = table["observed"].to_numpy(float)
    pred = table[["mu", "alpha"]]
    out = {}
    for name, th in RULES.items():
        lv = np.asarray(levels_from_p(table["p_exceed"], obs, th, expected=table["mu"]).codes)
        chance = expected_by_chance(pred, th)
        out[name] = {"orange": float((lv == 2).sum()), "red": float((lv == 3).sum()),
                     "chance_orange": chance["orange"], "chance_red": chance["red"],
                     "orange_le2": float(((lv == 2) & (obs <= 2)).sum()), "codes": lv}
    shown = np.asarray(table["level"].cat.codes)
    if not np.array_equal(shown, out["after"]["codes"]):
        raise AssertionError("the board's colours differ from the default rule applied here")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workspace", nargs="?", default="/tmp/pingan_bench_colours")
    ap.add_argument("--weeks", type=int, default=52)
    args = ap.parse_args()
    ws = Workspace(args.workspace)
    if not ws.exists():
        from data.demo import build_demo

        print(f"building the demo city in {args.workspace} …", flush=True)
        build_demo(args.workspace)
    if ws.config.thresholds:
        print(f"note: the workspace overrides [thresholds] {dict(ws.config.thresholds)}; "
              "the table's own colours are checked against the default rule")
    board.clear_cache()
    weeks = board.periods(ws)[-args.weeks:]
    t0 = time.perf_counter()
    print(f"demo city {args.workspace}: {len(weeks)} weeks {weeks[0].date()} … {weeks[-1].date()}, "
          f"model {board.DEFAULT_MODEL}\n")
    head = (f"{'view':18s} {'rule':6s} {'orange/wk':>9s} {'chance':>7s} {'red/wk':>7s} "
            f"{'chance':>7s} {'O+R/wk':>7s} {'chance':>7s} {'orange<=2 cases':>15s}")
    print(head)
    print("-" * len(head))
    for level, cat in VIEWS:
        acc = {r: {k: 0.0 for k in ("orange", "red", "chance_orange", "chance_red", "orange_le2")}
               for r in RULES}
        for p in weeks:
            res = colours(board.warning_table(ws, level=level, period=p, category=cat))
            for r in RULES:
                for k in acc[r]:
                    acc[r][k] += res[r][k]
        n = len(weeks)
        for r in RULES:
            a = {k: v / n for k, v in acc[r].items()}
            share = a["orange_le2"] / a["orange"] if a["orange"] else float("nan")
            print(f"{_pad(level + '/' + cat, 18)} {r:6s} {a['orange']:9.2f} {a['chance_orange']:7.2f} "
                  f"{a['red']:7.2f} {a['chance_red']:7.2f} {a['orange'] + a['red']:7.2f} "
                  f"{a['chance_orange'] + a['chance_red']:7.2f} {share:15.0%}")
    print(f"({time.perf_counter() - t0:.0f} s)\n")

    ob = pd.read_parquet(ws.extra_path("outbreaks"))
    all_weeks = set(board.periods(ws))
    rows = []
    for o in ob.itertuples():  # a dozen planted outbreaks, a few weeks each
        for i in range(int(o.weeks)):
            p = pd.Timestamp(o.start) + pd.Timedelta(weeks=i)
            if p not in all_weeks:
                continue
            t = board.warning_table(ws, level=o.level, period=p, category=o.category)
            res = colours(t)
            row = int(np.flatnonzero(t["area_id"].to_numpy() == o.area_id)[0])
            rows.append({"outbreak": o.outbreak_id, "view": f"{o.level}/{o.category}",
                         "week": p.date(), "observed": int(t["observed"].iloc[row]),
                         "expected": float(t["expected"].iloc[row]),
                         **{f"{r}": ("green", "yellow", "orange", "red")[res[r]["codes"][row]]
                            for r in RULES}})
    df = pd.DataFrame(rows)
    n = len(df)
    print(f"planted outbreak-weeks: {n} ({len(ob)} outbreaks)")
    for r in RULES:
        flagged = int(df[r].isin(["orange", "red"]).sum())
        red = int((df[r] == "red").sum())
        print(f"  {r:6s}: orange or red {flagged}/{n}, red {red}/{n}")
    missed = df[~df["after"].isin(["orange", "red"])]
    if len(missed):
        print("  not orange/red after:")
        print(missed.to_string(index=False))
    lost = df[df["before"].isin(["orange", "red"]) & ~df["after"].isin(["orange", "red"])]
    print(f"  flagged before but not after: {len(lost)}")


if __name__ == "__main__":
    main()
