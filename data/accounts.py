"""User accounts of a workspace: names, roles, argon2 password hashes, login lockout.

Stored with the workspace::

    W/users.json    {"users": {name: {"role", "area_id", "hash", "session", "created"}}}
    W/logins.json   recent login failures and lockouts per name (survives a restart)

``users.json`` is written under the workspace's one-writer lock (temp file + fsync + rename),
so a reader never sees half a file. ``logins.json`` has its own small lock: a login must
never wait for an ingest that holds the workspace lock.

Roles (see :data:`PERMISSIONS`):

- ``leader`` sees everything and exports; cannot upload or manage users;
- ``analyst`` sees, exports and uploads;
- ``grid`` sees (and exports) only its area's subtree; has an ``area_id`` of an area layer;
- ``admin`` manages users and sees like a leader.

Examples
--------
>>> import tempfile
>>> from data.workspace import Workspace
>>> ws = Workspace.create(tempfile.mkdtemp())
>>> add_user(ws, "zhang", "analyst", password="correct horse 1")
User(name='zhang', role='analyst', area_id=None)
>>> verify(ws, "zhang", "correct horse 1", policy=LoginPolicy(delay_s=0)).can_upload
True
"""

from __future__ import annotations

import copy
import functools
import json
import os
import secrets
import threading
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from data.workspace import Workspace, WorkspaceError

__all__ = [
    "ROLES", "PERMISSIONS", "User", "LoginPolicy", "LoginLocked", "add_user", "remove_user",
    "set_password", "list_users", "get_user", "verify", "has_accounts", "users_path",
    "logins_path", "session_token", "validate_name", "MIN_PASSWORD",
]

#: Roles, in the order ``pingan user add --role`` lists them.
ROLES: tuple[str, ...] = ("leader", "analyst", "grid", "admin")

#: What each role may do. ``view`` is scoped to the area subtree for ``grid``.
#: ``brief`` makes the city-wide briefing; ``data`` sees the workspace's data page (quarantine,
#: model evaluation), which holds rows of every area.
PERMISSIONS: dict[str, frozenset[str]] = {
    "leader": frozenset({"view", "export", "brief"}),
    "analyst": frozenset({"view", "export", "upload", "brief", "data"}),
    "grid": frozenset({"view", "export"}),
    "admin": frozenset({"view", "export", "manage_users", "brief", "data"}),
}

#: Shortest password accepted.
MIN_PASSWORD = 8
_MAX_NAME = 64
_MAX_PASSWORD = 1024
_LOCK_TIMEOUT_S = 60.0
_HASHER = PasswordHasher()  # argon2id, the library's current defaults
# Verified against when the name is unknown, so an unknown name costs as much time as a
# wrong password (no user enumeration by timing).
@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash(secrets.token_hex(16))


_LOGINS_GUARD = threading.Lock()
_USERS_CACHE: dict[str, tuple[tuple[int, int, int], dict[str, dict[str, Any]]]] = {}


@dataclass(frozen=True)
class User:
    """A signed-in user (or the anonymous analyst of an open, loopback-only board).

    Parameters
    ----------
    name : str
        Account name.
    role : str
        One of :data:`ROLES`.
    area_id : str or None
        For ``grid`` users the root of the area subtree they see; ``None`` otherwise.
    """

    name: str
    role: str
    area_id: str | None = None

    def can(self, permission: str) -> bool:
        """Whether the role has ``permission`` (``view``, ``export``, ``upload``, ``manage_users``)."""
        return permission in PERMISSIONS.get(self.role, frozenset())

    @property
    def can_upload(self) -> bool:
        return self.can("upload")

    @property
    def can_export(self) -> bool:
        return self.can("export")

    @property
    def can_manage_users(self) -> bool:
        return self.can("manage_users")

    @property
    def full_scope(self) -> bool:
        """True when the user sees every area (every role but ``grid``)."""
        return self.role != "grid"


@dataclass(frozen=True)
class LoginPolicy:
    """Slowdown and lockout after failed logins.

    Parameters
    ----------
    max_failures : int
        Failures of one name from one client address within ``window_s`` that lock the name for
        that client. Another client (the leader's own PC) can still sign in, so a guesser cannot
        lock a colleague out.
    max_failures_name : int
        Failures of one name from all clients together within ``window_s`` that lock the name
        everywhere (a guess spread over many addresses).
    window_s : float
        Seconds over which failures are counted.
    lockout_s : float
        Seconds a locked name is refused, even with the right password.
    delay_s : float
        Each failure is answered after ``delay_s`` × (failures so far), at most ``max_delay_s``.
    max_delay_s : float
        Cap of the slowdown.
    """

    max_failures: int = 5
    max_failures_name: int = 50
    window_s: float = 15 * 60
    lockout_s: float = 15 * 60
    delay_s: float = 0.5
    max_delay_s: float = 3.0


class LoginLocked(ValueError):
    """Too many failed logins for a name: refused until ``until`` (epoch seconds)."""

    def __init__(self, name: str, until: float) -> None:
        self.name = name
        self.until = until
        minutes = max(1, round((until - time.time()) / 60))
        super().__init__(f"user {name!r}: locked after repeated failed logins; try again in {minutes} min")


def users_path(ws: Workspace) -> Path:
    """``W/users.json``."""
    return ws.path / "users.json"


def logins_path(ws: Workspace) -> Path:
    """``W/logins.json`` (recent failures and lockouts)."""
    return ws.path / "logins.json"


def validate_name(name: str) -> str:
    """``name`` if it is a usable account name, else ValueError naming the problem.

    1 to 64 characters, no control or format characters, no surrounding white space.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("user name: empty")
    if len(name) > _MAX_NAME:
        raise ValueError(f"user name {name[:20]!r}…: longer than {_MAX_NAME} characters")
    if any(unicodedata.category(ch)[0] in "CZ" and ch != " " for ch in name):
        raise ValueError(f"user name {name!r}: contains control or separator characters")
    if name != name.strip():
        raise ValueError(f"user name {name!r}: leading or trailing space")
    return name


def has_accounts(ws: Workspace) -> bool:
    """Whether the workspace has at least one account (then every page needs a login)."""
    return bool(_load_users(ws))


def list_users(ws: Workspace) -> pd.DataFrame:
    """Accounts as a table: ``name, role, area_id, created`` (no hashes), sorted by name."""
    users = _load_users(ws)
    rows = [{"name": n, "role": u["role"], "area_id": u.get("area_id"), "created": u.get("created")}
            for n, u in sorted(users.items())]
    return pd.DataFrame(rows, columns=["name", "role", "area_id", "created"])


def get_user(ws: Workspace, name: str) -> User | None:
    """The account ``name`` or None."""
    rec = _load_users(ws).get(name)
    return None if rec is None else User(name, rec["role"], rec.get("area_id"))


def session_token(ws: Workspace, name: str) -> str | None:
    """A random token of the account that changes with its password (sessions embed it, so a
    password change or removal ends every session of the user); None if there is no such user."""
    rec = _load_users(ws).get(name)
    return None if rec is None else rec.get("session")


def add_user(ws: Workspace, name: str, role: str, *, password: str,
             area_id: str | None = None) -> User:
    """Create an account.

    Parameters
    ----------
    ws : Workspace
        The workspace (its folder must exist).
    name : str
        New account name (see :func:`validate_name`); must not exist yet.
    role : str
        One of :data:`ROLES`.
    password : str
        At least :data:`MIN_PASSWORD` characters; stored as an argon2id hash only.
    area_id : str, optional
        Required for ``grid`` (an ``area_id`` of one of the workspace's area layers);
        refused for the other roles.

    Raises
    ------
    ValueError
        Bad name, role, password or area, or the name exists.
    """
    validate_name(name)
    if role not in ROLES:
        raise ValueError(f"--role {role!r}: expected one of {', '.join(ROLES)}")
    if role == "grid":
        if not area_id:
            raise ValueError("--area: a grid user needs the area_id of the area they see (--area AREA_ID)")
        area_id = _check_area(ws, str(area_id))
    elif area_id:
        raise ValueError(f"--area: only grid users have an area (role {role!r} sees every area)")
    digest = _hash(password)
    with ws.write_lock(timeout=_LOCK_TIMEOUT_S):
        users = _load_users(ws)
        if name in users:
            raise ValueError(f"user {name!r}: exists already in {users_path(ws)}")
        users[name] = {"role": role, "area_id": area_id or None, "hash": digest,
                       "session": secrets.token_hex(16), "created": _now_iso()}
        _write_users(ws, users)
    return User(name, role, area_id or None)


def remove_user(ws: Workspace, name: str) -> None:
    """Delete the account ``name`` (its sessions end at their next request)."""
    with ws.write_lock(timeout=_LOCK_TIMEOUT_S):
        users = _load_users(ws)
        if name not in users:
            raise ValueError(f"user {name!r}: no such user in {users_path(ws)}")
        del users[name]
        _write_users(ws, users)


def set_password(ws: Workspace, name: str, password: str) -> None:
    """Replace the password of ``name``; ends its sessions and clears its lockout."""
    digest = _hash(password)
    with ws.write_lock(timeout=_LOCK_TIMEOUT_S):
        users = _load_users(ws)
        if name not in users:
            raise ValueError(f"user {name!r}: no such user in {users_path(ws)}")
        users[name] = {**users[name], "hash": digest, "session": secrets.token_hex(16)}
        _write_users(ws, users)
    def clear(state: dict[str, Any], now: float) -> None:
        for key in [k for k in state["names"] if k == name or k.startswith(name + "\x00")]:
            del state["names"][key]

    _update_logins(ws, clear)


def verify(ws: Workspace, name: str, password: str, *, policy: LoginPolicy | None = None,
           client: str = "local") -> User | None:
    """Check a login. Returns the user, or None for a wrong name or password.

    Every failure is recorded in ``W/logins.json`` and answered after a growing delay; after
    ``policy.max_failures`` failures of the name from ``client`` (the remote address) within
    ``policy.window_s`` the name is locked for ``policy.lockout_s`` for that client (even the
    right password is then refused there); after ``policy.max_failures_name`` failures from all
    clients it is locked for everyone. Unknown names are counted and delayed like known ones.

    Raises
    ------
    LoginLocked
        The name is locked (a ValueError saying for how long).
    """
    policy = policy or LoginPolicy()
    if not isinstance(name, str) or not isinstance(password, str):
        return None
    name = name[: _MAX_NAME + 1]
    state = _load_logins(ws)
    keys = (name, _client_key(name, client))
    until = max(state["names"].get(k, {}).get("locked_until", 0.0) for k in keys)
    if until > time.time():
        raise LoginLocked(name, until)
    rec = _load_users(ws).get(name)
    ok = False
    try:
        ok = _HASHER.verify(rec["hash"] if rec else _dummy_hash(), password[:_MAX_PASSWORD]) and rec is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if ok:
        _update_logins(ws, lambda s, now: s["names"].pop(keys[1], None))
        return User(name, rec["role"], rec.get("area_id"))
    failures = _record_failure(ws, keys, policy)
    time.sleep(min(policy.delay_s * failures, policy.max_delay_s))
    return None


# -- storage -------------------------------------------------------------------------------------
def _load_users(ws: Workspace) -> dict[str, dict[str, Any]]:
    """The ``users`` object of ``users.json`` (a fresh copy; ``{}`` without the file).

    The server asks on every request, so the parsed file is kept and re-read only when its
    inode, size or mtime change (every write renames a new file into place). A PostGIS
    workspace keeps it as a row of the store (:meth:`data.workspace_pg.PostgisWorkspace.document`).
    """
    if ws.backend == "postgis":
        return _users_of(ws.document("users.json"), f"{ws.location}: users.json")
    path = users_path(ws)
    try:
        st = path.stat()
    except FileNotFoundError:
        return {}
    key = (st.st_ino, st.st_size, st.st_mtime_ns)
    hit = _USERS_CACHE.get(str(path))
    if hit is not None and hit[0] == key:
        return copy.deepcopy(hit[1])
    users = _parse_users(path)
    _USERS_CACHE[str(path)] = (key, users)
    return copy.deepcopy(users)


def _parse_users(path: Path) -> dict[str, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as exc:
        raise WorkspaceError(f"{path}: not a valid users file ({exc})") from exc
    return _users_of(text, str(path))


def _users_of(text: str | None, where: str) -> dict[str, dict[str, Any]]:
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkspaceError(f"{where}: not a valid users file ({exc})") from exc
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, dict):
        raise WorkspaceError(f"{where}: not a valid users file (no 'users' object)")
    return users


def _write_users(ws: Workspace, users: dict[str, dict[str, Any]]) -> None:
    if ws.backend == "postgis":
        ws.put_document("users.json", json.dumps({"users": users}, ensure_ascii=False, sort_keys=True))
        return
    _write_json_atomic(users_path(ws), {"users": users})


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # hashes: owner only
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _load_logins(ws: Workspace) -> dict[str, Any]:
    try:
        if ws.backend == "postgis":
            text = ws.document("logins.json")
            if text is None:
                raise FileNotFoundError("logins.json")
            data = json.loads(text)
        else:
            data = json.loads(logins_path(ws).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"names": {}}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WorkspaceError(f"{logins_path(ws)}: not a valid login-state file ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("names"), dict):
        raise WorkspaceError(f"{logins_path(ws)}: not a valid login-state file")
    return data


def _update_logins(ws: Workspace, change) -> Any:
    """Read-modify-write ``logins.json`` under its own lock (threads and processes)."""
    from filelock import FileLock

    ws.path.mkdir(parents=True, exist_ok=True)
    if ws.backend == "postgis":  # one store for several servers: a database lock, a row
        with _LOGINS_GUARD, ws.document_lock("logins.json", _LOCK_TIMEOUT_S):
            state = _load_logins(ws)
            result = change(state, time.time())
            ws.put_document("logins.json", json.dumps(state, ensure_ascii=False, sort_keys=True))
        return result
    with _LOGINS_GUARD, FileLock(str(ws.path / ".logins.lock"), timeout=_LOCK_TIMEOUT_S):
        state = _load_logins(ws)
        now = time.time()
        result = change(state, now)
        _write_json_atomic(logins_path(ws), state)
    return result


def _client_key(name: str, client: str) -> str:
    """The ``logins.json`` key of one name from one client address."""
    return f"{name}\x00{client}"


def _record_failure(ws: Workspace, keys: tuple[str, str], policy: LoginPolicy) -> int:
    """Count a failure of (name, name-from-client); lock either at its limit. Returns the
    client's failures in the window (its slowdown), or its limit when that locked it."""
    def change(state: dict[str, Any], now: float) -> int:
        names = state["names"]
        # forget stale entries so random names cannot grow the file without bound
        for key in [k for k, v in names.items()
                    if v.get("locked_until", 0) <= now and not any(t > now - policy.window_s
                                                                    for t in v.get("failures", []))]:
            del names[key]
        counts = []
        for key, limit in zip(keys, (policy.max_failures_name, policy.max_failures)):
            entry = names.setdefault(key, {"failures": []})
            entry["failures"] = [t for t in entry.get("failures", [])
                                 if t > now - policy.window_s] + [now]
            if len(entry["failures"]) >= limit:
                entry["locked_until"] = now + policy.lockout_s
                entry["failures"] = []
            counts.append(len(entry["failures"]) or limit)
        return counts[1]

    return _update_logins(ws, change)


def _hash(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise ValueError(f"password: at least {MIN_PASSWORD} characters")
    if len(password) > _MAX_PASSWORD:
        raise ValueError(f"password: at most {_MAX_PASSWORD} characters")
    return _HASHER.hash(password)


def _check_area(ws: Workspace, area_id: str) -> str:
    """``area_id`` if some area layer of ``ws`` has it, else ValueError listing the layers."""
    layers = ws.layers()
    for layer in layers:
        ids = pd.read_parquet(ws.area_path(layer), columns=["area_id"])["area_id"].astype(str)
        if (ids == area_id).any():
            return area_id
    raise ValueError(f"--area {area_id!r}: no such area_id in the area layers of {ws.path} "
                     f"({', '.join(layers) or 'none'})")


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
