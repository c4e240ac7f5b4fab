"""Workspace, config round trip, taxonomy and the output writer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box

from data.io import write_table
from data.taxonomy import ALL, Taxonomy
from data.workspace import Config, Workspace, WorkspaceBusy, WorkspaceError, reset_generated

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["folder", "postgis"])
def where(request, tmp_path, monkeypatch) -> str | Path:
    """Where a fresh workspace lives: a folder, or a PostGIS schema on the real test server."""
    if request.param == "folder":
        return tmp_path / "w"
    monkeypatch.setenv("PINGAN_CACHE", str(tmp_path / "cache"))  # subprocesses inherit it
    return request.getfixturevalue("postgres_database") + "?schema=city"


def _folder(where) -> bool:
    return isinstance(where, Path)


def test_config_round_trip(where):
    cfg = Config(
        name="示范市", timezone="Asia/Shanghai", crs="EPSG:32648",
        taxonomy=Taxonomy({"两抢一盗": ("抢劫", "抢夺", "盗窃")}),
        thresholds={"red": 0.995, "min_count": 4}, attribution="测试数据", center=(106.6, 26.6),
    )
    ws = Workspace.create(where, cfg)
    back = Workspace(where).config
    assert back == cfg
    assert "示范市" in ws.read_path("config.toml").read_text(encoding="utf-8")


def test_update_config_keeps_other_fields(where):
    ws = Workspace.create(where, Config(name="甲市"))
    ws.update_config(crs="EPSG:32650")
    assert ws.config.name == "甲市" and Workspace(where).config.crs == "EPSG:32650"


def test_unknown_config_key_is_named(where):
    ws = Workspace.create(where)
    with ws.transaction() as tx:
        tx.write_text("config.toml", 'name = "x"\ncolour = "red"\n')
    with pytest.raises(WorkspaceError, match="colour"):
        _ = ws.config


def test_missing_workspace_names_the_file(where):
    ws = Workspace(where)
    with pytest.raises(WorkspaceError, match="incidents.parquet"):
        ws.incidents()
    with pytest.raises(WorkspaceError, match="no area layer 'grid'"):
        ws.areas("grid")


def test_layers_order_admin_first(where):
    ws = Workspace.create(where)
    g = gpd.GeoDataFrame({"area_id": ["a"]}, geometry=[box(0, 0, 1, 1)], crs=32648)
    with ws.transaction() as tx:
        for name in ["cell", "grid", "district", "community"]:
            tx.write_parquet(f"areas/{name}.parquet", g)
    assert ws.layers() == ["district", "community", "grid", "cell"]
    back = Workspace(where).areas("grid")
    assert back.crs.to_epsg() == 32648 and back.geometry.iloc[0].equals(box(0, 0, 1, 1))


def test_taxonomy_members_and_choices():
    t = Taxonomy({"两抢一盗": ("抢劫", "抢夺", "入室盗窃")})
    cats = ["入室盗窃", "诈骗", "抢劫"]
    assert t.members("两抢一盗", cats) == ("入室盗窃", "抢劫")
    assert t.members(ALL, cats) == tuple(cats)
    assert t.members("诈骗", cats) == ("诈骗",)
    assert t.choices(cats) == [ALL, "两抢一盗", *cats]
    with pytest.raises(ValueError, match="unknown category or group '杀人'"):
        t.members("杀人", cats)
    with pytest.raises(TypeError, match="must be a list"):
        Taxonomy({"盗窃": "入室盗窃"})
    with pytest.raises(ValueError, match="reserved"):
        Taxonomy({ALL: ("a",)})


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".geojson", ".gpkg"])
def test_write_table_by_extension(tmp_path, suffix):
    g = gpd.GeoDataFrame(
        {"area_id": ["网格1", "网格2"], "z": [1.5, -0.25]},
        geometry=[Point(500000, 2900000), Point(500100, 2900100)], crs=32648,
    )
    path = write_table(g, tmp_path / f"out{suffix}")
    if suffix == ".csv":
        back = pd.read_csv(path, encoding="utf-8-sig")
        assert list(back.columns) == ["area_id", "z"]
    else:
        back = gpd.read_parquet(path) if suffix == ".parquet" else gpd.read_file(path)
        # GeoJSON is always WGS84 (RFC 7946); the others keep the projected CRS
        assert back.crs.to_epsg() == (4326 if suffix == ".geojson" else 32648)
    assert back["area_id"].tolist() == ["网格1", "网格2"]
    assert back["z"].tolist() == [1.5, -0.25]


def test_write_table_refuses_unknown_extension_and_geometry_less_geojson(tmp_path):
    with pytest.raises(ValueError, match=r"unknown extension '\.xls'"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "x.xls")
    with pytest.raises(ValueError, match="needs geometry"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "x.geojson")


# -- transactions (data/transaction.py); crashes of real ingests: tests/data/test_transactions.py
def _table(n: int) -> pd.DataFrame:
    return pd.DataFrame({"incident_id": [f"J{i}" for i in range(n)], "x": range(n)})


def test_transaction_switches_every_file_and_bumps_the_version_once(where):
    ws = Workspace.create(where)
    v0 = ws.version
    with ws.transaction() as tx:
        tx.write_parquet("incidents.parquet", _table(3))
        tx.write_parquet("areas/grid.parquet", _table(2))
        ws.update_config(name="乙市")  # joins the open transaction
        ws.write_extra("cameras", _table(1))
        # this thread reads what it staged; the canonical files are untouched until the commit
        assert ws.config.name == "乙市" and ws.layers() == ["grid"] and ws.exists()
        assert not ws.incidents_path.exists() and Workspace(where).version == v0
    assert ws.version == v0 + 1
    assert len(pd.read_parquet(ws.require(ws.incidents_path))) == 3 and ws.config.name == "乙市"
    assert ws.layers() == ["grid"] and len(ws.extra("cameras")) == 1
    assert not ws.pending() and not any((ws.path / ".txn").iterdir())
    if _folder(where):
        assert len(pd.read_parquet(ws.incidents_path)) == 3


def test_transaction_failure_changes_nothing(where):
    ws = Workspace.create(where, Config(name="甲市"))
    v0 = ws.version
    with pytest.raises(RuntimeError, match="disk full"):
        with ws.transaction() as tx:
            tx.write_parquet("incidents.parquet", _table(3))
            ws.update_config(name="乙市")
            raise RuntimeError("disk full")
    assert ws.version == v0 and not ws.exists() and ws.config.name == "甲市"
    with ws.transaction():  # nothing written: not a new version
        pass
    assert ws.version == v0


def test_other_threads_see_only_committed_files(where):
    ws = Workspace.create(where)
    ws.write_extra("a", _table(1))
    seen = []
    with ws.transaction():
        ws.write_extra("a", _table(5))
        t = threading.Thread(target=lambda: seen.append(len(Workspace(where).extra("a"))))
        t.start()
        t.join()
        seen.append(len(ws.extra("a")))
    assert seen == [1, 5]


def test_write_lock_is_one_writer_across_threads(where):
    ws = Workspace.create(where)
    results = []

    def second():
        try:
            with Workspace(where).write_lock(timeout=0.1):
                results.append("got")
        except WorkspaceBusy as exc:
            results.append(str(exc))

    with ws.write_lock(), ws.write_lock():  # re-entrant in one thread
        t = threading.Thread(target=second)
        t.start()
        t.join()
    t = threading.Thread(target=second)
    t.start()
    t.join()
    assert "workspace busy" in results[0] and results[1] == "got"


_WRITE = """
import pandas as pd
from data.workspace import Workspace
def write(path, n):
    with Workspace(path).transaction() as tx:
        for name in ("incidents.parquet", "quarantine.parquet", "ingested.parquet", "areas/grid.parquet"):
            tx.write_parquet(name, pd.DataFrame({"n": range(n)}))
"""


@pytest.mark.parametrize(("crash", "rows"), [("staged", 1), ("committed", 2), ("switching", 2), ("switched", 2)])
def test_a_killed_writer_is_finished_or_discarded_by_the_next_reader(tmp_path, crash, rows):
    ws = Workspace.create(tmp_path)
    code: dict = {}
    exec(_WRITE, code)
    code["write"](tmp_path, 1)  # the old state, in-process
    v1 = ws.version
    script = _WRITE + "import sys; write(sys.argv[1], int(sys.argv[2]))"
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path), "2"], cwd=ROOT,
                          env={**os.environ, "PINGAN_CRASH_AT": crash})
    assert proc.returncode == -signal.SIGKILL
    assert ws.pending() == (crash != "staged")
    # a reader (no lock needed) rolls a committed transaction forward; an uncommitted one is old
    sizes = {len(ws.quarantine()), len(pd.read_parquet(ws.require(ws.ingested_path))),
             len(ws.incidents_frame(["n"])), len(pd.read_parquet(ws.require(ws.area_path("grid"))))}
    assert sizes == {rows}
    assert ws.version == v1 + rows - 1 and not ws.pending()
    with ws.write_lock():  # a writer discards what the dead one staged
        pass
    assert not any((tmp_path / ".txn").iterdir())
    with ws.write_lock():  # recovery again is a no-op
        pass
    assert ws.version == v1 + rows - 1


@pytest.mark.parametrize(("crash", "rows"), [("staged", 1), ("loading", 1), ("committed", 2)])
def test_a_killed_postgis_writer_leaves_the_old_or_the_new_version(tmp_path, monkeypatch, postgres_database,
                                                                   crash, rows):
    """One database transaction per commit: killed before its COMMIT, nothing of it is seen."""
    monkeypatch.setenv("PINGAN_CACHE", str(tmp_path / "cache"))
    url = postgres_database + "?schema=city"
    ws = Workspace.create(url)
    code: dict = {}
    exec(_WRITE, code)
    code["write"](url, 1)
    v1 = ws.version
    script = _WRITE + "import sys; write(sys.argv[1], int(sys.argv[2]))"
    proc = subprocess.run([sys.executable, "-c", script, url, "2"], cwd=ROOT,
                          env={**os.environ, "PINGAN_CRASH_AT": crash})
    assert proc.returncode == -signal.SIGKILL
    fresh = Workspace(url)
    sizes = {len(fresh.quarantine()), len(pd.read_parquet(fresh.require(fresh.ingested_path))),
             len(fresh.incidents_frame(["n"])), len(pd.read_parquet(fresh.require(fresh.area_path("grid"))))}
    assert sizes == {rows} and fresh.version == v1 + rows - 1 and not fresh.pending()
    with fresh.write_lock(timeout=5):  # the dead writer's advisory lock went with its connection
        pass
    assert not any((fresh.path / ".txn").iterdir())  # its staged files are discarded


def test_read_snapshot_retries_until_one_version(where):
    ws = Workspace.create(where)
    ws.write_extra("a", _table(1))
    calls = []

    def read(w):
        calls.append(w.version)
        if len(calls) == 1:  # a writer commits while the first read runs
            w.write_extra("a", _table(2))
        return len(w.extra("a"))

    assert ws.read_snapshot(read) == 2
    assert calls == [calls[0], calls[0] + 1]


def test_reset_generated_ignores_the_lock_and_removes_through_a_transaction(tmp_path):
    ws = Workspace.create(tmp_path / "demo", Config(extra={"demo": {}}))
    ws.write_extra("cameras", _table(2))
    v = ws.version
    reset_generated(tmp_path / "demo", owned=lambda cfg: "demo" in cfg.extra, what="demo")
    assert not ws.config_path.exists() and not ws.has_extra("cameras") and ws.version == v + 1
    other = tmp_path / "other"
    Workspace(other).write_extra("mine", _table(1))
    with pytest.raises(ValueError, match="not a demo workspace"):
        reset_generated(other, owned=lambda cfg: "demo" in cfg.extra, what="demo")
    fresh = tmp_path / "fresh"
    with Workspace(fresh).write_lock():  # only .lock in the folder: still empty
        pass
    reset_generated(fresh, owned=lambda cfg: False, what="demo")


def test_reporting_lag_setting(where):
    """``[periods] lag_days`` (default 1 day) survives config.toml and rejects nonsense."""
    assert Config().reporting_lag == pd.Timedelta(days=1)
    ws = Workspace.create(where, Config(periods={"lag_days": 2.5}))
    assert Workspace(where).config.reporting_lag == pd.Timedelta(hours=60)
    assert "[periods]" in ws.read_path("config.toml").read_text(encoding="utf-8")
    ws.update_config(periods={"lag_days": 0})
    assert Workspace(where).config.reporting_lag == pd.Timedelta(0)
    for bad in (-1, "soon", 400):
        with pytest.raises(WorkspaceError, match="lag_days"):
            _ = Config(periods={"lag_days": bad}).reporting_lag
