"""The ``pingan user`` and ``pingan audit`` subcommands, and the audit lines of the other commands.

``app.main`` parses the arguments (``add_parsers``) and calls :func:`run_user` /
:func:`run_audit`; every account change is recorded in the audit log with the operating-system
user and remote ``local``. User mistakes raise ValueError (one line, exit 2).
"""

from __future__ import annotations

import argparse
import getpass
import sys

from data.accounts import ROLES, add_user, list_users, remove_user, set_password
from data.audit import cli_user, read_audit, record
from data.workspace import Workspace

__all__ = ["add_parsers", "run_user", "run_audit", "audit_command", "read_password"]

#: CLI commands recorded in the audit log after they succeed: command -> (action, detail).
_AUDITED = {
    "ingest": ("ingest", lambda a: " ".join(a.files)),
    "areas": ("areas", lambda a: f"cell={a.cell}" if a.cell else " ".join(a.boundaries or [])),
    "warn": ("export", lambda a: f"warn {a.out}"),
    "hotspots": ("export", lambda a: f"hotspots {a.method} {a.out}"),
    "brief": ("brief", lambda a: f"{a.week or 'latest'} {a.out}"),
    "export": ("export", lambda a: f"{a.table} {a.out}"),
}


def add_parsers(sub) -> None:
    """Add ``user`` and ``audit`` to the subparsers ``sub`` of the ``pingan`` parser."""
    s = sub.add_parser("user", help="accounts and roles of a workspace (add|list|remove|passwd)")
    us = s.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    a = us.add_parser("add", help="create an account")
    a.add_argument("name")
    a.add_argument("--workspace", required=True)
    a.add_argument("--role", required=True, choices=ROLES)
    a.add_argument("--area", default=None, metavar="AREA_ID", help="the area a grid user sees (required for grid)")
    a.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    a = us.add_parser("list", help="list the accounts")
    a.add_argument("--workspace", required=True)
    a = us.add_parser("remove", help="delete an account")
    a.add_argument("name")
    a.add_argument("--workspace", required=True)
    a = us.add_parser("passwd", help="set a new password (ends the user's sessions)")
    a.add_argument("name")
    a.add_argument("--workspace", required=True)
    a.add_argument("--password-stdin", action="store_true", help="read the password from standard input")

    s = sub.add_parser("audit", help="print the audit log of a workspace")
    s.add_argument("--workspace", required=True)
    s.add_argument("--since", default=None, help="only entries from this date/time on (workspace time zone)")


def run_user(args: argparse.Namespace) -> str:
    """Carry out ``pingan user ACTION`` and return the text to print."""
    ws = _existing(args.workspace)
    action = args.user_command
    if action == "list":
        table = list_users(ws)
        if table.empty:
            return f"{ws.path}: no accounts (the board is open on loopback only)"
        return table.fillna("").to_string(index=False)
    if action == "add":
        password = read_password(args.password_stdin, confirm=True)
        user = add_user(ws, args.name, args.role, password=password, area_id=args.area)
        detail = f"{user.name} role={user.role}" + (f" area={user.area_id}" if user.area_id else "")
        record(ws, "user_add", user=cli_user(), detail=detail)
        return f"added {detail}"
    if action == "remove":
        remove_user(ws, args.name)
        record(ws, "user_remove", user=cli_user(), detail=args.name)
        return f"removed {args.name}"
    if action == "passwd":
        password = read_password(args.password_stdin, confirm=True)
        set_password(ws, args.name, password)
        record(ws, "user_passwd", user=cli_user(), detail=args.name)
        return f"password of {args.name} changed; their sessions have ended"
    raise ValueError(f"pingan user {action!r}: expected add, list, remove or passwd")


def run_audit(args: argparse.Namespace) -> str:
    """``pingan audit``: the log as tab-separated lines (time, user, remote, action, detail)."""
    ws = _existing(args.workspace)
    frame = read_audit(ws, since=args.since)
    times = frame["time"].map(lambda t: t.isoformat(timespec="seconds"))
    lines = [
        "\t".join([tm, u, r, a, d.replace("\t", " ")])
        for tm, u, r, a, d in zip(times, frame["user"].astype(str), frame["remote"].astype(str),
                                  frame["action"].astype(str), frame["detail"].astype(str))
    ]
    return "\n".join(["time\tuser\tremote\taction\tdetail", *lines])


def audit_command(args: argparse.Namespace) -> None:
    """Record a successful CLI command that changes or exports data (ingest, areas, exports,
    briefing) in its workspace's audit log; other commands are not recorded."""
    if args.command not in _AUDITED or not getattr(args, "workspace", None):
        return
    ws = Workspace(args.workspace)
    if not ws.path.is_dir():
        return
    action, detail = _AUDITED[args.command]
    record(ws, action, user=cli_user(), detail=detail(args))


def read_password(from_stdin: bool, *, confirm: bool) -> str:
    """The new password: the first line of standard input, or asked twice with getpass."""
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise ValueError("--password-stdin: standard input is empty")
        return password
    if not sys.stdin.isatty():
        raise ValueError("password: no terminal to ask on; pipe it in with --password-stdin")
    password = getpass.getpass("password: ")
    if confirm and getpass.getpass("again: ") != password:
        raise ValueError("password: the two entries differ")
    return password


def _existing(path: str) -> Workspace:
    ws = Workspace(path)
    if not ws.path.is_dir():
        raise ValueError(f"--workspace {path}: no such folder")
    return ws
