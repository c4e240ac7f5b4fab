"""Login gate, CSRF, lockout, logout and the serve policy, against a real waitress server on
loopback (the board of a copy of the session's demo workspace, with accounts)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest
import requests

from data.accounts import LoginPolicy, add_user, remove_user, set_password
from data.audit import read_audit
from data.workspace import Workspace
from pages._auth import CSRF_COOKIE, CSRF_HEADER, install_auth, safe_next
from pages._serve import check_serve_policy, default_threads, is_loopback, make_server

PW = "correct horse 1"
POLICY = LoginPolicy(max_failures=3, window_s=60, lockout_s=60, delay_s=0.01, max_delay_s=0.05)
PINGAN = str(Path(sys.executable).parent / "pingan")


def _copy(app_workspace, dest: Path) -> Workspace:
    """The session workspace without its accounts, and without a model evaluation an earlier
    test may have stored in it (it would choose the board's model: tests must not depend on order)."""
    shutil.copytree(app_workspace.path, dest)
    for name in ("users.json", "logins.json", "audit.log", "secret", "cache/model_choice.json",
                 "cache/backtest.json"):
        (dest / name).unlink(missing_ok=True)
    for name in ("cache/evaluation", "cache/auto"):
        shutil.rmtree(dest / name, ignore_errors=True)
    return Workspace(dest)


def _start(ws: Workspace):
    from app import create_app

    app = create_app(ws)
    install_auth(app, ws, policy=POLICY)
    server = make_server(app, "127.0.0.1", 0, threads=8)
    threading.Thread(target=server.run, daemon=True).start()
    return server, f"http://127.0.0.1:{server.effective_port}"


@pytest.fixture(scope="module")
def board(app_workspace, tmp_path_factory):
    """(base URL, workspace) of a served board with an admin, an analyst and a grid user."""
    ws = _copy(app_workspace, tmp_path_factory.mktemp("auth") / "w")
    area = str(pd.read_parquet(ws.area_path("community"), columns=["area_id"])["area_id"].iloc[0])
    add_user(ws, "admin", "admin", password=PW)
    add_user(ws, "li", "analyst", password=PW)
    add_user(ws, "wang", "grid", password=PW, area_id=area)
    server, base = _start(ws)
    yield base, ws
    server.close()


@pytest.fixture(scope="module")
def open_board(app_workspace, tmp_path_factory):
    """A served board without accounts (open on loopback)."""
    ws = _copy(app_workspace, tmp_path_factory.mktemp("open") / "w")
    server, base = _start(ws)
    yield base, ws
    server.close()


def _html_get(s: requests.Session, url: str) -> requests.Response:
    return s.get(url, headers={"Accept": "text/html,application/xhtml+xml"}, allow_redirects=False, timeout=60)


def _login(base: str, name: str, password: str, next_: str = "/", session=None) -> requests.Response:
    s = session or requests.Session()
    page = s.get(f"{base}/login", params={"next": next_}, timeout=60)
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
    return s.post(f"{base}/login", data={"csrf": token, "username": name, "password": password,
                                         "next": next_}, allow_redirects=False, timeout=60)


def _shell_callback(s: requests.Session, base: str, lang: str = "en") -> dict:
    """The body of the app shell's label callback (input: the language store)."""
    deps = s.get(f"{base}/_dash-dependencies", timeout=60).json()
    dep = next(d for d in deps if [i["id"] for i in d["inputs"]] == ["app-lang"]
               and "app-title" in d["output"])
    outputs = [dict(zip(("id", "property"), o.rsplit(".", 1), strict=True))
               for o in dep["output"].strip(".").split("...")]
    return {"output": dep["output"], "outputs": outputs, "changedPropIds": ["app-lang.data"],
            "inputs": [{"id": "app-lang", "property": "data", "value": lang}], "state": []}


PROTECTED_HTML = ["/", "/hotspots", "/trends", "/data", "/screen", "/evaluation"]
PROTECTED_OTHER = [
    ("GET", "/_dash-layout"), ("GET", "/_dash-dependencies"), ("POST", "/_dash-update-component"),
    ("GET", "/_dash-component-suites/dash/dash-renderer/build/dash_renderer.v3_0_0m1.min.js"),
    ("GET", "/assets/vendor/plotly-locale-zh-cn.js"), ("GET", "/download/0123456789abcdef"),
    ("GET", "/_reload-hash"),
]


def test_every_route_needs_a_login(board):
    base, _ = board
    s = requests.Session()
    for path in PROTECTED_HTML:
        r = _html_get(s, base + path)
        assert r.status_code == 302, path
        assert r.headers["Location"].startswith("/login?next=")
    for method, path in PROTECTED_OTHER:
        r = s.request(method, base + path, json={} if method == "POST" else None,
                      allow_redirects=False, timeout=60)
        assert r.status_code == 401, (method, path, r.status_code)
    # what the login page itself needs is public
    assert s.get(f"{base}/assets/style.css", timeout=60).status_code == 200
    login = s.get(f"{base}/login", timeout=60)
    assert login.status_code == 200 and "登录" in login.text and 'name="csrf"' in login.text
    assert "http://" not in login.text.replace(base, "") and "https://" not in login.text  # offline
    assert "Sign in" in s.get(f"{base}/login?lang=en", timeout=60).text


def test_login_then_pages_and_callbacks_with_csrf(board):
    base, ws = board
    s = requests.Session()
    r = _login(base, "li", PW, next_="/hotspots?x=1", session=s)
    assert r.status_code == 302 and r.headers["Location"] == "/hotspots?x=1"
    cookies = r.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookies and "SameSite=Lax" in cookies
    page = _html_get(s, base + "/")
    assert page.status_code == 200 and "_dash-renderer" in page.text
    assert s.get(f"{base}/_dash-layout", timeout=60).status_code == 200
    token = s.cookies.get(CSRF_COOKIE)
    assert token

    body = _shell_callback(s, base)
    no_header = s.post(f"{base}/_dash-update-component", json=body, timeout=60)
    assert no_header.status_code == 403
    wrong = s.post(f"{base}/_dash-update-component", json=body, headers={CSRF_HEADER: "0" * 32}, timeout=60)
    assert wrong.status_code == 403
    cross = s.post(f"{base}/_dash-update-component", json=body,
                   headers={CSRF_HEADER: token, "Origin": "http://evil.example"}, timeout=60)
    assert cross.status_code == 403
    ok = s.post(f"{base}/_dash-update-component", json=body,
                headers={CSRF_HEADER: token, "Origin": base}, timeout=60)
    assert ok.status_code == 200 and "Warning board" in ok.text

    log = read_audit(ws)
    mine = log[(log["user"] == "li") & (log["action"] == "login_ok")]
    assert len(mine) >= 1 and mine["remote"].iloc[-1] == "127.0.0.1"


def test_dash_renderer_sends_the_csrf_cookie_as_header():
    """The renderer copies the ``_csrf_token`` cookie into ``X-CSRFToken`` (what the gate relies on)."""
    import dash

    js = (Path(dash.__file__).parent / "dash-renderer" / "build" / "dash_renderer.min.js").read_text(encoding="utf-8")
    assert CSRF_COOKIE in js and CSRF_HEADER in js


def test_login_form_needs_its_csrf_token(board):
    base, ws = board
    s = requests.Session()
    s.get(f"{base}/login", timeout=60)
    r = s.post(f"{base}/login", data={"username": "li", "password": PW}, allow_redirects=False, timeout=60)
    assert r.status_code == 403
    assert _html_get(s, base + "/").status_code == 302  # still not signed in


def test_wrong_password_then_lockout(board):
    base, ws = board
    add_user(ws, "zhao", "leader", password=PW)
    for _ in range(POLICY.max_failures):
        r = _login(base, "zhao", "wrong password")
        assert r.status_code == 401 and "用户名或密码错误" in r.text
    r = _login(base, "zhao", PW)
    assert r.status_code == 429 and "分钟后再试" in r.text
    log = read_audit(ws)
    failed = log[(log["action"] == "login_failed") & (log["user"] == "zhao")]
    assert len(failed) == POLICY.max_failures + 1


@pytest.mark.parametrize("target", ["http://evil.example/", "//evil.example/x", "https:evil", "/\\evil.example",
                                    "javascript:alert(1)", "\x00/x"])
def test_next_never_leaves_the_site(board, target):
    base, _ = board
    r = _login(base, "admin", PW, next_=target)
    assert r.status_code == 302
    loc = urlsplit(r.headers["Location"])
    assert not loc.netloc and loc.path == "/"
    assert safe_next(target) == "/"


def test_logout_ends_the_session(board):
    base, ws = board
    s = requests.Session()
    assert _login(base, "admin", PW, session=s).status_code == 302
    assert s.get(f"{base}/_dash-layout", timeout=60).status_code == 200
    r = s.get(f"{base}/logout", allow_redirects=False, timeout=60)
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    assert s.get(f"{base}/_dash-layout", timeout=60).status_code == 401
    assert "logout" in read_audit(ws)["action"].tolist()


def test_password_change_and_removal_end_sessions(board):
    base, ws = board
    add_user(ws, "sun", "analyst", password=PW)
    s = requests.Session()
    assert _login(base, "sun", PW, session=s).status_code == 302
    assert s.get(f"{base}/_dash-layout", timeout=60).status_code == 200
    set_password(ws, "sun", "another pass 2")
    assert s.get(f"{base}/_dash-layout", timeout=60).status_code == 401
    assert _login(base, "sun", "another pass 2", session=s).status_code == 302
    remove_user(ws, "sun")
    assert s.get(f"{base}/_dash-layout", timeout=60).status_code == 401


def test_secret_is_generated_once_with_mode_0600(board):
    _, ws = board
    secret = ws.path / "secret"
    assert oct(secret.stat().st_mode & 0o777) == "0o600"
    assert len(secret.read_text().strip()) == 64


def test_open_board_on_loopback_still_checks_csrf(open_board):
    base, _ = open_board
    s = requests.Session()
    assert _html_get(s, base + "/").status_code == 200
    assert s.get(f"{base}/_dash-layout", timeout=60).status_code == 200
    body = _shell_callback(s, base, lang="zh")
    assert s.post(f"{base}/_dash-update-component", json=body, timeout=60).status_code == 403
    ok = s.post(f"{base}/_dash-update-component", json=body,
                headers={CSRF_HEADER: s.cookies.get(CSRF_COOKIE)}, timeout=60)
    assert ok.status_code == 200 and "预警看板" in ok.text
    assert _html_get(s, base + "/login").status_code == 302  # nothing to sign in to


def test_open_board_refuses_other_machines(app_workspace, tmp_path):
    from app import create_app

    ws = _copy(app_workspace, tmp_path / "w")
    app = create_app(ws)
    install_auth(app, ws, policy=POLICY)
    client = app.server.test_client()
    assert client.get("/_dash-layout", environ_base={"REMOTE_ADDR": "10.0.0.5"}).status_code == 403
    assert client.get("/_dash-layout", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200


@pytest.mark.parametrize("host, debug, accounts, message", [
    ("0.0.0.0", False, False, "pingan user add admin --role admin"),
    ("192.168.1.20", False, False, "no accounts"),
    ("0.0.0.0", True, True, "--debug"),
    ("board.example", True, False, "--debug"),
])
def test_serve_policy_refusals(host, debug, accounts, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_serve_policy(host, debug, accounts)


@pytest.mark.parametrize("host, debug, accounts", [
    ("127.0.0.1", True, False), ("localhost", False, False), ("::1", True, True), ("0.0.0.0", False, True),
])
def test_serve_policy_allows(host, debug, accounts):
    check_serve_policy(host, debug, accounts)


def test_loopback_and_threads():
    assert is_loopback("127.0.0.2") and is_loopback("[::1]") and not is_loopback("0.0.0.0")
    assert not is_loopback("example.org") and not is_loopback("")
    assert default_threads() >= 8


@pytest.mark.slow
def test_pingan_serve_refuses_with_exit_2(app_workspace, tmp_path):
    ws = _copy(app_workspace, tmp_path / "w")
    r = subprocess.run([PINGAN, "serve", "--workspace", str(ws.path), "--host", "0.0.0.0", "--port", "1"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "pingan user add admin --role admin" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    add_user(ws, "admin", "admin", password=PW)
    r = subprocess.run([PINGAN, "serve", "--workspace", str(ws.path), "--host", "0.0.0.0", "--debug"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--debug" in r.stderr


@pytest.mark.browser
@pytest.mark.slow
def test_browser_signs_in_and_the_board_draws(dash_duo, board):
    """In Chromium: the login page, then the board's callbacks (CSRF header from the renderer)."""
    from selenium.webdriver.common.by import By

    base, _ = board
    driver = dash_duo.driver
    driver.get(base + "/trends")
    dash_duo.wait_for_element("#login-user", timeout=30)
    assert urlsplit(driver.current_url).path == "/login"
    driver.find_element(By.ID, "login-user").send_keys("li")
    driver.find_element(By.ID, "login-password").send_keys(PW)
    driver.find_element(By.ID, "login-submit").click()
    dash_duo.wait_for_element("#app-nav-board", timeout=60)
    assert urlsplit(driver.current_url).path == "/trends"
    driver.get(base + "/")
    dash_duo.wait_for_element("#board-map path.choroplethlocation", timeout=120)  # callbacks ran
    driver.get(base + "/logout")
    dash_duo.wait_for_element("#login-user", timeout=30)


@pytest.mark.slow
def test_a_burst_of_wrong_logins_does_not_hold_the_server(app_workspace, tmp_path):
    """Failed logins wait on purpose; only two are checked at once, the other threads serve pages."""
    from app import create_app

    ws = _copy(app_workspace, tmp_path / "w")
    add_user(ws, "li", "analyst", password=PW)
    app = create_app(ws)
    install_auth(app, ws, policy=LoginPolicy(max_failures=50, delay_s=1.0, max_delay_s=1.0))
    server = make_server(app, "127.0.0.1", 0, threads=8)
    threading.Thread(target=server.run, daemon=True).start()
    base = f"http://127.0.0.1:{server.effective_port}"
    try:
        s = requests.Session()
        assert _login(base, "li", PW, session=s).status_code == 302
        done = []
        burst = [threading.Thread(target=lambda i=i: done.append(_login(base, f"guess{i}", "wrong").status_code))
                 for i in range(8)]
        for th in burst:
            th.start()
        time.sleep(0.3)
        assert s.get(f"{base}/_dash-layout", timeout=60).status_code == 200
        assert len(done) < 8  # answered while the burst was still being slowed down
        for th in burst:
            th.join()
        assert sorted(done) == [401] * 8
    finally:
        server.close()
