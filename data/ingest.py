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

Reason codes, first match wins, in this order: ``encoding`` and ``malformed_row`` (CSV lines
that do not decode or do not split into the header's fields, :mod:`data.ingest_csv`),
``unparseable_time``, ``too_old_time`` (before ``[limits] min_time``), ``future_time``,
``field_too_long`` (an id, category or name over ``[limits] max_field_chars``, any other text
over ``max_text_chars``; :mod:`data.ingest_limits`),
``empty_category``, ``missing_coordinates``, ``zero_coordinates``, ``swapped_lat_lon``,
``outside_study_area``, ``duplicate_id``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from data.columns import CANONICAL, is_name_column, map_columns
from data.ingest_limits import IngestLimits, limits_of, overlong_columns
from data.ingest_read import SUFFIXES, Source, iter_source
from data.ingest_study import StudyArea, in_box, plausible_box, study_area
from data.ingest_values import (
    as_id as _as_id,
)
from data.ingest_values import (
    as_number as _as_number,
)
from data.ingest_values import (
    as_text as _as_text,
)
from data.ingest_values import (
    concat_frames as _concat,
)
from data.ingest_values import (
    id_set as _id_set,
)
from data.ingest_values import (
    isin as _isin,
)
from data.ingest_values import (
    release_memory as _release_memory,
)
from data.ingest_values import (
    row_hash_ids as _row_hash_ids,
)
from data.ingest_values import (
    source_column as _source_column,
)
from data.ingest_values import (
    strip_controls as _strip_controls,
)
from data.ingest_values import (
    to_arrow as _to_arrow,
)
from data.ingest_write import sort_columns_in_place, write_incidents
from data.times import parse_times, time_argument
from data.workspace import Workspace
from layers.coords import COORD_SYSTEMS, projected_to_wgs84, to_wgs84
from layers.crs import estimate_utm_crs

__all__ = ["IngestReport", "ingest_files", "REASONS"]

#: Quarantine reason codes in priority order.
REASONS: tuple[str, ...] = (
    "encoding", "malformed_row", "unparseable_time", "too_old_time", "future_time", "field_too_long",
    "empty_category", "missing_coordinates",
    "zero_coordinates", "swapped_lat_lon", "outside_study_area", "duplicate_id",
)
_CODE = {r: i + 1 for i, r in enumerate(REASONS)}  # 0 = usable
_BOOKKEEPING = ("source_file", "source_row", "reason", "reason_detail")


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
        if self.control_chars:
            lines.append(f"控制字符 control characters removed: {self.control_chars}")
        if self.study_area:
            lines.append(f"范围 study area: {self.study_area}")
        return "\n".join(lines)


def _one_writer(fn: Callable[..., IngestReport]) -> Callable[..., IngestReport]:
    """Run ``fn(files, ws, ...)`` as one transaction of ``ws`` (lock held throughout)."""
    @functools.wraps(fn)
    def run(*args, **kwargs) -> IngestReport:
        ws = kwargs["ws"] if "ws" in kwargs else args[1]
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
) -> IngestReport:
    """Validate incident files and append them to the workspace.

    Parameters
    ----------
    files : path or sequence of paths
        CSV/TXT/TSV, Excel .xlsx, Parquet/GeoParquet, GeoJSON, GeoPackage or Shapefile.
    ws : Workspace
        Destination; created if needed.
    mapping : dict, optional
        {canonical: source column}, overriding header recognition (:mod:`data.columns`).
    coords : {'wgs84', 'gcj02', 'bd09'}
        Coordinate system of lon/lat columns (and of geometry without a CRS).
    epsg : int, optional
        x/y are in this projected CRS; transformed to WGS84 (overrides ``coords``).
    encoding : str
        CSV encoding; ``auto`` detects UTF-8 (BOM or not) and GBK/GB18030.
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
        return ingest_database(given[0], ws, table=table, where=where, mapping=mapping, coords=coords, epsg=epsg,
                               timezone=timezone, boundary=boundary, limits=limits, as_of=as_of, progress=progress)
    paths = [Path(f) for f in given]
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

    ws.path.mkdir(parents=True, exist_ok=True)
    target_tz = ws.config.timezone
    if timezone:
        _check_tz(timezone)
        if not ws.exists():  # a fresh workspace takes the data's zone (written with the data)
            target_tz = timezone
    source_tz = timezone or target_tz
    declared = _as_of_arg(as_of)
    area = study_area(ws, boundary)
    report = IngestReport(files=[str(p) for p in paths], study_area=area.note)
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
        for src in iter_source(p, encoding=encoding, limits=lim):  # chunks bound the peak memory
            n = src.n_rows
            good, bad, mapped = _validate(
                src, p, mapping=mapping, coords=coords, epsg=epsg, source_tz=source_tz,
                target_tz=target_tz, area=area, existing_ids=existing_ids, now_limit=now_limit,
                limits=lim,
            )
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
    if done:
        if progress is not None:
            progress(0.9, "write")
        _write(ws, good_parts, bad_parts, done, report, timezone=target_tz)
    if progress is not None:
        progress(1.0, "done")
    _release_memory()
    return report


# -- validation ----------------------------------------------------------------------------
def _validate(
    src: Source, path: Path, *, mapping, coords, epsg, source_tz, target_tz, area: StudyArea,
    existing_ids: list[tuple[object, str]], now_limit: pd.Timestamp, limits: IngestLimits,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    raw = src.frame
    n = len(raw)
    name = str(path)
    has_geom = src.x is not None
    cols = map_columns(raw.columns, mapping, source=name)
    listing = ", ".join(map(str, raw.columns)) or "(none)"
    if "occurred_at" not in cols:
        raise ValueError(f"{name}: no time column found; columns are: {listing} (use --map occurred_at=COLUMN)")
    if "category" not in cols:
        raise ValueError(f"{name}: no category column found; columns are: {listing} (use --map category=COLUMN)")
    use_geom = has_geom and not (mapping and ("lon" in mapping or "lat" in mapping))
    if not use_geom and not ("lon" in cols and "lat" in cols):
        raise ValueError(
            f"{name}: no longitude/latitude columns found; columns are: {listing} (use --map lon=COLUMN --map lat=COLUMN)"
        )
    mapped = dict(cols)
    if use_geom:
        cols.pop("lon", None)
        cols.pop("lat", None)
        mapped["lon"] = mapped["lat"] = "geometry"
    if "incident_id" not in cols:
        mapped["incident_id"] = "generated (row hash)"
    mapped = {k: mapped[k] for k in CANONICAL if k in mapped}

    reason = np.zeros(n, dtype=np.int8)
    details: list[tuple[np.ndarray, np.ndarray]] = []  # (row positions, texts): flagged rows only

    def flag(mask: np.ndarray, code: str, text) -> None:
        """Give still-usable rows in ``mask`` reason ``code``; ``text(positions)`` -> details.

        Details are built only for the flagged rows: formatting strings for all 10M rows
        would cost more than the whole validation.
        """
        m = np.flatnonzero(np.asarray(mask, dtype=bool) & (reason == 0))
        if not len(m):
            return
        reason[m] = _CODE[code]
        texts = text(m) if callable(text) else [text] * len(m)
        details.append((m, np.asarray(texts, dtype=object)))

    def xy(m: np.ndarray) -> pd.Series:
        return "(" + pd.Series(x[m]).astype(str) + ", " + pd.Series(y[m]).astype(str) + ")"

    # time
    tname = cols["occurred_at"]
    tcol = raw[tname]
    when = parse_times(tcol, source_tz=source_tz, target_tz=target_tz)
    flag(when.isna().to_numpy(), "unparseable_time",
         lambda m: f"{tname}: '" + _as_text(tcol.iloc[m]).fillna("") + "' is not a recognised date/time")
    flag((when < limits.min_timestamp).to_numpy(), "too_old_time",
         lambda m: f"{tname}: " + when.iloc[m].dt.strftime("%Y-%m-%d") + f" is before {limits.min_time} "
         "(config.toml [limits] min_time)")
    flag((when > now_limit).to_numpy(), "future_time",
         lambda m: f"{tname}: " + when.iloc[m].dt.strftime("%Y-%m-%d %H:%M") + " is in the future")
    # lengths: one huge value would travel with every page that shows the table
    names = [c for c in raw.columns if is_name_column(c) and c not in cols.values()]
    short = [cols[k] for k in ("incident_id", "category") if k in cols] + names
    for col, length, cap, key in overlong_columns(raw, short, limits):
        flag(length > cap, "field_too_long",
             lambda m, col=col, length=length, cap=cap, key=key: f"{col}: " + pd.Series(length[m]).astype(str)
             + f" characters, over the limit of {cap} (config.toml [limits] {key})")
    # category
    cat, k_cat = _strip_controls(_as_text(raw[cols["category"]]))
    cat = cat.str.strip()
    flag((cat.isna() | (cat == "")).to_numpy(), "empty_category", f"{cols['category']} is empty")
    # coordinates
    if use_geom:
        x, y = src.x, src.y
        xname, yname = "geometry x", "geometry y"
    else:
        x = _as_number(raw[cols["lon"]])
        y = _as_number(raw[cols["lat"]])
        xname, yname = cols["lon"], cols["lat"]
    missing = ~(np.isfinite(x) & np.isfinite(y))
    flag(missing, "missing_coordinates", f"{xname}/{yname} missing or not a number")
    flag((x == 0) & (y == 0), "zero_coordinates", f"{xname}/{yname} are (0, 0)")
    lon, lat, slon, slat = _to_lonlat(x, y, src.crs if use_geom else None, coords, epsg)
    valid = _valid(lon, lat)
    given_ok = valid & area.contains(lon, lat)
    if area.geometry is not None:
        given_fits, swap_fits = given_ok, _valid(slon, slat) & area.contains(slon, slat)
    else:  # no boundary: "fits" means inside a generous box around the bulk of the points
        box = plausible_box(lon[reason == 0], lat[reason == 0])
        given_fits = valid & in_box(lon, lat, box)
        swap_fits = _valid(slon, slat) & in_box(slon, slat, box)
    flag(~given_fits & swap_fits, "swapped_lat_lon",
         lambda m: f"{xname}/{yname} " + xy(m) + " look swapped: (lat, lon) fits the study area")
    flag(~valid, "outside_study_area", lambda m: f"{xname}/{yname} " + xy(m) + " is not a valid WGS84 position")
    flag(~given_ok, "outside_study_area",
         lambda m: f"{xname}/{yname} " + xy(m) + f" is outside the study area ({area.note})")
    # ids: given, else a hash of the row's values (stable across re-ingests of the same rows)
    ids = _as_id(raw[cols["incident_id"]]) if "incident_id" in cols else pd.Series(pd.NA, index=raw.index, dtype="str")
    ids, k_id = _strip_controls(ids)
    ids = ids.str.strip() if k_id else ids
    no_id = ids.isna() | (ids == "")
    if no_id.any():
        ids = ids.where(~no_id, _row_hash_ids(raw, x, y)[no_id.to_numpy()])
    cand = reason == 0
    dup_file = cand & ids.where(cand).duplicated(keep="first").to_numpy() & ids.notna().to_numpy()
    flag(dup_file, "duplicate_id", lambda m: "incident_id '" + ids.iloc[m] + "' appears earlier in this file")
    for known, where in existing_ids:
        flag(_isin(ids, known), "duplicate_id",
             lambda m, where=where: "incident_id '" + ids.iloc[m] + "' " + where)

    ok = reason == 0
    if details:  # every row is flagged at most once, so sorting positions aligns with ~ok
        pos = np.concatenate([d[0] for d in details])
        detail = np.concatenate([d[1] for d in details])[np.argsort(pos, kind="stable")]
    else:
        detail = np.array([], dtype=object)
    bad = _quarantine_table(raw, src, path, ~ok, reason, detail, limits)
    src.control_chars += k_cat + k_id
    for c in names:  # after the quarantine, which keeps the values as given
        raw[c], k = _strip_controls(raw[c])
        src.control_chars += k
    good = _incident_table(raw, cols, ok, ids, when, cat, lon, lat)  # consumes raw's columns
    return good, bad, mapped


def _to_lonlat(x, y, crs, coords, epsg):
    """(lon, lat) from x/y and from the swapped pair, both WGS84."""
    if epsg is not None:
        lon, lat = projected_to_wgs84(x, y, epsg)
        slon, slat = projected_to_wgs84(y, x, epsg)
        return lon, lat, slon, slat
    if crs is not None:
        from pyproj import CRS

        c = CRS.from_user_input(crs)
        if c.is_projected or not c.equals(CRS.from_epsg(4326), ignore_axis_order=True):
            lon, lat = projected_to_wgs84(x, y, c)
            if c.is_projected:  # a swapped projected pair cannot be told from the data
                return lon, lat, np.full_like(lon, np.nan), np.full_like(lat, np.nan)
            slon, slat = projected_to_wgs84(y, x, c)
            return lon, lat, slon, slat
    lon, lat = to_wgs84(x, y, coords)
    slon, slat = to_wgs84(y, x, coords)
    return lon, lat, slon, slat


def _valid(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)


# -- tables --------------------------------------------------------------------------------
def _incident_table(raw, cols, ok, ids, when, cat, lon, lat) -> pd.DataFrame:
    keep = np.flatnonzero(ok)

    def take(s: pd.Series) -> pd.Series:  # stays Arrow-backed: no Python string objects
        return s.iloc[keep].reset_index(drop=True)

    out = pd.DataFrame({
        "incident_id": take(ids.astype("str")),
        "occurred_at": take(when),
        "category": take(cat.astype("str")),
        "lon": lon[keep],
        "lat": lat[keep],
    })
    used = set(cols.values())
    reserved = set(CANONICAL) | {"geometry"}
    for c in list(raw.columns):
        col = raw.pop(c)  # free each source column once copied: peak stays ~1 column over
        if c in used:
            continue
        name = f"{c}_source" if str(c) in reserved else str(c)
        out[name] = _source_column(take(col))
        del col
    return out


def _quarantine_table(raw, src: Source, path: Path, bad, reason, detail, limits: IngestLimits) -> pd.DataFrame:
    idx = np.flatnonzero(bad)
    out = pd.DataFrame({
        "source_file": pd.Series([path.name] * len(idx), dtype="str"),
        "source_row": src.source_rows(idx),
        "reason": pd.Series(np.asarray(REASONS, dtype=object)[reason[idx] - 1] if len(idx) else [], dtype="str"),
        "reason_detail": pd.Series(detail, dtype="str"),
    })
    for c in raw.columns:
        name = f"{c}_source" if str(c) in _BOOKKEEPING else str(c)
        out[name] = _as_text(raw[c].iloc[idx]).to_numpy()
        out[name] = out[name].astype("str")
    if src.geometry is not None:
        import shapely

        out["geometry_wkt"] = pd.Series(shapely.to_wkt(src.geometry[idx]), dtype="str")
    if src.rejected is not None:  # lines the reader quarantined (malformed_row, encoding)
        rej = src.rejected
        head = pd.DataFrame({"source_file": pd.Series([path.name] * len(rej), dtype="str"),
                             **{c: rej[c] for c in _BOOKKEEPING[1:]}})
        for c in rej.columns[:-3]:
            head[f"{c}_source" if str(c) in _BOOKKEEPING else str(c)] = rej[c].astype("str")
        out = _concat([head, out]).sort_values("source_row", kind="stable", ignore_index=True)
    # a value over the text limit is kept cut to it (its length is in reason_detail)
    cap = limits.max_text_chars
    for c in out.columns[4:]:
        if pd.api.types.is_string_dtype(out[c].dtype) and (out[c].str.len() > cap).any():
            out[c] = out[c].str.slice(0, cap)
    return out


def _write(ws: Workspace, good_parts, bad_parts, done, report: IngestReport, *, timezone: str) -> None:
    """Stage incidents, quarantine, log and config in the open transaction; refresh counts."""
    import pyarrow as pa

    from data.transaction import active

    tx = active(ws.path)
    assert tx is not None, "ingest writes inside its transaction"
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
    bad = _concat(bad_parts)
    if ws.read_path("quarantine.parquet").exists():
        bad = _concat([pd.read_parquet(ws.read_path("quarantine.parquet")), bad])
    tx.write_parquet("quarantine.parquet", bad)
    del bad
    log = pd.DataFrame(done)  # logged in the same commit as the rows: never one without the other
    if ws.read_path("ingested.parquet").exists():
        log = pd.concat([pd.read_parquet(ws.read_path("ingested.parquet")), log], ignore_index=True)
    tx.write_parquet("ingested.parquet", log)
    extra = dict(cfg.extra)
    extra["ingest_coords"] = report.coords
    changes["extra"] = extra
    ws.update_config(**changes)
    if ws.layers():  # counts of the new incidents switch in with them
        from data.pipeline import refresh

        _release_memory()
        refresh(ws)


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
    ids = pd.read_parquet(ws.read_path("incidents.parquet"), columns=["incident_id"])["incident_id"].astype("str")
    return [(_id_set(ids), "is already in the workspace")]


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

