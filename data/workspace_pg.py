"""A workspace in PostgreSQL + PostGIS: ``--workspace postgresql://USER@HOST:PORT/DB?schema=CITY``.

The same :class:`~data.workspace.Workspace` functions on a database schema instead of a folder,
for an office where several analysts and the 大屏 share one store. ``Workspace(url)`` returns a
:class:`PostgisWorkspace`, so every command and the app work on it unchanged.

- Tables: one per workspace file (:mod:`data.pg_tables`): ``incidents`` (GIST on its Point
  geometry, unique ``incident_id``), ``quarantine``, ``ingested``, ``assignments``, ``counts``,
  ``areas_<layer>`` (GIST on the geometry and on ``geom_4326``), ``extra_<name>``; text files
  (``config.toml``) in ``_pingan_files``.
- Version: a counter row in ``_pingan_meta``; every write transaction raises it once.
- Writer lock: ``pg_advisory_lock`` on the schema, held by a session (a killed writer's lock
  goes with its connection), plus a thread lock (re-entrant per thread, as the folder's).
- Transactions: the writer stages files locally as the folder backend does
  (:class:`PgTransaction`), then loads all of them and bumps the version in **one database
  transaction**: a crash before its COMMIT leaves the old version, after it the new one.
- Readers: each read is one statement (or a REPEATABLE READ transaction); several reads of one
  version use :meth:`~data.workspace.Workspace.read_snapshot` (a version check).
- Local companion folder (``ws.path``): ``~/.cache/pingan/postgis/<store uuid>-<url hash>``
  (``PINGAN_CACHE`` overrides ``~/.cache/pingan``) holds staging files, a read-through cache
  of tables materialised as Parquet for code that reads a workspace file by path
  (``ws.read_path``), keyed by the version that wrote each table, and per-machine files
  (the session secret, briefs).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pandas as pd

from data import pg_counts
from data import pg_tables as pgt
from data.config import WorkspaceError
from data.pg_transaction import PgTransaction, _PgLock
from data.transaction import _relative, active, set_active
from data.workspace import ADMIN_LEVELS, Workspace, WorkspaceBusy

if TYPE_CHECKING:  # pragma: no cover
    import psycopg
    import pyarrow as pa

__all__ = ["PostgisWorkspace", "PgTransaction", "close_connections", "copy_folder", "is_postgres_url", "parse_url"]


_SCHEMES = ("postgresql://", "postgres://", "postgresql:/", "postgres:/")
_CONNS = threading.local()
#: Connections a forked child inherited from its parent (a background job's worker): never used
#: and never closed there — closing would end the parent's session on the shared socket.
_INHERITED: list = []


def is_postgres_url(target: Any) -> bool:
    """True for ``postgresql://…`` (also after a ``Path`` collapsed its ``//``)."""
    return isinstance(target, (str, os.PathLike)) and str(target).startswith(_SCHEMES)


def parse_url(url: str) -> tuple[str, str]:
    """``(connection URL without ?schema, schema)``; the schema defaults to ``public``.

    Raises
    ------
    ValueError
        The schema is not a plain lower-case identifier (it names SQL objects).
    """
    url = str(url)
    for short in ("postgresql:/", "postgres:/"):
        if url.startswith(short) and not url.startswith(short + "/"):
            url = short + "/" + url[len(short):]
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    schema = (query.pop("schema", ["public"]) or ["public"])[0]
    if not schema.isidentifier() or schema != schema.lower() or len(schema) > 50:
        raise ValueError(f"--workspace {url}: schema={schema!r} must be a lower-case identifier such as 'guiyang'")
    rest = urlencode({k: v[0] for k, v in query.items()})
    return urlunsplit((parts.scheme, parts.netloc, parts.path, rest, "")), schema


def close_connections() -> None:
    """Close this thread's connections to every store (e.g. before copying a database)."""
    for conn in (getattr(_CONNS, "by_url", None) or {}).values():
        conn.close()
    _CONNS.by_url = {}


def copy_folder(folder: str | Path, url: str) -> PostgisWorkspace:
    """Copy a workspace folder's data into a PostGIS workspace, replacing what it held
    (:func:`data.workspace_copy.copy_workspace`; ``pingan workspace copy FOLDER URL --replace``)."""
    from data.workspace_copy import copy_workspace

    src = Workspace(folder)
    if src.backend != "folder" or not src.exists():
        raise WorkspaceError(f"{folder}: not a workspace folder (no incidents.parquet)")
    return copy_workspace(folder, url, replace=True)


class PostgisWorkspace(Workspace):
    """A workspace stored in a PostgreSQL + PostGIS schema (see the module docstring).

    Parameters
    ----------
    path : str
        ``postgresql://USER@HOST:PORT/DB?schema=CITY``; the schema and its catalogue are
        created on first use (the database needs the ``postgis`` extension).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.url, self.schema = parse_url(str(path))
        self._location = f"{self.url}{'&' if '?' in self.url else '?'}schema={self.schema}"
        try:
            conn = self._conn()
        except Exception as exc:  # psycopg.OperationalError: unreachable, no such database …
            raise WorkspaceError(f"--workspace {self.location}: cannot connect ({str(exc).strip()})") from exc
        store = pgt.bootstrap(conn, self.schema)
        root = Path(os.environ.get("PINGAN_CACHE") or Path.home() / ".cache" / "pingan")
        where = hashlib.sha1(self.location.encode()).hexdigest()[:8]  # a copied database is another store
        self.path = root / "postgis" / f"{store}-{where}"
        self.path.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"PostgisWorkspace({self.location!r})"

    @property
    def location(self) -> str:
        """The workspace URL (``postgresql://USER@HOST:PORT/DB?schema=CITY``), password masked."""
        return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", self._location)

    backend = "postgis"

    # -- documents and the audit log (data.accounts, data.audit) -----------------------------------
    def document(self, name: str) -> str | None:
        """A small document of the store (``users.json``, ``logins.json``); ``None``: absent.

        Read outside any transaction: accounts change without a new data version.
        """
        return pgt.read_text(self._conn(), self.schema, _relative(name))

    def put_document(self, name: str, text: str) -> None:
        """Replace a document (one statement: a reader sees the old or the new text)."""
        self._conn().execute(
            f"INSERT INTO \"{self.schema}\".{pgt.FILES} (name, body, written) VALUES (%s, %s, -1) "
            "ON CONFLICT (name) DO UPDATE SET body = excluded.body, "
            "tag = md5(random()::text || clock_timestamp()::text)", (_relative(name), text))

    @contextmanager
    def document_lock(self, name: str, timeout: float = 30.0) -> Iterator[None]:
        """Serialise read-modify-write of one document across processes and machines."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"SET lock_timeout = {int(timeout * 1000)}")
            try:
                conn.execute("SELECT pg_advisory_lock(hashtext('pingan-doc'), hashtext(%s))",
                             (f"{self.schema}/{name}",))
            except psycopg.errors.LockNotAvailable as exc:
                raise WorkspaceBusy(f"{self.location}: {name} is locked by another process") from exc
            yield  # closing the connection releases the lock

    def append_audit(self, entry: dict[str, str]) -> None:
        """One row of the audit table (``entry``: time, user, remote, action, detail)."""
        self._conn().execute(
            f"INSERT INTO \"{self.schema}\".{pgt.AUDIT} (time, \"user\", remote, action, detail) "
            "VALUES (%s, %s, %s, %s, %s)",
            (entry["time"], entry["user"], entry["remote"], entry["action"], entry["detail"]))

    def audit_entries(self) -> list[dict[str, str]]:
        """The audit table, oldest first, as the entries :meth:`append_audit` took."""
        rows = self._conn().execute(
            f"SELECT time, \"user\", remote, action, detail FROM \"{self.schema}\".{pgt.AUDIT} ORDER BY id").fetchall()
        return [{"time": t.isoformat(), "user": u, "remote": r, "action": a, "detail": d} for t, u, r, a, d in rows]

    # -- connections ------------------------------------------------------------------------------
    def _conn(self) -> psycopg.Connection:
        """This thread's connection to the store (autocommit; times in UTC)."""
        import psycopg

        conns = getattr(_CONNS, "by_url", None)
        if conns is not None and getattr(_CONNS, "pid", None) != os.getpid():
            _INHERITED.append(conns)  # forked: the parent's sockets are not ours
            conns = None
        if conns is None:
            conns = _CONNS.by_url = {}
            _CONNS.pid = os.getpid()
        conn = conns.get(self.url)
        if conn is None or conn.closed or conn.broken:
            conn = psycopg.connect(self.url, autocommit=True, options="-c timezone=UTC -c datestyle=ISO")
            conns[self.url] = conn
        return conn

    @contextmanager
    def _snapshot(self) -> Iterator[psycopg.Connection]:
        """A REPEATABLE READ transaction: every statement in it sees one committed version."""
        conn = self._conn()
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield conn

    # -- reading ----------------------------------------------------------------------------------
    def _staged(self, name: str) -> Path | None:
        """This thread's staged copy of ``name`` (a missing path if deleted); ``None``: not touched."""
        tx = active(self.path)
        if tx is None:
            return None
        rel = _relative(name)
        if rel in tx.staged or rel in tx.deleted or rel in tx.appends or rel in tx.cells:
            return tx.resolve(rel)
        return None

    def _arrow(self, name: str, columns: list[str] | None = None) -> pa.Table | None:
        """The table ``name`` as this thread sees it: staged, cached locally, or from the store."""
        import pyarrow.parquet as pq

        staged = self._staged(name)
        if staged is not None:
            return pq.read_table(staged, columns=columns) if staged.exists() else None
        with self._snapshot() as conn:
            written = pgt.written_version(conn, self.schema, name)
            if written is None:
                return None
            cached = self.path / written / name
            if cached.exists():
                return pq.read_table(cached, columns=columns)
            return pgt.read_arrow(conn, self.schema, name, columns)

    def has_file(self, name: str) -> bool:
        """Whether the workspace file ``name`` exists (as this thread sees it), without reading it."""
        return self._has(name)

    def file_key(self, name: str) -> str | None:
        """What identifies the current content of ``name`` without reading it: the stored key
        (:func:`data.pg_tables.written_version`), or this transaction's token for a file it changed
        (replaced by the stored key at commit); ``None``: absent."""
        rel = _relative(name)
        tx = active(self.path)
        if tx is not None and rel in tx.seq:
            return None if rel in tx.deleted else tx.token(rel)
        return pgt.written_version(self._conn(), self.schema, rel)

    def table(self, name: str, columns: list[str] | None = None) -> pa.Table | None:
        """The table ``name`` (only ``columns``) as this thread sees it; ``None``: absent."""
        return self._arrow(name, columns)

    def table_schema(self, name: str) -> pa.Schema | None:
        """The Arrow schema of the table ``name`` as this thread sees it, without reading the table."""

        rel = _relative(name)
        tx = active(self.path)
        if tx is not None and rel in tx.cells:
            return tx.cells[rel][2]
        if tx is not None and (rel in tx.staged or rel in tx.deleted):
            path = tx.resolve(rel)
            return pgt.file_schema(path) if path.exists() else None
        return pgt.table_schema(self._conn(), self.schema, rel)

    def cube_axes(self, name: str = "counts.parquet") -> dict | None:
        """The axes of the counts cube as this thread sees it (:mod:`data.pg_counts`); ``None``: not
        stored as a cube (absent, staged whole in this transaction, or not a dense cube)."""
        rel = _relative(name)
        tx = active(self.path)
        if tx is not None and rel in tx.cells:
            return tx.cells[rel][1]
        if tx is not None and (rel in tx.staged or rel in tx.deleted):
            return None
        row = self._conn().execute(
            f"SELECT tbl FROM \"{self.schema}\".{pgt.CATALOG} WHERE name = %s AND layout = 'cube'", (rel,)).fetchone()
        return None if row is None else pg_counts.read_axes(self._conn(), self.schema, row[0])

    def metadata(self, name: str) -> dict[bytes, bytes] | None:
        """The key-value metadata of the table ``name`` as this thread sees it, without reading
        the table (``None``: absent)."""

        rel = _relative(name)
        tx = active(self.path)
        if tx is not None and rel in tx.cells:
            return dict(tx.cells[rel][2].metadata or {})
        if tx is not None and (rel in tx.staged or rel in tx.deleted):
            path = tx.resolve(rel)
            return dict(pgt.file_schema(path).metadata or {}) if path.exists() else None
        stored = pgt.table_schema(self._conn(), self.schema, rel)
        return None if stored is None else dict(stored.metadata or {})

    def _has(self, name: str) -> bool:
        tx = active(self.path)
        if tx is not None and (_relative(name) in tx.appends or _relative(name) in tx.cells):
            return True  # rows or cells added to a committed table
        staged = self._staged(name)
        if staged is not None:
            return staged.exists()
        return pgt.written_version(self._conn(), self.schema, name) is not None

    def exists(self) -> bool:
        return self._has("incidents.parquet")

    def incidents(self, columns: list[str] | None = None):
        """The incident table (GeoDataFrame, EPSG:4326)."""
        cols = None if columns is None else list(dict.fromkeys([*columns, "geometry"]))
        return _to_geopandas(self._require("incidents.parquet", cols))

    def incidents_frame(self, columns: list[str] | None = None) -> pd.DataFrame:
        cols = columns or ["incident_id", "occurred_at", "category", "lon", "lat"]
        return self._require("incidents.parquet", cols).to_pandas()

    def quarantine(self) -> pd.DataFrame:
        table = self._arrow("quarantine.parquet")
        if table is None:
            return pd.DataFrame(columns=["source_file", "source_row", "reason"])
        return table.to_pandas()

    def layers(self) -> list[str]:
        names = set(pgt.file_names(self._conn(), self.schema, "areas/"))
        tx = active(self.path)
        if tx is not None:
            names = (names - tx.deleted) | {r for r, p in tx.staged.items() if r.startswith("areas/") and p.exists()}
        stems = sorted(Path(n).stem for n in names if n.endswith(".parquet") and n.count("/") == 1)
        return [lv for lv in ADMIN_LEVELS if lv in stems] + [n for n in stems if n not in ADMIN_LEVELS]

    def areas(self, layer: str):
        table = self._arrow(f"areas/{layer}.parquet")
        if table is None:
            raise WorkspaceError(f"{self.location}: no area layer {layer!r}; "
                                 f"layers: {', '.join(self.layers()) or 'none'}")
        return _to_geopandas(table)

    def _require(self, name: str, columns: list[str] | None) -> pa.Table:
        table = self._arrow(name, columns)
        if table is None:
            raise WorkspaceError(
                f"{name}: not found — is {self.location} a Pingan workspace? "
                f"(build one with `pingan ingest FILE --workspace {self.location}`)")
        return table

    def read_path(self, name: str) -> Path:
        """A local Parquet/text copy of the workspace file ``name`` (missing path: no such file).

        Inside this thread's transaction, its staged copy; otherwise the committed table,
        materialised once per write under ``ws.path/v<version>-<tag>/``.
        """
        tx = active(self.path)
        if tx is not None:
            return tx.resolve(name)
        return self._materialise(_relative(name))

    def _materialise(self, rel: str) -> Path:
        with self._snapshot() as conn:
            written = pgt.written_version(conn, self.schema, rel)
            if written is None:
                return self.path / "absent" / rel
            target = self.path / written / rel
            if target.exists():
                return target
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            text = pgt.read_text(conn, self.schema, rel)
            if text is not None:
                tmp.write_text(text, encoding="utf-8")
            else:
                pgt.write_parquet(conn, self.schema, rel, tmp)
        os.replace(tmp, target)
        version = int(written[1:].split("-")[0])
        for old in self.path.glob(f"v*/{rel}"):  # earlier writes of this file: not read again
            if old != target and int(old.relative_to(self.path).parts[0][1:].split("-")[0]) < version:
                old.unlink(missing_ok=True)
        return target

    # -- version and the writer lock --------------------------------------------------------------
    @property
    def version_path(self) -> Path:
        return self.path / "version"

    @property
    def version(self) -> int:
        row = self._conn().execute(
            f'SELECT value FROM "{self.schema}".{pgt.META} WHERE key = %s', ("version",)).fetchone()
        return int(row[0]) if row else 0

    def bump_version(self) -> int:
        """Raise the version by one (hold :meth:`write_lock`)."""
        row = self._conn().execute(
            f"UPDATE \"{self.schema}\".{pgt.META} SET value = (value::bigint + 1)::text WHERE key = 'version' "
            "RETURNING value").fetchone()
        return int(row[0])

    def write_lock(self, timeout: float | None = None):
        """One writer at a time: ``pg_advisory_lock`` on the schema (+ a thread lock)."""
        return _PgLock(self, timeout)

    def pending(self) -> bool:
        return False  # a commit is one database transaction: never half switched in

    def _settle(self, wait: float = 30.0) -> None:
        return None

    @contextmanager
    def transaction(self, timeout: float | None = None) -> Iterator[PgTransaction]:
        """Stage writes; load them all and bump the version in one database transaction."""
        with self.write_lock(timeout) as lock:
            tx = active(self.path)
            if tx is not None:
                yield tx
                return
            tx = PgTransaction(self, lock.conn)
            set_active(self.path, tx)
            try:
                yield tx
            except BaseException:
                tx.abort()
                raise
            else:
                if tx.staged or tx.deleted or tx.appends or tx.cells:
                    tx.commit()
                else:
                    tx.abort()
            finally:
                set_active(self.path, None)


def _to_geopandas(table: pa.Table):
    """As ``geopandas.read_parquet`` would return it (same conversion of the GeoParquet metadata)."""
    from geopandas.io.arrow import _arrow_to_geopandas

    return _arrow_to_geopandas(table)
