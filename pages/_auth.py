"""Login, sessions, CSRF and the request gate of the board (flask-login on the Dash server).

Not a page (the leading underscore keeps Dash Pages from importing it as one).

``install_auth(app, ws)`` makes the app's Flask server:

- **with accounts** in the workspace, refuse every route (pages, ``/_dash-*`` layout and
  callbacks, component suites, assets, downloads) to a visitor who has not signed in — a page
  request is redirected to ``/login?next=…``, anything else gets 401 — except ``/login`` and
  the style sheet the login page needs;
- **without accounts**, serve loopback clients only, as the anonymous analyst (full scope);
- check a CSRF token on every request that changes state: the login form carries it in a
  hidden field, Dash callbacks in the ``X-CSRFToken`` header that Dash's renderer copies from
  the ``_csrf_token`` cookie (``getCSRFHeader`` in ``dash_renderer``); cross-site ``Origin``
  headers are refused as well;
- keep the session in a signed cookie (HttpOnly, SameSite=Lax, 12 h) whose key is generated
  once per workspace (``W/secret``, mode 0600); a password change or removal ends the user's
  sessions;
- record ``login_ok``, ``login_failed``, ``logout`` in the audit log with the client address.

Pages and the service façade ask :func:`current_user` who is asking and :func:`require` for a
permission; :func:`audit_event` records what they did.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import ipaddress
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

import flask
import flask_login

from analytics.present.i18n import DEFAULT_LANG, LANGS, t
from data.accounts import (
    LoginLocked,
    LoginPolicy,
    User,
    has_accounts,
    session_token,
    verify,
)
from data.accounts import get_user as _get_user
from data.audit import record
from data.workspace import Workspace

__all__ = [
    "ANONYMOUS", "CSRF_COOKIE", "CSRF_HEADER", "install_auth", "current_user", "require",
    "audit_event", "workspace_secret", "safe_next",
]

#: The user of an open board (no accounts, loopback only): an analyst who sees everything.
ANONYMOUS = User("anonymous", "analyst", None)
#: Cookie Dash's renderer reads the CSRF token from, and the header it sends it in.
CSRF_COOKIE = "_csrf_token"
CSRF_HEADER = "X-CSRFToken"
#: Flask config key holding this module's settings for the app.
AUTH_KEY = "PINGAN_AUTH"
#: Paths served without a login (the login page and what it needs).
PUBLIC_PATHS = frozenset({"/login", "/logout", "/assets/style.css", "/_favicon.ico"})
_SESSION_HOURS = 12
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_MACHINE_PREFIXES = ("/_dash-", "/assets/", "/_reload-hash", "/_favicon")
# Logins checked at once: each costs an argon2 hash and, after a failure, a deliberate delay;
# without a bound a burst of wrong passwords would hold every server thread.
_LOGIN_SLOTS = threading.BoundedSemaphore(2)
_LOGIN_WAIT_S = 10.0


@dataclass(frozen=True)
class _Settings:
    ws: Workspace
    policy: LoginPolicy


class _SessionUser(flask_login.UserMixin):
    """flask-login's view of a :class:`User`; the id embeds the account's session token."""

    def __init__(self, user: User, token: str) -> None:
        self.user = user
        self.id = f"{token}:{user.name}"


def install_auth(app, ws: Workspace, *, policy: LoginPolicy | None = None) -> None:
    """Put the login gate, the login/logout routes and CSRF checks on ``app``'s Flask server.

    Parameters
    ----------
    app : dash.Dash or flask.Flask
        The app (for a Dash app its ``server``). Call once, before serving.
    ws : Workspace
        The workspace whose accounts, secret and audit log are used.
    policy : LoginPolicy, optional
        Slowdown and lockout of failed logins (default :class:`LoginPolicy`).
    """
    server: flask.Flask = getattr(app, "server", app)
    secret = workspace_secret(ws)
    server.secret_key = secret
    server.config.update(
        SESSION_COOKIE_NAME="pingan_" + hashlib.sha256(secret.encode()).hexdigest()[:10],
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=_SESSION_HOURS),
        REMEMBER_COOKIE_DURATION=timedelta(seconds=0),
    )
    server.config[AUTH_KEY] = _Settings(ws, policy or LoginPolicy())
    manager = flask_login.LoginManager()
    manager.session_protection = "strong"  # a stolen cookie from another client is dropped
    manager.init_app(server)
    manager.user_loader(_load_user)
    server.before_request_funcs.setdefault(None, []).insert(0, _gate)
    server.after_request(_after)
    server.add_url_rule("/login", "pingan_login", _login_view, methods=["GET", "POST"])
    server.add_url_rule("/logout", "pingan_logout", _logout_view, methods=["GET", "POST"])


def current_user() -> User:
    """Who is asking: the signed-in user, or :data:`ANONYMOUS` on an open board.

    Outside a request, or on an app without :func:`install_auth` (tests, scripts), the
    anonymous analyst. Raises PermissionError if the workspace has accounts and nobody has
    signed in (the gate normally answers such requests first).
    """
    if not flask.has_request_context():
        return ANONYMOUS
    settings = flask.current_app.config.get(AUTH_KEY)
    if settings is None:
        return ANONYMOUS
    who = flask_login.current_user
    if getattr(who, "is_authenticated", False) and isinstance(who, _SessionUser):
        return who.user
    if not has_accounts(settings.ws):
        return ANONYMOUS
    raise PermissionError("login required")


def require(permission: str) -> User:
    """The current user if their role has ``permission`` (``view``, ``export``, ``upload``,
    ``manage_users``); PermissionError naming the role otherwise."""
    user = current_user()
    if not user.can(permission):
        raise PermissionError(f"user {user.name!r} (role {user.role}) may not {permission}")
    return user


def audit_event(action: str, detail: str = "", ws: Workspace | None = None) -> None:
    """Record ``action`` by the current user and client address in the audit log.

    ``ws`` defaults to the workspace given to :func:`install_auth` (or the app's workspace).
    """
    if ws is None:
        ws = _settings_ws()
    remote = flask.request.remote_addr if flask.has_request_context() else "local"
    record(ws, action, user=current_user().name, remote=remote or "?", detail=detail)


def workspace_secret(ws: Workspace) -> str:
    """The session-signing key of ``ws`` (``W/secret``), created once with mode 0600."""
    path = ws.path / "secret"
    ws.path.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    secret = Path(path).read_text(encoding="ascii").strip()
    if len(secret) < 32:
        raise ValueError(f"{path}: session secret too short or empty; delete the file to make a new one")
    return secret


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site, else ``/`` (no open redirect)."""
    if not target or not isinstance(target, str):
        return "/"
    if any(ord(ch) < 32 or ch == "\\" for ch in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


# -- the gate ------------------------------------------------------------------------------------
def _settings() -> _Settings:
    return flask.current_app.config[AUTH_KEY]


def _settings_ws() -> Workspace:
    if flask.has_app_context():
        settings = flask.current_app.config.get(AUTH_KEY)
        if settings is not None:
            return settings.ws
        from pages._common import served_workspace

        return served_workspace()
    raise RuntimeError("audit_event outside the app: pass ws=")


def _load_user(user_id: str) -> _SessionUser | None:
    token, _, name = str(user_id).partition(":")
    ws = _settings().ws
    current = session_token(ws, name)
    if not current or not hmac.compare_digest(current, token):
        return None  # removed, or the password changed since this session began
    user = _get_user(ws, name)
    return None if user is None else _SessionUser(user, token)


def _gate() -> flask.Response | None:
    request = flask.request
    session = flask.session
    if "csrf" not in session:
        session["csrf"] = secrets.token_hex(16)
    ws = _settings().ws
    path = request.path
    if not has_accounts(ws):
        if not _is_loopback(request.remote_addr):
            return _deny(403, "this board has no accounts and is open to this machine only")
    elif path not in PUBLIC_PATHS and not flask_login.current_user.is_authenticated:
        if request.method in ("GET", "HEAD") and not path.startswith(_MACHINE_PREFIXES) \
                and "text/html" in request.headers.get("Accept", ""):  # a browser navigation
            full = request.full_path if request.query_string else path
            return flask.redirect("/login?next=" + quote(full, safe="/"), code=302)
        return _deny(401, "login required")
    if request.method not in _SAFE_METHODS and path != "/login":
        if not _same_origin() or not _csrf_header_ok():
            return _deny(403, "CSRF check failed: reload the page")
    return None


def _after(response: flask.Response) -> flask.Response:
    token = flask.session.get("csrf")
    if token and flask.request.cookies.get(CSRF_COOKIE) != token:
        # readable by Dash's renderer (not HttpOnly): it sends it back as X-CSRFToken
        response.set_cookie(CSRF_COOKIE, token, httponly=False, samesite="Lax", path="/")
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def _csrf_header_ok() -> bool:
    sent = flask.request.headers.get(CSRF_HEADER, "")
    expected = flask.session.get("csrf", "")
    return bool(sent) and bool(expected) and hmac.compare_digest(sent, expected)


def _same_origin() -> bool:
    """No ``Origin`` (same-origin fetches may omit it) or one naming this host."""
    origin = flask.request.headers.get("Origin")
    if not origin:
        return True
    return urlsplit(origin).netloc == flask.request.host


def _deny(status: int, message: str) -> flask.Response:
    return flask.Response(message + "\n", status=status, mimetype="text/plain")


def _is_loopback(addr: str | None) -> bool:
    try:
        return addr is not None and ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return False


# -- login and logout ----------------------------------------------------------------------------
def _login_view() -> flask.Response:
    request = flask.request
    settings = _settings()
    lang = request.values.get("lang", DEFAULT_LANG)
    lang = lang if lang in LANGS else DEFAULT_LANG
    target = safe_next(request.values.get("next"))
    if not has_accounts(settings.ws):
        return flask.redirect(target)
    if request.method == "GET":
        if flask_login.current_user.is_authenticated:
            return flask.redirect(target)
        return _login_page(lang, target)
    sent = request.form.get("csrf", "")
    expected = flask.session.get("csrf", "")
    if not sent or not expected or not hmac.compare_digest(sent, expected) or not _same_origin():
        return _login_page(lang, target, error=t("login.expired", lang), status=403)
    name = request.form.get("username", "")
    if not _LOGIN_SLOTS.acquire(timeout=_LOGIN_WAIT_S):
        return _login_page(lang, target, error=t("login.busy", lang), status=429)
    try:
        user = verify(settings.ws, name, request.form.get("password", ""), policy=settings.policy,
                      client=request.remote_addr or "?")
    except LoginLocked as exc:
        _record("login_failed", name, f"locked: {name}")
        minutes = max(1, round((exc.until - _now()) / 60))
        return _login_page(lang, target, error=t("login.locked", lang, minutes=minutes), status=429)
    finally:
        _LOGIN_SLOTS.release()
    if user is None:
        _record("login_failed", name, name)
        return _login_page(lang, target, error=t("login.failed", lang), status=401)
    token = session_token(settings.ws, user.name) or ""
    flask.session.clear()  # a new session (and a new CSRF token) for the signed-in user
    flask.session["csrf"] = secrets.token_hex(16)
    flask.session.permanent = True
    flask_login.login_user(_SessionUser(user, token))
    _record("login_ok", user.name, user.role)
    return flask.redirect(target)


def _logout_view() -> flask.Response:
    who = flask_login.current_user
    if getattr(who, "is_authenticated", False):
        _record("logout", who.user.name, "")
    flask_login.logout_user()
    flask.session.clear()
    return flask.redirect("/login")


def _record(action: str, name: str, detail: str) -> None:
    record(_settings().ws, action, user=str(name)[:64] or "?",
           remote=flask.request.remote_addr or "?", detail=detail[:200])


def _now() -> float:
    return time.time()


def _login_page(lang: str, target: str, *, error: str | None = None, status: int = 200) -> flask.Response:
    e = html.escape
    other = "en" if lang == "zh" else "zh"
    switch = f"/login?lang={other}&next={quote(target, safe='/')}"
    ws = _settings().ws
    city = ws.config.name
    body = f"""<!DOCTYPE html>
<html lang="{'zh-CN' if lang == 'zh' else 'en'}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(t("login.title", lang))} · {e(t("app.title", lang))}</title>
<link rel="stylesheet" href="/assets/style.css">
<style>
.login-box {{ max-width: 360px; margin: 8vh auto; }}
.login-box form {{ display: flex; flex-direction: column; gap: 10px; }}
.login-box input[type=text], .login-box input[type=password] {{ padding: 7px 9px; font-size: 14px;
  border: 1px solid var(--line); border-radius: 4px; font-family: inherit; }}
.login-error {{ color: var(--red); }}
</style></head>
<body>
<header class="app-header"><div class="brand-box"><span class="brand">{e(t("app.title", lang))}</span>
<span class="city">{e(city)}</span></div><nav class="nav"></nav>
<a class="lang-btn" id="login-lang" href="{e(switch)}">{e(t("app.lang_toggle", lang))}</a></header>
<main class="app-main"><div class="card login-box">
<h1 class="card-title">{e(t("login.title", lang))}</h1>
{f'<p class="login-error" id="login-error">{e(error)}</p>' if error else ''}
<form method="post" action="/login" autocomplete="off">
<input type="hidden" name="csrf" value="{e(flask.session.get('csrf', ''))}">
<input type="hidden" name="next" value="{e(target)}">
<input type="hidden" name="lang" value="{e(lang)}">
<label class="ctl"><span class="ctl-label">{e(t("login.user", lang))}</span>
<input type="text" name="username" id="login-user" maxlength="64" required autofocus></label>
<label class="ctl"><span class="ctl-label">{e(t("login.password", lang))}</span>
<input type="password" name="password" id="login-password" maxlength="1024" required></label>
<button type="submit" class="btn" id="login-submit">{e(t("login.submit", lang))}</button>
</form>
<p class="hint">{e(t("login.notice", lang))}</p>
</div></main></body></html>
"""
    resp = flask.Response(body, status=status, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    return resp
