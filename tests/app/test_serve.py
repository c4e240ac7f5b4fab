"""The response cache of pages/_serve.py on a real waitress server: repeats are answered from
memory, but never across user scopes or workspace versions, never before the login gate and the
CSRF check, and only for the callbacks listed."""

from __future__ import annotations

import re
import shutil
import threading

import pandas as pd
import pytest
import requests

from data.accounts import add_user
from data.workspace import Workspace
from pages._auth import CSRF_COOKIE, CSRF_HEADER, install_auth
from pages._serve import CACHED_OUTPUTS, ResponseCache, install_response_cache, make_server

PW = "correct horse 1"


@pytest.fixture(scope="module")
def served(app_workspace, tmp_path_factory):
    """(base URL, workspace, cache) of a board whose shell-label callback is cached."""
    from app import create_app

    dest = tmp_path_factory.mktemp("serve") / "w"
    shutil.copytree(app_workspace.path, dest,
                    ignore=shutil.ignore_patterns("users.json", "logins.json", "audit.log", "secret"))
    ws = Workspace(dest)
    area = str(pd.read_parquet(ws.area_path("community"), columns=["area_id"])["area_id"].iloc[0])
    add_user(ws, "li", "analyst", password=PW)
    add_user(ws, "wang", "grid", password=PW, area_id=area)
    app = create_app(ws)
    install_auth(app, ws)
    cache = install_response_cache(app, ws, ("app-title.children",))
    server = make_server(app, "127.0.0.1", 0, threads=8)
    threading.Thread(target=server.run, daemon=True).start()
    yield f"http://127.0.0.1:{server.effective_port}", ws, cache
    server.close()


def _session(base: str, name: str) -> requests.Session:
    s = requests.Session()
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', s.get(f"{base}/login", timeout=60).text).group(1)
    r = s.post(f"{base}/login", data={"csrf": token, "username": name, "password": PW},
               allow_redirects=False, timeout=60)
    assert r.status_code == 302
    s.get(f"{base}/_dash-layout", timeout=60)
    s.headers[CSRF_HEADER] = s.cookies.get(CSRF_COOKIE)
    return s


def _body(s: requests.Session, base: str, lang: str, output_id: str = "app-title") -> dict:
    deps = s.get(f"{base}/_dash-dependencies", timeout=60).json()
    dep = next(d for d in deps if output_id in d["output"])
    outputs = [dict(zip(("id", "property"), o.rsplit(".", 1), strict=True))
               for o in dep["output"].strip(".").split("...")]
    if not dep["output"].startswith(".."):
        outputs = outputs[0]  # a single output is sent as an object
    inputs = [{"id": i["id"], "property": i["property"],
               "value": lang if i["id"] == "app-lang" else "/"} for i in dep["inputs"]]
    return {"output": dep["output"], "outputs": outputs, "inputs": inputs,
            "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"], "state": []}


def _post(s: requests.Session, base: str, body: dict) -> requests.Response:
    return s.post(f"{base}/_dash-update-component", json=body, timeout=60)


def test_repeats_come_from_the_cache(served):
    base, _, _ = served
    s = _session(base, "li")
    body = _body(s, base, "en")
    first, second = _post(s, base, body), _post(s, base, body)
    assert first.status_code == second.status_code == 200
    assert "X-Pingan-Cache" not in first.headers and second.headers["X-Pingan-Cache"] == "hit"
    assert second.json() == first.json() and "Pingan early warning" in second.text
    other = _post(s, base, _body(s, base, "zh"))  # another input: computed
    assert "X-Pingan-Cache" not in other.headers and "平安预警" in other.text


def test_no_sharing_across_scopes_or_versions(served):
    base, ws, _ = served
    li, wang = _session(base, "li"), _session(base, "wang")
    body = _body(li, base, "en")
    _post(li, base, body)
    assert _post(li, base, body).headers.get("X-Pingan-Cache") == "hit"
    assert "X-Pingan-Cache" not in _post(wang, base, body).headers  # a grid user's own answer
    with ws.write_lock(timeout=30):
        ws.bump_version()
    assert "X-Pingan-Cache" not in _post(li, base, body).headers  # new data: computed again
    assert _post(li, base, body).headers.get("X-Pingan-Cache") == "hit"


def test_gate_and_csrf_come_before_the_cache(served):
    base, _, _ = served
    s = _session(base, "li")
    body = _body(s, base, "en")
    _post(s, base, body)
    assert _post(s, base, body).headers.get("X-Pingan-Cache") == "hit"
    assert requests.post(f"{base}/_dash-update-component", json=body, timeout=60).status_code == 401
    no_csrf = s.post(f"{base}/_dash-update-component", json=body, headers={CSRF_HEADER: ""}, timeout=60)
    assert no_csrf.status_code == 403


def test_unlisted_callbacks_are_never_cached(served):
    base, _, _ = served
    s = _session(base, "li")
    body = _body(s, base, "en", output_id="app-root.className")  # the 大屏 class switch: not listed
    answers = [_post(s, base, body) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert not any("X-Pingan-Cache" in a.headers for a in answers)


def test_concurrent_identical_requests_are_computed_once(served):
    base, _, cache = served
    s = _session(base, "li")
    body = _body(s, base, "en")
    body["inputs"][0]["value"] = "en"
    body["changedPropIds"] = ["app-lang.data", "concurrency-test"]  # a body not seen before
    misses = cache.misses
    results = []
    threads = [threading.Thread(target=lambda: results.append(_post(s, base, body).status_code))
               for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert results == [200] * 8
    assert cache.misses == misses + 1


def test_store_is_bounded_and_single_flight():
    store = ResponseCache(max_bytes=100)
    for i in range(3):
        store.put(f"k{i}", b"x" * 20, {})
    store.put("k3", b"y" * 20, {})
    assert store.get("k0") is not None  # 80 bytes: all kept
    store.put("k4", b"z" * 25, {})  # 105 > 100: the least recently used (k1) goes
    assert store.get("k1") is None and store.get("k0") is not None
    assert store.claim("new") is None  # the first asker computes
    event = store.claim("new")
    assert event is not None and not event.is_set()
    store.release("new")
    assert event.is_set()


def test_default_list_names_the_two_heavy_callbacks():
    assert set(CACHED_OUTPUTS) == {"board-map.figure", "hot-map.figure"}
