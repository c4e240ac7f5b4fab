"""Database source throughput: ``pingan ingest postgresql://… --table 警情表`` vs the same rows
from a CSV file, in the same run.

Starts a throw-away PostgreSQL 15 on loopback (``initdb`` in a temporary folder, as
``tests/conftest.py`` does; as root the cluster runs as the ``postgres`` user) unless ``--url``
names a server, loads ``--n`` synthetic incidents (Chinese column names, typed columns:
``timestamp``, ``double precision``; ~1.5 % bad rows) into ``警情表`` with COPY, writes the same
rows to a CSV, then ingests each into a fresh workspace (no area layers, so only reading,
validation and writing are timed) and prints rows/s of both and their ratio.

    .venv/bin/python benchmarks/bench_ingest_db.py [--n 1000000] [--seed 0] [--url postgresql://…]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def make_frame(n: int, seed: int) -> pd.DataFrame:
    """Synthetic incidents: 警情编号, 报警时间 (timestamp), 警情类别, 经度, 纬度, 派出所."""
    rng = np.random.default_rng(seed)
    t = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 2 * 365 * 86400, n), unit="s")
    lon = rng.normal(106.68, 0.05, n)
    lat = rng.normal(26.60, 0.04, n)
    bad = rng.random(n)
    lon[bad < 0.01] = np.nan  # 1 % missing coordinates
    lat[(bad >= 0.01) & (bad < 0.015)] = 0.0  # 0.5 % on the equator
    cats = np.array(["入室盗窃", "盗窃电动车", "扒窃", "抢劫", "抢夺", "电信网络诈骗", "故意伤害", "寻衅滋事"])
    return pd.DataFrame({
        "警情编号": np.char.add("JQ", np.arange(n).astype("U12")),
        "报警时间": t,
        "警情类别": cats[rng.integers(0, len(cats), n)],
        "经度": lon,
        "纬度": lat,
        "派出所": np.char.add("派出所", rng.integers(0, 40, n).astype("U2")),
    })


def start_server(root: Path) -> tuple[str, list[str]]:
    """A PostgreSQL on a free loopback port; returns (url, stop command)."""
    owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root.mkdir(parents=True, exist_ok=True)
    if owner:
        shutil.chown(root, "postgres", "postgres")
        os.chmod(root.parent, 0o711)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = root / "data"
    subprocess.run([*owner, str(PG_BIN / "initdb"), "-D", str(data), "-U", "pingan", "--auth=trust",
                    "--encoding=UTF8", "--locale=C.UTF-8"], check=True, capture_output=True)
    opts = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} "
            "-c fsync=off -c synchronous_commit=off")
    subprocess.run([*owner, str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log.txt"),
                    "-w", "start"], check=True, capture_output=True)
    return (f"postgresql://pingan@127.0.0.1:{port}/postgres",
            [*owner, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])


def load(url: str, frame: pd.DataFrame) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute('DROP TABLE IF EXISTS "警情表"')
        conn.execute('CREATE TABLE "警情表" (警情编号 text, 报警时间 timestamp, 警情类别 text, '
                     '经度 double precision, 纬度 double precision, 派出所 text)')
        buf = io.StringIO()
        frame.to_csv(buf, index=False, header=False, na_rep="")
        buf.seek(0)
        with conn.cursor() as cur, cur.copy('COPY "警情表" FROM STDIN WITH (FORMAT csv)') as copy:
            while chunk := buf.read(1 << 20):
                copy.write(chunk)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--url", default=None, help="an existing server (default: start one)")
    args = ap.parse_args()

    from data.ingest import ingest_files
    from data.workspace import Workspace

    tmp = Path(tempfile.mkdtemp(prefix="bench_db_"))
    stop = None
    try:
        url = args.url
        if url is None:
            url, stop = start_server(tmp / "pg")
        frame = make_frame(args.n, args.seed)
        t0 = time.perf_counter()
        load(url, frame)
        print(f"loaded {args.n:,} rows into 警情表 in {time.perf_counter() - t0:.1f} s")
        csv = tmp / "警情.csv"
        frame.to_csv(csv, index=False)

        t0 = time.perf_counter()
        rep_db = ingest_files(url, Workspace(tmp / "w_db"), table="警情表")
        db_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        rep_csv = ingest_files([csv], Workspace(tmp / "w_csv"))
        csv_s = time.perf_counter() - t0
        assert rep_db.rows_in == rep_csv.rows_in == args.n
        assert rep_db.rows_used == rep_csv.rows_used, (rep_db.by_reason, rep_csv.by_reason)
        t0 = time.perf_counter()
        again = ingest_files(url, Workspace(tmp / "w_db"), table="警情表")
        again_s = time.perf_counter() - t0
        assert again.already_ingested
        print(f"database source: {args.n / db_s:,.0f} rows/s ({db_s:.2f} s; used {rep_db.rows_used:,}, "
              f"quarantined {rep_db.rows_quarantined:,})")
        print(f"same rows as CSV: {args.n / csv_s:,.0f} rows/s ({csv_s:.2f} s)")
        print(f"ratio database / CSV throughput: {csv_s / db_s:.2f}")
        print(f"re-ingest of the same rows (read + digest, nothing written): {again_s:.2f} s")
    finally:
        if stop is not None:
            subprocess.run(stop, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
