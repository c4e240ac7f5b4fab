"""Serving the board: the policy of who may be served, and a production WSGI server (waitress).

Not a page (the leading underscore keeps Dash Pages from importing it as one).

- :func:`check_serve_policy` is a pure function: a non-loopback address needs accounts, and the
  Werkzeug debugger (``--debug``) is for loopback only.
- :func:`run_server` serves a Dash app with waitress (a thread pool sized to the machine)
  instead of Flask's single-process development server.
"""

from __future__ import annotations

import ipaddress
import os

__all__ = ["check_serve_policy", "run_server", "make_server", "default_threads", "is_loopback"]


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
    return create_server(wsgi, host=host, port=port, threads=n, ident="Pingan",
                         connection_limit=max(100, 4 * n), clear_untrusted_proxy_headers=True,
                         channel_timeout=300)


def run_server(app, host: str, port: int, *, threads: int | None = None) -> None:
    """Serve ``app`` with waitress (see :func:`make_server`) until interrupted."""
    server = make_server(app, host, port, threads=threads)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
