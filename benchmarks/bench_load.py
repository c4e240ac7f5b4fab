"""Concurrent users on loopback: the production server (waitress) against Flask's development server.

Three servers, each a subprocess on a free 127.0.0.1 port serving a copy of the demo workspace
with an account (the office-network set-up: login gate, sessions, CSRF), warmed like
``pingan serve``: ``serve`` = waitress + the response cache (what ``pingan serve`` runs),
``waitress`` = waitress without the cache (every request computed: the server's capacity),
``flask`` = Flask's development server (the reference, what ``serve`` was). The board's main callback (map + table + ranking) and the hotspot
page's main callback are captured from headless Chromium (realistic payloads), then 10 / 25 / 50
users — threads, each signed in with its own session — replay them back to back for a bounded
time (no think time: the most pessimistic office). For each server and user count: p50 / p95
latency, requests per second, errors, and the server's peak RSS (psutil).

Target: p95 < 1 s at 50 users, no errors (for ``serve``).

Usage: ``python benchmarks/bench_load.py [--workspace W] [--users 10 25 50] [--seconds 20]``
(the demo workspace is built first when missing).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

TARGET_P95_S = 1.0
KINDS = ("serve", "waitress", "flask")
USER, PASSWORD = "bench", "bench password 1"
_SKIP = ("raw", "users.json", "logins.json", "audit.log", "secret", ".lock", ".logins.lock")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", default=str(ROOT / "benchmarks" / "out" / "ws-app"))
    ap.add_argument("--users", type=int, nargs="+", default=[10, 25, 50])
    ap.add_argument("--seconds", type=float, default=20.0, help="measured seconds per server and user count")
    ap.add_argument("--max-requests", type=int, default=5000, help="bound per server and user count")
    ap.add_argument("--distinct", type=int, default=1,
                    help="distinct views (category x language) spread over the users (default 1: all alike)")
    ap.add_argument("--views", nargs="+", choices=["board", "hotspots"], default=["board", "hotspots"],
                    help="callbacks replayed, alternated (default both)")
    ap.add_argument("--serve", choices=KINDS, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        return _serve(args.serve, args.workspace, args.port)

    import psutil

    from data.accounts import add_user
    from data.workspace import Workspace

    src = Workspace(args.workspace)
    if not src.exists():
        from data.demo import build_demo

        print(f"building the demo city in {src.path} …", flush=True)
        build_demo(str(src.path))
    tmp = Path(tempfile.mkdtemp(prefix="pingan-load-"))
    ws = Workspace(shutil.copytree(src.path, tmp / "w", ignore=shutil.ignore_patterns(*_SKIP)))
    add_user(ws, USER, "analyst", password=PASSWORD)
    servers = {}
    try:
        for kind in KINDS:
            servers[kind] = _start(kind, ws)
        for kind, (proc, base) in servers.items():
            _wait_up(base, proc)
            print(f"{kind}: {base} (pid {proc.pid})", flush=True)
        payloads = {k: v for k, v in _capture(servers["serve"][1]).items() if k in args.views}
        dump = ROOT / "benchmarks" / "out" / "bench_load_payloads.json"
        dump.parent.mkdir(parents=True, exist_ok=True)
        dump.write_text(json.dumps(payloads, ensure_ascii=False), encoding="utf-8")  # for profiling
        print("payloads: " + ", ".join(f"{k} ({len(json.dumps(v)) / 1e3:.1f} KB)" for k, v in payloads.items()))
        variants = _variants(payloads, ws, args.distinct)
        results = []
        for kind, (proc, base) in servers.items():
            ps = psutil.Process(proc.pid)
            warm = _signed_in(base)
            for body in payloads.values():  # warm every view once (caches, first-call costs)
                _replay_once(warm, base, body)
            warm.close()
            for n in args.users:
                results.append((kind, n, *_load(base, ps, variants, n, args.seconds, args.max_requests)))
    finally:
        for proc, _ in servers.values():
            proc.terminate()
        for proc, _ in servers.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    load = os.getloadavg()[0]
    print(f"\nmachine: {os.cpu_count()} cores, load average {load:.1f}; workspace {src.path}; "
          f"{args.seconds:.0f} s per row, no think time, callbacks alternated: {' + '.join(payloads)}; "
          f"{len(variants)} distinct view(s) (category x language), user i shows view i mod {len(variants)}")
    print(f"{'server':10s} {'users':>5s} {'requests':>8s} {'p50 s':>7s} {'p95 s':>7s} {'req/s':>7s} "
          f"{'errors':>6s} {'peak RSS MB':>11s}")
    ref = {n: (p95, rps) for kind, n, _, _, p95, rps, _, _ in results if kind == "flask"}
    for kind, n, count, p50, p95, rps, errors, rss in results:
        print(f"{kind:10s} {n:5d} {count:8d} {p50:7.2f} {p95:7.2f} {rps:7.1f} {errors:6d} {rss / 1e6:11.0f}")
    print()
    ok = True
    for kind, n, _, _, p95, rps, errors, _ in results:
        if kind == "flask":
            continue
        fp95, frps = ref.get(n, (float("nan"), float("nan")))
        print(f"{n} users: {kind} p95 {p95:.2f} s vs Flask dev server {fp95:.2f} s "
              f"({fp95 / p95:.1f}× faster), {rps / frps:.2f}× the requests/s")
        if n == max(args.users) and kind == "serve":
            ok = p95 < TARGET_P95_S and errors == 0
    print(f"target at {max(args.users)} users: p95 < {TARGET_P95_S:.0f} s, no errors -> "
          + ("PASS" if ok else "SLOWER THAN TARGET"))
    return 0


# -- servers -------------------------------------------------------------------------------------
def _serve(kind: str, workspace: str, port: int) -> int:
    """Subprocess: serve ``workspace`` as ``pingan serve`` does, with ``kind``'s server."""
    import logging

    from app import create_app, warm_up
    from data.workspace import Workspace
    from pages._auth import install_auth
    from pages._serve import CACHED_OUTPUTS, install_response_cache, run_server

    ws = Workspace(workspace)
    app = create_app(ws)
    install_auth(app, ws)
    if kind == "serve":  # as `pingan serve`
        install_response_cache(app, ws, CACHED_OUTPUTS)
    warm_up(ws)
    if kind in ("serve", "waitress"):
        run_server(app, "127.0.0.1", port)
    else:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        app.run(host="127.0.0.1", port=port, debug=False)  # Flask's development server (threaded)
    return 0


def _start(kind: str, ws) -> tuple[subprocess.Popen, str]:
    from bench_app import _free_port

    port = _free_port()
    # a file, not a pipe: waitress logs "Task queue depth" under load, and a full pipe that
    # nobody reads would stop the server
    log = open(ws.path.parent / f"{kind}.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port),
                             "--workspace", str(ws.path)], cwd=ROOT, stdout=log, stderr=log)
    proc.log_path = log.name
    return proc, f"http://127.0.0.1:{port}"


def _wait_up(base: str, proc: subprocess.Popen, timeout: float = 600) -> None:
    import requests

    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            tail = Path(proc.log_path).read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"server exited: {tail}")
        try:
            requests.get(base + "/login", timeout=5)
            return
        except requests.ConnectionError:
            time.sleep(0.3)
    raise RuntimeError(f"server on {base} did not start within {timeout} s")


# -- users ---------------------------------------------------------------------------------------
def _signed_in(base: str):
    import re

    import requests

    s = requests.Session()
    page = s.get(base + "/login", timeout=60)
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
    r = s.post(base + "/login", data={"csrf": token, "username": USER, "password": PASSWORD, "next": "/"},
               allow_redirects=False, timeout=60)
    if r.status_code != 302:
        raise RuntimeError(f"login failed: HTTP {r.status_code}")
    s.get(base + "/", headers={"Accept": "text/html"}, timeout=60)  # as a browser: the page, then callbacks
    s.headers.update({"X-CSRFToken": s.cookies.get("_csrf_token"), "Origin": base,
                      "Accept-Encoding": "gzip, deflate, br, zstd"})  # as Chromium
    return s


def _replay_once(s, base: str, body: dict) -> tuple[float, bool]:
    t0 = time.perf_counter()
    try:
        r = s.post(base + "/_dash-update-component", json=body, timeout=120)
        ok = r.status_code in (200, 204) and len(r.content) > 0
    except OSError:
        ok = False
    return time.perf_counter() - t0, ok


def _load(base: str, ps, variants: list[list[dict]], n_users: int, seconds: float, max_requests: int):
    """``n_users`` threads replaying their view's callbacks for ``seconds``:
    (count, p50, p95, req/s, errors, peak RSS)."""
    sessions = [_signed_in(base) for _ in range(n_users)]
    times: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = threading.Barrier(n_users + 1)
    stop = threading.Event()
    peak = [0]

    def user(i: int) -> None:
        start.wait()
        bodies = variants[i % len(variants)]
        k = i  # users start on different callbacks
        while not stop.is_set():
            dt, ok = _replay_once(sessions[i], base, bodies[k % len(bodies)])
            k += 1
            with lock:
                if stop.is_set():
                    return
                times.append(dt)
                errors[0] += not ok
                if len(times) >= max_requests:
                    stop.set()

    def sample() -> None:
        while not stop.is_set():
            try:
                peak[0] = max(peak[0], ps.memory_info().rss + sum(c.memory_info().rss for c in ps.children()))
            except OSError:
                pass
            time.sleep(0.2)

    threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(n_users)]
    threads.append(threading.Thread(target=sample, daemon=True))
    for th in threads:
        th.start()
    start.wait()
    t0 = time.perf_counter()
    stop.wait(seconds)
    stop.set()
    elapsed = time.perf_counter() - t0
    for th in threads:
        th.join(timeout=180)
    for s in sessions:
        s.close()  # idle keep-alive connections would count against the next row
    arr = np.array(times) if times else np.array([np.nan])
    return (len(times), float(np.percentile(arr, 50)), float(np.percentile(arr, 95)),
            len(times) / elapsed, errors[0], peak[0])


# -- payloads ------------------------------------------------------------------------------------
def _variants(payloads: dict[str, dict], ws, k: int) -> list[list[dict]]:
    """``k`` views: the captured callbacks with another category and/or language each."""
    import copy

    cats = ["全部", *sorted(ws.incidents_frame(["category"])["category"].astype(str).unique())]
    out = []
    for i in range(max(1, k)):
        cat, lang = cats[i % len(cats)], ("zh", "en")[(i // len(cats)) % 2]
        view = []
        for body in payloads.values():
            b = copy.deepcopy(body)
            for item in [*b.get("inputs", []), *b.get("state", [])]:
                if item.get("id") in ("board-category", "hot-category"):
                    item["value"] = cat
                elif item.get("id") == "app-lang":
                    item["value"] = lang
            view.append(b)
        out.append(view)
    return out


def _capture(base: str) -> dict[str, dict]:
    """The board's and the hotspot page's main callback bodies, as headless Chromium sends them."""
    from bench_app import PAGES, _browser, _wait_css, callback_bodies
    from selenium.webdriver.common.by import By

    wanted = {"board": ("/", "board-map.figure"), "hotspots": ("/hotspots", "hot-map.figure")}
    driver = _browser()
    found: dict[str, dict] = {}
    try:
        driver.get(base + "/login")
        driver.find_element(By.ID, "login-user").send_keys(USER)
        driver.find_element(By.ID, "login-password").send_keys(PASSWORD)
        driver.find_element(By.ID, "login-submit").click()
        for name, (path, output) in wanted.items():
            driver.get_log("performance")
            driver.get(base + path)
            _wait_css(driver, PAGES[path], timeout=600)
            time.sleep(1.0)
            for body in callback_bodies(driver):
                if output in body["output"]:
                    found[name] = body
    finally:
        driver.quit()
    missing = set(wanted) - set(found)
    if missing:
        raise RuntimeError(f"callbacks not captured: {', '.join(sorted(missing))}")
    return found


if __name__ == "__main__":
    sys.exit(main())
