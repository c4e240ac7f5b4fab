"""``pingan user …`` and ``pingan audit`` as a user runs them (real subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

from data.accounts import LoginPolicy, users_path, verify
from data.workspace import Config, Workspace

PINGAN = str(Path(sys.executable).parent / "pingan")
PW = "correct horse 1"


def _pingan(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([PINGAN, *args], input=stdin, capture_output=True, text=True, timeout=120)


@pytest.fixture
def ws(tmp_path) -> Workspace:
    w = Workspace.create(tmp_path / "w", Config(name="测试市", crs="EPSG:32648"))
    gpd.GeoDataFrame({"area_id": ["C01"]}, geometry=[box(0, 0, 100, 100)],
                     crs="EPSG:32648").to_parquet(w.area_path("community"))
    return w


@pytest.mark.slow
def test_add_list_passwd_remove_and_audit(ws):
    w = str(ws.path)
    r = _pingan("user", "add", "admin", "--workspace", w, "--role", "admin", "--password-stdin", stdin=PW + "\n")
    assert r.returncode == 0, r.stderr
    r = _pingan("user", "add", "网格员", "--workspace", w, "--role", "grid", "--area", "C01",
                "--password-stdin", stdin=PW + "\n")
    assert r.returncode == 0, r.stderr
    assert verify(ws, "网格员", PW, policy=LoginPolicy(delay_s=0)).area_id == "C01"

    listing = _pingan("user", "list", "--workspace", w)
    assert listing.returncode == 0
    assert "admin" in listing.stdout and "网格员" in listing.stdout and "C01" in listing.stdout
    assert "argon2" not in listing.stdout

    r = _pingan("user", "passwd", "admin", "--workspace", w, "--password-stdin", stdin="new password 9\n")
    assert r.returncode == 0, r.stderr
    assert verify(ws, "admin", "new password 9", policy=LoginPolicy(delay_s=0)) is not None
    r = _pingan("user", "remove", "网格员", "--workspace", w)
    assert r.returncode == 0, r.stderr
    assert list(json.loads(users_path(ws).read_text(encoding="utf-8"))["users"]) == ["admin"]

    audit = _pingan("audit", "--workspace", w)
    assert audit.returncode == 0, audit.stderr
    rows = [line.split("\t") for line in audit.stdout.strip().splitlines()[1:]]
    assert [r[3] for r in rows] == ["user_add", "user_add", "user_passwd", "user_remove"]
    assert {r[2] for r in rows} == {"local"}
    assert _pingan("audit", "--workspace", w, "--since", "2999-01-01").stdout.strip().count("\n") == 0


@pytest.mark.parametrize("args, stdin, message", [
    (["user", "add", "g", "--role", "grid"], PW, "--area"),
    (["user", "add", "g", "--role", "grid", "--area", "C99"], PW, "C99"),
    (["user", "add", "a", "--role", "analyst"], "short", "at least 8"),
    (["user", "add", "a", "--role", "analyst"], "", "standard input is empty"),
    (["user", "add", "bad\tname", "--role", "analyst"], PW, "user name"),
    (["user", "remove", "nobody"], None, "no such user"),
    (["user", "passwd", "nobody"], PW, "no such user"),
    (["audit", "--since", "someday"], None, "--since"),
])
def test_user_errors_are_one_line_and_exit_2(ws, args, stdin, message):
    extra = ["--password-stdin"] if stdin is not None and args[1] in ("add", "passwd") else []
    r = _pingan(*args, "--workspace", str(ws.path), *extra, stdin=stdin)
    assert r.returncode == 2
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


@pytest.mark.slow
def test_bad_role_and_duplicate_and_missing_workspace(ws, tmp_path):
    w = str(ws.path)
    r = _pingan("user", "add", "a", "--workspace", w, "--role", "boss", "--password-stdin", stdin=PW)
    assert r.returncode == 2  # argparse: invalid choice
    assert _pingan("user", "add", "a", "--workspace", w, "--role", "leader", "--password-stdin",
                   stdin=PW).returncode == 0
    r = _pingan("user", "add", "a", "--workspace", w, "--role", "leader", "--password-stdin", stdin=PW)
    assert r.returncode == 2 and "exists" in r.stderr
    r = _pingan("user", "list", "--workspace", str(tmp_path / "nowhere"))
    assert r.returncode == 2 and "no such folder" in r.stderr


def test_without_stdin_password_and_no_terminal_exits_2(ws):
    r = _pingan("user", "add", "a", "--workspace", str(ws.path), "--role", "leader", stdin="")
    assert r.returncode == 2 and "--password-stdin" in r.stderr
