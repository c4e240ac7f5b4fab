"""Fixtures shared by every test package: a real PostgreSQL + PostGIS server on loopback.

The server is Debian's PostgreSQL 15 (``postgresql`` and ``postgresql-15-postgis-3``, installed by
``make test``). It is started once per test session with ``initdb`` in a temporary folder and a free
loopback port, and stopped at the end. As root (CI, the sandbox) the cluster is owned and run by the
``postgres`` system user, because ``initdb`` refuses to run as root.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_owner(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _run(cmd: list[str]) -> None:
    done = subprocess.run(_as_owner(cmd), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr or done.stdout}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[dict]:
    """A running PostgreSQL 15 server with PostGIS available, on 127.0.0.1.

    Yields ``{"host", "port", "user", "url"}``; ``url`` names the ``postgres`` database. Make your
    own database with :func:`postgres_database` rather than writing into ``postgres``.
    """
    if not (PG_BIN / "initdb").exists():
        pytest.fail("PostgreSQL 15 is not installed: run `make test`, which installs it")
    # a folder of its own, not under pytest's basetemp: another pytest session starting meanwhile
    # resets /tmp/pytest-of-root to 0700, which the postgres user could then no longer reach
    root = Path(tempfile.mkdtemp(prefix="pingan-pg-"))
    os.chmod(root, 0o700)
    data = root / "data"
    sock = root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(sock, "postgres", "postgres")
    port = _free_port()
    _run([str(PG_BIN / "initdb"), "-D", str(data), "-U", "pingan", "--auth=trust",
          "--encoding=UTF8", "--locale=C.UTF-8"])
    opts = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sock} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=60")
    _run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log.txt"),
          "-w", "-t", "60", "start"])
    stop = _as_owner([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
    # a test run killed with -9 runs no `finally`: this watchdog then stops the server and removes
    # its folder, so no postgres is left behind
    watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(root), *stop],
                                start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield {"host": "127.0.0.1", "port": port, "user": "pingan",
               "url": f"postgresql://pingan@127.0.0.1:{port}/postgres", "root": str(root)}
    finally:
        watchdog.kill()
        watchdog.wait(timeout=30)
        subprocess.run(stop, capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


_WATCHDOG = """
import os, shutil, subprocess, sys, time
pid, root, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
while True:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        break
    time.sleep(1)
subprocess.run(stop, capture_output=True, timeout=60)
shutil.rmtree(root, ignore_errors=True)
"""


_counter = iter(range(10**6))


@contextlib.contextmanager
def _fresh_database(postgres_server: dict) -> Iterator[str]:
    """Create a database (PostGIS enabled) on the session's server, yield its URL, drop it."""
    import psycopg

    name = f"t{os.getpid()}_{next(_counter)}"
    admin = postgres_server["url"]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://pingan@127.0.0.1:{postgres_server['port']}/{name}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_database(postgres_server: dict) -> Iterator[str]:
    """A fresh, empty database (PostGIS enabled) on the session's server; yields its URL."""
    with _fresh_database(postgres_server) as url:
        yield url


@pytest.fixture(scope="module")
def postgres_module_database(postgres_server: dict, tmp_path_factory) -> Iterator[str]:
    """One fresh database for a whole test module (give each test its own ``?schema=``), with a
    private ``PINGAN_CACHE`` for the store's local copies; yields its URL."""
    mp = pytest.MonkeyPatch()
    mp.setenv("PINGAN_CACHE", str(tmp_path_factory.mktemp("pgcache")))
    try:
        with _fresh_database(postgres_server) as url:
            yield url
    finally:
        mp.undo()
