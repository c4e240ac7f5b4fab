"""Serving the board: the policy of who may be served, and a production WSGI server (waitress).

Not a page (the leading underscore keeps Dash Pages from importing it as one).

- :func:`check_serve_policy` is a pure function: a non-loopback address needs accounts, and the
  Werkzeug debugger (``--debug``) is for loopback only.
- :func:`run_server` serves a Dash app with waitress (a thread pool sized to the machine)
  instead of Flask's single-process development server.
- :func:`install_response_cache` answers repeated requests of pure, heavy callbacks (the
  board's and the hotspot page's main figures) from memory: one answer per workspace version,
  user scope and request body, computed once even when many users ask at the same moment.
  Python builds plotly figures under the GIL, so without it a 2-core server answers about
  20 such callbacks a second, whatever the WSGI server.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable

__all__ = [
    "check_serve_policy", "run_server", "make_server", "default_threads", "is_loopback",
    "install_response_cache", "ResponseCache", "CACHED_OUTPUTS",
]

#: One output of each callback whose answers :func:`install_response_cache` may reuse: pure
#: functions of the request body, the workspace version and the user's scope (pages: keep
#: them so, or take them off this list).
CACHED_OUTPUTS: tuple[str, ...] = ("board-map.figure", "hot-map.figure")

#: Response headers kept with a cached callback answer.
_KEPT_HEADERS = ("Content-Type", "Content-Encoding", "Vary")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is only reachable from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name or "" / 0.0.0.0-like wildcard: assume reachable


def check_serve_policy(host: str, debug: bool, has_accounts: bool, *, workspace: str = "W") -> None:
    """Refuse unsafe ways to serve the board.

    Parameters
    ----------
    host : str
        The address to bind.
    debug : bool
        ``--debug`` (Werkzeug debugger: runs code sent by the browser, full tracebacks).
    has_accounts : bool
        Whether the workspace has accounts (then every page needs a login).
    workspace : str
        Workspace path, used in the message.

    Raises
    ------
    ValueError
        One line saying why and what to do: debug on a non-loopback host, or a non-loopback
        host without accounts.
    """
    if is_loopback(host):
        return
    if debug:
        raise ValueError(f"--debug with --host {host}: the debugger runs code sent by the browser; "
                         "use --debug only on 127.0.0.1")
    if not has_accounts:
        raise ValueError(f"--host {host}: the workspace has no accounts, so the board would be open to "
                         f"the network; first create one: pingan user add admin --role admin "
                         f"--workspace {workspace}")


def default_threads() -> int:
    """Worker threads for waitress: ``max(8, 4 × CPUs)`` (callbacks mostly wait on NumPy/IO
    that releases the GIL, and a slow callback must not block the other users)."""
    return max(8, 4 * (os.cpu_count() or 1))


def make_server(app, host: str, port: int, *, threads: int | None = None):
    """A waitress server for ``app`` bound to ``host:port`` (port 0: a free port), not yet running.

    Parameters
    ----------
    app : dash.Dash or WSGI callable
        The app; for a Dash app its Flask ``server`` is served.
    host, port : str, int
        Address to bind.
    threads : int, optional
        Worker threads (default :func:`default_threads`).

    Returns
    -------
    waitress server
        ``.run()`` serves until ``.close()``; ``.effective_port`` is the bound port.
    """
    from waitress import create_server

    n = threads or default_threads()
    wsgi = getattr(app, "server", app)
    # a browser keeps up to 6 idle keep-alive connections: 100 (waitress' default) would make
    # the 17th browser wait for an idle one to time out
    return create_server(wsgi, host=host, port=port, threads=n, ident="Pingan",
                         connection_limit=1000, clear_untrusted_proxy_headers=True,
                         channel_timeout=120)


def run_server(app, host: str, port: int, *, threads: int | None = None) -> None:
    """Serve ``app`` with waitress (see :func:`make_server`) until interrupted."""
    server = make_server(app, host, port, threads=threads)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


class ResponseCache:
    """Byte-bounded LRU of finished callback responses, with one computation per key at a time.

    Parameters
    ----------
    max_bytes : int
        Total size of the stored bodies (compressed as sent) before the oldest are dropped.
    wait_s : float
        How long a request waits for another request computing the same answer.
    """

    def __init__(self, max_bytes: int = 256 << 20, wait_s: float = 120.0) -> None:
        self.max_bytes = max_bytes
        self.wait_s = wait_s
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[str, tuple[bytes, dict[str, str]]] = OrderedDict()
        self._size = 0
        self._pending: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[bytes, dict[str, str]] | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
                self.hits += 1
            return item

    def claim(self, key: str) -> threading.Event | None:
        """None if the caller now computes ``key``; else the event another computation sets."""
        with self._lock:
            event = self._pending.get(key)
            if event is None:
                self._pending[key] = threading.Event()
                self.misses += 1
            return event

    def put(self, key: str, body: bytes, headers: dict[str, str]) -> None:
        with self._lock:
            if len(body) > self.max_bytes // 4:
                return
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old[0])
            self._items[key] = (body, headers)
            self._size += len(body)
            while self._size > self.max_bytes and self._items:
                _, (dropped, _) = self._items.popitem(last=False)
                self._size -= len(dropped)

    def release(self, key: str) -> None:
        with self._lock:
            event = self._pending.pop(key, None)
        if event is not None:
            event.set()


def install_response_cache(app, ws, outputs: Iterable[str], *,
                           scope_key: Callable[[], str] | None = None,
                           cache: ResponseCache | None = None) -> ResponseCache:
    """Serve repeated calls of the callbacks writing ``outputs`` from memory.

    Only list callbacks that are pure functions of their request body, the workspace and the
    user's scope (no files written, no clocks, no randomness): the board's main map, the
    hotspot page's figures. The key is the workspace version (every committed write bumps it),
    ``scope_key()`` (default: role and area of :func:`pages._auth.current_user`), the
    ``Accept-Encoding`` header and the request body; the stored answer is the compressed body
    as sent. Install after :func:`pages._auth.install_auth`: the login gate and the CSRF check
    run before a cached answer is given.

    Parameters
    ----------
    app : dash.Dash or flask.Flask
        The app.
    ws : Workspace
        The served workspace (its ``version`` is part of the key).
    outputs : iterable of str
        ``"component-id.property"`` of one output of each cacheable callback.
    scope_key : callable, optional
        Returns a string naming what the current user may see.
    cache : ResponseCache, optional
        The store (default: a new one of 256 MB).

    Returns
    -------
    ResponseCache
        The store (``hits`` / ``misses`` count its use).
    """
    import flask

    server = getattr(app, "server", app)
    wanted = tuple(outputs)
    store = cache or ResponseCache()
    scope = scope_key or _default_scope

    def key_of() -> str | None:
        req = flask.request
        if req.method != "POST" or not req.path.endswith("/_dash-update-component"):
            return None
        raw = req.get_data(cache=True)
        try:
            output = json.loads(raw).get("output", "")
        except (ValueError, AttributeError):
            return None
        parts = output.strip(".").split("...")
        if not any(p in wanted for p in parts):
            return None
        h = hashlib.sha256()
        for piece in (str(ws.version), scope(), req.headers.get("Accept-Encoding", "")):
            h.update(piece.encode() + b"\0")
        h.update(raw)
        return h.hexdigest()

    def reply(item: tuple[bytes, dict[str, str]]) -> flask.Response:
        body, headers = item
        resp = flask.Response(body, status=200, headers=headers)
        resp.headers["X-Pingan-Cache"] = "hit"
        return resp

    def before() -> flask.Response | None:
        key = key_of()
        if key is None:
            return None
        item = store.get(key)
        if item is not None:
            return reply(item)
        event = store.claim(key)
        if event is not None:  # someone computes it right now: wait for their answer
            event.wait(store.wait_s)
            item = store.get(key)
            if item is not None:
                return reply(item)
            return None  # their computation failed: compute it ourselves, uncached
        flask.g.pingan_cache_key = key
        return None

    def after(response: flask.Response) -> flask.Response:
        key = flask.g.pop("pingan_cache_key", None)
        if key is None:
            return response
        try:
            if response.status_code == 200 and not response.is_streamed:
                store.put(key, response.get_data(),
                          {h: response.headers[h] for h in _KEPT_HEADERS if h in response.headers})
        finally:
            store.release(key)
        return response

    def teardown(_exc) -> None:
        key = flask.g.pop("pingan_cache_key", None)  # an error before ``after`` ran
        if key is not None:
            store.release(key)

    server.before_request(before)  # appended: runs after the login gate and CSRF check
    # after_request functions run last-registered first: at index 0 this one runs last,
    # after compression, so the body is stored as sent
    server.after_request_funcs.setdefault(None, []).insert(0, after)
    server.teardown_request(teardown)
    return store


def _default_scope() -> str:
    from pages._auth import current_user

    user = current_user()
    return f"{user.role}:{user.area_id or ''}"
