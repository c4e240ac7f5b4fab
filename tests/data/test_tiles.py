"""data/tiles.py: reading MBTiles (TMS rows) and PMTiles, checking tile files and the
``[basemap]`` settings, and ``pingan basemap``'s errors (a real subprocess)."""

from __future__ import annotations

import io
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from data.config import Config, WorkspaceError, check_basemap
from data.tiles import (
    basemap_of,
    read_tile,
    set_basemap,
    tile_media_type,
    tileset_info,
    write_tileset,
)
from data.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]


def _png(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), color).save(buf, format="PNG")
    return buf.getvalue()


#: Four tiles, each its own colour: two zooms, and at zoom 2 two tiles of one column, north and south.
TILES = {(1, 1, 0): _png((200, 0, 0)), (2, 3, 1): _png((0, 200, 0)), (2, 3, 2): _png((0, 0, 200)),
         (2, 0, 3): _png((200, 200, 0))}


def _color(data: bytes) -> tuple[int, int, int]:
    return Image.open(io.BytesIO(data)).convert("RGB").getpixel((128, 128))


@pytest.mark.parametrize("suffix", [".mbtiles", ".pmtiles"])
def test_each_tile_reads_back_as_written(tmp_path, suffix):
    path = write_tileset(tmp_path / f"city{suffix}", TILES)
    for (z, x, y), data in TILES.items():
        assert read_tile(path, z, x, y) == data
    info = tileset_info(path)
    assert (info.kind, info.tile_format, info.minzoom, info.maxzoom, info.tiles) == (suffix[1:], "png", 1, 2, 4)


def test_mbtiles_rows_are_counted_from_the_south(tmp_path):
    path = write_tileset(tmp_path / "city.mbtiles", TILES)
    con = sqlite3.connect(path)
    rows = dict(((z, x, r), bytes(d)) for z, x, r, d in con.execute("SELECT * FROM tiles"))
    con.close()
    # XYZ (2, 3, 1) is the TMS row 2**2 - 1 - 1 = 2; the file's row 1 is XYZ row 2 (the blue one)
    assert rows[(2, 3, 2)] == TILES[(2, 3, 1)]
    assert _color(read_tile(path, 2, 3, 1)) == (0, 200, 0)
    assert _color(read_tile(path, 2, 3, 2)) == (0, 0, 200)
    # a file written by another tool, by hand in TMS rows: zoom 3, XYZ row 0 = TMS row 7
    con = sqlite3.connect(path)
    con.execute("INSERT INTO tiles VALUES (3, 5, 7, ?)", (sqlite3.Binary(_png((9, 9, 9))),))
    con.commit()
    con.close()
    assert _color(read_tile(path, 3, 5, 0)) == (9, 9, 9)
    assert read_tile(path, 3, 5, 7) is None


@pytest.mark.parametrize("suffix", [".mbtiles", ".pmtiles"])
@pytest.mark.parametrize("zxy", [(2, 1, 1), (0, 0, 0), (5, 3, 3), (2, 4, 0), (2, 0, -1), (30, 0, 0)])
def test_a_missing_or_impossible_tile_is_none(tmp_path, suffix, zxy):
    path = write_tileset(tmp_path / f"city{suffix}", TILES)
    assert read_tile(path, *zxy) is None


def test_media_types():
    assert tile_media_type(TILES[(1, 1, 0)]) == "image/png"
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="JPEG")
    assert tile_media_type(buf.getvalue()) == "image/jpeg"
    assert tile_media_type(b"\x1a\x45\xdf\xa3") == "application/octet-stream"


def test_files_that_are_not_raster_tile_sets_are_refused(tmp_path):
    (tmp_path / "junk.mbtiles").write_bytes(b"not a database at all, just text" * 40)
    (tmp_path / "junk.pmtiles").write_bytes(b"PMTiles\x02" + b"\0" * 200)
    (tmp_path / "city.png").write_bytes(TILES[(1, 1, 0)])
    vector = tmp_path / "vector.mbtiles"
    write_tileset(vector, TILES)
    con = sqlite3.connect(vector)
    con.execute("UPDATE tiles SET tile_data = ?", (b"\x1f\x8b\x08\x00 gzip'd protobuf",))
    con.commit()
    con.close()
    for name, words in (("junk.mbtiles", "not a readable MBTiles"), ("junk.pmtiles", "not a readable PMTiles"),
                        ("city.png", ".mbtiles or .pmtiles"), ("vector.mbtiles", "not PNG or JPEG"),
                        ("absent.pmtiles", "no such file")):
        with pytest.raises(ValueError, match=words) as err:
            tileset_info(tmp_path / name)
        assert name in str(err.value)


@pytest.mark.parametrize("table,key", [
    ({}, "exactly one of url"),
    ({"url": "http://a/{z}/{x}/{y}.png", "file": "a.mbtiles"}, "exactly one of url"),
    ({"url": "http://a/{z}/{x}.png"}, r"needs \{y\}"),
    ({"url": "ftp://a/{z}/{x}/{y}.png"}, "not an http"),
    ({"file": "city.tif"}, "file = 'city.tif'"),
    ({"file": "a.mbtiles", "opacity": 1.5}, "opacity = 1.5"),
    ({"file": "a.mbtiles", "maxzoom": 30}, "maxzoom = 30"),
    ({"file": "a.mbtiles", "minzoom": 12, "maxzoom": 10}, "minzoom = 12 is above maxzoom = 10"),
    ({"file": "a.mbtiles", "colour": "red"}, "unknown key.*colour"),
])
def test_config_names_the_bad_basemap_key(table, key):
    with pytest.raises(WorkspaceError, match=key) as err:
        Config.from_dict({"basemap": table} if table else {"basemap": {"opacity": 1}})
    assert "[basemap]" in str(err.value)


def test_config_round_trips_a_basemap():
    cfg = Config.from_dict({"basemap": {"url": "http://10.1.2.3/wmts?TILEMATRIX={z}&TILEROW={y}&TILECOL={x}",
                                        "attribution": "天地图", "opacity": 0.6, "minzoom": 8, "maxzoom": 17}})
    assert Config.from_dict(cfg.to_dict()).basemap == cfg.basemap
    assert check_basemap(cfg.basemap)["opacity"] == 0.6
    assert "basemap" not in Config().to_dict()


@pytest.fixture()
def workspace(tmp_path):
    """A workspace folder with an incidents file (what ``Workspace.exists`` asks for)."""
    ws = Workspace.create(tmp_path / "ws")
    (ws.path / "incidents.parquet").write_bytes(b"")
    return ws


@pytest.mark.parametrize("suffix", [".mbtiles", ".pmtiles"])
def test_set_basemap_copies_the_file_and_writes_the_config(tmp_path, workspace, suffix):
    src = write_tileset(tmp_path / f"city{suffix}", TILES)
    before = workspace.version
    line = set_basemap(workspace, file=src, attribution="市测绘院")
    assert f"basemap/city{suffix}" in line and "4 png tiles" in line
    assert workspace.version == before + 1
    bm = basemap_of(workspace)
    assert bm.file == workspace.path / "basemap" / f"city{suffix}" and bm.file.read_bytes() == src.read_bytes()
    assert (bm.attribution, bm.minzoom, bm.maxzoom, bm.url) == ("市测绘院", 1, 2, None)
    set_basemap(workspace, url="http://10.1.2.3/tiles/{z}/{x}/{y}.png")
    assert basemap_of(workspace).url == "http://10.1.2.3/tiles/{z}/{x}/{y}.png"
    assert basemap_of(workspace).attribution == "市测绘院"  # kept from before
    set_basemap(workspace, none=True)
    assert basemap_of(workspace) is None


def test_a_configured_file_that_went_missing_is_named(workspace):
    workspace.update_config(basemap={"file": "basemap/gone.pmtiles"})
    with pytest.raises(WorkspaceError, match="gone.pmtiles"):
        basemap_of(workspace)


def _pingan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import sys, app; sys.exit(app.main())", "basemap", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # six real `pingan basemap` processes (~1.5 s of imports each)
def test_cli_sets_the_basemap_and_refuses_bad_input_in_one_line(tmp_path, workspace):
    src = write_tileset(tmp_path / "city.pmtiles", TILES)
    (tmp_path / "junk.mbtiles").write_bytes(b"x" * 300)
    ok = _pingan("--workspace", str(workspace.path), "--file", str(src), "--attribution", "测绘院")
    assert ok.returncode == 0, ok.stderr
    assert "basemap/city.pmtiles" in ok.stdout and basemap_of(workspace).attribution == "测绘院"
    for args, words in (
        (("--file", str(tmp_path / "junk.mbtiles")), "junk.mbtiles: not a readable MBTiles"),
        (("--file", str(tmp_path / "none.pmtiles")), "none.pmtiles: no such file"),
        (("--url", "http://10.1.2.3/tiles/{z}/{x}.png"), "--url 'http://10.1.2.3/tiles/{z}/{x}.png': a tile template"),
        (("--url", "10.1.2.3/tiles/{z}/{x}/{y}.png"), "not an http(s) address"),
    ):
        bad = _pingan("--workspace", str(workspace.path), *args)
        assert bad.returncode == 2, (args, bad.stderr)
        lines = bad.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], bad.stderr
    assert basemap_of(workspace).file.name == "city.pmtiles"  # a refused change changed nothing
    missing = _pingan("--workspace", str(tmp_path / "nowhere"), "--none")
    assert missing.returncode == 2 and "nowhere" in missing.stderr
    both = _pingan("--workspace", str(workspace.path), "--none", "--url", "http://a/{z}/{x}/{y}")
    assert both.returncode == 2


def test_a_replaced_pmtiles_file_is_read_anew(tmp_path):
    # the directories are cached per file version: a new file at the same path must not be read
    # through the old one's directory
    path = write_tileset(tmp_path / "city.pmtiles", TILES)
    assert _color(read_tile(path, 2, 3, 1)) == (0, 200, 0)
    write_tileset(path, {(2, 3, 1): _png((1, 2, 3)), (5, 7, 7): _png((4, 5, 6))})
    assert _color(read_tile(path, 2, 3, 1)) == (1, 2, 3) and _color(read_tile(path, 5, 7, 7)) == (4, 5, 6)
    assert read_tile(path, 1, 1, 0) is None
