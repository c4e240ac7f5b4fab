"""Ingest throughput and peak memory: data.ingest.ingest_files vs a bare read + points_from_xy.

Writes ``--n`` synthetic incidents (Chinese headers, string times in two formats, ~2 % bad rows)
to a Parquet file, then, each in a fresh child process so that peak RSS is its own:

- ``ingest``: ``ingest_files`` into an empty workspace (parse, validate, quarantine, GeoParquet);
- ``reference``: ``pd.read_parquet`` + ``pd.to_datetime`` + ``geopandas.points_from_xy`` of the
  same file — the least any ingest must do.

Prints rows/s, peak RSS of each and the ratio.

``--formats ROWS`` (default 60,000; 0 skips; an .xls sheet holds at most 65,536 rows) then writes
the first ROWS rows as an office export in three forms — CSV (GBK, as offices save it), .xlsx
(openpyxl) and .xls (xlwt) — and ingests each in its own child: rows/s of each and the ratio
of each against the CSV, measured in the same run.

    .venv/bin/python benchmarks/bench_ingest.py [--n 2000000] [--seed 0] [--keep DIR] [--formats 60000]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def make_file(path: Path, n: int, seed: int) -> None:
    """Synthetic export: 警情编号, 报警时间 (text), 警情类别, 经度, 纬度, 派出所."""
    rng = np.random.default_rng(seed)
    t = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365 * 86400, n), unit="s")
    text = np.where(rng.random(n) < 0.5, t.strftime("%Y-%m-%d %H:%M:%S"), t.strftime("%Y/%m/%d %H:%M"))
    lon = rng.normal(106.68, 0.05, n)
    lat = rng.normal(26.60, 0.04, n)
    bad = rng.random(n)
    lon[bad < 0.01] = np.nan  # 1 % missing coordinates
    text[(bad >= 0.01) & (bad < 0.015)] = "不详"  # 0.5 % unparseable times
    cats = np.array(["入室盗窃", "盗窃电动车", "扒窃", "抢劫", "抢夺", "电信网络诈骗", "故意伤害", "寻衅滋事"])
    frame = pd.DataFrame({
        "警情编号": pd.Series(np.char.add("JQ", np.arange(n).astype("U12")), dtype="str"),
        "报警时间": pd.Series(text, dtype="str"),
        "警情类别": pd.Categorical.from_codes(rng.integers(0, len(cats), n), cats).astype("str"),
        "经度": lon,
        "纬度": lat,
        "派出所": pd.Series(np.char.add("派出所", rng.integers(0, 40, n).astype("U2")), dtype="str"),
    })
    dup = rng.choice(n, size=max(1, n // 200), replace=False)  # 0.5 % duplicated ids
    frame.loc[dup[1:], "警情编号"] = frame.loc[dup[0], "警情编号"]
    frame.to_parquet(path, index=False)


def make_office(source: Path, n: int, folder: Path) -> list[Path]:
    """The first ``n`` rows of ``source`` as a GBK CSV, an .xlsx and an .xls (times as text)."""
    import xlwt

    frame = pd.read_parquet(source).head(n)
    csv, xlsx, xls = folder / f"office_{n}.csv", folder / f"office_{n}.xlsx", folder / f"office_{n}.xls"
    frame.to_csv(csv, index=False, encoding="gb18030")
    frame.to_excel(xlsx, index=False, engine="openpyxl")
    wb = xlwt.Workbook(encoding="utf-8")
    sh = wb.add_sheet("警情")
    for j, c in enumerate(frame.columns):
        sh.write(0, j, c)
    for j, c in enumerate(frame.columns):
        col = frame[c].to_numpy()
        for i in range(len(col)):
            v = col[i]
            if isinstance(v, float) and v != v:
                continue  # an empty cell
            sh.write(i + 1, j, v.item() if hasattr(v, "item") else v)
    wb.save(str(xls))
    return [csv, xlsx, xls]


def _child(kind: str, file: str, workdir: str) -> None:
    t0 = time.perf_counter()
    out: dict = {}
    if kind == "generate":
        n, seed = (int(v) for v in workdir.split(","))
        make_file(Path(file), n, seed)
    elif kind == "office":
        n, folder = workdir.split(",", 1)
        out["files"] = [str(p) for p in make_office(Path(file), int(n), Path(folder))]
    elif kind == "ingest":
        from data.ingest import ingest_files
        from data.workspace import Workspace

        shutil.rmtree(Path(workdir) / "ws", ignore_errors=True)  # an empty workspace every run
        ws = Workspace.create(Path(workdir) / "ws")
        t1 = time.perf_counter()
        rep = ingest_files([file], ws)
        out["ingest_seconds"] = time.perf_counter() - t1  # without the imports
        out.update(rows_in=rep.rows_in, rows_used=rep.rows_used, by_reason=rep.by_reason)
    else:
        import geopandas as gpd

        df = pd.read_parquet(file)
        when = pd.to_datetime(df["报警时间"], format="ISO8601", errors="coerce")
        pts = gpd.points_from_xy(df["经度"], df["纬度"], crs=4326)
        out.update(rows_in=len(df), rows_used=int(when.notna().sum()), n_points=len(pts))
    out["seconds"] = time.perf_counter() - t0
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out, ensure_ascii=False))


def _run(kind: str, file: Path, workdir: Path | str) -> dict:
    res = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--file", str(file), "--workdir", str(workdir)],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", default=None, help="work in this folder and keep it")
    ap.add_argument("--formats", type=int, default=60_000, metavar="ROWS",
                    help="rows of the CSV / .xlsx / .xls comparison (0: skip; .xls holds at most 65,536)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--file", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        sys.path.insert(0, str(ROOT))
        _child(args.child, args.file, args.workdir)
        return

    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    tmp.mkdir(parents=True, exist_ok=True)
    file = tmp / f"incidents_{args.n}.parquet"
    t = time.perf_counter()
    # every step in its own child: Linux keeps ru_maxrss across fork/exec, so a parent that had
    # generated the data would pass its peak on to the children it measures.
    if not file.exists():  # --keep DIR reuses an earlier file of the same size
        _run("generate", file, f"{args.n},{args.seed}")
    print(f"data {args.n:,} rows -> {file} ({file.stat().st_size / 2**20:.0f} MB), ready after {time.perf_counter() - t:.1f} s")
    ref = _run("reference", file, tmp)
    ours = _run("ingest", file, tmp)
    print(f"ingest_files:                   {ours['seconds']:7.2f} s  {args.n / ours['seconds'] / 1e6:5.2f} M rows/s  "
          f"peak RSS {ours['peak_rss_mb']:7.0f} MB  used {ours['rows_used']:,}  {ours['by_reason']}")
    print(f"read_parquet + points_from_xy:  {ref['seconds']:7.2f} s  {args.n / ref['seconds'] / 1e6:5.2f} M rows/s  "
          f"peak RSS {ref['peak_rss_mb']:7.0f} MB")
    print(f"ratio ingest / reference: time {ours['seconds'] / ref['seconds']:.1f}x  "
          f"memory {ours['peak_rss_mb'] / ref['peak_rss_mb']:.1f}x")
    assert ours["rows_in"] == args.n
    if args.formats:
        _formats(file, min(args.formats, args.n, 65_535), tmp)


def _formats(file: Path, n: int, tmp: Path) -> None:
    """Ingest the same rows as CSV, .xlsx and .xls; rows/s and the ratio against the CSV."""
    t = time.perf_counter()
    paths = [Path(p) for p in _run("office", file, f"{n},{tmp}")["files"]]
    print(f"office files of {n:,} rows written in {time.perf_counter() - t:.1f} s "
          f"({', '.join(f'{p.suffix} {p.stat().st_size / 2**20:.1f} MB' for p in paths)})")
    runs = {p.suffix: _run("ingest", p, tmp) for p in paths}
    base = runs[".csv"]["ingest_seconds"]
    for suffix, r in runs.items():
        assert r["rows_in"] == n, (suffix, r)
        sec = r["ingest_seconds"]
        print(f"ingest {suffix:5s} {n:,} rows: {sec:6.2f} s  {n / sec:9,.0f} rows/s  "
              f"{sec / base:5.1f}x the CSV's time  peak RSS {r['peak_rss_mb']:5.0f} MB")


if __name__ == "__main__":
    main()
