"""Ingest incident files into a workspace: recognise columns, parse times, convert coordinates,
validate, quarantine every unusable row with its reason, and append the rest.

``rows in = incidents + quarantined`` for every file, always (asserted). A file whose bytes were
ingested before (sha256 in ``ingested.parquet``) adds nothing, so the weekly export can be
ingested again safely; incidents whose ``incident_id`` is already in the workspace go to the
quarantine as ``duplicate_id``.

One ingest is one workspace transaction (:mod:`data.transaction`): it holds the writer lock
from reading the ingest log to the commit, so a second ingest waits for it, and incidents,
quarantine, the ingest log, the config and (when the workspace has area layers) assignments and
counts switch in together. A file is logged only with its rows, so an interrupted ingest is
simply run again.

Large CSV and Parquet files are validated in chunks of ``data.ingest_read.CHUNK_ROWS`` rows
(duplicate ids are checked across chunks), and the table is concatenated and sorted in Arrow,
so peak memory stays near the size of the result rather than a multiple of it.

Every fault of a row is listed (:mod:`data.ingest_validate`): ``reason`` is the first in this
order, ``reasons`` all of them, ``reason_detail`` one sentence each and ``reason_params`` the
same as codes and values for the app's translation table. The codes: ``encoding`` and
``malformed_row`` (CSV lines that do not decode or do not split into the header's fields,
:mod:`data.ingest_csv`), ``unparseable_time``, ``too_old_time`` (before ``[limits]
min_time``), ``future_time``, ``field_too_long`` (an id, category or name over ``[limits]
max_field_chars``, any other text over ``max_text_chars``; :mod:`data.ingest_limits`),
``empty_category``, ``missing_coordinates``, ``zero_coordinates``, ``swapped_lat_lon``,
``outside_study_area``, ``duplicate_id``.

``dry_run=True`` reads and validates exactly the same way and writes nothing: the report then
holds a preview of the first usable rows and of the rows that would be quarantined (the app's
upload shows it before the user commits).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from data.columns import CANONICAL
from data.engine_dask import current_client
from data.engine_dask_blocks import ValidatedBlock, validated_blocks
from data.ingest_limits import IngestLimits, limits_of
from data.ingest_read import SUFFIXES, iter_source
from data.ingest_study import study_area
from data.ingest_validate import REASONS, validate
from data.ingest_values import concat_frames as _concat
from data.ingest_values import id_set as _id_set
from data.ingest_values import release_memory as _release_memory
from data.ingest_values import to_arrow as _to_arrow
from data.ingest_write import sort_columns_in_place, write_incidents
from data.times import time_argument
from data.workspace import Workspace
from layers.coords import COORD_SYSTEMS
from layers.crs import estimate_utm_crs

__all__ = ["IngestReport", "ingest_files", "REASONS", "PREVIEW_ROWS"]

#: Rows of each preview table a dry run keeps (usable rows; rows that would be quarantined).
PREVIEW_ROWS = 20


@dataclass
class IngestReport:
    """What :func:`ingest_files` did.

    Attributes
    ----------
    files : list of str
        Files given.
    rows_in, rows_used, rows_quarantined : int
        Rows read from new files; ``rows_in == rows_used + rows_quarantined``.
    by_reason : dict
        Quarantined rows per reason code.
    mapped : dict
        Per file, {canonical column: source column or "geometry" / "generated"}.
    coords : str
        The coordinate conversion applied.
    already_ingested : list of str
        Files skipped because the same bytes were ingested before.
    encodings : dict
        Text encoding detected per CSV file (``utf-8-sig+gb18030``: decoded per line).
    control_chars : int
        Control characters (NUL, line breaks, lone carriage returns …) removed from ids,
        categories and names.
    notes : list of str
        What the readers chose (sheet, layer, header row, centroids, a missing .prj …).
    dry_run : bool
        Nothing was written (:func:`ingest_files` ``dry_run=True``).
    preview_used, preview_quarantined : DataFrame or None
        A dry run's first :data:`PREVIEW_ROWS` usable rows (canonical columns) and rows that
        would be quarantined (with ``reason``, ``reasons``, ``reason_detail``, ``reason_params``).
    columns : dict
        Per file, its column names as read (for the app's column mapping).
    """

    files: list[str] = field(default_factory=list)
    rows_in: int = 0
    rows_used: int = 0
    rows_quarantined: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    mapped: dict[str, dict[str, str]] = field(default_factory=dict)
    coords: str = "wgs84 (no conversion)"
    already_ingested: list[str] = field(default_factory=list)
    encodings: dict[str, str] = field(default_factory=dict)
    study_area: str = ""
    control_chars: int = 0
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False
    preview_used: pd.DataFrame | None = None
    preview_quarantined: pd.DataFrame | None = None
    columns: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> str:
        """A short multi-line text, Chinese label first, for the CLI."""
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.by_reason.items(), key=lambda kv: -kv[1]))
        lines = [f"文件 files: {', '.join(Path(f).name for f in self.files)}"]
        if self.already_ingested:
            lines.append(
                f"已导入过 already ingested (0 new rows): {', '.join(Path(f).name for f in self.already_ingested)}"
            )
        lines.append(
            f"读入 rows in: {self.rows_in}  入库 used: {self.rows_used}  隔离 quarantined: "
            f"{self.rows_quarantined}" + (f" ({reasons})" if reasons else "")
        )
        for name, m in self.mapped.items():
            lines.append(f"字段 mapped [{Path(name).name}]: " + ", ".join(f"{k}←{v}" for k, v in m.items()))
        lines.append(f"坐标 coords: {self.coords}")
        for name, enc in self.encodings.items():
            if not enc.startswith("utf-8"):
                lines.append(f"编码 encoding [{Path(name).name}]: {enc}")
        if self.control_chars:
            lines.append(f"控制字符 control characters removed: {self.control_chars}")
        if self.study_area:
            lines.append(f"范围 study area: {self.study_area}")
        lines += [f"说明 note: {n}" for n in self.notes]
        if self.dry_run:
            lines.append("试读 dry run: nothing written / 未写入")
        return "\n".join(lines)


def _one_writer(fn: Callable[..., IngestReport]) -> Callable[..., IngestReport]:
    """Run ``fn(files, ws, ...)`` as one transaction of ``ws`` (lock held throughout); a dry run
    writes nothing and takes no lock."""
    @functools.wraps(fn)
    def run(*args, **kwargs) -> IngestReport:
        ws = kwargs["ws"] if "ws" in kwargs else args[1]
        if kwargs.get("dry_run"):
            return fn(*args, **kwargs)
        with ws.transaction():
            return fn(*args, **kwargs)
    return run


@_one_writer
def ingest_files(
    files: Sequence[str | Path] | str | Path,
    ws: Workspace,
    *,
    mapping: Mapping[str, str] | None = None,
    coords: str = "wgs84",
    epsg: int | str | None = None,
    encoding: str = "auto",
    timezone: str | None = None,
    boundary: str | Path | None = None,
    limits: IngestLimits | None = None,
    as_of=None,
    progress: Callable[[float, str], None] | None = None,
    table: str | None = None,
    where: str | None = None,
    sheet: str | int | None = None,
    layer: str | int | None = None,
    centroids: bool = False,
    dry_run: bool = False,
) -> IngestReport:
    """Validate incident files and append them to the workspace.

    Parameters
    ----------
    files : path or sequence of paths
        CSV/TXT/TSV, Excel .xls/.xlsx, Parquet/GeoParquet, GeoJSON, GeoPackage or Shapefile.
    ws : Workspace
        Destination; created if needed.
    mapping : dict, optional
        {canonical: source column}, overriding header recognition (:mod:`data.columns`);
        ``{"occurred_at": "日期+时间"}`` joins a date and a time column.
    coords : {'wgs84', 'gcj02', 'bd09'}
        Coordinate system of lon/lat columns (and of geometry without a CRS).
    epsg : int, optional
        x/y are in this projected CRS; transformed to WGS84 (overrides ``coords``).
    encoding : str
        CSV encoding; ``auto`` detects UTF-8 (BOM or not), GBK/GB18030, UTF-16 and Big5
        (:mod:`data.ingest_encoding`).
    timezone : str, optional
        IANA zone of naive times in the files; default the workspace's. On a workspace
        without incidents yet it also becomes the workspace's zone.
    boundary : path, optional
        Study boundary (any vector format); default the union of the workspace's admin layers.
    limits : IngestLimits, optional
        Bounds (oldest time, field lengths, workbook size); default the workspace's
        ``[limits]`` in ``config.toml`` over :class:`~data.ingest_limits.IngestLimits`.
    as_of : time, optional
        What the files cover ("data as of", naive local time in the workspace's zone), recorded
        per file in ``ingested.parquet``; default the time of each file's latest incident (never
        the ingest time). The board counts a period as complete once its end plus the reporting
        lag is at or before the latest source's as-of (:meth:`Workspace.as_of`).
    progress : callable, optional
        ``progress(fraction, label)`` after each chunk read (fraction by file size; the label
        counts the rows read) and before writing; 1.0 at the end.
    sheet : str or int, optional
        Workbook sheet (name or 0-based index); default the first that looks like incidents.
    layer : str or int, optional
        GeoPackage layer (name or 0-based index); default the first (the others are noted).
    centroids : bool
        Take polygons and lines as their centroids (else such a file is refused).
    dry_run : bool
        Read and validate only: nothing is written, no lock is taken, and the report carries
        ``preview_used`` and ``preview_quarantined``.
    table, where : str, optional
        For a ``postgresql://`` URL in place of the files: the table and an SQL condition
        (:func:`data.ingest_db.ingest_database`).

    Returns
    -------
    IngestReport

    Raises
    ------
    FileNotFoundError
        A file (or the boundary) does not exist.
    ValueError
        Unknown extension, undecodable text, no time/category/coordinate column, ``mapping``
        naming a column the file lacks, or a workbook over the limits (a zip bomb). Nothing is
        written when a file fails.
    """
    from data.ingest_db import ingest_database, is_database_url  # a postgresql://… source

    given = [files] if isinstance(files, (str, Path)) else list(files)
    if any(is_database_url(f) for f in given):
        if len(given) > 1:
            raise ValueError("ingest: a database URL is read alone (no files, no second URL in the same command)")
        if dry_run:
            raise ValueError("ingest: a database source has no dry run")
        return ingest_database(given[0], ws, table=table, where=where, mapping=mapping, coords=coords, epsg=epsg,
                               timezone=timezone, boundary=boundary, limits=limits, as_of=as_of, progress=progress)
    paths = [Path(f) for f in given]
    read_opts = {"sheet": sheet, "layer": layer, "centroids": centroids, "epsg": epsg}
    if not paths:
        raise ValueError("ingest: no files given")
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such file")
        if p.suffix.lower() not in SUFFIXES:
            raise ValueError(f"{p}: unknown file type {p.suffix or '(no extension)'!r}; ingest reads {', '.join(SUFFIXES)}")
    if coords not in COORD_SYSTEMS:
        raise ValueError(f"--coords {coords!r}: expected one of {', '.join(COORD_SYSTEMS)}")
    for canon in mapping or {}:
        if canon not in CANONICAL:
            raise ValueError(f"--map {canon}=…: unknown canonical column {canon!r}; use one of {', '.join(CANONICAL)}")

    if not dry_run:
        ws.path.mkdir(parents=True, exist_ok=True)
    target_tz = ws.config.timezone
    if timezone:
        _check_tz(timezone)
        if not ws.exists():  # a fresh workspace takes the data's zone (written with the data)
            target_tz = timezone
    source_tz = timezone or target_tz
    declared = _as_of_arg(as_of)
    area = study_area(ws, boundary)
    report = IngestReport(files=[str(p) for p in paths], study_area=area.note, dry_run=dry_run)
    report.coords = _coords_note(coords, epsg)

    seen = _ingested(ws)
    existing_ids = _existing_ids(ws)
    now_limit = (pd.Timestamp.now(tz=target_tz) + pd.Timedelta(days=1)).tz_localize(None)
    lim = limits_of(ws if limits is None else limits)
    good_parts, bad_parts, done = [], [], []
    sizes = [max(p.stat().st_size, 1) for p in paths]
    for i_file, p in enumerate(paths):
        read_share = 0.9 * sum(sizes[:i_file]) / sum(sizes)  # reading: 90 %, by file size
        digest = _sha256(p)
        if digest in seen:
            report.already_ingested.append(str(p))
            continue
        n_in = n_used = n_bad = 0
        enc = None
        latest = pd.NaT
        kw = {"mapping": mapping, "coords": coords, "epsg": epsg, "source_tz": source_tz, "target_tz": target_tz,
              "area": area, "now_limit": now_limit}
        if current_client() is not None:  # --engine dask: CSV/Parquet blocks read + validated on the workers
            chunks = validated_blocks(current_client(), p, encoding=encoding, limits=lim, read_opts=read_opts,
                                      existing_ids=existing_ids, **kw)
        else:
            chunks = iter_source(p, encoding=encoding, limits=lim, **read_opts)  # chunks bound the peak memory
        for src in chunks:
            n = src.n_rows
            report.notes += [x for x in src.notes if x not in report.notes]
            report.columns.setdefault(str(p), [str(c) for c in src.frame.columns])
            if isinstance(src, ValidatedBlock):
                good, bad, mapped = src.good, src.bad, src.mapped
            else:
                good, bad, mapped = _validate(src, p, existing_ids=existing_ids, limits=lim, **kw)
            report.control_chars += src.control_chars
            assert n == len(good) + len(bad), f"{p}: rows in {n} != {len(good)} used + {len(bad)} quarantined"
            n_in, n_used, n_bad = n_in + n, n_used + len(good), n_bad + len(bad)
            for reason, k in bad["reason"].value_counts().items():
                report.by_reason[str(reason)] = report.by_reason.get(str(reason), 0) + int(k)
            report.mapped.setdefault(str(p), mapped)
            enc = src.encoding
            if len(good):
                t_max = pd.to_datetime(good["occurred_at"]).max()
                latest = t_max if pd.isna(latest) or t_max > latest else latest
            existing_ids.append((_id_set(good["incident_id"]), "appears earlier in the input"))
            if dry_run:  # keep only what the preview shows
                good, bad = _preview(good, report.preview_used), _preview(bad, report.preview_quarantined)
                report.preview_used, report.preview_quarantined = good, bad
            else:
                good_parts.append(good)
                bad_parts.append(bad)
            if progress is not None:
                progress(read_share, f"{p.name}: {n_in:,} rows")
            del src, good, bad  # src's columns were consumed; keep no second reference
            _release_memory()
        report.rows_in += n_in
        report.rows_used += n_used
        report.rows_quarantined += n_bad
        if enc:
            report.encodings[str(p)] = enc
        seen.add(digest)
        done.append({"sha256": digest, "file": str(p.resolve()), "name": p.name,
                     "ingested_at": pd.Timestamp.now(tz=target_tz).tz_localize(None),
                     "rows_in": n_in, "rows_used": n_used, "rows_quarantined": n_bad,
                     "coords": report.coords, "encoding": enc or "",
                     "as_of": declared if declared is not None else latest})
    assert report.rows_in == report.rows_used + report.rows_quarantined
    if done and not dry_run:
        if progress is not None:
            progress(0.9, "write")
        _write(ws, good_parts, bad_parts, done, report, timezone=target_tz)
    if progress is not None:
        progress(1.0, "done")
    _release_memory()
    return report


# -- validation: data.ingest_validate (kept importable here for data.ingest_db) --------------
_validate = validate


def _write(ws: Workspace, good_parts, bad_parts, done, report: IngestReport, *, timezone: str) -> None:
    """Stage incidents, quarantine, log and config in the open transaction; refresh counts."""
    import pyarrow as pa

    from data.transaction import active

    tx = active(ws.path)
    assert tx is not None, "ingest writes inside its transaction"
    from data import partitions

    if partitions.wants_parts(ws, sum(len(g) for g in good_parts)):  # monthly parts: O(new rows)
        return _write_parts(ws, tx, good_parts, bad_parts, done, report, timezone=timezone)
    if ws.exists():
        import pyarrow.parquet as pq

        current = ws.read_path("incidents.parquet")
        names = [c for c in pq.read_schema(current).names if c != "geometry"]
        good_parts.insert(0, pd.read_parquet(current, columns=names))
    table = _to_arrow(good_parts)  # empties good_parts as it goes
    cfg = ws.config
    changes: dict = {"timezone": timezone} if timezone != cfg.timezone else {}
    if table.num_rows:
        lon, lat = table.column("lon").to_numpy(), table.column("lat").to_numpy()
        if cfg.center is None:
            changes["center"] = (round(float(np.median(lon)), 6), round(float(np.median(lat)), 6))
        if cfg.crs is None:
            changes["crs"] = estimate_utm_crs(lon, lat).to_string()
        del lon, lat
    keys, schema, cols = table.select(["occurred_at", "incident_id"]), table.schema, table.columns
    del table  # from here on only ``cols`` holds the data, so sorting can free as it goes
    sort_columns_in_place(cols, keys)
    del keys
    write_incidents(pa.Table.from_arrays(cols, schema=schema), tx.path("incidents.parquet"), sort=())
    del cols
    _append_quarantine_and_log(ws, tx, bad_parts, done)
    extra = dict(cfg.extra)
    extra["ingest_coords"] = report.coords
    changes["extra"] = extra
    ws.update_config(**changes)
    if ws.layers():  # counts of the new incidents switch in with them
        from data.pipeline import refresh

        _release_memory()
        refresh(ws)



def _append_quarantine_and_log(ws: Workspace, tx, bad_parts, done) -> None:
    """Stage the quarantine and the ingest log with this ingest's rows appended. Logged in the
    same commit as the rows: never one without the other."""
    bad = _concat(bad_parts)
    if ws.read_path("quarantine.parquet").exists():
        bad = _concat([pd.read_parquet(ws.read_path("quarantine.parquet")), bad])
    tx.write_parquet("quarantine.parquet", bad)
    del bad
    log = pd.DataFrame(done)
    if ws.read_path("ingested.parquet").exists():
        log = pd.concat([pd.read_parquet(ws.read_path("ingested.parquet")), log], ignore_index=True)
    tx.write_parquet("ingested.parquet", log)

def _write_parts(ws: Workspace, tx, good_parts, bad_parts, done, report: IngestReport, *, timezone: str) -> None:
    """:func:`_write` for a workspace in monthly parts: only the touched months and cube slices."""
    from data import partitions

    table = _to_arrow(good_parts)
    cfg = ws.config
    changes: dict = {"timezone": timezone} if timezone != cfg.timezone else {}
    if table.num_rows and (cfg.center is None or cfg.crs is None):
        lon, lat = table.column("lon").to_numpy(), table.column("lat").to_numpy()
        if cfg.center is None:
            changes["center"] = (round(float(np.median(lon)), 6), round(float(np.median(lat)), 6))
        if cfg.crs is None:
            changes["crs"] = estimate_utm_crs(lon, lat).to_string()
    counted = partitions.append_incidents(ws, tx, table) if table.num_rows else None
    del table
    _append_quarantine_and_log(ws, tx, bad_parts, done)
    extra = dict(cfg.extra)
    extra["ingest_coords"] = report.coords
    changes["extra"] = extra
    ws.update_config(**changes)
    if counted is None and ws.layers():  # not updated in place: recount (also migrates)
        from data.pipeline import refresh

        _release_memory()
        refresh(ws)


def _preview(part: pd.DataFrame, kept: pd.DataFrame | None) -> pd.DataFrame:
    """The first :data:`PREVIEW_ROWS` rows over the chunks read so far."""
    head = part.head(PREVIEW_ROWS).reset_index(drop=True)
    if kept is None or len(kept) >= PREVIEW_ROWS:
        return head if kept is None else kept
    return _concat([kept, head]).head(PREVIEW_ROWS).reset_index(drop=True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 24):
            h.update(chunk)
    return h.hexdigest()


def _ingested(ws: Workspace) -> set[str]:
    path = ws.read_path("ingested.parquet")
    if not path.exists():
        return set()
    return set(pd.read_parquet(path, columns=["sha256"])["sha256"].astype(str))


def _existing_ids(ws: Workspace) -> list[tuple[object, str]]:
    if not ws.exists():
        return []
    from data.partitions import id_array

    # Arrow end to end: no pandas strings of the whole history (PostGIS: only the id column is read)
    return [(id_array(ws), "is already in the workspace")]


def _coords_note(coords: str, epsg) -> str:
    if epsg is not None:
        return f"EPSG:{epsg} x/y → WGS84 lon/lat (pyproj, always_xy)"
    return {
        "wgs84": "wgs84 (no conversion; geometry with a CRS reprojected to EPSG:4326)",
        "gcj02": "gcj02 → wgs84 (GCJ-02 inverse by iteration, < 1e-7°; only inside China)",
        "bd09": "bd09 → gcj02 → wgs84 (BD-09 inverse, then GCJ-02 inverse by iteration)",
    }[coords]


def _as_of_arg(as_of) -> pd.Timestamp | None:
    """``--as-of`` as a naive Timestamp (None when not given)."""
    t = time_argument(as_of, "--as-of")
    if t is None:
        return None
    if t.tz is not None:
        raise ValueError(f"--as-of {as_of!r}: give the local time without a zone (the workspace's zone applies)")
    return t


def _check_tz(tz: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"--timezone {tz!r}: not an IANA time zone (e.g. Asia/Shanghai)") from exc

