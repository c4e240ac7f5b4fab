"""Scheduled ingest from a folder: ``pingan watch --workspace W --inbox DIR [--once] [--interval 60]``.

Every file dropped into ``DIR`` is ingested exactly once (:func:`data.ingest.ingest_files`, one
workspace transaction per file, counts refreshed in it), then moved to ``DIR/done/`` or
``DIR/failed/`` with ``<name>.reason.txt`` beside it (the ingest summary, or why it failed).

- **Half-written files are not read.** A file is taken only once its modification time is at
  least ``settle`` seconds old (a copy in progress keeps touching it). Names starting with ``.``
  or ending in ``.tmp``, ``.part``, ``.partial``, ``.crdownload``, ``.filepart`` or ``~`` are
  never taken, so the safest way to drop a file is to write it under such a name and rename it.
- **Two watchers on one inbox** never ingest a file twice: a watcher claims a file with an
  exclusive ``flock`` on ``DIR/.claims/<name>.lock`` (non-blocking; released by the kernel if
  the process dies) and checks the file is still there once it holds the claim.
- **kill -9 at any moment** leaves the file either ingested and moved, or still in the inbox: it
  stays in place until its ingest has committed, and the move comes after the commit. A file
  whose ingest committed but which was not moved yet is ingested again next time, which adds
  nothing (same bytes: ``already ingested``) and moves it to ``done/``.
- A workspace busy with another writer leaves the file in the inbox for the next round.

After a round that ingested something, ``after(outcomes)`` runs, outside the writer lock (the
command line refreshes the board's model choice there, :func:`analytics.service.evaluation.refresh_choice`,
then pushes new red warnings, :mod:`analytics.service.notify`: ``data`` does not import the service).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data.workspace import Workspace, WorkspaceBusy

__all__ = ["Outcome", "IGNORED_SUFFIXES", "ready_files", "process_file", "watch_inbox"]

#: Name endings of files still being written (never taken).
IGNORED_SUFFIXES: tuple[str, ...] = (".tmp", ".part", ".partial", ".crdownload", ".filepart", "~")
_FOLDERS = ("done", "failed", ".claims")


@dataclass
class Outcome:
    """What happened to one file of the inbox.

    Attributes
    ----------
    name : str
        File name in the inbox.
    status : str
        ``done`` (ingested, or the same bytes were ingested before), ``failed`` (unusable: see
        the reason), ``busy`` (the workspace had another writer; left in the inbox).
    detail : str
        The ingest summary or the error (also written to ``<name>.reason.txt``).
    moved_to : Path or None
        Where the file went.
    rows_used : int
        Incidents added.
    """

    name: str
    status: str
    detail: str
    moved_to: Path | None = None
    rows_used: int = 0


def ready_files(inbox: str | Path, settle: float = 2.0, *, now: float | None = None) -> tuple[list[Path], int]:
    """Files of ``inbox`` ready to ingest (oldest first), and how many are still settling.

    Parameters
    ----------
    inbox : path
        The folder watched (sub-folders are not entered).
    settle : float
        Seconds a file's modification time must lie in the past.
    """
    inbox = Path(inbox)
    now = time.time() if now is None else now
    ready, waiting = [], 0
    for entry in os.scandir(inbox):
        name = entry.name
        if name.startswith(".") or name.endswith(IGNORED_SUFFIXES) or name.endswith(".reason.txt"):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:  # taken by another watcher meanwhile
            continue
        if now - st.st_mtime >= settle:
            ready.append((st.st_mtime, name))
        else:
            waiting += 1
    return [inbox / name for _, name in sorted(ready)], waiting


def process_file(ws: Workspace, path: str | Path, *, options: dict[str, Any] | None = None,
                 wait: float | None = 60.0) -> Outcome | None:
    """Claim, ingest and move one inbox file; None when another watcher holds or finished it.

    Parameters
    ----------
    ws : Workspace
        Destination.
    path : path
        A file directly inside the inbox.
    options : dict, optional
        Keyword arguments of :func:`data.ingest.ingest_files` (``mapping``, ``coords`` …).
    wait : float or None
        Seconds to wait for another writer of the workspace before leaving the file for later.
    """
    from data.ingest import ingest_files

    path = Path(path)
    inbox = path.parent
    with _claim(inbox, path.name) as mine:
        if not mine or not path.is_file():
            return None
        try:
            with ws.transaction(timeout=wait):
                report = ingest_files([path], ws, **(options or {}))
        except WorkspaceBusy as exc:
            return Outcome(path.name, "busy", str(exc))
        except (ValueError, TypeError, KeyError, IndexError, ArithmeticError, OSError) as exc:
            # unusable input (or a bug on it): out of the inbox, so the next round goes on
            text = f"{type(exc).__name__}: {exc}".strip()
            return Outcome(path.name, "failed", text, _move(path, inbox / "failed", text))
        if report.already_ingested:
            text = "已导入过 already ingested: the same bytes were ingested before; nothing added\n"
        else:
            text = report.summary() + "\n"
        return Outcome(path.name, "done", text, _move(path, inbox / "done", text), report.rows_used)


def watch_inbox(
    ws: Workspace,
    inbox: str | Path,
    *,
    once: bool = False,
    interval: float = 60.0,
    settle: float = 2.0,
    options: dict[str, Any] | None = None,
    after: Callable[[list[Outcome]], None] | None = None,
    stop: threading.Event | None = None,
    log: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """Ingest the files dropped into ``inbox``, round after round.

    Parameters
    ----------
    ws : Workspace
        Destination (created by the first ingest if missing).
    inbox : path
        The folder watched; ``done/``, ``failed/`` and ``.claims/`` are made inside it.
    once : bool
        One round: the files there now (waiting for those still being written, at most
        ``max(30, 10 × settle)`` seconds), then return.
    interval : float
        Seconds between rounds.
    settle : float
        See :func:`ready_files`.
    options : dict, optional
        Passed to :func:`data.ingest.ingest_files`.
    after : callable, optional
        ``after(outcomes)`` after a round that ingested something.
    stop : threading.Event, optional
        Set it to end the loop after the current file (SIGTERM does, on the command line).
    log : callable, optional
        Receives one line per file.

    Returns
    -------
    list of Outcome
        Every file handled (in order).

    Raises
    ------
    ValueError
        ``inbox`` is not a folder.
    """
    inbox = Path(inbox)
    if not inbox.is_dir():
        raise ValueError(f"--inbox {inbox}: no such folder")
    if interval <= 0 or settle < 0:
        raise ValueError(f"--interval {interval} / --settle {settle}: the interval must be positive, the settle time not negative")
    for name in _FOLDERS:
        (inbox / name).mkdir(exist_ok=True)
    stop = stop or threading.Event()
    handled: list[Outcome] = []
    deadline = time.monotonic() + max(30.0, 10 * settle)
    while not stop.is_set():
        files, waiting = ready_files(inbox, settle)
        outcomes = []
        for path in files:
            if stop.is_set():
                break
            out = process_file(ws, path, options=options)
            if out is None:
                continue
            outcomes.append(out)
            if log is not None:
                log(f"{out.status} {out.name}: " + " | ".join(out.detail.strip().splitlines()[:2]))
        handled += outcomes
        if after is not None and any(o.status == "done" and o.rows_used for o in outcomes):
            after(outcomes)
        if once:
            busy = any(o.status == "busy" for o in outcomes)
            if not (waiting or busy) or time.monotonic() > deadline:
                break
            stop.wait(min(max(settle, 0.05), 1.0))
            continue
        stop.wait(interval)
    return handled


# -- helpers ------------------------------------------------------------------------------
@contextmanager
def _claim(inbox: Path, name: str) -> Iterator[bool]:
    """An exclusive, non-blocking claim on ``name`` (``flock``; freed if the process dies)."""
    path = inbox / ".claims" / f"{name}.lock"
    path.parent.mkdir(exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    owned = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:  # the previous holder may have unlinked the lock file between our open and flock
            owned = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            owned = False
        yield owned
    finally:
        if owned:  # unlinked while still held: a late opener of this inode sees it is stale
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        os.close(fd)


def _move(path: Path, folder: Path, reason: str) -> Path:
    """Move ``path`` into ``folder`` (a new name if taken), ``<name>.reason.txt`` written first."""
    folder.mkdir(exist_ok=True)
    dest = folder / path.name
    if dest.exists() or (folder / f"{path.name}.reason.txt").exists():
        stamp = time.strftime("%Y%m%d-%H%M%S")
        k = 0
        while dest.exists() or (folder / f"{dest.name}.reason.txt").exists():
            k += 1
            dest = folder / f"{path.stem}.{stamp}{'-' + str(k) if k > 1 else ''}{path.suffix}"
    note = folder / f"{dest.name}.reason.txt"
    tmp = folder / f".{dest.name}.reason.tmp"
    tmp.write_text(reason, encoding="utf-8")
    os.replace(tmp, note)
    os.replace(path, dest)  # same file system: atomic, the file is in exactly one place
    from data.transaction import fsync_path

    fsync_path(folder)
    fsync_path(path.parent)
    return dest
