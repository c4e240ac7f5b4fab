"""The board with the evaluation's model: warning tables and trends with ``stack`` against ``eb``,
and the cost of the weekly model choice.

On the full demo city (built into ``--workspace`` if missing: 300,000 incidents, 2,507 网格 and
1,625 cells of 500 m, 157 weeks): for each layer, ``board.warning_table`` cold (first call of the
version: the fit) and warm (cached), with ``--model`` (default stack) and with ``eb`` as the
reference measured in the same run; then one area's ``board.trend`` (104 one-step forecasts) and
a second area's of the same layer (sliced from the same fits); then
``evaluation.refresh_choice`` (全部 and each group, 26 weeks at 500 m) cold and again. Prints
seconds, the ratio to eb and the load average (the machine is shared).

    .venv/bin/python benchmarks/bench_board_model.py [--workspace /tmp/bench-demo] [--model stack]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def board_times(ws, model: str) -> dict[str, tuple[float, float]]:
    """``{layer: (cold, warm)}`` seconds of the layer's warning table with ``model``."""
    from analytics.service import board

    out = {}
    for level in ws.layers():
        cold = _timed(lambda level=level: board.warning_table(ws, level=level, model=model))
        warm = _timed(lambda level=level: board.warning_table(ws, level=level, model=model))
        out[level] = (cold, warm)
    return out


def trend_times(ws, model: str, level: str) -> tuple[float, float]:
    """Seconds of the first and of a second area's trend on ``level``."""
    from analytics.service import board

    ids = board.warning_table(ws, level=level, model=model)["area_id"].astype(str)
    first = _timed(lambda: board.trend(ws, ids.iloc[0], model=model))
    second = _timed(lambda: board.trend(ws, ids.iloc[1], model=model))
    return first, second


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workspace", default="/tmp/bench-board-model")
    p.add_argument("--model", default="stack")
    args = p.parse_args(argv)
    from analytics.service import board
    from analytics.service import evaluation as ev
    from data.demo import build_demo
    from data.workspace import Workspace

    path = Path(args.workspace)
    if not (path / "counts.parquet").exists():
        shutil.rmtree(path, ignore_errors=True)
        build_demo(str(path))
    ws = Workspace(path)
    print(f"load average before {os.getloadavg()[0]:.1f}")
    tables = {}
    for model in ("eb", args.model):
        board.clear_cache()
        board.warning_table(ws, level="district", model="longrun")  # counts and areas read once
        tables[model] = board_times(ws, model)
    print(f"{'layer':12s} {'eb cold':>8s} {args.model + ' cold':>11s} {'ratio':>6s} {args.model + ' warm':>11s}")
    for level, (cold, warm) in tables[args.model].items():
        ref = tables["eb"][level][0]
        print(f"{level:12s} {ref:8.2f} {cold:11.2f} {cold / ref:6.2f} {warm:11.3f}")
    for level in ("community", "grid"):
        ref = trend_times(ws, "eb", level)
        got = trend_times(ws, args.model, level)
        print(f"trend {level:10s} eb {ref[0]:6.2f}/{ref[1]:.2f} s  {args.model} first area {got[0]:6.2f} s, "
              f"second {got[1]:.2f} s, ratio to eb {got[0] / ref[0]:.2f}")
    shutil.rmtree(path / "cache" / "evaluation", ignore_errors=True)
    ev.choice_path(ws).unlink(missing_ok=True)
    board.clear_cache()
    cold = _timed(lambda: ev.refresh_choice(ws))
    again = _timed(lambda: ev.refresh_choice(ws))
    picked = {k: v["model"] for k, v in ev.stored_choice(ws)["categories"].items()}
    print(f"refresh_choice ({len(picked)} categories, {ev.CHOICE_WEEKS} weeks): {cold:.1f} s cold, "
          f"{again:.3f} s again; chose {picked}")
    print(f"load average after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
