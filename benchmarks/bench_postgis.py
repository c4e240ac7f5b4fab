"""St. Louis into a PostGIS workspace vs a workspace folder: time of each step and size on disk.

Steps, each on both stores in the same run (the folder is the reference):

- ``ingest``: 241,748 St. Louis incidents (2015–2019, /work/shared/data/stlouis) into an empty
  workspace (``ingest_files``, time zone America/Chicago);
- ``areas``: a 500 m grid, assignments and weekly counts (``build_areas``);
- ``warn``: the four-colour table of the grid for the latest week (``warning_table``), from a
  fresh ``Workspace`` (what ``pingan warn`` does; on PostGIS this reads the tables from the
  database the first time, then from its local copies);
- ``reingest``: the same file again (idempotent: 0 new rows, one more version);
- ``size``: the folder's bytes vs the schema's tables + indexes (``pg_total_relation_size``) and
  the local copies the PostGIS workspace keeps in its companion folder; the counts cube's dense
  rows vs the non-zero cells PostGIS stores (data/pg_counts.py).

The server is a temporary PostgreSQL 15 + PostGIS cluster on loopback with the default
durability (fsync on, synchronous commit), unless ``--url`` names one.

    .venv/bin/python benchmarks/bench_postgis.py [--data /work/shared/data/stlouis] [--url postgresql://…/db]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_owner(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def temporary_server():
    """A PostgreSQL 15 cluster in a temporary folder on a free loopback port; yields a database URL."""
    import psycopg

    root = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(_as_owner([str(PG_BIN / "initdb"), "-D", str(root / "data"), "-U", "pingan", "--auth=trust",
                              "--encoding=UTF8", "--locale=C.UTF-8"]), check=True, capture_output=True)
    opts = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root}"
    subprocess.run(_as_owner([str(PG_BIN / "pg_ctl"), "-D", str(root / "data"), "-o", opts, "-l",
                              str(root / "log.txt"), "-w", "start"]), check=True, capture_output=True)
    try:
        admin = f"postgresql://pingan@127.0.0.1:{port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        url = f"postgresql://pingan@127.0.0.1:{port}/bench"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
        yield url
    finally:
        subprocess.run(_as_owner([str(PG_BIN / "pg_ctl"), "-D", str(root / "data"), "-m", "fast", "stop"]),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def run_steps(target: str, incidents: Path) -> dict[str, float]:
    from analytics.service.board import warning_table
    from data.ingest import ingest_files
    from data.pipeline import build_areas
    from data.workspace import Workspace

    out: dict[str, float] = {}
    t0 = time.perf_counter()
    ws = Workspace.create(target)
    report = ingest_files([incidents], ws, timezone="America/Chicago")
    out["ingest"] = time.perf_counter() - t0
    out["rows"] = report.rows_in
    t0 = time.perf_counter()
    build_areas(ws, cell=500)
    out["areas"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    table = warning_table(Workspace(target), level="cell")
    out["warn"] = time.perf_counter() - t0
    out["cells"] = len(table)
    t0 = time.perf_counter()
    again = ingest_files([incidents], Workspace(target))
    out["reingest"] = time.perf_counter() - t0
    assert again.rows_in == 0, "re-ingest must add nothing"
    return out


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="/work/shared/data/stlouis")
    ap.add_argument("--url", default=None, help="a database with PostGIS (default: a temporary server)")
    args = ap.parse_args()
    incidents = Path(args.data) / "incidents.parquet"
    work = Path(tempfile.mkdtemp(prefix="bench-postgis-"))
    os.environ["PINGAN_CACHE"] = str(work / "cache")
    try:
        with (temporary_server() if args.url is None else _given(args.url)) as url:
            import psycopg

            from data.workspace import Workspace

            folder = run_steps(str(work / "folder"), incidents)
            target = f"{url}?schema=stlouis"
            pg = run_steps(target, incidents)
            with psycopg.connect(url) as conn:
                db_bytes = conn.execute(
                    "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname = 'stlouis' AND c.relkind = 'r'").fetchone()[0]
                n_db = conn.execute("SELECT count(*) FROM stlouis.incidents").fetchone()[0]
                cells, cube_bytes = conn.execute(  # the counts cube: non-zero cells + axes (data/pg_counts.py)
                    "SELECT (SELECT count(*) FROM stlouis.counts), pg_total_relation_size('stlouis.counts') "
                    "+ coalesce(pg_total_relation_size(to_regclass('stlouis.counts_axes')), 0)").fetchone()
            db_bytes = int(db_bytes)
            cache_bytes = _du(Workspace(target).path)
            folder_bytes = _du(work / "folder")
            import pyarrow.parquet as pq

            dense = pq.read_metadata(work / "folder" / "counts.parquet").num_rows
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"St. Louis: {int(folder['rows']):,} rows in, {n_db:,} incidents in PostGIS, "
          f"{int(folder['cells']):,} cells of 500 m")
    print(f"{'step':<10}{'folder s':>10}{'PostGIS s':>11}{'ratio':>8}")
    for step in ("ingest", "areas", "warn", "reingest"):
        print(f"{step:<10}{folder[step]:>10.2f}{pg[step]:>11.2f}{pg[step] / folder[step]:>8.2f}")
    total_f = sum(folder[s] for s in ("ingest", "areas", "warn", "reingest"))
    total_p = sum(pg[s] for s in ("ingest", "areas", "warn", "reingest"))
    print(f"{'total':<10}{total_f:>10.2f}{total_p:>11.2f}{total_p / total_f:>8.2f}")
    print(f"size: folder {folder_bytes / 1e6:.1f} MB; PostGIS tables + indexes {db_bytes / 1e6:.1f} MB "
          f"(ratio {db_bytes / folder_bytes:.2f}) + local copies {cache_bytes / 1e6:.1f} MB")
    print(f"counts cube: {dense:,} dense rows in the folder; {int(cells):,} non-zero cells in PostGIS, "
          f"{int(cube_bytes) / 1e6:.1f} MB with the axes and the primary key")


@contextmanager
def _given(url: str):
    yield url


if __name__ == "__main__":
    main()
