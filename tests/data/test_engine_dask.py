"""The Dask engine (data/engine_dask.py): assign + count on a real dask.distributed cluster.

A workspace with a 500 m grid in monthly parts receives a generated file (~10 % of its rows
lack a longitude, so they are quarantined) through ``pingan ingest --engine dask``: on a
LocalCluster (2 worker processes) and on a ``dask scheduler`` + 2 ``dask worker`` processes
started here on free loopback ports. Incidents, assignments, quarantine accounting and every
layer's counts must be identical to the local engine's.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.ingest import ingest_files
from data.pipeline import build_areas, counts
from data.workspace import Workspace

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
_CLI = "import sys; from app import main; sys.exit(main())"
_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _incident_csv(path: Path, n: int, seed: int, prefix: str) -> Path:
    rng = np.random.default_rng(seed)
    t = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 60 * 24 * 500, n), unit="min")
    frame = pd.DataFrame({
        "incident_id": [f"{prefix}{i:07d}" for i in range(n)],
        "occurred_at": t.strftime("%Y-%m-%d %H:%M"),
        "category": rng.choice(["入室盗窃", "扒窃", "抢劫", "诈骗"], n),
        "lon": rng.uniform(106.60, 106.80, n).round(6).astype(str),
        "lat": rng.uniform(26.50, 26.70, n).round(6).astype(str),
    })
    frame.loc[rng.random(n) < 0.1, "lon"] = ""
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("dask")
    base = root / "base"
    ws = Workspace.create(base)
    ingest_files([_incident_csv(root / "a.csv", 3_000, 1, "A")], ws)
    build_areas(ws, cell=500)
    ws.update_config(extra={**ws.config.extra, "partition_rows": 1_000})  # the next ingest: parts
    big = _incident_csv(root / "b.csv", 30_000, 2, "B")
    local = root / "local"
    shutil.copytree(base, local)
    proc = _ingest(local, big, "--engine", "local")
    assert proc.returncode == 0, proc.stderr
    return {"root": root, "base": base, "file": big, "local": _state(local)}


def _ingest(path: Path, file: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _CLI, "ingest", str(file), "--workspace", str(path), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, env=_ENV)


def _state(path: Path) -> dict:
    ws = Workspace(path)
    log = pd.read_parquet(ws.ingested_path)
    state = {
        "incidents": ws.incidents_frame(),
        "assignments": pd.read_parquet(ws.assignments_path).astype(str),
        "quarantine": ws.quarantine()[["source_file", "source_row", "reason"]],
        "accounting": log[["rows_in", "rows_used", "rows_quarantined"]].reset_index(drop=True),
    }
    for layer in ws.layers():
        state[f"counts:{layer}"] = counts(ws, layer).astype({"area_id": str, "category": str})
    return state


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        pd.testing.assert_frame_equal(a[k], b[k], obj=k)


def _check_accounting(state: dict) -> None:
    acc = state["accounting"]
    assert (acc["rows_in"] == acc["rows_used"] + acc["rows_quarantined"]).all()
    assert int(acc["rows_used"].sum()) == len(state["incidents"])
    assert int(acc["rows_quarantined"].sum()) == len(state["quarantine"]) > 2_000  # ~10 % of 33,000


def test_local_cluster_gives_the_local_engines_tables(setup):
    path = setup["root"] / "localcluster"
    shutil.copytree(setup["base"], path)
    proc = _ingest(path, setup["file"], "--engine", "dask")
    assert proc.returncode == 0, proc.stderr
    assert "dask: " in proc.stdout and "on 2 worker(s)" in proc.stdout, proc.stdout
    state = _state(path)
    _check_accounting(state)
    _assert_same(state, setup["local"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_scheduler_and_two_worker_processes_give_the_local_engines_tables(setup):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).with_name("dask"))
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              cwd=ROOT, env=_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(2):
            procs.append(subprocess.Popen(
                [dask, "worker", address, "--nthreads", "1", "--nworkers", "1", "--host", "127.0.0.1",
                 "--no-dashboard"], cwd=ROOT, env=_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        deadline = time.monotonic() + 60
        while True:  # the scheduler takes a moment to listen
            try:
                with Client(address, timeout="5s") as client:
                    client.wait_for_workers(2, timeout=60)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        path = setup["root"] / "remote"
        shutil.copytree(setup["base"], path)
        proc = _ingest(path, setup["file"], "--engine", "dask", "--scheduler", address)
        assert proc.returncode == 0, proc.stderr
        assert "on 2 worker(s)" in proc.stdout, proc.stdout
        state = _state(path)
        _check_accounting(state)
        _assert_same(state, setup["local"])
    finally:
        for p in procs[::-1]:
            p.kill()
            p.wait(timeout=30)


def test_bad_engine_arguments_exit_2_naming_the_argument(setup, tmp_path):
    path = tmp_path / "w"
    shutil.copytree(setup["base"], path)
    version = Workspace(path).version
    nobody = f"tcp://127.0.0.1:{_free_port()}"
    proc = _ingest(path, setup["file"], "--engine", "dask", "--scheduler", nobody)
    assert proc.returncode == 2 and "--scheduler" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    proc = _ingest(path, setup["file"], "--scheduler", nobody)
    assert proc.returncode == 2 and "--engine dask" in proc.stderr, proc.stderr
    assert Workspace(path).version == version  # nothing written
