"""Benchmark: the full weekly briefing on the default demo city (`pingan demo` size).

Prints the seconds of ``make_brief`` (target < 20 s) with its stages, and, as a reference
measured in the same run, the figure export done the naive way — a cold kaleido (new browser)
per figure — against the warm server the briefing keeps for all its figures.

Usage: ``python benchmarks/bench_brief.py [WORKSPACE]`` (default ./workspace; built if missing).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _cpu() -> float:
    """CPU seconds of this process and its reaped children (Chromium): load-independent."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main(workspace: str = "workspace") -> None:
    import kaleido

    from analytics.present.brief import TIMINGS, gather, make_brief
    from analytics.present.brief_figures import board_figure, map_figure
    from analytics.present.brief_render import FigureRenderer, chromium_path
    from analytics.present.brief_text import summary
    from analytics.service import board
    from data.workspace import Workspace

    ws = Workspace(workspace)
    if not ws.exists():
        from data.demo import build_demo

        print(f"building the demo city in {workspace} …", flush=True)
        build_demo(workspace)
    board.clear_cache()
    with tempfile.TemporaryDirectory() as out:
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        for label, dest in (("cold board cache", out), ("board cached", Path(out) / "again")):
            t0, c0 = time.perf_counter(), _cpu()
            paths = make_brief(ws, out=dest)
            total, cpu = time.perf_counter() - t0, _cpu() - c0
            stages = ", ".join(f"{k} {v:.2f}" for k, v in TIMINGS.items() if k != "total")
            print(f"make_brief ({label}): {total:.2f} s wall, {cpu:.2f} s CPU incl. Chromium"
                  f"  [{stages}]")
        print("  " + "  ".join(f"{k}={p.name}" for k, p in paths.items()))

    # Reference: the same figures exported by a cold kaleido each vs. one warm server.
    data = gather(ws)
    text = summary(data.facts)
    figs = [board_figure(data.table, data.facts, text, city=data.city, outlines=data.outlines,
                         parents=data.parents) for _ in range(2)]
    figs += [map_figure(data.table, outlines=data.outlines, width=620, height=600)] * 2
    opts = dict(format="png", width=1920, height=1080)
    kopts = dict(path=chromium_path(), mathjax=False)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        for i, fig in enumerate(figs):
            kaleido.write_fig_sync(fig, path=f"{out}/cold{i}.png", opts=opts, kopts=kopts)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        with FigureRenderer() as r:
            for i, fig in enumerate(figs):
                r.write_png(fig, f"{out}/warm{i}.png", width=1920, height=1080)
        warm = time.perf_counter() - t0
    n = len(figs)
    print(f"{n} figures, cold kaleido per figure: {cold:.2f} s ({cold / n:.2f} s each); "
          f"warm server incl. start: {warm:.2f} s ({warm / n:.2f} s each); ratio {cold / warm:.1f}×")


if __name__ == "__main__":
    main(*sys.argv[1:2])
