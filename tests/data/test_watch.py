"""pingan watch: real folders and real ``pingan watch`` processes — each file ingested exactly once,
moved to done/ or failed/ with its reason, half-written files left alone, two watchers never
ingest one file twice, and a kill -9 mid-ingest leaves the file ingested+moved or in the inbox."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from data.watch import _claim, process_file, ready_files, watch_inbox
from data.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]


def _pingan(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "app.py"), *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _drop(frame: pd.DataFrame, inbox: Path, name: str, *, age: float = 10.0) -> Path:
    """Write under a temporary name, rename in (as a careful sender does), mtime ``age`` s ago."""
    tmp = inbox / f"{name}.part"
    frame.to_csv(tmp, index=False, encoding="gbk")
    past = time.time() - age
    os.utime(tmp, (past, past))
    os.replace(tmp, inbox / name)
    return inbox / name


def _ids(ws: Workspace) -> pd.Series:
    return pd.read_parquet(ws.incidents_path, columns=["incident_id"])["incident_id"]


@pytest.mark.slow
def test_once_moves_each_file_with_its_reason_and_leaves_partial_files(tmp_path, messy):
    inbox, ws = tmp_path / "inbox", Workspace(tmp_path / "w")
    inbox.mkdir()
    good, expected = messy(21, 40)
    _drop(good, inbox, "警情-第1周.csv")
    (inbox / "bad.csv").write_text("x,y\n1,2\n", encoding="utf-8")
    os.utime(inbox / "bad.csv", (time.time() - 10, time.time() - 10))
    (inbox / "still.csv.part").write_text("警情编号\n", encoding="utf-8")
    growing = inbox / "growing.csv"  # written just now: taken only once it has settled
    messy(22, 10)[0].to_csv(growing, index=False)

    run = _pingan("watch", "--workspace", str(ws.path), "--inbox", str(inbox), "--once", "--settle", "1.5")
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert "pingan watch: 2 done, 1 failed" in out
    done, failed = inbox / "done", inbox / "failed"
    assert sorted(p.name for p in done.iterdir()) == sorted([
        "警情-第1周.csv", "警情-第1周.csv.reason.txt", "growing.csv", "growing.csv.reason.txt"])
    reason = (done / "警情-第1周.csv.reason.txt").read_text(encoding="utf-8")
    n_bad = sum(1 for e in expected if e)
    assert f"读入 rows in: {len(good)}  入库 used: {len(good) - n_bad}  隔离 quarantined: {n_bad}" in reason
    assert sorted(p.name for p in failed.iterdir()) == ["bad.csv", "bad.csv.reason.txt"]
    assert "no time column" in (failed / "bad.csv.reason.txt").read_text(encoding="utf-8")
    assert (inbox / "still.csv.part").exists()
    ids = _ids(ws)
    assert ids.is_unique and len(ids) == len(good) - n_bad + 10

    # the same bytes again under another name: moved to done/, nothing added
    _drop(good, inbox, "again.csv")
    run = _pingan("watch", "--workspace", str(ws.path), "--inbox", str(inbox), "--once")
    out, _ = run.communicate(timeout=120)
    assert "already ingested" in (done / "again.csv.reason.txt").read_text(encoding="utf-8")
    assert len(_ids(ws)) == len(ids)


def test_a_name_dropped_twice_gets_a_new_name_in_done(tmp_path, messy):
    inbox, ws = tmp_path / "inbox", Workspace(tmp_path / "w")
    inbox.mkdir()
    for seed in (23, 24):
        _drop(messy(seed, 5)[0], inbox, "weekly.csv")
        watch_inbox(ws, inbox, once=True, settle=0.5)
    names = sorted(p.name for p in (inbox / "done").iterdir() if not p.name.endswith(".reason.txt"))
    assert len(names) == 2 and names[-1] == "weekly.csv" and names[0].startswith("weekly.")
    assert all((inbox / "done" / f"{n}.reason.txt").exists() for n in names)


def test_ready_files_waits_for_the_settle_time(tmp_path):
    (tmp_path / "a.csv").write_text("x", encoding="utf-8")
    (tmp_path / ".hidden.csv").write_text("x", encoding="utf-8")
    (tmp_path / "b.csv.crdownload").write_text("x", encoding="utf-8")
    assert ready_files(tmp_path, settle=5.0) == ([], 1)
    assert ready_files(tmp_path, settle=5.0, now=time.time() + 6) == ([tmp_path / "a.csv"], 0)


def test_a_claimed_file_is_left_to_its_claimer(tmp_path, messy):
    inbox, ws = tmp_path / "inbox", Workspace(tmp_path / "w")
    inbox.mkdir()
    path = _drop(messy(25, 5)[0], inbox, "x.csv")
    with _claim(inbox, "x.csv") as mine:
        assert mine
        assert process_file(ws, path) is None  # another claimer (another open file) is refused
        assert path.exists() and not ws.incidents_path.exists()
    assert process_file(ws, path).status == "done"
    assert not (inbox / ".claims" / "x.csv.lock").exists()


@pytest.mark.slow
def test_two_watchers_on_one_inbox_ingest_each_file_once(tmp_path, messy):
    inbox, ws = tmp_path / "inbox", Workspace(tmp_path / "w")
    inbox.mkdir()
    frames = [messy(30 + k, 30, id_prefix=f"W{k}")[0] for k in range(5)]
    for k, f in enumerate(frames):
        _drop(f, inbox, f"f{k}.csv")
    runs = [_pingan("watch", "--workspace", str(ws.path), "--inbox", str(inbox), "--once") for _ in range(2)]
    outs = [r.communicate(timeout=180)[0] for r in runs]
    assert all(r.returncode == 0 for r in runs)
    handled = [line.split()[1].rstrip(":") for o in outs for line in o.splitlines() if line.startswith("done ")]
    assert sorted(handled) == sorted(f"f{k}.csv" for k in range(5))  # each exactly once, by one of them
    log = pd.read_parquet(ws.ingested_path)
    assert len(log) == 5 and log["sha256"].is_unique
    ids = _ids(ws)
    assert ids.is_unique and len(ids) == int(log["rows_used"].sum())
    assert sorted(p.name for p in (inbox / "done").glob("*.csv")) == sorted(f"f{k}.csv" for k in range(5))
    assert not list(inbox.glob("*.csv"))


@pytest.mark.slow
def test_interval_watcher_picks_up_a_drop_and_survives_kill_9(tmp_path, messy):
    inbox, ws = tmp_path / "inbox", Workspace(tmp_path / "w")
    inbox.mkdir()
    run = _pingan("watch", "--workspace", str(ws.path), "--inbox", str(inbox), "--interval", "1", "--settle", "0.3",
                  start_new_session=True)
    try:
        first, exp = messy(41, 40, id_prefix="K")
        _drop(first, inbox, "first.csv", age=0)
        deadline = time.time() + 90
        while not (inbox / "done" / "first.csv").exists() and time.time() < deadline:
            time.sleep(0.05)
        assert (inbox / "done" / "first.csv").exists(), "the watcher did not pick up the drop"
        n_first = len(_ids(ws))
        assert n_first == sum(1 for e in exp if not e)

        # a big file, killed while its claim is held (in the middle of its ingest)
        big = pd.concat([messy(50 + k, 400, id_prefix=f"B{k}")[0] for k in range(25)], ignore_index=True)
        _drop(big, inbox, "big.csv", age=0)
        claim = inbox / ".claims" / "big.csv.lock"
        deadline = time.time() + 60
        while not claim.exists() and not (inbox / "done" / "big.csv").exists() and time.time() < deadline:
            time.sleep(0.005)
        time.sleep(0.3)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=30)
    in_inbox, in_done = (inbox / "big.csv").exists(), (inbox / "done" / "big.csv").exists()
    assert in_inbox != in_done  # exactly one place, never lost, never in limbo
    if in_done:
        assert len(_ids(ws)) > n_first
    # a new watcher finishes the job; the file counts once
    again = _pingan("watch", "--workspace", str(ws.path), "--inbox", str(inbox), "--once")
    again.communicate(timeout=180)
    assert (inbox / "done" / "big.csv").exists() and not (inbox / "big.csv").exists()
    ids = _ids(ws)
    log = pd.read_parquet(ws.ingested_path)
    assert ids.is_unique and len(log) == 2 and len(ids) == int(log["rows_used"].sum())


def test_sigterm_ends_the_loop_after_the_current_file(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    run = _pingan("watch", "--workspace", str(tmp_path / "w"), "--inbox", str(inbox), "--interval", "60")
    deadline = time.time() + 60
    while not (inbox / "done").exists() and time.time() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=30)
    assert run.returncode == 0 and "pingan watch:" in out and "Traceback" not in err


def test_missing_inbox_is_exit_2(tmp_path, capsys):
    from app import main

    assert main(["watch", "--workspace", str(tmp_path / "w"), "--inbox", str(tmp_path / "nope"), "--once"]) == 2
    assert "--inbox" in capsys.readouterr().err


def test_stop_event_ends_an_in_process_watch(tmp_path):
    stop = threading.Event()
    t = threading.Thread(target=watch_inbox, args=(Workspace(tmp_path / "w"), tmp_path),
                         kwargs={"interval": 30, "stop": stop})
    t.start()
    time.sleep(0.2)
    stop.set()
    t.join(timeout=5)
    assert not t.is_alive()
