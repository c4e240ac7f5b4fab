"""Audit log: one JSON line per event, workspace time zone, --since, concurrent appends."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from data.audit import COLUMNS, MAX_DETAIL, audit_path, read_audit, record
from data.workspace import Config, Workspace

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace.create(tmp_path / "w", Config(name="测试市", timezone="Asia/Shanghai"))


def test_record_and_read_back(ws):
    record(ws, "login_ok", user="张三", remote="10.1.2.3", detail="analyst")
    record(ws, "upload", user="张三", remote="10.1.2.3", detail="一月.csv")
    frame = read_audit(ws)
    assert list(frame.columns) == list(COLUMNS)
    assert frame["action"].tolist() == ["login_ok", "upload"]
    assert frame["detail"].tolist() == ["analyst", "一月.csv"]
    assert str(frame["time"].dt.tz) == "Asia/Shanghai"
    assert json.loads(audit_path(ws).read_text(encoding="utf-8").splitlines()[0])["time"].endswith("+08:00")
    assert stat.S_IMODE(audit_path(ws).stat().st_mode) == 0o600


def test_newlines_in_detail_stay_in_one_line_and_long_detail_is_cut(ws):
    record(ws, "export", user="u", detail="a\nb\rc\x00d")
    record(ws, "export", user="u", detail="x" * (MAX_DETAIL + 500))
    lines = audit_path(ws).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    frame = read_audit(ws)
    assert frame["detail"].iloc[0] == "a\nb\rc\x00d"
    assert len(frame["detail"].iloc[1]) == MAX_DETAIL


def test_bad_action_is_refused(ws):
    for bad in ("", "Login OK", "x" * 80, "drop;table"):
        with pytest.raises(ValueError, match="audit action"):
            record(ws, bad, user="u")
    assert not audit_path(ws).exists()


def test_since_filters_in_the_workspace_zone(ws):
    lines = [
        {"time": "2025-03-01T23:30:00+08:00", "user": "a", "remote": "local", "action": "ingest", "detail": ""},
        {"time": "2025-03-02T00:30:00+08:00", "user": "b", "remote": "local", "action": "brief", "detail": ""},
    ]
    audit_path(ws).write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    assert read_audit(ws, since="2025-03-02")["user"].tolist() == ["b"]  # 00:00 Beijing time
    assert read_audit(ws, since=pd.Timestamp("2025-03-01T15:00", tz="UTC"))["user"].tolist() == ["a", "b"]
    with pytest.raises(ValueError, match="--since"):
        read_audit(ws, since="not a date")


def test_torn_last_line_is_skipped(ws):
    record(ws, "logout", user="a")
    with open(audit_path(ws), "a", encoding="utf-8") as fh:
        fh.write('{"time": "2025-01-0')  # a power cut in the middle of a write
    assert read_audit(ws)["action"].tolist() == ["logout"]


def test_empty_log_reads_as_empty_table(ws):
    frame = read_audit(ws)
    assert frame.empty and list(frame.columns) == list(COLUMNS)


def test_two_processes_append_400_whole_lines(ws):
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
            "from data.audit import record\nfrom data.workspace import Workspace\n"
            f"ws = Workspace({str(ws.path)!r})\n"
            "for i in range(200):\n"
            "    record(ws, 'export', user=sys.argv[1], remote='local', detail=sys.argv[1] * 300 + str(i))\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, who]) for who in ("p", "q")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    lines = audit_path(ws).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 400
    entries = [json.loads(line) for line in lines]  # every line is whole JSON
    for who in ("p", "q"):
        mine = [e["detail"] for e in entries if e["user"] == who]
        assert mine == [who * 300 + str(i) for i in range(200)]
