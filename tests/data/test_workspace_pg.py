"""The PostGIS store (data/workspace_pg.py, data/pg_tables.py) on the real test server.

The workspace contract itself (transactions, lock, snapshots, crashes) is tested on both stores
by tests/data/test_workspace.py and tests/data/test_transactions.py; here: what only the
database has (tables, indexes, types, URL), and the whole command-line flow on PostGIS against
the same flow on a folder.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from shapely.geometry import Point, box

from analytics.service.board import warning_table
from data import pg_tables
from data.accounts import add_user, has_accounts, list_users, remove_user, verify
from data.audit import read_audit, record
from data.ingest import ingest_files
from data.pipeline import build_areas
from data.workspace import Workspace, WorkspaceBusy, WorkspaceError, reset_generated
from data.workspace_pg import PostgisWorkspace, parse_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def url(postgres_database, tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("PINGAN_CACHE", str(tmp_path / "cache"))
    return postgres_database + "?schema=guiyang"


def test_a_url_opens_the_postgis_store_and_a_path_the_folder(url, tmp_path):
    assert type(Workspace(url)) is PostgisWorkspace and Workspace.open(url).schema == "guiyang"
    assert type(Workspace(tmp_path / "w")) is Workspace and Workspace(tmp_path).backend == "folder"
    assert parse_url("postgresql://u@h:5/db?schema=x&sslmode=disable") == (
        "postgresql://u@h:5/db?sslmode=disable", "x")
    with pytest.raises(ValueError, match="schema='Bad-Name'"):
        parse_url("postgresql://u@h:5/db?schema=Bad-Name")
    with pytest.raises(WorkspaceError, match="cannot connect"):
        Workspace("postgresql://pingan@127.0.0.1:1/nowhere?schema=x")
    with pytest.raises(ValueError, match="the demo build makes a workspace folder"):
        reset_generated(Path(url), owned=lambda cfg: True, what="demo")  # a Path eats one slash


def test_tables_round_trip_every_type_row_order_and_metadata(url, tmp_path):
    ws = Workspace.create(url)
    rng = np.random.default_rng(3)
    n = 1_000
    frame = pd.DataFrame({
        "s": pd.Series(["a", "", None, 'x"y\nz', "北京,朝阳"] * (n // 5), dtype="str"),
        "f": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
        "i": rng.integers(-10**12, 10**12, n),
        "b": rng.random(n) < 0.5,
        "t": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**12, n), unit="us"),
        "tz": (pd.Timestamp("2024-01-01", tz="Asia/Shanghai")
               + pd.to_timedelta(rng.integers(0, 10**9, n), unit="s")),
        "cat": pd.Categorical(rng.choice(["甲", "乙"], n)),
        "ids": pd.Series([["a", "b"], None, [], ["北京"], ["x"]] * (n // 5), dtype=object),
        "警情类别(原始字段名很长很长很长很长很长很长很长很长很长)": ["x"] * n,
    }).iloc[rng.permutation(n)].reset_index(drop=True)
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(
        {**pa.Table.from_pandas(frame, preserve_index=False).schema.metadata, b"made_from": b"{}"})
    with ws.transaction() as tx:
        tx.write_parquet("extra/mixed.parquet", table)
    pq.write_table(table, tmp_path / "mixed.parquet")
    want = pq.read_table(tmp_path / "mixed.parquet")  # what the folder store gives back
    back = pg_tables.read_arrow(ws._conn(), ws.schema, "extra/mixed.parquet")
    assert back.equals(want) and back.schema.equals(want.schema, check_metadata=True)
    assert back.schema.metadata[b"made_from"] == b"{}"
    pd.testing.assert_frame_equal(Workspace(url).extra("mixed"), pd.read_parquet(tmp_path / "mixed.parquet"))
    part = pg_tables.read_arrow(ws._conn(), ws.schema, "extra/mixed.parquet", ["tz", "s"])
    assert part.column_names == ["tz", "s"] and part.column("s").equals(want.column("s"))
    with pytest.raises(WorkspaceError, match="no column 'nope'"):
        pg_tables.read_arrow(ws._conn(), ws.schema, "extra/mixed.parquet", ["nope"])


def test_incidents_and_areas_are_postgis_tables_with_spatial_indexes(url):
    ws = Workspace.create(url)
    pts = gpd.GeoDataFrame({"incident_id": ["J1", "J2"], "lon": [106.7, 106.71], "lat": [26.6, 26.61]},
                           geometry=[Point(106.7, 26.6), Point(106.71, 26.61)], crs=4326)
    cells = gpd.GeoDataFrame({"area_id": ["c1"]}, geometry=[box(600_000, 2_940_000, 601_000, 2_950_000)],
                             crs=32648)
    with ws.transaction() as tx:
        tx.write_parquet("incidents.parquet", pts)
        tx.write_parquet("areas/cell.parquet", cells)
    with psycopg.connect(url.split("?")[0]) as conn:
        idx = {r[0]: r[1] for r in conn.execute(
            "SELECT tablename, string_agg(indexdef, ' | ') FROM pg_indexes WHERE schemaname = 'guiyang' "
            "GROUP BY tablename").fetchall()}
        srids = conn.execute("SELECT ST_SRID(geometry), ST_AsText(geometry) FROM guiyang.incidents ORDER BY _row"
                             ).fetchall()
        inside = conn.execute(  # the projected cell and its 4326 copy find the same incident
            "SELECT i.incident_id FROM guiyang.incidents i JOIN guiyang.areas_cell a "
            "ON ST_Intersects(a.geom_4326, i.geometry)").fetchall()
    assert "USING gist (geometry)" in idx["incidents"] and "UNIQUE" in idx["incidents"]
    assert "USING gist (geometry)" in idx["areas_cell"] and "USING gist (geom_4326)" in idx["areas_cell"]
    assert srids == [(4326, "POINT(106.7 26.6)"), (4326, "POINT(106.71 26.61)")]
    assert len(inside) == 1 or len(inside) == 0  # a real spatial query runs on them
    back = ws.areas("cell")
    assert back.crs.to_epsg() == 32648 and back.geometry.iloc[0].equals(cells.geometry.iloc[0])
    assert ws.incidents().geom_equals(pts.geometry).all()


def test_the_writer_lock_is_held_across_processes(url):
    ws = Workspace.create(url)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from data.workspace import Workspace\n"
         "with Workspace(sys.argv[1]).write_lock():\n    print('held', flush=True); time.sleep(30)", url],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WorkspaceBusy, match="workspace busy"):
            with ws.write_lock(timeout=0.3):
                pass
    finally:
        holder.kill()
        holder.wait()
    with ws.write_lock(timeout=10):  # a killed holder's advisory lock went with its session
        pass


def test_accounts_and_audit_live_in_the_store(url):
    ws = Workspace.create(url)
    assert not has_accounts(ws)
    add_user(ws, "zhang", "analyst", password="correct horse 1")
    add_user(ws, "li", "leader", password="battery staple 2")
    other = Workspace(url)  # another server on the same store sees the same accounts
    assert list(list_users(other)["name"]) == ["li", "zhang"]
    assert verify(other, "zhang", "correct horse 1").role == "analyst"
    assert verify(other, "zhang", "wrong") is None
    remove_user(other, "li")
    assert list(list_users(ws)["name"]) == ["zhang"]
    with psycopg.connect(url.split("?")[0]) as conn:
        assert "users.json" in {r[0] for r in conn.execute("SELECT name FROM guiyang._pingan_files")}
    record(ws, "login_ok", user="zhang", remote="10.0.0.2", detail="网页")
    record(other, "export", user="zhang", remote="10.0.0.2", detail="board.xlsx")
    log = read_audit(Workspace(url))
    assert list(log["action"]) == ["login_ok", "export"] and log["detail"].iloc[0] == "网页"
    assert str(log["time"].dt.tz) == "Asia/Shanghai"
    assert not (ws.path / "audit.log").exists() and not (ws.path / "users.json").exists()


@pytest.mark.slow
def test_ingest_areas_warn_on_postgis_equal_the_folder(url, tmp_path):
    """The same steps on both stores give the same tables; re-ingesting adds nothing."""
    rng = np.random.default_rng(11)
    n = 6_000
    t = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 60 * 24 * 400, n), unit="min")
    src = tmp_path / "jq.csv"
    pd.DataFrame({"警情编号": [f"J{i:06d}" for i in range(n)], "报警时间": t.strftime("%Y-%m-%d %H:%M"),
                  "警情类别": rng.choice(["入室盗窃", "扒窃", "诈骗"], n),
                  "经度": rng.uniform(106.6, 106.8, n).round(6), "纬度": rng.uniform(26.5, 26.7, n).round(6)}
                 ).to_csv(src, index=False)
    folder = tmp_path / "w"
    out = {}
    for where in (url, folder):
        ws = Workspace.create(where)
        ingest_files([src], ws)
        build_areas(ws, cell=1000)
        assert ingest_files([src], ws).rows_in == 0  # idempotent: the file is in the ingest log
        out[where] = warning_table(Workspace(where), level="cell")
    pd.testing.assert_frame_equal(out[url], out[folder])
    pg, fs = Workspace(url), Workspace(folder)
    assert pg.version == fs.version
    pd.testing.assert_frame_equal(pg.incidents_frame(), fs.incidents_frame())
    pd.testing.assert_frame_equal(pg.quarantine(), fs.quarantine())
    for name in ("counts.parquet", "assignments.parquet", "ingested.parquet"):
        a, b = pd.read_parquet(pg.read_path(name)), pd.read_parquet(fs.read_path(name))
        pd.testing.assert_frame_equal(a.drop(columns=["ingested_at"], errors="ignore"),
                                      b.drop(columns=["ingested_at"], errors="ignore"))
    assert pg.areas("cell").equals(fs.areas("cell"))
    with psycopg.connect(url.split("?")[0]) as conn:
        assert conn.execute("SELECT count(*) FROM guiyang.incidents").fetchone()[0] == n


def test_a_forked_child_opens_its_own_connection_and_leaves_the_parents(url):
    """A background job's worker is forked from the server: reusing (or closing) the server
    thread's connection there would garble or end the server's session."""
    import os

    ws = Workspace.create(url)
    before = ws.version  # the parent's thread now holds a connection
    parent_pid = ws._conn().info.backend_pid
    pid = os.fork()
    if pid == 0:
        import signal

        signal.alarm(20)
        ok = ws.version == before and ws._conn().info.backend_pid != parent_pid
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    with ws.write_lock():
        ws.bump_version()  # the parent's session still works after the child exited
    assert ws.version == before + 1 and ws._conn().info.backend_pid == parent_pid
