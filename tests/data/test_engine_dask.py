"""The Dask engine (data/engine_dask.py, data/engine_dask_blocks.py) on a real dask.distributed cluster.

Assign + count: a workspace with a 500 m grid in monthly parts receives a generated file (~10 %
of its rows lack a longitude, so they are quarantined) through ``pingan ingest --engine dask``: on
a LocalCluster (2 worker processes) and on a ``dask scheduler`` + 2 ``dask worker`` processes
started here on free loopback ports. Incidents, assignments, quarantine accounting and every
layer's counts must be identical to the local engine's.

Read + validate: files with every fault the ingest tests plant (tests/data/conftest.py), blank
lines, duplicates across blocks, files and the workspace, a Parquet file of 7-row groups and a CSV
with a quoted line break (read on the client), ingested in ~1 kB blocks: incidents, the whole
quarantine and the ingest log must equal the local engine's, on both clusters.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
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


@pytest.fixture(scope="module")
def remote() -> Iterator[str]:
    """A ``dask scheduler`` and two ``dask worker`` processes on free loopback ports: the address."""
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
        yield address
    finally:
        for p in procs[::-1]:
            p.kill()
            p.wait(timeout=30)


def test_scheduler_and_two_worker_processes_give_the_local_engines_tables(setup, remote):
    path = setup["root"] / "remote"
    shutil.copytree(setup["base"], path)
    proc = _ingest(path, setup["file"], "--engine", "dask", "--scheduler", remote, "--blocksize", "200000")
    assert proc.returncode == 0, proc.stderr
    assert "on 2 worker(s)" in proc.stdout, proc.stdout
    state = _state(path)
    _check_accounting(state)
    _assert_same(state, setup["local"])


# -- read + validate on the workers: every kind of fault, many blocks -----------------------------
def _faulty_files(root: Path) -> tuple[Path, list[Path]]:
    """A workspace holding some ids, and input files with every fault the ingest tests plant,
    duplicates across blocks, files and the workspace, and blank lines between records."""
    from tests.data.conftest import make_messy

    a, _ = make_messy(51, 120)
    b, _ = make_messy(52, 60, id_prefix="PB")
    c, _ = make_messy(53, 15, id_prefix="QC")
    rng = np.random.default_rng(5)
    good_a = [i for i in range(len(a)) if a.iloc[i]["纬度"] not in (None, "abc", "95.5")]
    later = a.iloc[rng.choice(good_a[:40], 6, replace=False)].assign(地址="重复")  # a later block repeats ids
    a = pd.concat([a, later, b.iloc[:5]], ignore_index=True)  # b's first rows come earlier, in a
    ws = Workspace.create(root / "base")
    ingest_files([_write_csv(a.iloc[good_a[50:56]], root / "old.csv")], ws)  # these ids are in the workspace
    text = a.to_csv(index=False).splitlines()
    text[30:30] = ["", "\r"]  # blank lines are not records (the local reader skips them)
    text[90:90] = [""]
    fa = root / "a.csv"
    fa.write_bytes(("\n".join(text) + "\n").encode("gb18030"))
    fb = root / "b.parquet"
    plain = b.astype(str).where(b.notna())
    plain.attrs = {}
    plain.to_parquet(fb, row_group_size=7)
    fc = root / "c.csv"  # a quoted line break in a value: read on the client
    c.loc[3, "地址"] = "云岩区\n中华北路"
    _write_csv(c, fc)
    return root / "base", [fa, fb, fc]


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False, encoding="utf-8")
    return path


def _ingested(path: Path, files: list[Path], engine_args: dict) -> tuple[dict, object]:
    from data.engine_dask import engine

    ws = Workspace(path)
    with engine(**engine_args):
        report = ingest_files(files, ws)
    log = pd.read_parquet(ws.ingested_path).drop(columns=["ingested_at"])
    return {"incidents": ws.incidents_frame(), "quarantine": ws.quarantine(), "log": log}, report


@pytest.fixture(scope="module")
def faulty(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("faulty")
    base, files = _faulty_files(root)
    local = root / "local"
    shutil.copytree(base, local)
    state, report = _ingested(local, files, {"name": "local"})
    return {"root": root, "base": base, "files": files, "local": state, "report": report}


def _check_same_as_local(faulty: dict, state: dict, report) -> None:
    _assert_same(state, faulty["local"])
    q = state["quarantine"]
    assert set(q["reason"]) >= {"unparseable_time", "future_time", "empty_category", "missing_coordinates",
                                "zero_coordinates", "swapped_lat_lon", "outside_study_area", "duplicate_id"}
    params = q["reason_params"].str.extract(r'"key":"(duplicate_in_\w+)"')[0].dropna()
    assert set(params) == {"duplicate_in_file", "duplicate_in_workspace", "duplicate_in_input"}, params
    log = state["log"]
    assert (log["rows_in"] == log["rows_used"] + log["rows_quarantined"]).all()
    mine = log["name"].isin([p.name for p in faulty["files"]])
    assert int(log.loc[mine, "rows_in"].sum()) == report.rows_in == faulty["report"].rows_in
    assert report.by_reason == faulty["report"].by_reason
    assert any("c.csv: read and validated on the client" in n for n in report.notes), report.notes
    assert any(n.startswith("a.csv: read and validated on the Dask cluster (") and "2 worker(s)" in n
               for n in report.notes), report.notes


def test_workers_validate_blocks_as_the_local_engine_does_on_a_local_cluster(faulty, monkeypatch):
    import data.engine_dask_blocks as blocks
    import data.ingest

    on_client = []
    real = data.ingest._validate

    def spy(src, path, **kw):
        on_client.append(path.name)
        return real(src, path, **kw)

    monkeypatch.setattr(data.ingest, "_validate", spy)
    path = faulty["root"] / "lc"
    shutil.copytree(faulty["base"], path)
    state, report = _ingested(path, faulty["files"], {"name": "dask", "blocksize": 1024})
    _check_same_as_local(faulty, state, report)
    assert set(on_client) == {"c.csv"}  # a.csv and b.parquet were validated on the workers
    plan, _ = blocks._plan_blocks(faulty["files"][0], "auto", 1024)
    assert len(plan["blocks"]) >= 8  # many blocks: a ~20 kB file in ~1 kB ranges


def test_workers_validate_blocks_as_the_local_engine_does_with_a_separate_scheduler(faulty, remote):
    path = faulty["root"] / "remote"
    shutil.copytree(faulty["base"], path)
    state, report = _ingested(path, faulty["files"], {"name": "dask", "scheduler": remote, "blocksize": 1024})
    _check_same_as_local(faulty, state, report)


def test_bad_engine_arguments_exit_2_naming_the_argument(setup, tmp_path):
    path = tmp_path / "w"
    shutil.copytree(setup["base"], path)
    version = Workspace(path).version
    nobody = f"tcp://127.0.0.1:{_free_port()}"
    proc = _ingest(path, setup["file"], "--engine", "dask", "--scheduler", nobody)
    assert proc.returncode == 2 and "--scheduler" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    proc = _ingest(path, setup["file"], "--scheduler", nobody)
    assert proc.returncode == 2 and "--engine dask" in proc.stderr, proc.stderr
    proc = _ingest(path, setup["file"], "--blocksize", "65536")
    assert proc.returncode == 2 and "--blocksize: needs --engine dask" in proc.stderr, proc.stderr
    assert Workspace(path).version == version  # nothing written


def test_a_file_without_a_category_column_is_one_message_not_a_failed_task(tmp_path):
    path = tmp_path / "nocat.csv"
    path.write_text("incident_id,occurred_at,lon,lat\nA1,2024-01-01 10:00,106.7,26.6\n", encoding="utf-8")
    proc = _ingest(tmp_path / "w", path, "--engine", "dask", "--blocksize", "1024")
    assert proc.returncode == 2 and "no category column found" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "Compute Failed" not in proc.stderr, proc.stderr


def _store_state(ws: Workspace) -> dict:
    """The tables of ``_state`` read through the workspace, so a PostGIS store reads the same."""
    state = {
        "incidents": ws.incidents_frame().sort_values("incident_id", ignore_index=True),
        "assignments": pd.read_parquet(ws.read_path("assignments.parquet")).astype(str)
        .sort_values("incident_id", ignore_index=True),
        "quarantine": ws.quarantine()[["source_file", "source_row", "reason"]]
        .sort_values(["source_file", "source_row"], ignore_index=True),
    }
    for layer in ws.layers():
        state[f"counts:{layer}"] = counts(ws, layer).astype({"area_id": str, "category": str})
    return state


def test_the_dask_engine_ingests_into_a_postgis_workspace_as_the_local_engine_does(setup, postgres_database,
                                                                                   monkeypatch, tmp_path):
    """``--workspace postgresql://…`` with ``--engine dask``: the cluster reads, validates, assigns
    and counts; the store then holds what the local engine made in a folder."""
    from data.workspace_copy import copy_workspace

    monkeypatch.setenv("PINGAN_CACHE", str(tmp_path / "pgcache"))
    url = f"{postgres_database}?schema=daskcity"
    copy_workspace(setup["base"], url)
    proc = subprocess.run([sys.executable, "-c", _CLI, "ingest", str(setup["file"]), "--workspace", url,
                           "--engine", "dask", "--blocksize", "200000"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={**_ENV, "PINGAN_CACHE": str(tmp_path / "pgcache-cli")})
    assert proc.returncode == 0, proc.stderr
    # read + validated on the cluster; assign + count of the new rows only (the store's weekly append)
    assert "b.csv: read and validated on the Dask cluster (" in proc.stdout, proc.stdout
    assert "the history was not recounted" in proc.stdout
    stored = _store_state(Workspace(url))
    local = _store_state(Workspace(setup["root"] / "local"))
    assert stored.keys() == local.keys()
    for key in local:
        pd.testing.assert_frame_equal(stored[key], local[key], obj=key, check_dtype=False)
