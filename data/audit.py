"""The audit log of a workspace: who did what, when, from where (``W/audit.log``).

One JSON object per line, appended with a single ``write`` on a file opened with
``O_APPEND`` and fsync'ed, so lines from several processes never interleave and a line that
was acknowledged survives a crash. Nothing rewrites or truncates the file.

Each line holds ``time`` (ISO 8601 in the workspace's time zone), ``user``, ``remote`` (the
client address, ``local`` for the command line), ``action`` (see :data:`ACTIONS`) and
``detail`` (free text, at most :data:`MAX_DETAIL` characters).

Examples
--------
>>> import tempfile
>>> from data.times import time_argument
from data.workspace import Workspace
>>> ws = Workspace.create(tempfile.mkdtemp())
>>> record(ws, "upload", user="zhang", remote="10.0.0.7", detail="jan.csv")
>>> read_audit(ws)[["user", "action", "detail"]].values.tolist()
[['zhang', 'upload', 'jan.csv']]
"""

from __future__ import annotations

import getpass
import json
import os
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from data.times import time_argument
from data.workspace import Workspace

__all__ = ["ACTIONS", "MAX_DETAIL", "COLUMNS", "record", "read_audit", "audit_path", "cli_user"]

#: Actions the app and the CLI record (others of the same form are accepted).
ACTIONS: tuple[str, ...] = (
    "login_ok", "login_failed", "login_locked", "logout", "upload", "ingest", "export", "download",
    "brief", "user_add", "user_remove", "user_passwd", "serve_start", "areas", "demo",
)
#: Longest ``detail`` kept (longer text is cut and marked with an ellipsis).
MAX_DETAIL = 2000
#: Columns of :func:`read_audit`.
COLUMNS: tuple[str, ...] = ("time", "user", "remote", "action", "detail")
_ACTION_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def audit_path(ws: Workspace) -> Path:
    """``W/audit.log``."""
    return ws.path / "audit.log"


def cli_user() -> str:
    """The operating-system user running the command line (``?`` when it cannot be told)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "?"


def record(ws: Workspace, action: str, *, user: str, remote: str = "local", detail: str = "") -> None:
    """Append one line to the audit log.

    Parameters
    ----------
    ws : Workspace
        The workspace (its folder is created if missing).
    action : str
        What happened: one of :data:`ACTIONS` or another lower-case identifier.
    user : str
        Account name (web) or operating-system user (CLI).
    remote : str
        Client address (``request.remote_addr``), ``local`` for the command line.
    detail : str
        What exactly (file name, area, export format …).

    Raises
    ------
    ValueError
        ``action`` is not a lower-case identifier.
    """
    if not isinstance(action, str) or not _ACTION_RE.match(action):
        raise ValueError(f"audit action {action!r}: expected a lower-case identifier such as 'upload'")
    detail = "" if detail is None else str(detail)
    if len(detail) > MAX_DETAIL:
        detail = detail[: MAX_DETAIL - 1] + "…"
    entry = {"time": _now(ws), "user": str(user)[:200], "remote": str(remote or "?")[:100],
             "action": action, "detail": detail}
    # json escapes newlines and control characters: one entry is always exactly one line
    if ws.backend == "postgis":  # the store's audit table (data.workspace_pg)
        ws.append_audit(entry)
        return
    line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
    ws.path.mkdir(parents=True, exist_ok=True)
    fd = os.open(audit_path(ws), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_audit(ws: Workspace, since: str | pd.Timestamp | None = None) -> pd.DataFrame:
    """The audit log as a table (oldest first), optionally from ``since`` on.

    Parameters
    ----------
    ws : Workspace
        The workspace.
    since : str or Timestamp, optional
        A date or time; naive values are in the workspace's time zone.

    Returns
    -------
    DataFrame
        :data:`COLUMNS`; ``time`` is a tz-aware Timestamp in the workspace's time zone.
        A line that is not valid JSON (a torn last line after a power cut) is skipped.
    """
    tz = _zone(ws)
    path = audit_path(ws)
    rows = ws.audit_entries() if ws.backend == "postgis" else []
    if ws.backend == "folder" and path.exists():
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(entry, dict):
                    rows.append({c: entry.get(c, "") for c in COLUMNS})
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["time"] = pd.to_datetime(frame["time"], utc=True, format="ISO8601").dt.tz_convert(tz)
    start = time_argument(since, "--since", "2025-12-01")
    if start is not None:
        start = start.tz_localize(tz) if start.tzinfo is None else start.tz_convert(tz)
        frame = frame[frame["time"] >= start]
    return frame.reset_index(drop=True)


def _zone(ws: Workspace) -> ZoneInfo:
    try:
        return ZoneInfo(ws.config.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _now(ws: Workspace) -> str:
    return datetime.now(_zone(ws)).isoformat(timespec="milliseconds")
