"""The workspace: one folder holding a city's incidents, areas, counts and configuration.

Layout (design.md, "Workspace")::

    W/config.toml            time zone, projected CRS, taxonomy, thresholds, attribution
    W/incidents.parquet      GeoParquet, canonical incident table (EPSG:4326)
    W/quarantine.parquet     every unusable input row, original values + ``reason``
    W/ingested.parquet       fingerprints of ingested files (re-ingesting a file adds nothing)
                             and each source's "data as of" time (:meth:`Workspace.as_of`)
    W/areas/<layer>.parquet  GeoParquet area layers in the projected CRS
    W/assignments.parquet    incident_id + one area_id column per layer
    W/counts.parquet         dense weekly counts: layer, area_id, period, category, count
    W/extra/*.parquet        secondary layers (cameras, ground truth …)
    W/version                the committed version (every write transaction bumps it once)
    W/.lock, W/.txn/         the writer lock and staged transactions (:mod:`data.transaction`)

No server is needed. Everything else in Pingan reads and writes through :class:`Workspace`.

Writes are transactions (:meth:`Workspace.transaction`): one writer at a time, every changed
file staged, fsynced and switched in together, then the version bumped. Readers need no lock:
the canonical files are always complete, and :meth:`Workspace.read_snapshot` retries a read
that overlapped a switch, so several files read together are of one version. An interrupted
transaction is finished or discarded by the next reader or writer (see :mod:`data.transaction`).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import tomli_w

from data.config import DEFAULT_LAG_DAYS, Config, WorkspaceError
from data.transaction import STAGING, Transaction, active, fsync_path, pending, recover, set_active

__all__ = [
    "Config", "Workspace", "ADMIN_LEVELS", "DEFAULT_LAG_DAYS", "GENERATED_FILES", "WorkspaceError",
    "WorkspaceBusy", "reset_generated",
]

#: Administrative levels from coarse to fine (区 > 街道 > 社区 > 网格).
ADMIN_LEVELS: tuple[str, ...] = ("district", "subdistrict", "community", "grid")

#: Files and folders a generated workspace (``pingan demo``, ``pingan fetch``) owns; a rebuild
#: removes exactly these and nothing else a user may have put in the folder.
GENERATED_FILES: tuple[str, ...] = (
    "config.toml", "incidents.parquet", "quarantine.parquet", "ingested.parquet",
    "assignments.parquet", "counts.parquet", "areas", "extra", "raw",
)


class WorkspaceBusy(WorkspaceError):
    """Another writer holds the workspace lock and did not release it in time."""


# One in-process lock per workspace folder: ``fcntl`` locks are per open file, so two
# threads of one server must first agree among themselves before one takes the file lock.
_THREAD_LOCKS: dict[str, threading.RLock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


class Workspace:
    """A workspace folder.

    Parameters
    ----------
    path : str or Path
        The folder; created by :meth:`create` or by the first ingest.

    Examples
    --------
    >>> import tempfile
    >>> ws = Workspace.create(tempfile.mkdtemp(), Config(name="示范市"))
    >>> ws.config.name
    '示范市'
    """

    def __new__(cls, path: str | Path | None = None) -> Workspace:
        # ``postgresql://USER@HOST:PORT/DB?schema=CITY``: the PostGIS store behind the same methods
        if cls is Workspace and str(path).startswith(("postgresql:/", "postgres:/")):
            from data.workspace_pg import PostgisWorkspace

            return super().__new__(PostgisWorkspace)
        return super().__new__(cls)

    #: Where the data lives: ``"folder"`` here, ``"postgis"`` for :mod:`data.workspace_pg`.
    backend = "folder"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def location(self) -> str:
        """Where the workspace is, for messages: the folder (a PostGIS workspace: its URL)."""
        return str(self.path)

    @classmethod
    def open(cls, target: str | Path) -> Workspace:
        """The workspace at ``target``: a folder, or ``postgresql://…?schema=CITY`` (PostGIS)."""
        return cls(target)

    # -- creation and config -------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, config: Config | None = None) -> Workspace:
        """Create the folder (if needed) and write ``config.toml`` (if given or missing)."""
        ws = cls(path)
        ws.path.mkdir(parents=True, exist_ok=True)
        (ws.path / "areas").mkdir(exist_ok=True)
        with ws.transaction():
            if config is not None or not ws.read_path("config.toml").exists():
                ws.write_config(config or Config())
        return ws

    @property
    def config_path(self) -> Path:
        return self.path / "config.toml"

    @property
    def config(self) -> Config:
        path = self.read_path("config.toml")
        if not path.exists():
            return Config()
        try:
            return Config.from_dict(tomllib.loads(path.read_text(encoding="utf-8")))
        except tomllib.TOMLDecodeError as exc:
            raise WorkspaceError(f"{self.config_path}: not valid TOML ({exc})") from exc

    def write_config(self, config: Config) -> None:
        """Write ``config.toml`` (in the open transaction, else in one of its own)."""
        with self.transaction() as tx:
            tx.write_text("config.toml", tomli_w.dumps(config.to_dict()))

    def update_config(self, **changes: Any) -> Config:
        """Replace some config fields and write the file; returns the new config."""
        with self.transaction():  # read-modify-write under the lock
            cfg = replace(self.config, **changes)
            self.write_config(cfg)
        return cfg

    # -- paths ---------------------------------------------------------------------------
    @property
    def incidents_path(self) -> Path:
        return self.path / "incidents.parquet"

    @property
    def quarantine_path(self) -> Path:
        return self.path / "quarantine.parquet"

    @property
    def ingested_path(self) -> Path:
        return self.path / "ingested.parquet"

    @property
    def assignments_path(self) -> Path:
        return self.path / "assignments.parquet"

    @property
    def counts_path(self) -> Path:
        return self.path / "counts.parquet"

    def area_path(self, layer: str) -> Path:
        return self.path / "areas" / f"{layer}.parquet"

    def extra_path(self, name: str) -> Path:
        return self.path / "extra" / f"{name}.parquet"

    # -- reading -------------------------------------------------------------------------
    def exists(self) -> bool:
        from data.partitions import part_files  # a single file or monthly parts

        return bool(part_files(self, "incidents.parquet"))

    def require(self, what: Path) -> Path:
        """The path to read the workspace file ``what`` from; raises if it does not exist."""
        path = Path(what)
        parts = False
        if path.parent == self.path or path.parent.parent == self.path:
            rel = path.relative_to(self.path).as_posix()
            path = self.read_path(rel)
            if not path.exists() and rel in ("incidents.parquet", "assignments.parquet"):
                from data.partitions import part_files  # monthly parts staged in this transaction

                parts = bool(part_files(self, rel))
        if not path.exists() and not parts:
            raise WorkspaceError(
                f"{what}: not found — is {self.path} a Pingan workspace? "
                "(build one with `pingan demo` or `pingan ingest FILE --workspace W`)"
            )
        return path

    def incidents(self, columns: list[str] | None = None):
        """The incident table (GeoDataFrame, EPSG:4326)."""
        import geopandas as gpd

        from data.partitions import read_frame

        path = self.require(self.incidents_path)
        cols = None if columns is None else list(dict.fromkeys([*columns, "geometry"]))
        if path.is_dir() or active(self.path) is not None:  # monthly parts (data.partitions)
            return read_frame(self, "incidents.parquet", cols, geo=True)
        return gpd.read_parquet(path, columns=cols)

    def incidents_frame(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The incident table without geometry (faster when only lon/lat are needed)."""
        from data.partitions import read_frame

        path = self.require(self.incidents_path)
        cols = columns or ["incident_id", "occurred_at", "category", "lon", "lat"]
        if path.is_dir() or active(self.path) is not None:  # monthly parts (data.partitions)
            return read_frame(self, "incidents.parquet", cols)
        return pd.read_parquet(path, columns=cols)

    def as_of(self) -> pd.Timestamp:
        """What the data covers ("data as of", naive local time).

        The rule: each ingested source records its as-of time in ``ingested.parquet`` — the
        ``--as-of`` given at ingest, else the time of the latest incident it brought (never
        the ingest time: a Wednesday export ingested on Monday is still Wednesday's data).
        The workspace's as-of is the latest source's. A workspace ingested before sources
        recorded it falls back to the latest incident time.

        Raises
        ------
        WorkspaceError
            No incidents (the file names what is missing).
        """
        log = self.read_path("ingested.parquet")
        if log.exists():
            import pyarrow.parquet as pq

            if "as_of" in pq.read_schema(log).names:
                recorded = pd.to_datetime(pd.read_parquet(log, columns=["as_of"])["as_of"]).max()
                if not pd.isna(recorded):
                    return pd.Timestamp(recorded)
        t = pd.to_datetime(self.incidents_frame(["occurred_at"])["occurred_at"]).max()
        if pd.isna(t):
            raise WorkspaceError(f"{self.incidents_path}: no dated incident, so no as-of time")
        return pd.Timestamp(t)

    def quarantine(self) -> pd.DataFrame:
        path = self.read_path("quarantine.parquet")
        if not path.exists():
            return pd.DataFrame(columns=["source_file", "source_row", "reason"])
        return pd.read_parquet(path)

    def layers(self) -> list[str]:
        """Layer names present, admin levels first (coarse → fine), then generated grids."""
        self._settle()
        tx = active(self.path)
        if tx is not None:
            names = sorted(Path(rel).stem for rel in tx.listdir("areas", "*.parquet"))
        else:
            folder = self.path / "areas"
            names = sorted(p.stem for p in folder.glob("*.parquet")) if folder.exists() else []
        admin = [lv for lv in ADMIN_LEVELS if lv in names]
        return admin + [n for n in names if n not in ADMIN_LEVELS]

    def areas(self, layer: str):
        """One area layer (GeoDataFrame in the workspace CRS)."""
        import geopandas as gpd

        path = self.read_path(f"areas/{layer}.parquet")
        if not path.exists():
            raise WorkspaceError(
                f"{path}: no area layer {layer!r} in {self.path}; layers: {', '.join(self.layers()) or 'none'}"
            )
        return gpd.read_parquet(path)

    def extra(self, name: str) -> pd.DataFrame:
        import geopandas as gpd

        path = self.require(self.extra_path(name))
        try:
            return gpd.read_parquet(path)
        except ValueError:  # a plain (non-geo) parquet table
            return pd.read_parquet(path)

    def has_extra(self, name: str) -> bool:
        return self.read_path(f"extra/{name}.parquet").exists()

    def write_extra(self, name: str, table: pd.DataFrame) -> Path:
        """Write a secondary table (in the open transaction, else in one of its own)."""
        with self.transaction() as tx:
            tx.write_parquet(f"extra/{name}.parquet", table)
        return self.extra_path(name)

    # -- version and the writer lock ------------------------------------------------------
    @property
    def version_path(self) -> Path:
        return self.path / "version"

    @property
    def version(self) -> int:
        """The workspace version: every committed write bumps it (caches key on it)."""
        try:
            return int(self.version_path.read_text(encoding="ascii").strip() or 0)
        except FileNotFoundError:
            return 0
        except ValueError as exc:
            raise WorkspaceError(f"{self.version_path}: not a version number") from exc

    def bump_version(self) -> int:
        """Write ``version + 1`` atomically (call while holding :meth:`write_lock`)."""
        new = self.version + 1
        tmp = self.version_path.with_name(f"version.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(f"{new}\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.version_path)
        fsync_path(self.path)
        return new

    def write_lock(self, timeout: float | None = None):
        """The one-writer-at-a-time lock of this workspace (a context manager).

        Re-entrant within a thread; a second process (or thread) waits up to ``timeout``
        seconds (forever when ``None``) and then raises :class:`WorkspaceBusy`.
        """
        return _WriteLock(self.path, timeout)

    @contextmanager
    def transaction(self, timeout: float | None = None) -> Iterator[Transaction]:
        """Stage writes and commit them atomically at the end of the block (bumps the version).

        Takes :meth:`write_lock` (``timeout`` as there) for the whole block. A block nested in
        an open transaction of the same thread joins it: one commit, one version. An exception
        discards everything staged. Inside the block, this thread's reads through the
        ``Workspace`` methods see the staged files.

        Examples
        --------
        >>> import tempfile
        >>> ws = Workspace.create(tempfile.mkdtemp())
        >>> before = ws.version
        >>> with ws.transaction() as tx:
        ...     _ = tx.write_text("notes.txt", "第一周")
        ...     _ = ws.update_config(name="示范市")
        >>> ws.version - before, ws.config.name, (ws.path / "notes.txt").read_text(encoding="utf-8")
        (1, '示范市', '第一周')
        """
        with self.write_lock(timeout):
            tx = active(self.path)
            if tx is not None:
                yield tx
                return
            tx = Transaction(self)
            set_active(self.path, tx)
            try:
                yield tx
            except BaseException:
                tx.abort()
                raise
            else:
                if tx.staged or tx.deleted:
                    tx.commit()
                else:  # nothing written: not a new version
                    tx.abort()
            finally:
                set_active(self.path, None)

    def pending(self) -> bool:
        """True while a committed transaction is being switched in (files of two versions)."""
        return pending(self.path)

    def read_snapshot(self, read: Callable[[Workspace], Any], *, attempts: int = 100) -> Any:
        """``read(self)``, retried until no transaction switched files in meanwhile.

        Use it to read several files of one version without the lock, e.g. incidents and
        counts: the result is of the version ``self.version`` had before and after the call.

        Raises
        ------
        WorkspaceBusy
            Writers kept switching files in during ``attempts`` tries.
        """
        for _ in range(attempts):
            self._settle()
            before = self.version
            if self.pending():
                continue
            out = read(self)
            if not self.pending() and self.version == before:
                return out
        raise WorkspaceBusy(f"{self.path}: the workspace kept changing during {attempts} reads; try again later")

    # -- reading through the open transaction ---------------------------------------------
    def read_path(self, name: str) -> Path:
        """Where to read the workspace file ``name`` (e.g. ``"counts.parquet"``) now.

        Inside this thread's open transaction, its staged copy (or a missing path if it deleted
        the file); otherwise the canonical path, after finishing any committed transaction a
        dead writer left.
        """
        tx = active(self.path)
        if tx is not None:
            return tx.resolve(name)
        self._settle()
        return self.path / name

    def _settle(self, wait: float = 30.0) -> None:
        """Finish a committed transaction left by a dead writer, or wait for a live one's switch."""
        if not pending(self.path) or active(self.path) is not None:
            return
        deadline = time.monotonic() + wait
        while pending(self.path):
            try:
                with self.write_lock(timeout=0):  # taking the lock runs the recovery
                    pass
            except WorkspaceBusy:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.005)


class _WriteLock:
    """Thread lock + file lock (``W/.lock``) held together; re-entrant per thread."""

    _held = threading.local()

    def __init__(self, path: Path, timeout: float | None) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._file = None

    def __enter__(self) -> _WriteLock:
        from filelock import FileLock, Timeout

        key = str(self.path.resolve())
        with _THREAD_LOCKS_GUARD:
            rlock = _THREAD_LOCKS.setdefault(key, threading.RLock())
        if not rlock.acquire(timeout=-1 if self.timeout is None else self.timeout):
            raise WorkspaceBusy(f"{self.path}: workspace busy (another writer); try again later")
        depth = getattr(self._held, key, 0)
        if depth == 0:
            self.path.mkdir(parents=True, exist_ok=True)
            self._file = FileLock(str(self.path / ".lock"))
            try:
                self._file.acquire(timeout=-1 if self.timeout is None else self.timeout)
            except Timeout:
                rlock.release()
                raise WorkspaceBusy(
                    f"{self.path}: workspace busy (another writer holds {self.path / '.lock'}); "
                    "try again later") from None
            setattr(self._held, key + ":file", self._file)
            try:
                recover(self.path)  # finish or discard what a dead writer left
            except BaseException:
                self._file.release()
                rlock.release()
                raise
        setattr(self._held, key, depth + 1)
        self._rlock = rlock
        self._key = key
        return self

    def __exit__(self, *exc) -> None:
        depth = getattr(self._held, self._key) - 1
        setattr(self._held, self._key, depth)
        if depth == 0:
            getattr(self._held, self._key + ":file").release()
        self._rlock.release()


#: Files of the workspace machinery, not of its data.
_HOUSEKEEPING = frozenset({".lock", "version", STAGING})


def reset_generated(path: str | Path, *, owned: Callable[[Config], bool], what: str) -> Path:
    """Make ``path`` ready for a generated build: an empty folder, or a previous build of ``what``.

    Parameters
    ----------
    path : str or Path
        The workspace folder (created if missing).
    owned : callable
        Tells from an existing folder's config whether it is a previous build of ``what``.
    what : str
        Name used in the error, e.g. ``"demo"`` or ``"toronto"``.

    Raises
    ------
    ValueError
        ``path`` is a file, or a non-empty folder that is not a previous build — a generator
        never overwrites other data.
    """
    if str(path).startswith(("postgresql:/", "postgres:/")):
        url = str(path) if "://" in str(path) else str(path).replace(":/", "://", 1)  # Path() ate a slash
        raise ValueError(f"--workspace {url}: the {what} build makes a workspace folder; build it in a folder, "
                         "then copy it into PostGIS with `pingan workspace copy FOLDER URL`")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--workspace {path}: exists and is not a folder")
    ws = Workspace(path)
    with ws.transaction() as tx:  # removals commit with the build when it is one transaction
        if any(p.name not in _HOUSEKEEPING for p in path.iterdir()):
            if not (ws.read_path("config.toml").exists() and owned(ws.config)):
                raise ValueError(
                    f"--workspace {path}: folder is not empty and is not a {what} workspace; "
                    f"choose an empty or new folder (the {what} build never overwrites other data)"
                )
            for name in GENERATED_FILES:
                p = path / name
                if name == "raw":  # the build's input files: not read by anyone else
                    shutil.rmtree(p, ignore_errors=True)
                elif p.is_dir():
                    for f in sorted(p.rglob("*")):
                        if f.is_file():
                            tx.delete(f.relative_to(path).as_posix())
                elif p.exists() or name in tx.staged:
                    tx.delete(name)
    return path
