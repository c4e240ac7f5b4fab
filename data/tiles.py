"""The offline base map: a workspace's ``[basemap]`` settings and its local raster tile files.

A base map is either an XYZ/WMTS URL template of an intranet tile server (天地图 / PGIS style,
``http://10.1.2.3/tiles/{z}/{x}/{y}.png``) that the browser asks directly, or a local
**MBTiles** (SQLite, rows counted from the south: TMS) or **PMTiles** (one archive, read with the
``pmtiles`` package) file inside the workspace that the app serves itself at
``/tiles/<z>/<x>/<y>.png``. Without a ``[basemap]`` table nothing changes: the maps stay
plain outlines and no request leaves the machine.

Tiles here are addressed as XYZ (row 0 in the north, as Web Mercator tile servers and MapLibre
count); the MBTiles row flip happens in this module only.
"""

from __future__ import annotations

import functools
import gzip
import shutil
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data.config import WorkspaceError, check_basemap

__all__ = [
    "Basemap", "TilesetInfo", "basemap_of", "read_tile", "tileset_info", "check_url",
    "set_basemap", "tile_media_type", "tile_path", "write_tileset",
]

#: Zoom levels a tile may ask for (Web Mercator tile servers stop at about 22).
MAX_ZOOM = 24
_SUFFIXES = (".mbtiles", ".pmtiles")
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"


@dataclass(frozen=True)
class Basemap:
    """A workspace's base map, from ``config.toml`` ``[basemap]``.

    Attributes
    ----------
    url : str or None
        Tile URL template with ``{z}``, ``{x}``, ``{y}`` (an intranet server).
    file : Path or None
        The local MBTiles / PMTiles file (absolute), served by the app.
    attribution : str
        Shown on the map (the tiles' source and licence).
    opacity : float
        Of the tiles under the coloured areas, 0–1 (default 1).
    minzoom, maxzoom : int
        Zoom range the tiles exist for (the map zooms further by scaling the last ones).
    """

    url: str | None = None
    file: Path | None = None
    attribution: str = ""
    opacity: float = 1.0
    minzoom: int = 0
    maxzoom: int = 18

    def tiles(self, origin: str = "") -> str:
        """The tile URL template the browser asks: the server's, or the app's own route.

        ``origin`` (e.g. ``http://127.0.0.1:8050``) makes the app's route absolute: MapLibre
        fetches tiles from a web worker, where a relative URL has no page to resolve against.
        """
        return self.url if self.url else f"{origin.rstrip('/')}/tiles/{{z}}/{{x}}/{{y}}.png"


@dataclass(frozen=True)
class TilesetInfo:
    """What :func:`tileset_info` found in a tile file."""

    kind: str          # "mbtiles" or "pmtiles"
    tile_format: str   # "png" or "jpeg"
    minzoom: int
    maxzoom: int
    tiles: int         # tiles stored (addressed)


def basemap_of(ws: Any) -> Basemap | None:
    """The base map of workspace ``ws`` (its ``[basemap]`` table), or None when it has none.

    Raises
    ------
    WorkspaceError
        A ``[basemap]`` value is unusable (names the key), or the file it names is missing.
    """
    raw = ws.config.basemap
    if not raw:
        return None
    settings = check_basemap(raw)
    file = None
    if settings.get("file"):
        file = tile_path(ws.path, settings["file"])
        if not file.is_file():
            raise WorkspaceError(f"config.toml: [basemap] file = {settings['file']!r}: no such file in {ws.path}")
    return Basemap(url=settings.get("url"), file=file, attribution=str(settings.get("attribution", "")),
                   opacity=float(settings.get("opacity", 1.0)), minzoom=int(settings.get("minzoom", 0)),
                   maxzoom=int(settings.get("maxzoom", 18)))


def tile_path(root: str | Path, name: str | Path) -> Path:
    """``name`` (relative to the workspace folder ``root``, or absolute) as an absolute path."""
    path = Path(name)
    return path if path.is_absolute() else Path(root) / path


def read_tile(path: str | Path, z: int, x: int, y: int) -> bytes | None:
    """The image bytes of tile ``z/x/y`` (XYZ, row 0 in the north) of an MBTiles/PMTiles file.

    Returns None for a tile the file does not hold, or one outside the zoom's ``2^z × 2^z``
    grid — never an error, so a map panned off the tile set shows its background.

    Examples
    --------
    MBTiles counts rows from the south: XYZ row ``y`` is stored as ``2^z - 1 - y``.
    """
    z, x, y = int(z), int(x), int(y)
    if not (0 <= z <= MAX_ZOOM and 0 <= x < 2 ** z and 0 <= y < 2 ** z):
        return None
    path = Path(path)
    if path.suffix.lower() == ".mbtiles":
        with _mbtiles(path) as con:
            row = con.execute("SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                              (z, x, 2 ** z - 1 - y)).fetchone()
        return bytes(row[0]) if row and row[0] else None
    if path.suffix.lower() == ".pmtiles":
        return _pmtiles_tile(path, z, x, y)
    raise ValueError(f"{path}: a base map file must be .mbtiles or .pmtiles")


def tile_media_type(data: bytes) -> str:
    """``image/png`` or ``image/jpeg`` from the tile's first bytes (``application/octet-stream``
    for anything else)."""
    if data.startswith(_PNG):
        return "image/png"
    if data.startswith(_JPEG):
        return "image/jpeg"
    return "application/octet-stream"


def tileset_info(path: str | Path) -> TilesetInfo:
    """Check that ``path`` is a readable MBTiles or PMTiles file of PNG or JPEG tiles.

    Raises
    ------
    ValueError
        Naming the file: wrong suffix, not SQLite / not PMTiles v3, no tiles, or tiles that are
        neither PNG nor JPEG (vector tiles, WebP …).
    """
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if f".{kind}" not in _SUFFIXES:
        raise ValueError(f"{path}: a base map file must be .mbtiles or .pmtiles (got {path.suffix or 'no suffix'!r})")
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if kind == "mbtiles":
        try:
            with _mbtiles(path) as con:
                n, zmin, zmax = con.execute("SELECT count(*), min(zoom_level), max(zoom_level) FROM tiles").fetchone()
                first = con.execute("SELECT tile_data FROM tiles LIMIT 1").fetchone()
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{path}: not a readable MBTiles file ({exc})") from None
        sample = bytes(first[0]) if first and first[0] else b""
    else:
        from pmtiles.tile import Compression, MagicNumberNotFound, SpecVersionUnsupported, TileType

        try:
            with _pmtiles(path) as reader:
                header = reader.header()
                n, zmin, zmax = header["addressed_tiles_count"], header["min_zoom"], header["max_zoom"]
                declared = header["tile_type"]
                sample = b""
                if n:
                    z = int(zmin)
                    sample = next((d for d in _first_tiles(reader, z)), b"")
                    if sample and header["tile_compression"] == Compression.GZIP:
                        sample = gzip.decompress(sample)
        except (MagicNumberNotFound, SpecVersionUnsupported, ValueError, OSError) as exc:
            raise ValueError(f"{path}: not a readable PMTiles v3 file ({type(exc).__name__})") from None
        if declared not in (TileType.PNG, TileType.JPEG):
            raise ValueError(f"{path}: PMTiles of {declared.name} tiles; the base map needs PNG or JPEG raster tiles")
    if not n:
        raise ValueError(f"{path}: holds no tiles")
    media = tile_media_type(sample)
    if media == "application/octet-stream":
        raise ValueError(f"{path}: its tiles are not PNG or JPEG images (vector or WebP tiles cannot be a base map)")
    return TilesetInfo(kind=kind, tile_format=media.split("/")[1], minzoom=int(zmin), maxzoom=int(zmax), tiles=int(n))


def check_url(url: str) -> str:
    """``url`` if it is an http(s) tile template with ``{z}``, ``{x}`` and ``{y}``, else a
    ValueError naming ``--url``."""
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError(f"--url {url!r}: not an http(s) address of a tile server")
    missing = [k for k in ("{z}", "{x}", "{y}") if k not in url]
    if missing:
        raise ValueError(f"--url {url!r}: a tile template needs {{z}}, {{x}} and {{y}} (missing {' '.join(missing)})")
    return url


def set_basemap(ws: Any, *, file: str | Path | None = None, url: str | None = None, none: bool = False,
                attribution: str | None = None) -> str:
    """Set (or remove) the base map of workspace ``ws`` — what ``pingan basemap`` does.

    A ``file`` is checked (:func:`tileset_info`) and copied into ``W/basemap/``; a ``url`` must be a
    tile template. Both are written to ``config.toml`` ``[basemap]`` in one transaction.

    Returns
    -------
    str
        One line saying what the board will show.
    """
    if sum(v is not None and v is not False for v in (file, url, none or None)) != 1:
        raise ValueError("pingan basemap: give exactly one of --file, --url, --none")
    if not ws.exists():
        raise ValueError(f"--workspace {ws.path}: no workspace there")
    if none:
        ws.update_config(basemap={})
        return f"{ws.path}: no base map (the maps show outlines only)"
    old = dict(ws.config.basemap or {})
    # the look is kept; a zoom range belongs to the tiles it was set for (a server's stays with a server)
    keep = {k: old[k] for k in ("opacity", "attribution") if k in old}
    if url is not None and "url" in old:
        keep.update({k: old[k] for k in ("minzoom", "maxzoom") if k in old})
    if attribution is not None:
        keep["attribution"] = attribution
    if url is not None:
        check_url(url)
        settings = check_basemap({**keep, "url": url})
        ws.update_config(basemap=settings)
        return f"{ws.path}: base map from {settings['url']}"
    info = tileset_info(file)
    name = f"basemap/{Path(file).name}"
    settings = check_basemap({**keep, "file": name, "minzoom": info.minzoom, "maxzoom": info.maxzoom})
    with ws.transaction() as tx:
        target = tx.path(name)
        shutil.copyfile(file, target)
        tileset_info(target)  # the copy reads as well as the original
        ws.update_config(basemap=settings)
    return (f"{ws.path}: base map {name} ({info.kind}, {info.tiles} {info.tile_format} tiles, "
            f"zoom {info.minzoom}–{info.maxzoom})")


def write_tileset(path: str | Path, tiles: Mapping[tuple[int, int, int], bytes], *, name: str = "basemap",
                  attribution: str = "") -> Path:
    """Write raster ``tiles`` ({(z, x, y) XYZ: PNG/JPEG bytes}) as an MBTiles or PMTiles file
    (by ``path``'s suffix) — e.g. a folder of XYZ tiles from an intranet server, made portable.

    Returns
    -------
    Path
        ``path``. MBTiles rows are stored TMS-flipped (``2^z - 1 - y``), as the format says.
    """
    path = Path(path)
    if not tiles:
        raise ValueError(f"{path}: no tiles to write")
    fmt = tile_media_type(next(iter(tiles.values()))).split("/")[-1]
    if fmt not in ("png", "jpeg"):
        raise ValueError(f"{path}: tiles must be PNG or JPEG images")
    zooms = sorted({z for z, _, _ in tiles})
    if path.suffix.lower() == ".mbtiles":
        path.unlink(missing_ok=True)
        con = sqlite3.connect(path)
        try:
            con.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
            con.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)")
            con.execute("CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row)")
            meta = {"name": name, "format": "jpg" if fmt == "jpeg" else "png", "type": "baselayer",
                    "minzoom": str(zooms[0]), "maxzoom": str(zooms[-1]), "attribution": attribution}
            con.executemany("INSERT INTO metadata VALUES (?, ?)", list(meta.items()))
            con.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)",
                            [(z, x, 2 ** z - 1 - y, sqlite3.Binary(d)) for (z, x, y), d in tiles.items()])
            con.commit()
        finally:
            con.close()
        return path
    if path.suffix.lower() == ".pmtiles":
        from pmtiles.tile import Compression, TileType, zxy_to_tileid
        from pmtiles.writer import write

        with write(str(path)) as writer:
            for tile_id, data in sorted((zxy_to_tileid(z, x, y), d) for (z, x, y), d in tiles.items()):
                writer.write_tile(tile_id, data)
            writer.finalize({"tile_type": TileType.PNG if fmt == "png" else TileType.JPEG,
                             "tile_compression": Compression.NONE,
                             "min_lon_e7": -1800000000, "min_lat_e7": -850000000, "max_lon_e7": 1800000000,
                             "max_lat_e7": 850000000, "center_zoom": zooms[0], "center_lon_e7": 0,
                             "center_lat_e7": 0}, {"name": name, "attribution": attribution})
        return path
    raise ValueError(f"{path}: a base map file must be .mbtiles or .pmtiles")


# -- helpers ------------------------------------------------------------------------------------
class _mbtiles:
    """A read-only SQLite connection for a ``with`` (one per request: sqlite3 objects are not
    shared between the server's threads)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> sqlite3.Connection:
        self.con = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        return self.con

    def __exit__(self, *exc) -> None:
        self.con.close()


class _pmtiles:
    """A PMTiles reader over a read-only memory map, for a ``with``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self):
        import mmap

        from pmtiles.reader import Reader

        self.f = open(self.path, "rb")
        try:
            self.map = mmap.mmap(self.f.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            self.f.close()
            raise
        mapping = self.map
        return Reader(lambda offset, length: mapping[offset: offset + length])

    def __exit__(self, *exc) -> None:
        self.map.close()
        self.f.close()


def _pmtiles_tile(path: Path, z: int, x: int, y: int) -> bytes | None:
    """Tile ``z/x/y`` of a PMTiles v3 archive: the directories are parsed once per file version
    (:func:`_pm_directory`, cached), each request reads only the tile's bytes."""
    from pmtiles.tile import Compression, find_tile, zxy_to_tileid

    stat = path.stat()
    version = (str(path), stat.st_mtime_ns, stat.st_size)
    header = _pm_header(version)
    tile_id = zxy_to_tileid(z, x, y)
    offset, length = header["root_offset"], header["root_length"]
    for _depth in range(4):  # the format's maximum depth of leaf directories
        entry = find_tile(_pm_directory(version, offset, length), tile_id)
        if entry is None:
            return None
        if entry.run_length == 0:  # a leaf directory
            offset, length = header["leaf_directory_offset"] + entry.offset, entry.length
            continue
        with open(path, "rb") as f:
            f.seek(header["tile_data_offset"] + entry.offset)
            data = f.read(entry.length)
        if data and header["tile_compression"] == Compression.GZIP:
            data = gzip.decompress(data)
        return data or None
    return None


@functools.lru_cache(maxsize=16)
def _pm_header(version: tuple[str, int, int]) -> dict:
    from pmtiles.tile import deserialize_header

    with open(version[0], "rb") as f:
        return deserialize_header(f.read(127))


@functools.lru_cache(maxsize=256)
def _pm_directory(version: tuple[str, int, int], offset: int, length: int) -> list:
    from pmtiles.tile import deserialize_directory

    with open(version[0], "rb") as f:
        f.seek(offset)
        return deserialize_directory(f.read(length))


def _first_tiles(reader, z: int):
    """Tiles of zoom ``z`` in the archive (a sample to check the image format)."""
    from pmtiles.reader import traverse

    header = reader.header()
    for (tz, _x, _y), data in traverse(reader.get_bytes, header, header["root_offset"], header["root_length"]):
        if tz == z:
            yield data
            return

