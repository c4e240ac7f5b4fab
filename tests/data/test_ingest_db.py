"""Database source: a real PostgreSQL table with Chinese column names goes through the same
validation and quarantine as a file, re-ingesting adds nothing, the table name cannot inject
SQL, ``--where`` runs on the server, and the password never reaches any output or log."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import psycopg
import pytest

from app import main
from data.ingest import ingest_files
from data.ingest_db import ingest_database, is_database_url, mask_url
from data.workspace import Workspace

_COLS = ("警情编号", "报警时间", "警情类别", "经度", "纬度", "地址")


def _load(url: str, frame: pd.DataFrame, table: str = "警情表") -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{table}" ({", ".join(f"{c!s} text" for c in _COLS)})')
        with conn.cursor() as cur, cur.copy(f'COPY "{table}" FROM STDIN') as copy:
            for row in frame[list(_COLS)].itertuples(index=False):
                copy.write_row([None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in row])


def _with_password(url: str, password: str = "s3cretPW9") -> str:
    return url.replace("pingan@", f"pingan:{password}@")


def test_chinese_table_rows_in_equal_used_plus_quarantined_and_reingest_adds_nothing(
        tmp_path, messy, postgres_database):
    frame, expected = messy(11, 60)
    _load(postgres_database, frame)
    ws = Workspace.create(tmp_path / "w")
    rep = ingest_files(postgres_database, ws, table="警情表")

    assert rep.rows_in == len(frame) == rep.rows_used + rep.rows_quarantined
    assert rep.mapped[rep.files[0]] == {"incident_id": "警情编号", "occurred_at": "报警时间",
                                        "category": "警情类别", "lon": "经度", "lat": "纬度"}
    q = ws.quarantine()
    assert Counter(q["reason"]) == Counter(e for e in expected if e)
    planted = {frame.loc[i, "警情编号"]: e for i, e in enumerate(expected) if e and e != "duplicate_id"}
    got = dict(zip(q["警情编号"], q["reason"]))
    assert {k: got.get(k) for k in planted} == planted
    assert set(q["source_file"]) == {"警情表"}
    inc = ws.incidents()
    assert len(inc) == rep.rows_used and inc["incident_id"].is_unique and "地址" in inc.columns
    truth = {frame.loc[i, "警情编号"]: t for i, (t, e) in enumerate(zip(frame.attrs["times"], expected)) if not e}
    assert (inc.set_index("incident_id")["occurred_at"].sort_index()
            == pd.Series(truth).astype("datetime64[us]").sort_index()).all()

    version = ws.version
    again = ingest_files([postgres_database], ws, table="警情表")
    assert again.already_ingested == again.files and again.rows_in == 0
    assert ws.version == version  # nothing written at all
    assert len(ws.incidents()) == len(inc) and len(ws.quarantine()) == len(q)
    log = pd.read_parquet(ws.ingested_path)
    assert len(log) == 1 and log["rows_in"].iloc[0] == len(frame)


def test_typed_columns_and_where_run_on_the_server(tmp_path, postgres_database):
    rng = np.random.default_rng(3)
    n = 500
    t0 = pd.Timestamp("2025-03-01")
    times = t0 + pd.to_timedelta(rng.integers(0, 60 * 24 * 60, n), unit="min")
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute('CREATE SCHEMA 公安')
        conn.execute('CREATE TABLE 公安."接警 表" (编号 bigint, 发案时间 timestamp, 类别 text, '
                     '经度 double precision, 纬度 numeric(10,6), 派出所 text)')
        with conn.cursor() as cur:
            cur.executemany('INSERT INTO 公安."接警 表" VALUES (%s, %s, %s, %s, %s, %s)', [
                (i, times[i].to_pydatetime(), ["盗窃", "诈骗"][i % 2], 106.6 + rng.uniform(0, .2),
                 round(26.5 + rng.uniform(0, .2), 6), f"第{i % 7}所") for i in range(n)])
    ws = Workspace.create(tmp_path / "w")
    rep = ingest_database(postgres_database, ws, table="公安.接警 表", where="类别 = '盗窃' AND 编号 < 300",
                          mapping={"incident_id": "编号", "occurred_at": "发案时间"}, chunk_rows=37)
    keep = [i for i in range(n) if i % 2 == 0 and i < 300]
    assert rep.rows_in == rep.rows_used == len(keep) and rep.rows_quarantined == 0
    inc = ws.incidents().set_index("incident_id")
    assert sorted(inc.index) == sorted(str(i) for i in keep)
    assert (inc.loc["42", "occurred_at"] == times[42]) and inc.loc["42", "category"] == "盗窃"
    assert set(inc["派出所"]) <= {f"第{k}所" for k in range(7)}


def test_cli_masks_the_password_everywhere_and_names_a_missing_table(tmp_path, capsys, messy, postgres_database):
    frame, _ = messy(12, 20)
    _load(postgres_database, frame)
    url = _with_password(postgres_database)
    w = str(tmp_path / "w")
    assert main(["ingest", url, "--workspace", w, "--table", "警情表"]) == 0
    out = capsys.readouterr()
    assert "s3cretPW9" not in out.out + out.err and "警情表" in out.out
    assert pd.read_parquet(tmp_path / "w" / "ingested.parquet")["file"].iloc[0].startswith("postgresql://pingan:***@")
    for f in ("audit.log", "ingested.parquet", "quarantine.parquet", "incidents.parquet"):
        assert b"s3cretPW9" not in (tmp_path / "w" / f).read_bytes(), f

    assert main(["ingest", url, "--workspace", w, "--table", "无此表"]) == 2
    err = capsys.readouterr().err
    assert "无此表" in err and "s3cretPW9" not in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_table_name_cannot_inject_and_a_bad_where_is_named(tmp_path, capsys, messy, postgres_database):
    frame, _ = messy(13, 10)
    _load(postgres_database, frame)
    w = str(tmp_path / "w")
    evil = '警情表"; DROP TABLE "警情表"; --'
    assert main(["ingest", postgres_database, "--workspace", w, "--table", evil]) == 2
    assert "no such table" in capsys.readouterr().err
    with psycopg.connect(postgres_database) as conn:  # still there
        assert conn.execute('SELECT count(*) FROM "警情表"').fetchone()[0] == len(frame)
    assert main(["ingest", postgres_database, "--workspace", w, "--table", "警情表", "--where", "无此列 > 1"]) == 2
    err = capsys.readouterr().err
    assert "--where" in err and "无此列" in err
    assert main(["ingest", postgres_database, "--workspace", w]) == 2
    assert "--table" in capsys.readouterr().err


def test_unreachable_server_is_one_line_without_password(tmp_path, capsys):
    url = "postgresql://pingan:hunter2xyz@127.0.0.1:1/db"
    assert main(["ingest", url, "--workspace", str(tmp_path / "w"), "--table", "t"]) == 2
    err = capsys.readouterr().err
    assert "cannot connect" in err and "hunter2xyz" not in err and "pingan:***@127.0.0.1:1/db" in err


@pytest.mark.parametrize(("url", "masked"), [
    ("postgresql://u:p@h:5432/d", "postgresql://u:***@h:5432/d"),
    ("postgres://u:p%40ss@h/d", "postgres://u:***@h/d"),
    ("postgresql://u@h/d", "postgresql://u@h/d"),
    ("postgresql://h/d", "postgresql://h/d"),
])
def test_mask_url(url, masked):
    assert mask_url(url) == masked and is_database_url(url)
    assert not is_database_url("警情.csv") and not is_database_url(None)


def test_timestamptz_is_local_wall_clock_and_row_order_does_not_change_the_digest(tmp_path, postgres_database):
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE 报警 (id text, t timestamptz, 类别 text, lon float8, lat float8)")
        conn.execute("INSERT INTO 报警 VALUES ('a', '2025-03-01 00:30:00+00', '盗窃', 106.7, 26.6), "
                     "('b', '2025-03-01 12:00:00+08', '诈骗', 106.71, 26.61), "
                     "('c', '2025-03-02 23:59:00-05', '盗窃', 106.72, 26.62)")
    ws = Workspace.create(tmp_path / "w")
    rep = ingest_database(postgres_database, ws, table="报警", mapping={"occurred_at": "t", "incident_id": "id"})
    assert rep.rows_used == 3
    got = ws.incidents().set_index("incident_id")["occurred_at"]
    assert got.to_dict() == {"a": pd.Timestamp("2025-03-01 08:30"), "b": pd.Timestamp("2025-03-01 12:00"),
                             "c": pd.Timestamp("2025-03-03 12:59")}
    with psycopg.connect(postgres_database, autocommit=True) as conn:  # same rows, another physical order
        conn.execute("CREATE TABLE tmp AS SELECT * FROM 报警 ORDER BY id DESC")
        conn.execute("DELETE FROM 报警")
        conn.execute("INSERT INTO 报警 SELECT * FROM tmp")
    again = ingest_database(postgres_database, ws, table="报警", mapping={"occurred_at": "t", "incident_id": "id"})
    assert again.already_ingested and len(ws.incidents()) == 3
    with psycopg.connect(postgres_database, autocommit=True) as conn:  # one row more: read again
        conn.execute("INSERT INTO 报警 VALUES ('d', '2025-03-04 10:00:00+08', '盗窃', 106.7, 26.6)")
    third = ingest_database(postgres_database, ws, table="报警", mapping={"occurred_at": "t", "incident_id": "id"})
    assert (third.rows_in, third.rows_used, third.by_reason) == (4, 1, {"duplicate_id": 3})
