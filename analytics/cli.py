"""The ``pingan`` command line. Every subcommand calls the same functions the app uses.

Exit status: 0 success (quarantined rows are reported, not a failure); 2 unusable input or
arguments, with one line naming the file, column or argument — never a traceback for a
user's mistake.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main", "build_parser"]

DEFAULT_WORKSPACE = "workspace"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pingan", description="平安预警 — crime early-warning board")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("demo", help="build the demo city workspace (示范市)")
    s.add_argument("--seed", type=int, default=None, help="random seed (default: the fixed demo seed)")
    s.add_argument("--workspace", default=DEFAULT_WORKSPACE)
    s.add_argument("--incidents", type=int, default=None, help="approximate number of incidents")
    s.add_argument("--end", default=None, help="last day of data, YYYY-MM-DD (default: end of last full week)")
    s.add_argument("--years", type=float, default=None, help="years of history (default 3)")

    s = sub.add_parser("fetch", help="fetch a real city's data into a workspace")
    s.add_argument("city", choices=["toronto"])
    s.add_argument("--workspace", default=None, help="default: ./workspace-toronto")

    s = sub.add_parser("ingest", help="ingest incident files into a workspace")
    s.add_argument("files", nargs="+", metavar="FILE")
    s.add_argument("--workspace", required=True)
    s.add_argument("--map", action="append", default=[], metavar="canonical=source",
                   help="map a source column to a canonical one (incident_id, occurred_at, category, lon, lat)")
    s.add_argument("--coords", choices=["wgs84", "gcj02", "bd09"], default="wgs84")
    s.add_argument("--epsg", type=int, default=None, help="x/y are in this projected CRS (overrides --coords)")
    s.add_argument("--encoding", default="auto", help="CSV encoding (auto detects UTF-8, UTF-8-BOM, GBK/GB18030)")
    s.add_argument("--timezone", default=None, help="time zone of the times (default: the workspace's)")
    s.add_argument("--boundary", default=None, help="study boundary file; points outside are quarantined")

    s = sub.add_parser("areas", help="build area layers: admin boundaries or a generated grid")
    s.add_argument("--workspace", required=True)
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--boundaries", nargs="+", metavar="FILE")
    g.add_argument("--cell", type=float, metavar="METRES")
    s.add_argument("--shape", choices=["square", "hex"], default="square")
    s.add_argument("--name", default=None, help="layer name for a generated grid (default: cell)")
    s.add_argument("--level", default=None, help="admin level of the boundary file(s) when not in a column")
    s.add_argument("--id-column", default=None)
    s.add_argument("--name-column", default=None)
    s.add_argument("--parent-column", default=None)

    s = sub.add_parser("warn", help="four-colour warning table for a period")
    s.add_argument("--workspace", required=True)
    s.add_argument("--period", default=None, help="period start (default: the latest complete period)")
    s.add_argument("--freq", choices=["W", "M"], default="W")
    s.add_argument("--level", default=None, help="layer (default: the finest admin level)")
    s.add_argument("--category", default=None, help="category or group (default: 全部)")
    s.add_argument("--mode", choices=["alert", "forecast", "yoy"], default="alert")
    s.add_argument("--model", default=None)
    s.add_argument("--out", required=True)

    s = sub.add_parser("hotspots", help="hot-spot statistics on a layer")
    s.add_argument("--workspace", required=True)
    s.add_argument("--method", required=True, choices=["gistar", "moran", "emerging", "knox", "kde"])
    s.add_argument("--layer", default=None)
    s.add_argument("--category", default=None)
    s.add_argument("--start", default=None)
    s.add_argument("--end", default=None)
    s.add_argument("--seed", type=int, default=12345)
    s.add_argument("--permutations", type=int, default=999)
    s.add_argument("--out", required=True)

    s = sub.add_parser("backtest", help="rolling-origin backtest of every model on a grid")
    s.add_argument("--incidents", required=True)
    s.add_argument("--cell", type=float, required=True)
    s.add_argument("--freq", default="W")
    s.add_argument("--start", required=True)
    s.add_argument("--end", default=None)
    s.add_argument("--category", default=None)
    s.add_argument("--models", nargs="+", default=None)
    s.add_argument("--json", required=True, dest="json_out")

    s = sub.add_parser("serve", help="serve the board (Dash app)")
    s.add_argument("--workspace", default=DEFAULT_WORKSPACE)
    s.add_argument("--host", default="127.0.0.1", help="loopback by default; another host must be asked for")
    s.add_argument("--port", type=int, default=8050)
    s.add_argument("--debug", action="store_true")

    s = sub.add_parser("brief", help="weekly briefing: PNG + PDF + HTML")
    s.add_argument("--workspace", required=True)
    s.add_argument("--week", default=None)
    s.add_argument("--out", required=True)
    return p


def _mapping(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--map {pair!r}: expected canonical=source, e.g. occurred_at=报警时间")
        k, v = pair.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _run(args: argparse.Namespace) -> int:
    cmd = args.command
    if cmd == "demo":
        from data.demo import build_demo

        kw = {k: getattr(args, k) for k in ("seed", "incidents", "end", "years") if getattr(args, k) is not None}
        summary = build_demo(args.workspace, **kw)
        print(summary if isinstance(summary, str) else json.dumps(summary, ensure_ascii=False, indent=1, default=str))
    elif cmd == "fetch":
        from data.fetch import fetch_city

        print(fetch_city(args.city, args.workspace or f"workspace-{args.city}"))
    elif cmd == "ingest":
        from data.ingest import ingest_files
        from data.workspace import Workspace

        ws = Workspace.create(args.workspace)
        report = ingest_files(
            args.files, ws, mapping=_mapping(args.map), coords=args.coords, epsg=args.epsg,
            encoding=args.encoding, timezone=args.timezone, boundary=args.boundary,
        )
        print(report.summary())
        from data.pipeline import refresh  # after ingest: input errors are reported first

        print(refresh(ws))
    elif cmd == "areas":
        from data.pipeline import build_areas
        from data.workspace import Workspace

        ws = Workspace(args.workspace)
        ws.require(ws.incidents_path)
        print(build_areas(
            ws, boundaries=args.boundaries, cell=args.cell, shape=args.shape, name=args.name,
            level=args.level, id_column=args.id_column, name_column=args.name_column,
            parent_column=args.parent_column,
        ))
    elif cmd == "warn":
        from analytics.service.board import warning_table
        from data.io import write_table
        from data.workspace import Workspace

        table = warning_table(
            Workspace(args.workspace), level=args.level, period=args.period, freq=args.freq,
            category=args.category, mode=args.mode, model=args.model,
        )
        print(f"wrote {write_table(table, args.out)} ({len(table)} areas)")
    elif cmd == "hotspots":
        from analytics.service.hotspots import run_hotspots
        from data.io import write_table
        from data.workspace import Workspace

        table = run_hotspots(
            Workspace(args.workspace), args.method, layer=args.layer, category=args.category,
            start=args.start, end=args.end, seed=args.seed, permutations=args.permutations,
        )
        print(f"wrote {write_table(table, args.out)} ({len(table)} rows)")
    elif cmd == "backtest":
        from analytics.backtest import backtest_file

        result = backtest_file(
            args.incidents, cell=args.cell, freq=args.freq, start=args.start, end=args.end,
            category=args.category, models=args.models,
        )
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"wrote {args.json_out}")
    elif cmd == "serve":
        from app import serve

        serve(args.workspace, host=args.host, port=args.port, debug=args.debug)
    elif cmd == "brief":
        from analytics.present.brief import make_brief
        from data.workspace import Workspace

        paths = make_brief(Workspace(args.workspace), week=args.week, out=args.out)
        for p in (paths.values() if isinstance(paths, dict) else paths):
            print(p)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pingan`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except (ValueError, TypeError, FileNotFoundError, PermissionError, UnicodeDecodeError) as exc:
        # A user's mistake: one line naming the file / column / argument, exit 2.
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"pingan {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
