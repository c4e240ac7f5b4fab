"""Downloads by opaque id: the browser never names a file.

A file the server made for a user (a briefing, an export) is registered here and the page gets
back a random token. Only that token comes back from the browser, and only the user it was made
for can redeem it: a path, another user's token or a guessed one gives nothing.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from pathlib import Path

__all__ = ["Downloads", "DOWNLOADS"]


class Downloads:
    """A bounded, thread-safe table ``token -> (owner, path)``.

    Parameters
    ----------
    size : int, default 512
        Tokens kept; the oldest are forgotten first.
    ttl : float, default 86400
        Seconds a token stays valid.
    """

    def __init__(self, *, size: int = 512, ttl: float = 86_400.0) -> None:
        self.size = size
        self.ttl = ttl
        self._items: OrderedDict[str, tuple[str, Path, float]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, path: str | Path, owner: str) -> str:
        """Register a server-made file for ``owner``; returns the token to give the page."""
        token = secrets.token_urlsafe(18)
        with self._lock:
            self._items[token] = (str(owner), Path(path).resolve(), time.monotonic())
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return token

    def path(self, token: object, owner: str) -> Path:
        """The file behind ``token`` if ``owner`` may have it; else PermissionError."""
        if not isinstance(token, str):
            raise PermissionError("download: not a download id")
        with self._lock:
            item = self._items.get(token)
        if item is None or item[0] != str(owner) or time.monotonic() - item[2] > self.ttl:
            raise PermissionError("download: unknown or expired download id")
        if not item[1].is_file():
            raise PermissionError("download: the file is gone; make it again")
        return item[1]


#: The server's one table.
DOWNLOADS = Downloads()
