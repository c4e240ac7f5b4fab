"""Workspace transactions: every changed file switched in together, or none of them.

A writer stages each file it changes in a folder inside the workspace (same file system),
then commits::

    with ws.transaction() as tx:             # takes ws.write_lock() for the whole block
        tx.write_parquet("incidents.parquet", table)
        tx.write_text("config.toml", text)
        tx.delete("areas/old.parquet")

Commit, in this order (each step survives a crash, see *Recovery*):

1. the staged files are fsynced in ``W/.txn/<id>/files/<name>``;
2. the journal ``W/.txn/<id>/COMMIT`` (JSON: files to switch, files to delete, the new
   version) is written and fsynced — **the commit point**;
3. every staged file is renamed over its canonical path (``os.replace``), deletions are
   done, the folders are fsynced;
4. ``W/version`` is set to the journal's version (so it moves exactly once per commit);
5. the transaction folder is removed.

Recovery runs whenever a writer takes the lock (:meth:`data.workspace.Workspace.write_lock`)
and whenever a :class:`~data.workspace.Workspace` read finds a committed journal: a staged
transaction without ``COMMIT`` is discarded, one with it is rolled forward (idempotent: a file
already switched is skipped, the version is only ever raised to the journal's). A crash at any
moment therefore leaves the old or the new consistent version.

Readers
-------
The canonical paths (``W/incidents.parquet``, ``W/quarantine.parquet``, ``W/counts.parquet``,
``W/areas/*.parquet`` …) always name a complete file of a committed version, so pandas, QGIS or
DuckDB can read them. Only during step 3 (milliseconds) are they of two versions; readers
that read *several* files and must not mix versions do not need the lock, they check:

- :func:`pending` (``ws.pending()``) is true from the commit point until the switch is done;
- ``ws.version`` changes when it is done.

:meth:`data.workspace.Workspace.read_snapshot` does this for a function of the workspace: it
reads the version, runs the function, and retries when a switch was pending or the version
moved meanwhile. Inside a transaction, the writer's own thread reads its staged files through
the ``Workspace`` methods (:meth:`Transaction.resolve`); other threads and processes see the
committed files only.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa

    from data.workspace import Workspace

__all__ = ["StagedFiles", "Transaction", "STAGING", "active", "fsync_path", "in_transaction", "pending", "recover", "set_active"]

#: Folder inside the workspace holding staged transactions.
STAGING = ".txn"
_JOURNAL = "COMMIT"

# The transaction a thread has open, per workspace folder: reads in that thread see its
# staged files, nested ``ws.transaction()`` blocks join it (one commit, one version bump).
_ACTIVE = threading.local()
_F = TypeVar("_F", bound=Callable[..., Any])


class StagedFiles:
    """Files staged for one commit, and reads that see them: what every backend's transaction
    shares (:class:`Transaction` switches them into the folder, the PostGIS store's
    ``PgTransaction`` loads them into tables).

    A subclass says where a committed file is read (:meth:`_committed`) and which committed
    files a folder holds (:meth:`_committed_names`), and implements ``commit``/``abort``.
    """

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.root = ws.path / STAGING / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.files = self.root / "files"
        self.files.mkdir(parents=True)
        self.staged: dict[str, Path] = {}
        self.deleted: set[str] = set()
        self.done = False

    # -- staging ------------------------------------------------------------------------------
    def path(self, name: str) -> Path:
        """A staging path for the workspace file ``name`` (e.g. ``"areas/grid.parquet"``).

        Write the file there yourself (e.g. with a ``pyarrow.parquet.ParquetWriter``); it is
        switched in at commit if it exists then.
        """
        rel = _relative(name)
        path = self.files / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        self.staged[rel] = path
        self.deleted.discard(rel)
        return path

    def write_parquet(self, name: str, table: pa.Table | pd.DataFrame) -> Path:
        """Stage a Parquet file (a GeoDataFrame is written as GeoParquet)."""
        import pandas as pd
        import pyarrow.parquet as pq

        path = self.path(name)
        if isinstance(table, pd.DataFrame):
            table.to_parquet(path, index=False)
        else:
            pq.write_table(table, path, compression="snappy")
        return path

    def write_text(self, name: str, text: str) -> Path:
        """Stage a UTF-8 text file."""
        path = self.path(name)
        path.write_text(text, encoding="utf-8")
        return path

    def delete(self, name: str) -> None:
        """Remove the workspace file ``name`` at commit (nothing if it does not exist then)."""
        rel = _relative(name)
        staged = self.staged.pop(rel, None)
        if staged is not None:
            staged.unlink(missing_ok=True)
        self.deleted.add(rel)

    # -- reading inside the transaction ---------------------------------------------------------
    def resolve(self, name: str) -> Path:
        """Where ``name`` is to be read now: the staged file, else the committed one.

        A file deleted in this transaction resolves to a path that does not exist.
        """
        rel = _relative(name)
        if rel in self.staged and self.staged[rel].exists():
            return self.staged[rel]
        if rel in self.deleted:
            return self.root / "deleted" / rel
        return self._committed(rel)

    def listdir(self, folder: str, pattern: str = "*") -> list[str]:
        """Names (relative to the workspace) in ``folder`` as this transaction sees them."""
        names = set(self._committed_names(folder, pattern))
        names -= self.deleted
        names |= {rel for rel, p in self.staged.items()
                  if rel.startswith(folder + "/") and Path(rel).match(pattern) and p.exists()}
        return sorted(names)

    def _committed(self, rel: str) -> Path:  # pragma: no cover - abstract
        raise NotImplementedError

    def _committed_names(self, folder: str, pattern: str) -> set[str]:  # pragma: no cover - abstract
        raise NotImplementedError


class Transaction(StagedFiles):
    """Files staged for one atomic commit into a workspace folder (see the module docstring).

    Create it with :meth:`data.workspace.Workspace.transaction`, not directly.

    Parameters
    ----------
    ws : Workspace
        The workspace; the caller holds its write lock.
    """

    def __init__(self, ws: Workspace) -> None:
        super().__init__(ws)
        for folder in (self.root.parent, ws.path):  # the staging folder survives a power cut too
            fsync_path(folder)

    def _committed(self, rel: str) -> Path:
        return self.ws.path / rel

    def _committed_names(self, folder: str, pattern: str) -> set[str]:
        base = self.ws.path / folder
        return {f"{folder}/{p.name}" for p in base.glob(pattern) if p.is_file()} if base.exists() else set()

    # -- commit -----------------------------------------------------------------------------------
    def commit(self) -> int:
        """Fsync, write the journal, switch the files in, bump the version; returns it."""
        if self.done:
            raise RuntimeError("transaction already finished")
        files = sorted(rel for rel, p in self.staged.items() if p.exists())
        for rel in files:
            fsync_path(self.staged[rel])
        for folder in {self.staged[rel].parent for rel in files} | {self.files}:
            fsync_path(folder)
        _crash_point("staged")
        journal = {"version": self.ws.version + 1, "files": files, "delete": sorted(self.deleted)}
        tmp = self.root / (_JOURNAL + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(journal, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.root / _JOURNAL)  # the commit point
        fsync_path(self.root)
        _crash_point("committed")
        _roll_forward(self.ws.path, self.root, journal)
        self.done = True
        return journal["version"]

    def abort(self) -> None:
        """Discard the staged files (the workspace is untouched)."""
        self.done = True
        shutil.rmtree(self.root, ignore_errors=True)


def in_transaction(argument: str) -> Callable[[_F], _F]:
    """Decorator: run the whole function as one transaction of the workspace named by ``argument``.

    ``argument`` names the parameter holding the workspace folder (a path or a
    :class:`~data.workspace.Workspace`). Used by whole-workspace builds (``pingan demo``,
    ``pingan fetch``): readers see the previous build until the new one is complete.
    """
    def wrap(fn: _F) -> _F:
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            from data.workspace import Workspace

            target = sig.bind(*args, **kwargs).arguments.get(argument)
            if target is None:  # the function picks a default folder itself
                return fn(*args, **kwargs)
            ws = target if isinstance(target, Workspace) else Workspace(target)
            if ws.path.exists() and not ws.path.is_dir():
                raise ValueError(f"--workspace {ws.path}: exists and is not a folder")
            with ws.transaction():
                return fn(*args, **kwargs)
        return run  # type: ignore[return-value]
    return wrap


def active(path: Path) -> Transaction | None:
    """The transaction this thread has open on the workspace folder ``path``, if any."""
    return getattr(_ACTIVE, _key(path), None)


def set_active(path: Path, tx: Transaction | None) -> None:
    """Make ``tx`` this thread's open transaction on ``path`` (``None``: none); for ``Workspace``."""
    setattr(_ACTIVE, _key(path), tx)


def pending(path: str | Path) -> bool:
    """True while a committed transaction of the workspace ``path`` is not fully switched in."""
    base = Path(path) / STAGING
    try:
        entries = list(os.scandir(base))
    except (FileNotFoundError, NotADirectoryError):
        return False
    return any(os.path.exists(os.path.join(e.path, _JOURNAL)) for e in entries if e.is_dir())


def recover(path: str | Path) -> list[str]:
    """Finish or discard interrupted transactions of the workspace ``path`` (hold its lock).

    Returns
    -------
    list of str
        One line per transaction found: ``"rolled forward <id> (version N)"`` or ``"discarded <id>"``.
    """
    path = Path(path)
    for tmp in path.glob("version.*.tmp"):  # a version write killed before its rename
        tmp.unlink(missing_ok=True)
    base = path / STAGING
    if not base.exists():
        return []
    done, committed = [], []
    for entry in sorted(base.iterdir()):
        if (entry / _JOURNAL).exists():
            try:
                journal = json.loads((entry / _JOURNAL).read_text(encoding="utf-8"))
            except (ValueError, OSError) as exc:  # the journal is written by rename: never half
                raise OSError(f"{entry / _JOURNAL}: unreadable transaction journal ({exc})") from exc
            committed.append((int(journal["version"]), entry, journal))
        else:  # recovery holds the lock at depth 0: no open transaction is this one
            shutil.rmtree(entry, ignore_errors=True)
            done.append(f"discarded {entry.name}")
    for version, entry, journal in sorted(committed, key=lambda c: c[0]):
        _roll_forward(path, entry, journal)
        done.append(f"rolled forward {entry.name} (version {version})")
    return done


# -- helpers --------------------------------------------------------------------------------------
def _roll_forward(ws_path: Path, root: Path, journal: dict[str, Any]) -> None:
    """Switch the staged files of a committed journal in; safe to repeat after a crash."""
    folders = {ws_path}
    for i, rel in enumerate(journal["files"]):
        src, dst = root / "files" / rel, ws_path / rel
        if src.exists():  # else switched already by an earlier, interrupted roll-forward
            _clear_way(ws_path, dst)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            folders.add(dst.parent)
        if i == 0:
            _crash_point("switching")
    for rel in journal["delete"]:
        dst = ws_path / rel
        dst.unlink(missing_ok=True)
        folders.add(dst.parent)
    for folder in folders:
        if folder.exists():
            fsync_path(folder)
    _raise_version(ws_path, int(journal["version"]))
    _crash_point("switched")
    shutil.rmtree(root, ignore_errors=True)
    fsync_path(root.parent)


def _clear_way(ws_path: Path, dst: Path) -> None:
    """Let a file replace a folder of parts, or parts replace a single file (data.partitions)."""
    if dst.is_dir():
        shutil.rmtree(dst)
    for parent in dst.parents:
        if parent == ws_path or ws_path not in parent.parents:
            break
        if parent.is_file():
            parent.unlink()


def _raise_version(ws_path: Path, version: int) -> None:
    vpath = ws_path / "version"
    try:
        current = int(vpath.read_text(encoding="ascii").strip() or 0)
    except (FileNotFoundError, ValueError):
        current = 0
    if current >= version:
        return
    tmp = vpath.with_name(f"version.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write(f"{version}\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, vpath)
    fsync_path(ws_path)


def _relative(name: str) -> str:
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts or rel.parts[0] == STAGING:
        raise ValueError(f"{name!r}: not a file name inside the workspace")
    return rel.as_posix()


def _key(path: Path) -> str:
    return "tx:" + os.path.realpath(path)


def fsync_path(path: Path) -> None:
    """fsync a file (its bytes) or a folder (its entries: a rename in it is then durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _crash_point(where: str) -> None:
    """Tests: ``PINGAN_CRASH_AT=<where>`` kills this process there (SIGKILL, no cleanup)."""
    if os.environ.get("PINGAN_CRASH_AT") == where:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
