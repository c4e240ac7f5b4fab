"""The one result cache of the service façade, keyed by the workspace version.

Every writer of a workspace (ingest, areas, upload, config change) bumps ``ws.version`` after
its files are switched in (``data.workspace``), so a key that holds the version can never
return a result computed from older files: the first read after a write recomputes. Old
versions simply age out of the bounded LRU.

The cache is safe under the threads of a production server: one lock guards the table, and
a second request for a key that is being computed waits for that computation instead of
starting its own (the board's first load would otherwise fit the same models once per user).
A result is stored only when the workspace version did not change while it was computed, so
a reader racing a writer never caches a mixture of two versions.
"""

from __future__ import annotations

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
                value = compute()
                # keep it only if no writer switched files while we read (no mixture of two)
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


#: The process-wide cache every service function uses.
CACHE = VersionCache()


def cached(ws, name: str, args: Hashable, compute: Callable[[], Any]) -> Any:
    """Shorthand for ``CACHE.get(ws, name, args, compute)``."""
    return CACHE.get(ws, name, args, compute)


def clear_cache() -> None:
    """Forget every cached result."""
    CACHE.clear()
