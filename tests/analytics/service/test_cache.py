"""The one cache: keyed by workspace version, bounded, one computation per key under threads."""

from __future__ import annotations

import threading
import time

from analytics.service.cache import VersionCache
from data.workspace import Workspace


def test_a_write_is_seen_by_the_next_read(tmp_path):
    ws = Workspace.create(tmp_path / "w")
    cache = VersionCache(size=8)
    calls = []

    def work():
        calls.append(ws.version)
        return len(calls)

    assert cache.get(ws, "n", (), work) == 1
    assert cache.get(ws, "n", (), work) == 1  # same version: served from memory
    with ws.write_lock():
        ws.bump_version()
    assert cache.get(ws, "n", (), work) == 2  # a writer bumped the version: recomputed
    assert len(calls) == 2 and calls[1] == calls[0] + 1


def test_bounded_lru(tmp_path):
    ws = Workspace.create(tmp_path / "w")
    cache = VersionCache(size=3)
    for i in range(5):
        cache.get(ws, "k", (i,), lambda i=i: i)
    assert len(cache._data) == 3
    assert cache.get(ws, "k", (4,), lambda: -1) == 4 and cache.get(ws, "k", (0,), lambda: -1) == -1


def test_one_computation_per_key_under_threads(tmp_path):
    ws = Workspace.create(tmp_path / "w")
    cache = VersionCache()
    started = []

    def slow():
        started.append(1)
        time.sleep(0.2)
        return "board"

    out = []
    threads = [threading.Thread(target=lambda: out.append(cache.get(ws, "slow", (), slow))) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert out == ["board"] * 8
    assert len(started) == 1  # seven requests waited for the first instead of recomputing


def test_a_result_computed_across_a_write_is_not_kept(tmp_path):
    ws = Workspace.create(tmp_path / "w")
    cache = VersionCache()
    calls = []

    def racing():
        calls.append(1)
        if len(calls) == 1:  # a writer commits while the first reader is still reading
            with ws.write_lock():
                ws.bump_version()
        return len(calls)

    first = cache.get(ws, "r", (), racing)
    assert first >= 2  # the result read across the write was thrown away and read again
    assert cache.get(ws, "r", (), racing) == first and len(calls) == first  # then kept


def test_a_failed_computation_releases_the_key(tmp_path):
    ws = Workspace.create(tmp_path / "w")
    cache = VersionCache()

    def boom():
        raise ValueError("bad input")

    for _ in range(2):
        try:
            cache.get(ws, "b", (), boom)
        except ValueError:
            pass
        else:  # pragma: no cover
            raise AssertionError("expected ValueError")
    assert cache.get(ws, "b", (), lambda: "ok") == "ok"


def test_a_read_during_a_switch_is_done_again(tmp_path, monkeypatch):
    ws = Workspace.create(tmp_path / "w")
    cache = VersionCache()
    state = {"switching": False}

    def pending(self):  # seen once while a commit is being switched in, then the switch is done
        now, state["switching"] = state["switching"], False
        return now

    monkeypatch.setattr(type(ws), "pending", pending)
    calls = []

    def read():
        calls.append(1)
        state["switching"] = len(calls) == 1  # a commit starts switching files during the first read
        return len(calls)

    assert cache.get(ws, "p", (), read) == 2  # the first (possibly mixed) read was thrown away
    assert cache.get(ws, "p", (), read) == 2 and len(calls) == 2


def test_a_forked_child_does_not_wait_on_a_computation_of_a_thread_it_did_not_inherit(tmp_path):
    """A background job's worker is forked from a threaded server: a key another server thread
    was computing at the fork must be computed afresh in the child, not waited for forever."""
    import os

    from analytics.service import cache as module

    ws = Workspace.create(tmp_path / "w")
    module.CACHE.get(ws, "done", (), lambda: "kept")  # a finished result crosses the fork
    started, release = threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(30)
        return "parent"

    t = threading.Thread(target=lambda: module.CACHE.get(ws, "slow", (), slow))
    t.start()
    started.wait(10)
    pid = os.fork()
    if pid == 0:  # the child: at most 10 s, then the alarm kills it
        import signal

        signal.alarm(10)
        ok = (module.CACHE.get(ws, "slow", (), lambda: "child") == "child"
              and module.CACHE.get(ws, "done", (), lambda: "recomputed") == "kept")
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    release.set()
    t.join(10)
    module.CACHE.clear()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
