"""The one result cache of the service façade, keyed by the workspace version.

Every writer of a workspace (ingest, areas, upload, config change) bumps ``ws.version`` after
its files are switched in (``data.workspace``), so a key that holds the version can never
return a result computed from older files: the first read after a write recomputes. Old
versions simply age out of the bounded LRU.

The cache is safe under the threads of a production server: one lock guards the table, and
a second request for a key that is being computed waits for that computation instead of
starting its own (the board's first load would otherwise fit the same models once per user).
Every computation runs as a ``ws.read_snapshot`` (recomputed if a committed transaction was
switched in meanwhile) and is stored only under the version it read, so a reader racing a writer
never sees or caches a mixture of two versions.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["VersionCache", "CACHE", "cached", "clear_cache"]


class VersionCache:
    """A bounded, thread-safe LRU of results keyed by ``(workspace, version, name, args)``.

    Parameters
    ----------
    size : int, default 256
        Number of results kept (all workspaces and versions together).

    Examples
    --------
    >>> import tempfile
    >>> from data.workspace import Workspace
    >>> ws = Workspace.create(tempfile.mkdtemp())
    >>> cache = VersionCache(size=4)
    >>> cache.get(ws, "answer", (), lambda: 42)
    42
    """

    def __init__(self, *, size: int = 256) -> None:
        self.size = size
        self._data: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._busy: dict[tuple, threading.Event] = {}
        self.hits = 0
        self.misses = 0

    def get(self, ws, name: str, args: Hashable, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per workspace version and ``(name, args)``; later calls share it."""
        for _attempt in range(3):
            version = ws.version
            key = (str(ws.path), version, name, args)
            with self._lock:
                if key in self._data:
                    self._data.move_to_end(key)
                    self.hits += 1
                    return self._data[key]
                event = self._busy.get(key)
                owner = event is None
                if owner:
                    event = self._busy[key] = threading.Event()
            if not owner:
                event.wait()
                continue  # the owner stored it (or failed): look again
            stored = False
            try:
                # read files of one version only: retried if a commit is switched in meanwhile
                value = ws.read_snapshot(lambda _ws: compute(), attempts=3)
                # keep it only under the version it belongs to (a writer may have committed
                # between our first look and the read)
                stored = ws.version == version
                if stored:
                    with self._lock:
                        self.misses += 1
                        self._data[key] = value
                        while len(self._data) > self.size:
                            self._data.popitem(last=False)
            finally:
                with self._lock:  # stored before waiters wake: they find it
                    del self._busy[key]
                event.set()
            if stored:
                return value
        return compute()  # the workspace keeps changing under us: serve uncached

    def clear(self) -> None:
        """Forget every result (tests; after editing files behind the workspace's back)."""
        with self._lock:
            self._data.clear()

    def after_fork(self) -> None:
        """In a process forked from a threaded server (a background job's worker): a new lock
        and no computation in flight. Another thread's lock or unfinished key came along in the
        copy but its thread did not, so waiting on it would hang; the finished results are kept
        (the board's tables: a briefing need not refit them)."""
        self._lock = threading.Lock()
        self._busy = {}


#: The process-wide cache every service function uses.
CACHE = VersionCache()

if hasattr(os, "register_at_fork"):  # every forked child, whoever forks it
    os.register_at_fork(after_in_child=lambda: CACHE.after_fork())


def cached(ws, name: str, args: Hashable, compute: Callable[[], Any]) -> Any:
    """Shorthand for ``CACHE.get(ws, name, args, compute)``."""
    return CACHE.get(ws, name, args, compute)


def clear_cache() -> None:
    """Forget every cached result."""
    CACHE.clear()
