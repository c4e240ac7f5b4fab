"""Read one incident source file into a plain table (+ point coordinates for spatial formats).

Formats by extension: CSV/TXT/TSV (UTF-8, UTF-8 with BOM, GBK/GB18030, UTF-16, Big5
detected; :mod:`data.ingest_csv`), Excel ``.xls``/``.xlsx``/``.xlsm`` (:mod:`data.ingest_excel`:
``sheet``), Parquet (plain or GeoParquet), GeoJSON, GeoPackage (``layer``), Shapefile (pyogrio).
Text is read as strings so the quarantine can keep the original values exactly.

Spatial formats take points. Polygons and lines are refused with a message naming
``--centroids``, which turns each into its centroid (computed in metres). A shapefile without
``.prj`` whose coordinates are not degrees is refused naming the missing ``.prj`` and ``--epsg``.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Source", "Note", "read_source", "iter_source", "detect_encoding", "SUFFIXES", "CHUNK_ROWS"]

_TEXT = (".csv", ".txt", ".tsv")
_EXCEL = (".xlsx", ".xlsm", ".xls")
_PARQUET = (".parquet", ".geoparquet")
_VECTOR = (".geojson", ".json", ".gpkg", ".shp")
#: File extensions ingest understands.
SUFFIXES: tuple[str, ...] = _TEXT + _EXCEL + _PARQUET + _VECTOR

_CHUNK = 1 << 24
#: Rows per chunk when a large CSV or Parquet file is read piecewise (bounds peak memory).
CHUNK_ROWS = 2_000_000


class Note(str):
    """A line of the ingest log (English, as the CLI prints it) that also carries a ``key`` and
    ``params`` for the app's translation table (``data.note.<key>``).

    Examples
    --------
    >>> n = Note("a.gpkg: took layer 'x'", "layer_taken", file="a.gpkg", chosen="x", others="y")
    >>> n, n.key, n.params["chosen"]
    ("a.gpkg: took layer 'x'", 'layer_taken', 'x')
    """

    key: str
    params: dict

    def __new__(cls, text: str, key: str, **params: object) -> Note:
        obj = super().__new__(cls, text)
        obj.key, obj.params = key, {k: str(v) for k, v in params.items()}
        return obj


@dataclass
class Source:
    """One source file, read.

    Attributes
    ----------
    frame : DataFrame
        Attribute columns (no geometry), index 0..n-1 in file order.
    x, y : ndarray or None
        Point coordinates from the geometry (NaN where the geometry is missing or not a point).
    crs : pyproj.CRS or None
        CRS of ``x``/``y`` as the file declares it.
    encoding : str or None
        Text encoding used (CSV only).
    offset : int
        Rows of the same file before this chunk (0 for a whole file).
    rows : ndarray or None
        Record number in the file of each row of ``frame`` (CSV read line by line, where
        quarantined lines leave gaps); None when it is ``offset + 1 …``.
    rejected : DataFrame or None
        Lines quarantined while reading (``malformed_row``, ``encoding``): source columns plus
        ``source_row``, ``reason``, ``reason_detail`` (CSV only; on the first chunk).
    control_chars : int
        Control characters removed while reading (lone carriage returns).
    geometry : ndarray or None
        The original shapely geometries (written as WKT for quarantined rows).
    notes : list of str
        What the reader chose for the user (sheet, layer, skipped title, centroids …), for the log.
    """

    frame: pd.DataFrame
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    crs: object = None
    encoding: str | None = None
    geometry: np.ndarray | None = None
    offset: int = 0
    rows: np.ndarray | None = None
    rejected: pd.DataFrame | None = None
    control_chars: int = 0
    notes: list = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        """Records of this chunk: rows of ``frame`` plus lines rejected while reading."""
        return len(self.frame) + (0 if self.rejected is None else len(self.rejected))

    def source_rows(self, positions: np.ndarray) -> np.ndarray:
        """1-based record numbers in the file of the ``frame`` rows at ``positions``."""
        positions = np.asarray(positions, dtype=np.int64)
        if self.rows is not None:
            return self.rows[positions].astype(np.int64)
        return (self.offset + positions + 1).astype(np.int64)


def read_source(path: str | Path, *, encoding: str = "auto", limits: object = None, sheet: str | int | None = None,
                layer: str | int | None = None, centroids: bool = False, epsg: int | str | None = None) -> Source:
    """Read ``path`` by its extension (a whole CSV in one :class:`Source`).

    ``limits`` (an :class:`~data.ingest_limits.IngestLimits`, a workspace or None for the
    defaults) bounds an ``.xlsx`` before it is inflated. ``sheet`` picks a workbook's sheet,
    ``layer`` a GeoPackage's layer (name or 0-based index); ``centroids`` turns polygons and
    lines into points; ``epsg`` (the user's CRS for x/y) lets a shapefile without ``.prj`` pass.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        Unknown extension, unreadable content, text that does not decode, or a workbook over
        the limits (a zip bomb).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in _TEXT:
        return next(_iter_text(path, encoding, chunk_rows=None))
    if suffix in _EXCEL:
        return _read_excel(path, limits, sheet)
    if suffix in _PARQUET:
        return _check_points(_read_parquet(path), path, centroids)
    if suffix in _VECTOR:
        return _check_points(_read_vector(path, encoding, layer, epsg), path, centroids)
    raise ValueError(
        f"{path}: unknown file type {suffix or '(no extension)'!r}; ingest reads {', '.join(SUFFIXES)}"
    )


def iter_source(
    path: str | Path, *, encoding: str = "auto", chunk_rows: int | None = None, limits: object = None,
    **options,
) -> Iterator[Source]:
    """Read ``path`` in chunks of ``chunk_rows`` (default :data:`CHUNK_ROWS`) rows (plain
    Parquet and CSV), else whole.

    Always yields at least one :class:`Source` (possibly with no rows), so a header-only file
    is still checked for its columns. ``options`` (``sheet``, ``layer``, ``centroids``,
    ``epsg``) as :func:`read_source`. Errors as :func:`read_source`.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    chunk_rows = chunk_rows or CHUNK_ROWS
    if suffix in _PARQUET and path.is_file():
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a readable Parquet file ({exc})") from exc
        meta = pf.schema_arrow.metadata or {}
        if b"geo" not in meta:
            offset = 0
            for batch in pf.iter_batches(batch_size=chunk_rows):
                yield Source(frame=batch.to_pandas(), offset=offset)
                offset += batch.num_rows
            if offset == 0:
                yield Source(frame=pf.schema_arrow.empty_table().to_pandas())
            return
    if suffix in _TEXT and path.is_file():
        yield from _iter_text(path, encoding, chunk_rows=chunk_rows)
        return
    yield read_source(path, encoding=encoding, limits=limits, **options)


def detect_encoding(path: Path, encoding: str = "auto") -> str:
    """The encoding that decodes all of ``path`` strictly.

    ``auto`` tries UTF-8 (with or without BOM), then GB18030 (a superset of GBK and GB2312,
    what Chinese office software exports). A forced encoding is checked too, so a wrong choice
    is a clear error instead of mojibake.
    """
    candidates = ["utf-8-sig", "gb18030"] if encoding == "auto" else [encoding]
    errors = []
    for enc in candidates:
        try:
            dec = codecs.getincrementaldecoder(enc)(errors="strict")
        except LookupError as exc:
            raise ValueError(f"{path}: --encoding {encoding!r} is not a known text encoding") from exc
        try:
            with path.open("rb") as fh:
                while chunk := fh.read(_CHUNK):
                    dec.decode(chunk)
                dec.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            errors.append(f"{enc} fails at byte {exc.start}")
            continue
        return enc
    raise ValueError(
        f"{path}: cannot decode the text ({'; '.join(errors)}); pass the right --encoding "
        "(e.g. utf-8, gb18030, big5)"
    )


def _iter_text(path: Path, encoding: str, *, chunk_rows: int | None) -> Iterator[Source]:
    """CSV chunks as :func:`data.ingest_csv.plan_csv` decides: the file itself when it is
    clean, else a cleaned copy, with the quarantined lines on the first chunk."""
    from data.ingest_csv import plan_csv

    suffix = path.suffix.lower()
    plan = plan_csv(path, encoding=encoding, sep="\t" if suffix == ".tsv" else None)
    rejected, offset = plan.rejected, 0
    extra = {"rejected": rejected if len(rejected) else None, "control_chars": plan.control_chars,
             "notes": list(plan.notes)}
    opts = _csv_options(plan.read_encoding, plan.sep)
    try:
        if chunk_rows is None:
            frames: Iterator[pd.DataFrame] = iter([pd.read_csv(plan.path, **opts)])
        else:
            frames = pd.read_csv(plan.path, chunksize=chunk_rows, **opts)
        for chunk in frames:
            rows = None if plan.rows is None else plan.rows[offset:offset + len(chunk)]
            yield Source(frame=chunk.reset_index(drop=True), encoding=plan.encoding, offset=offset,
                         rows=rows, **extra)
            extra = {}
            offset += len(chunk)
        if extra:  # no rows at all: an empty frame with the header's columns
            empty = pd.read_csv(plan.path, **opts, nrows=0)
            yield Source(frame=empty, encoding=plan.encoding, rows=plan.rows, **extra)
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"{path}: the file is empty") from exc
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from exc
    finally:
        plan.cleanup()


def _csv_options(enc: str, sep: str) -> dict:
    if enc.lower().replace("_", "-") in ("utf-8", "utf8"):
        enc = "utf-8-sig"  # a forced utf-8 still must not leave the BOM in the first header
    # all text, "" as missing only: the quarantine keeps values exactly as exported
    return {"sep": sep, "dtype": str, "encoding": enc,
            "keep_default_na": False, "na_values": [""]}


def _read_excel(path: Path, limits: object = None, sheet: str | int | None = None) -> Source:
    from data.ingest_excel import read_workbook
    from data.ingest_limits import check_xlsx, limits_of

    if path.suffix.lower() != ".xls":
        check_xlsx(path, limits)  # zip metadata only: a bomb is refused before it inflates
    frame, notes = read_workbook(path, sheet=sheet, max_rows=limits_of(limits).max_xlsx_rows)
    return Source(frame=frame, notes=notes)


def _read_parquet(path: Path) -> Source:
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable Parquet file ({exc})") from exc
    if schema.metadata and b"geo" in schema.metadata:
        import geopandas as gpd

        return _from_geodataframe(gpd.read_parquet(path))
    return Source(frame=pd.read_parquet(path).reset_index(drop=True))


def _read_vector(path: Path, encoding: str = "auto", layer: str | int | None = None,
                 epsg: int | str | None = None) -> Source:
    import geopandas as gpd

    notes: list[str] = []
    where = {"layer": _layer(path, layer, notes)} if path.suffix.lower() == ".gpkg" else {}
    # Shapefile attributes carry no reliable encoding; Chinese ones are often GBK without a .cpg.
    # GDAL reads a .shp without .cpg as Latin-1 (mojibake, no error), so try strict ones first.
    if path.suffix.lower() != ".shp":
        tries: list[str | None] = [None]
    elif encoding != "auto":
        tries = [encoding]
    elif _beside(path, ".cpg"):
        tries = [None]
    else:
        tries = ["utf-8", "gb18030", None]
    last: Exception | None = None
    for enc in tries:
        kw = {"encoding": enc} if enc else {}
        try:
            gdf = gpd.read_file(path, engine="pyogrio", **where, **kw)
        except UnicodeDecodeError as exc:
            last = exc
            continue
        except (ValueError, OSError, RuntimeError, LookupError) as exc:
            raise ValueError(f"{path}: not a readable vector file ({str(exc).splitlines()[0]})") from exc
        if path.suffix.lower() == ".shp" and not _beside(path, ".prj"):
            _no_prj(path, gdf, epsg, notes)
        src = _from_geodataframe(gdf)
        src.encoding = enc
        src.notes = notes
        return src
    raise ValueError(f"{path}: cannot decode the attribute table ({last}); pass the right --encoding")


def _beside(path: Path, suffix: str) -> bool:
    return path.with_suffix(suffix.lower()).exists() or path.with_suffix(suffix.upper()).exists()


def _layer(path: Path, layer: str | int | None, notes: list[str]) -> str:
    """The GeoPackage layer to read: ``layer`` (name or 0-based index), else the first."""
    import pyogrio

    try:
        names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except (OSError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{path}: not a readable GeoPackage ({str(exc).splitlines()[0]})") from exc
    if not names:
        raise ValueError(f"{path}: the GeoPackage has no layers")
    if layer is not None and str(layer).strip() != "":
        s = str(layer).strip()
        if s in names:
            return s
        if s.lstrip("-").isdigit() and -len(names) <= int(s) < len(names):
            return names[int(s)]
        raise ValueError(f"{path}: --layer {s!r}: no such layer; layers are: "
                         + ", ".join(f"{i} {n}" for i, n in enumerate(names)))
    if len(names) > 1:
        notes.append(Note(f"{path.name}: took layer {names[0]!r}; other layers: {', '.join(names[1:])} "
                          "(--layer NAME or INDEX to pick another)", "layer_taken", file=path.name, chosen=names[0],
                          others=", ".join(names[1:])))
    return names[0]


def _no_prj(path: Path, gdf, epsg, notes: list[str]) -> None:
    """A shapefile without .prj: refuse coordinates that are not degrees unless ``epsg`` says."""
    if epsg is not None:
        notes.append(Note(f"{path.name}: no .prj; x/y taken in EPSG:{epsg} (--epsg)", "no_prj_epsg",
                          file=path.name, epsg=epsg))
        return
    b = gdf.total_bounds if len(gdf) and not gdf.geometry.isna().all() else None
    if b is not None and np.isfinite(b).all() and (max(abs(b[0]), abs(b[2])) > 180 or max(abs(b[1]), abs(b[3])) > 90):
        raise ValueError(
            f"{path}: no {path.with_suffix('.prj').name} beside the shapefile, and its x/y "
            f"({b[0]:.0f}…{b[2]:.0f}, {b[1]:.0f}…{b[3]:.0f}) are not degrees; copy the .prj next to it "
            "or pass --epsg CODE (e.g. --epsg 4547 for CGCS2000 3-degree zone 38, --epsg 32648 for UTM 48N)"
        )
    notes.append(Note(f"{path.name}: no .prj; x/y read as longitude/latitude (--coords; --epsg CODE if projected)",
                      "no_prj_degrees", file=path.name))


def _check_points(src: Source, path: Path, centroids: bool) -> Source:
    """Refuse polygons and lines, or (``centroids``) take each one's centroid, in metres."""
    if src.geometry is None:
        return src
    import shapely

    kind = shapely.get_type_id(src.geometry)
    other = (kind > 0) & ~shapely.is_empty(src.geometry)  # 0 point, -1 missing
    if not other.any():
        return src
    names = pd.Series(shapely.get_type_id(src.geometry[other])).map(_GEOM_NAMES).value_counts()
    listing = ", ".join(f"{k} {v}" for k, v in names.items())
    if not centroids:
        raise ValueError(
            f"{path}: {int(other.sum()):,} of {len(kind):,} features are not points ({listing}); ingest takes "
            "incident points — pass --centroids to use each feature's centroid"
        )
    cx, cy = _centroids(src.geometry[other], src.crs)
    src.x[other], src.y[other] = cx, cy
    src.notes.append(Note(f"{path.name}: {int(other.sum()):,} features ({listing}) taken as their centroids (--centroids)",
                          "centroids", file=path.name, n=f"{int(other.sum()):,}", kinds=listing))
    return src


_GEOM_NAMES = {1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString",
               6: "MultiPolygon", 7: "GeometryCollection"}


def _centroids(geoms: np.ndarray, crs) -> tuple[np.ndarray, np.ndarray]:
    """Centroids computed in a metric CRS (the local UTM zone for degrees), in the input's CRS."""
    import geopandas as gpd

    from layers.crs import estimate_utm_crs

    gs = gpd.GeoSeries(geoms, crs=crs if crs is not None else 4326)
    if gs.crs.is_projected:
        c = gs.centroid
    else:
        b = gs.total_bounds
        utm = estimate_utm_crs(np.array([(b[0] + b[2]) / 2]), np.array([(b[1] + b[3]) / 2]))
        c = gs.to_crs(utm).centroid.to_crs(gs.crs)
    return c.x.to_numpy(float), c.y.to_numpy(float)


def _from_geodataframe(gdf) -> Source:
    import shapely

    geom = gdf.geometry
    arr = geom.to_numpy()
    is_point = shapely.get_type_id(arr) == 0
    x = np.where(is_point, shapely.get_x(arr), np.nan)
    y = np.where(is_point, shapely.get_y(arr), np.nan)
    frame = pd.DataFrame(gdf.drop(columns=geom.name)).reset_index(drop=True)
    return Source(frame=frame, x=np.asarray(x, float), y=np.asarray(y, float), crs=gdf.crs,
                  geometry=arr)
