"""Ingest incidents from a database table (``pingan ingest postgresql://… --table 警情表``).

The table is reflected and the query composed by SQLAlchemy; psycopg streams the rows as the
server's CSV text (``COPY (SELECT …) TO STDOUT``, :func:`copy_table`) into a private temporary file, which is read
back in chunks of :data:`CHUNK_ROWS` rows as a CSV export would be; every chunk goes
through the same validation, quarantine and workspace transaction as a file
(:func:`data.ingest.ingest_files` dispatches here): ``rows in = used + quarantined``, the same
reason codes, one commit with the counts.

Idempotence mirrors the file source's sha256: the rows read are summarised by an
order-independent digest (sha256 of the column names and the rows sorted by their text, taken
as they stream in), kept in ``ingested.parquet``; reading the same rows again adds nothing and
is known before a row is parsed. Rows that differ (a table
that grew) are ingested again row by row, and ids already in the workspace go to the quarantine
as ``duplicate_id``, as for a re-exported file — use ``--where`` to read only what is new.

Safety: the table name is reflected and quoted as an identifier by SQLAlchemy, so it cannot
inject SQL; ``--where`` is sent to the server as it is written and is **trusted operator
input** (whoever may run ``pingan ingest`` may read that database anyway). The password of the
URL is never printed or logged: reports, the ingest log and the audit log carry
:func:`mask_url`'s form (``postgresql://user:***@host:5432/db``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from data.ingest_read import CHUNK_ROWS as _FILE_CHUNK_ROWS
from data.ingest_read import Source
from data.workspace import Workspace

__all__ = ["CHUNK_ROWS", "SCHEMES", "is_database_url", "mask_url", "ingest_database", "copy_table", "TableCopy"]

#: URL schemes read as a database source.
SCHEMES: tuple[str, ...] = ("postgresql://", "postgres://", "postgresql+psycopg://")
#: Rows validated per chunk (as for a CSV file).
CHUNK_ROWS = _FILE_CHUNK_ROWS


def is_database_url(text: object) -> bool:
    """True when ``text`` is a ``postgresql://`` (or ``postgres://``) URL, not a file path."""
    return isinstance(text, str) and text.lower().startswith(SCHEMES)


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages, logs and the audit).

    Examples
    --------
    >>> mask_url("postgresql://police:s3cret@10.0.0.5:5432/jq")
    'postgresql://police:***@10.0.0.5:5432/jq'
    >>> mask_url("postgresql://police@10.0.0.5/jq")
    'postgresql://police@10.0.0.5/jq'
    """
    return re.sub(r"^([a-z0-9+]+://[^:/@?#]*):[^@/?#]*@", r"\1:***@", str(url), flags=re.IGNORECASE)


def ingest_database(
    url: str,
    ws: Workspace,
    *,
    table: str | None,
    where: str | None = None,
    mapping: Mapping[str, str] | None = None,
    coords: str = "wgs84",
    epsg: int | str | None = None,
    timezone: str | None = None,
    boundary: str | Path | None = None,
    limits=None,
    as_of=None,
    progress: Callable[[float, str], None] | None = None,
    chunk_rows: int = CHUNK_ROWS,
):
    """Validate the rows of a database table and append them to the workspace.

    Parameters
    ----------
    url : str
        ``postgresql://USER[:PASSWORD]@HOST:PORT/DB`` (read with psycopg 3).
    ws : Workspace
        Destination; created if needed.
    table : str
        Table (or view) name, e.g. ``警情表`` or ``schema.警情表``; quoted as an identifier.
    where : str, optional
        An SQL condition applied by the server (trusted operator input, not sanitised).
    mapping, coords, epsg, timezone, boundary, limits, as_of, progress
        As for :func:`data.ingest.ingest_files`.
    chunk_rows : int
        Rows fetched and validated at a time.

    Returns
    -------
    data.ingest.IngestReport

    Raises
    ------
    ValueError
        No ``--table``, a table that does not exist (named), a connection that fails (the URL
        named without its password), a ``--where`` the server rejects, or the columns problems
        of a file (no time/category/coordinate column). Nothing is written then.
    """
    from data import ingest as _ing  # the file ingest's validation and writer, shared
    from data.ingest_limits import limits_of

    if not table:
        raise ValueError(f"{mask_url(url)}: a database source needs --table NAME (e.g. --table 警情表)")
    if coords not in _ing.COORD_SYSTEMS:
        raise ValueError(f"--coords {coords!r}: expected one of {', '.join(_ing.COORD_SYSTEMS)}")
    for canon in mapping or {}:
        if canon not in _ing.CANONICAL:
            raise ValueError(f"--map {canon}=…: unknown canonical column {canon!r}; use one of {', '.join(_ing.CANONICAL)}")
    label = f"{mask_url(url)} --table {table}"
    with ws.transaction():
        ws.path.mkdir(parents=True, exist_ok=True)
        target_tz = ws.config.timezone
        if timezone:
            _ing._check_tz(timezone)
            if not ws.exists():
                target_tz = timezone
        source_tz = timezone or target_tz
        declared = _ing._as_of_arg(as_of)
        area = _ing.study_area(ws, boundary)
        report = _ing.IngestReport(files=[label], study_area=area.note)
        report.coords = _ing._coords_note(coords, epsg)
        seen = _ing._ingested(ws)
        existing_ids = _ing._existing_ids(ws)
        now_limit = (pd.Timestamp.now(tz=target_tz) + pd.Timedelta(days=1)).tz_localize(None)
        lim = limits_of(ws if limits is None else limits)
        with copy_table(url, table, where=where, timezone=source_tz) as copied:
            if copied.digest in seen:  # the very same rows were ingested before: nothing new
                report.already_ingested.append(label)
                return report
            good_parts, bad_parts = [], []
            n_in = n_used = n_bad = 0
            by_reason: dict[str, int] = {}
            latest = pd.NaT
            mapped_all: dict[str, str] = {}
            name = Path(str(table))  # quarantine rows and messages name the table
            for src in copied.chunks(chunk_rows):
                n = src.n_rows
                good, bad, mapped = _ing._validate(
                    src, name, mapping=mapping, coords=coords, epsg=epsg, source_tz=source_tz,
                    target_tz=target_tz, area=area, existing_ids=existing_ids, now_limit=now_limit,
                    limits=lim,
                )
                assert n == len(good) + len(bad), f"{label}: rows in {n} != {len(good)} used + {len(bad)} quarantined"
                n_in, n_used, n_bad = n_in + n, n_used + len(good), n_bad + len(bad)
                for reason, k in bad["reason"].value_counts().items():
                    by_reason[str(reason)] = by_reason.get(str(reason), 0) + int(k)
                mapped_all = mapped_all or mapped
                if len(good):
                    t_max = pd.to_datetime(good["occurred_at"]).max()
                    latest = t_max if pd.isna(latest) or t_max > latest else latest
                existing_ids.append((_ing._id_set(good["incident_id"]), "appears earlier in the input"))
                good_parts.append(good)
                bad_parts.append(bad)
                if progress is not None:
                    progress(0.5, f"{table}: {n_in:,} rows")
            digest = copied.digest
        report.rows_in, report.rows_used, report.rows_quarantined = n_in, n_used, n_bad
        report.by_reason = by_reason
        report.mapped[label] = mapped_all
        done = [{"sha256": digest, "file": label, "name": str(table),
                 "ingested_at": pd.Timestamp.now(tz=target_tz).tz_localize(None),
                 "rows_in": n_in, "rows_used": n_used, "rows_quarantined": n_bad,
                 "coords": report.coords, "encoding": "",
                 "as_of": declared if declared is not None else latest}]
        if progress is not None:
            progress(0.9, "write")
        _ing._write(ws, good_parts, bad_parts, done, report, timezone=target_tz)
    if progress is not None:
        progress(1.0, "done")
    return report


class TableCopy:
    """The rows of a table as the server printed them (CSV text in a private temporary file).

    Attributes
    ----------
    columns : list of str
        The table's column names, as reflected.
    digest : str
        sha256 of the column names and the rows in a canonical order (sorted by their text), so
        the same rows give the same digest whatever order the server keeps them in.
    path : Path
        The CSV file (removed when the ``with`` block of :func:`copy_table` ends).
    """

    def __init__(self, path: Path, columns: list[str], digest: str) -> None:
        self.path, self.columns, self.digest = path, columns, digest

    def chunks(self, chunk_rows: int = CHUNK_ROWS) -> Iterator[Source]:
        """The rows as text, ``chunk_rows`` at a time (at least one chunk, maybe empty)."""
        opts = {"dtype": str, "encoding": "utf-8", "keep_default_na": False, "na_values": [""]}
        offset = 0
        for frame in pd.read_csv(self.path, chunksize=chunk_rows, **opts):
            frame.columns = self.columns  # the reflected names, exactly
            yield Source(frame=frame.reset_index(drop=True), offset=offset)
            offset += len(frame)
        if offset == 0:
            yield Source(frame=pd.DataFrame({c: pd.Series([], dtype="str") for c in self.columns}))


@contextmanager
def copy_table(url: str, table: str, *, where: str | None = None,
               timezone: str = "Asia/Shanghai") -> Iterator[TableCopy]:
    """Copy the rows of ``table`` (filtered by ``where`` on the server) into a temporary CSV.

    SQLAlchemy reflects the table and composes the query (the name quoted as an identifier);
    the rows travel as PostgreSQL's own CSV text (``COPY (SELECT … ORDER BY row text) TO
    STDOUT``), hashed as they arrive, and are read back as text exactly like a CSV export — the
    quarantine keeps the values as the database printed them, and the text is parsed in C, not
    row by row in Python. ``timestamptz`` columns are given as wall-clock time in ``timezone``.
    """
    import tempfile

    import psycopg
    import sqlalchemy as sa
    from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError
    from sqlalchemy.pool import NullPool

    masked = mask_url(url)
    try:
        engine = sa.create_engine(_driver_url(url), poolclass=NullPool)
    except (SQLAlchemyError, ValueError, TypeError) as exc:  # a malformed URL
        raise ValueError(f"{masked}: not a usable database URL ({_clean(exc, url)})") from None
    try:
        try:
            conn = engine.connect()
        except SQLAlchemyError as exc:
            raise ValueError(f"{masked}: cannot connect ({_clean(exc, url)})") from None
        with conn, tempfile.NamedTemporaryFile(prefix="pingan-db-", suffix=".csv") as fh:
            schema, name = _resolve_table(conn, table, masked)
            try:
                t = sa.Table(name, sa.MetaData(), schema=schema, autoload_with=conn)
            except NoSuchTableError:
                raise ValueError(f"--table {table!r}: no such table in {masked}") from None
            src = t.alias("pingan_src")
            cols = [sa.func.timezone(timezone, c).label(c.name)
                    if isinstance(c.type, sa.DateTime) and c.type.timezone else c for c in src.c]
            query = sa.select(*cols).select_from(src).order_by(sa.literal_column("pingan_src::text"))
            if where:
                query = query.where(sa.text(where))
            sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
            names = [c.name for c in t.columns]
            digest = hashlib.sha256(b"db\x1f" + "\x1f".join(names).encode("utf-8") + b"\n")
            raw = conn.connection.driver_connection
            try:
                with raw.cursor() as cur, cur.copy(
                        f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')") as copy:
                    for block in copy:
                        fh.write(block)
                        digest.update(block)
            except psycopg.Error as exc:
                what = f"--where {where!r}" if where else f"--table {table!r}"
                raise ValueError(f"{what}: the database refused the query ({_clean(exc, url)})") from None
            fh.flush()
            yield TableCopy(Path(fh.name), names, digest.hexdigest())
    finally:
        engine.dispose()


# -- helpers ------------------------------------------------------------------------------
def _driver_url(url: str) -> str:
    """The URL for SQLAlchemy with the psycopg (3) driver (``postgresql://`` means psycopg2)."""
    scheme, rest = url.split("://", 1)
    return f"postgresql+psycopg://{rest}" if scheme.lower() in ("postgresql", "postgres") else url


def _resolve_table(conn, table: str, masked: str) -> tuple[str | None, str]:
    """(schema, name) of ``table``: the exact name first, else ``schema.name`` split at the dot."""
    import sqlalchemy as sa

    insp = sa.inspect(conn)
    if insp.has_table(table) or table in insp.get_view_names():
        return None, table
    if "." in table:
        schema, name = table.split(".", 1)
        if schema in insp.get_schema_names() and (
                insp.has_table(name, schema=schema) or name in insp.get_view_names(schema=schema)):
            return schema, name
    raise ValueError(f"--table {table!r}: no such table in {masked}")


def _clean(exc: BaseException, url: str) -> str:
    """The first line of the driver's message, the URL's password removed."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    password = re.match(r"^[a-z0-9+]+://[^:/@?#]*:([^@/?#]*)@", url, flags=re.IGNORECASE)
    if password and password.group(1):
        line = line.replace(password.group(1), "***")
    return line.replace(url, mask_url(url))
