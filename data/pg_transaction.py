"""The writer's side of a PostGIS workspace: its transaction and its lock.

:class:`PgTransaction` stages a commit's files locally as the folder backend does
(:class:`data.transaction.StagedFiles`), takes rows to append and count cells to add, and
:meth:`PgTransaction.commit` loads all of them and raises the version in **one database
transaction**. :class:`_PgLock` is the one-writer lock: a thread lock plus a session
``pg_advisory_lock`` on the schema (a killed writer's lock goes with its connection).
Used by :class:`data.workspace_pg.PostgisWorkspace`.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from data import pg_counts
from data import pg_tables as pgt
from data.transaction import STAGING, StagedFiles, _crash_point, _relative
from data.workspace import WorkspaceBusy

if TYPE_CHECKING:  # pragma: no cover
    import psycopg
    import pyarrow as pa

    from data.workspace_pg import PostgisWorkspace

__all__ = ["PgTransaction"]

_THREAD_LOCKS: dict[str, threading.RLock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


class PgTransaction(StagedFiles):
    """Files staged locally for one commit into a PostGIS workspace.

    The interface of :class:`data.transaction.Transaction` (``path``, ``write_parquet``,
    ``write_text``, ``delete``, ``resolve``, ``listdir``, ``commit``, ``abort``); :meth:`commit`
    loads every staged file and raises the version in one database transaction.
    """

    def __init__(self, ws: PostgisWorkspace, conn: psycopg.Connection) -> None:
        super().__init__(ws)
        self.conn = conn
        #: Rows to add at the end of a committed table: Parquet files, in order (:meth:`append`).
        self.appends: dict[str, list[Path]] = {}
        #: Cells to add to the committed counts cube, with its new axes and schema (:meth:`add_cells`).
        self.cells: dict[str, tuple[pa.Table, dict, pa.Schema]] = {}
        #: The last change of each file in this transaction, numbered (:meth:`token`).
        self.seq: dict[str, int] = {}

    # -- staging, appending, adding cells -------------------------------------------------------
    def path(self, name: str) -> Path:
        rel = _relative(name)
        self.appends.pop(rel, None)
        self.cells.pop(rel, None)
        self._touch(rel)
        return super().path(name)

    def delete(self, name: str) -> None:
        rel = _relative(name)
        self.appends.pop(rel, None)
        self.cells.pop(rel, None)
        self._touch(rel)
        super().delete(name)

    def append(self, name: str, table: pa.Table) -> None:
        """Add ``table``'s rows at the end of the committed table ``name`` at commit (same columns
        and types): O(new rows), where staging the whole table would be O(history)."""
        import pyarrow.parquet as pq

        rel = _relative(name)
        if rel in self.staged or rel in self.deleted or not self.ws.has_file(rel):  # a new table: staged whole
            old = self._read(rel)
            pq.write_table(table if old is None else _concat_tables([old, table]), StagedFiles.path(self, rel))
            self._touch(rel)
            return
        files = self.appends.setdefault(rel, [])
        path = self.root / "append" / f"{rel}.{len(files)}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path, compression="snappy")
        files.append(path)
        self._touch(rel)

    def add_cells(self, name: str, cells: pa.Table, axes: dict, arrow_schema: pa.Schema) -> None:
        """Add non-zero ``cells`` to the committed cube ``name`` at commit, with its new ``axes`` and
        Arrow schema (:mod:`data.pg_counts`); the cube is not read."""
        rel = _relative(name)
        if rel in self.staged or rel in self.deleted or rel in self.cells:
            raise ValueError(f"{name}: staged whole in this transaction; add the cells to it instead")
        self.cells[rel] = (cells, axes, arrow_schema)
        self._touch(rel)

    def token(self, rel: str) -> str:
        """What identifies the content of ``rel`` written in this transaction; the commit replaces it by
        the stored key (:func:`data.pg_tables.written_version`) wherever a table's metadata holds it."""
        return f"tx:{self.root.name}:{rel}:{self.seq[rel]}"

    def _touch(self, rel: str) -> None:
        self.seq[rel] = max(self.seq.values(), default=0) + 1

    # -- reading inside the transaction ---------------------------------------------------------
    def resolve(self, name: str) -> Path:
        rel = _relative(name)
        if rel in self.appends or rel in self.cells:
            self._fold(rel)
        return super().resolve(name)

    def _fold(self, rel: str) -> None:
        """Stage the whole table a pending append or cell addition makes (someone reads it now)."""
        import pyarrow.parquet as pq

        seq = self.seq[rel]
        target = StagedFiles.path(self, rel)
        if rel in self.appends:
            paths = self.appends.pop(rel)
            table = _concat_tables([pq.read_table(self.ws._materialise(rel)), *(pq.read_table(p) for p in paths)])
            pq.write_table(table, target, compression="snappy")
        else:
            cells, axes, arrow_schema = self.cells.pop(rel)
            with self.ws._snapshot() as conn:
                tbl = pgt.table_name(rel)
                with pq.ParquetWriter(target, arrow_schema, compression="snappy") as writer:
                    for part in pg_counts.read_cube(conn, self.ws.schema, tbl, arrow_schema, add=cells, axes=axes):
                        writer.write_table(part)
        self.seq[rel] = seq  # the same content: the same token

    def _read(self, rel: str) -> pa.Table | None:
        import pyarrow.parquet as pq

        path = self.resolve(rel)
        return pq.read_table(path) if path.exists() else None

    def _committed(self, rel: str) -> Path:
        return self.ws._materialise(rel)

    def _committed_names(self, folder: str, pattern: str) -> set[str]:
        return {n for n in pgt.file_names(self.conn, self.ws.schema, folder + "/") if Path(n).match(pattern)}

    def commit(self) -> int:
        """Load every staged file, drop the deleted ones, raise the version: one DB transaction."""
        if self.done:
            raise RuntimeError("transaction already finished")
        files = sorted(rel for rel, p in self.staged.items() if p.exists())
        _crash_point("staged")
        schema = self.ws.schema
        with self.conn.transaction():
            row = self.conn.execute(
                f"SELECT value::bigint FROM \"{schema}\".{pgt.META} WHERE key = 'version' FOR UPDATE").fetchone()
            version = int(row[0]) + 1
            keys, keys_in_place = {}, {}
            for i, rel in enumerate(files):
                src = self.staged[rel]
                if rel.endswith(".parquet"):
                    keys[rel] = pgt.write_arrow(self.conn, schema, rel, str(src), version)
                else:
                    keys[rel] = pgt.write_text(self.conn, schema, rel, src.read_text(encoding="utf-8"), version)
                if i == 0:
                    _crash_point("loading")  # inside the database transaction: the old version stays
            for rel in sorted(self.appends):  # O(new rows): the rows go at the end of the table
                keys_in_place[rel] = pgt.append_arrow(self.conn, schema, rel, [str(p) for p in self.appends[rel]],
                                                      version)
                if not files and len(keys_in_place) == 1:
                    _crash_point("loading")
            for rel, (cells, axes, arrow_schema) in sorted(self.cells.items()):
                keys_in_place[rel] = pgt.add_cube_cells(self.conn, schema, rel, cells, axes, arrow_schema, version)
            for rel in sorted(self.deleted):
                pgt.drop_file(self.conn, schema, rel)
            self._resolve_tokens({**keys, **keys_in_place})
            self.conn.execute(f"UPDATE \"{schema}\".{pgt.META} SET value = %s WHERE key = 'version'",
                              (str(version),))
        _crash_point("committed")
        self.done = True
        for rel, key in keys.items():  # the staged files are this version's local copies
            target = self.ws.path / key / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.staged[rel], target)
        shutil.rmtree(self.root, ignore_errors=True)
        return version

    def _resolve_tokens(self, keys: dict[str, str]) -> None:
        """Where a written table's metadata names what it was made from by :meth:`token` (the counts'
        inputs, :mod:`data.pipeline`), put the stored keys: a later transaction compares them."""
        prefix = f"tx:{self.root.name}:".encode()
        current = {self.token(rel).encode(): key.encode() for rel, key in keys.items()}
        for rel in keys:
            if rel in self.cells:
                meta = self.cells[rel][2].metadata or {}
            elif rel in self.staged and rel.endswith(".parquet"):
                meta = pgt.file_schema(self.staged[rel]).metadata or {}
            else:
                continue
            if not any(prefix in v for v in meta.values()):
                continue
            fixed = {}
            for k, v in meta.items():
                for token, key in current.items():
                    v = v.replace(b'"' + token + b'"', b'"' + key + b'"')
                fixed[k] = v
            pgt.set_metadata(self.conn, self.ws.schema, rel, fixed)

    def abort(self) -> None:
        self.done = True
        shutil.rmtree(self.root, ignore_errors=True)


class _PgLock:
    """Thread lock + a session advisory lock on the schema; re-entrant per thread."""

    _held = threading.local()

    def __init__(self, ws: PostgisWorkspace, timeout: float | None) -> None:
        self.ws = ws
        self.timeout = timeout
        self.conn = None

    def __enter__(self) -> _PgLock:
        import psycopg

        key = str(self.ws.path)
        with _THREAD_LOCKS_GUARD:
            rlock = _THREAD_LOCKS.setdefault(key, threading.RLock())
        if not rlock.acquire(timeout=-1 if self.timeout is None else self.timeout):
            raise WorkspaceBusy(f"{self.ws.location}: workspace busy (another writer); try again later")
        depth = getattr(self._held, key, 0)
        if depth == 0:
            try:
                conn = psycopg.connect(self.ws.url, autocommit=True, options="-c timezone=UTC -c datestyle=ISO")
            except BaseException:
                rlock.release()
                raise
            deadline = None if self.timeout is None else time.monotonic() + self.timeout
            args = ("pingan", self.ws.schema)
            while not conn.execute("SELECT pg_try_advisory_lock(hashtext(%s), hashtext(%s))", args).fetchone()[0]:
                if deadline is not None and time.monotonic() >= deadline:
                    conn.close()
                    rlock.release()
                    raise WorkspaceBusy(f"{self.ws.location}: workspace busy (another writer holds the "
                                        "advisory lock of the schema); try again later")
                time.sleep(0.02)
            setattr(self._held, key + ":conn", conn)
            _discard_stale_staging(self.ws.path)
        self.conn = getattr(self._held, key + ":conn")
        setattr(self._held, key, depth + 1)
        self._rlock, self._key = rlock, key
        return self

    def __exit__(self, *exc) -> None:
        depth = getattr(self._held, self._key) - 1
        setattr(self._held, self._key, depth)
        if depth == 0:
            getattr(self._held, self._key + ":conn").close()  # releases the advisory lock
            setattr(self._held, self._key + ":conn", None)
        self._rlock.release()


def _discard_stale_staging(path: Path) -> None:
    """Remove staging folders of dead writers (their database transaction never committed)."""
    base = path / STAGING
    if not base.exists():
        return
    for entry in base.iterdir():
        pid = entry.name.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _concat_tables(tables: list[pa.Table]) -> pa.Table:
    """Tables one after the other (columns a later one adds are null before it)."""
    import pyarrow as pa

    return pa.concat_tables(tables, promote_options="permissive")
