"""Warning push: bodies of the 企业微信 / 钉钉 / JSON robots field by field, the 钉钉 signature,
once per area and period across refreshes, retries on 5xx, a dead webhook logged and not fatal.
Every webhook is a real HTTP server on 127.0.0.1 started by the test."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest

from analytics.service import Service
from analytics.service.notify import (
    dingtalk_sign,
    mask_webhook,
    notify_dir,
    notify_warnings,
    read_sent,
)
from app import main
from data.config import Config, WorkspaceError, check_notify
from data.workspace import Workspace

WEEK = pd.Timestamp("2025-12-22")  # the demo's latest complete week


class Receiver:
    """A loopback HTTP server recording every POST; answers from ``script`` (status codes), then 200."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script: list[int] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                parts = urllib.parse.urlsplit(self.path)
                outer.requests.append({"path": parts.path, "query": dict(urllib.parse.parse_qsl(parts.query)),
                                       "type": self.headers["Content-Type"], "body": json.loads(raw),
                                       "at": time.time()})
                code = outer.script.pop(0) if outer.script else 200
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b'{"errcode": 0, "errmsg": "ok"}' if code == 200 else b"busy")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def on(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["path"] == path]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture(scope="module")
def demo_base(tmp_path_factory):
    from data.demo import build_demo

    path = tmp_path_factory.mktemp("notify") / "base"
    build_demo(str(path), seed=7, incidents=20_000, years=2, end="2025-12-28")
    ws = Workspace(path)  # a fast model: these tests are about the push, not the forecast
    ws.update_config(board={**ws.config.board, "model": "eb"})
    return path


@pytest.fixture
def ws(demo_base, tmp_path):
    shutil.copytree(demo_base, tmp_path / "w")
    return Workspace(tmp_path / "w")


def _configure(ws: Workspace, hooks: list[dict], **kw) -> None:
    ws.update_config(notify={"webhooks": hooks, "backoff": 0.01, "timeout": 5.0, **kw})


def _alerts(ws: Workspace) -> pd.DataFrame:
    return Service(ws).alerts(str(WEEK.date()))


def test_bodies_field_by_field_and_the_dingtalk_signature(ws, receiver):
    key, token, secret = "693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa", "c0ffee" * 8, "SEC0123456789abcdef"
    _configure(ws, [
        {"url": f"{receiver.url}/cgi-bin/webhook/send?key={key}", "format": "wecom", "levels": ["红"]},
        {"url": f"{receiver.url}/robot/send?access_token={token}", "format": "dingtalk",
         "levels": ["红", "橙"], "secret": secret},
        {"url": f"{receiver.url}/hook", "format": "json", "levels": ["red"]},
    ])
    alerts = _alerts(ws)
    red, both = alerts[alerts["level"] == "red"], alerts
    assert len(red) >= 1 and (alerts["level"] == "orange").any()
    before = time.time()
    result = notify_warnings(ws)
    assert result.period == WEEK and [m["ok"] for m in result.messages] == [True, True, True]

    (wecom,) = receiver.on("/cgi-bin/webhook/send")
    assert wecom["query"] == {"key": key} and wecom["type"].startswith("application/json")
    assert set(wecom["body"]) == {"msgtype", "markdown"} and wecom["body"]["msgtype"] == "markdown"
    content = wecom["body"]["markdown"]["content"]
    assert content.splitlines()[0] == f"**【平安预警】示范市：{len(red)} 个区域新出现红色预警（2025-12-22 当周）**"
    for r in red.itertuples():
        line = f"- {r.path}：红色，实际 {r.observed} 起 / 预期 {r.expected:.1f} 起（{r.reason_zh}）"
        assert line in content.splitlines()
    assert " › " in red["path"].iloc[0] and len(red["path"].iloc[0].split(" › ")) == 4  # 区 › 街道 › 社区 › 网格
    assert "橙色" not in content

    (ding,) = receiver.on("/robot/send")
    q = ding["query"]
    assert q["access_token"] == token and set(q) == {"access_token", "timestamp", "sign"}
    ts = int(q["timestamp"])
    assert before * 1000 - 1 <= ts <= time.time() * 1000 + 1
    want = base64.b64encode(hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()).decode()
    assert q["sign"] == want == dingtalk_sign(secret, ts)  # parse_qsl undid the URL encoding
    md = ding["body"]["markdown"]
    assert ding["body"]["msgtype"] == "markdown" and set(md) == {"title", "text"}
    assert md["title"] == f"【平安预警】示范市：{len(both)} 个区域新出现红色、橙色预警（2025-12-22 当周）"
    assert md["text"].startswith(f"#### {md['title']}\n")
    assert sum(line.startswith("- ") for line in md["text"].splitlines()) == len(both)

    (plain,) = receiver.on("/hook")
    body = plain["body"]
    assert {k: body[k] for k in ("source", "city", "period", "freq")} == {
        "source": "pingan", "city": "示范市", "period": "2025-12-22", "freq": "W"}
    assert [a["area_id"] for a in body["areas"]] == red["area_id"].tolist()
    for a, r in zip(body["areas"], red.itertuples()):
        assert a == {"area_id": r.area_id, "path": r.path, "level": "red", "level_zh": "红色",
                     "observed": int(r.observed), "expected": round(float(r.expected), 3),
                     "p_exceed": pytest.approx(float(r.p_exceed)), "reason_zh": r.reason_zh,
                     "reason_en": r.reason_en}

    # every attempt logged, tokens masked there and in the audit log
    log = [json.loads(line) for line in (notify_dir(ws) / "notify.log").read_text(encoding="utf-8").splitlines()]
    assert len(log) == 3 and all(e["ok"] and e["status"] == 200 for e in log)
    for f in (notify_dir(ws) / "notify.log", ws.path / "audit.log"):
        text = f.read_text(encoding="utf-8")
        assert key not in text and token not in text and secret not in text and "key=693a***" in text


@pytest.mark.slow
def test_once_per_area_and_period_across_two_refreshes(ws, receiver, tmp_path, capsys):
    _configure(ws, [{"url": f"{receiver.url}/hook", "format": "json", "levels": ["红"]}])
    assert main(["notify", "--workspace", str(ws.path)]) == 0  # the reds there already
    first = {a["area_id"] for a in receiver.on("/hook")[0]["body"]["areas"]}
    assert first == set(_alerts(ws).query("level == 'red'")["area_id"])

    # a quiet grid gets 8 cases in the judged week: the next refresh makes it newly red
    table = Service(ws).warning_table(level="grid", period=str(WEEK.date()))
    quiet = table[(table["level"] == "green") & (table["observed"] == 0)].sort_values("expected")["area_id"].iloc[0]
    point = ws.areas("grid").set_index("area_id").loc[[quiet]].to_crs(4326).representative_point().iloc[0]
    category = ws.incidents_frame(["category"])["category"].mode().iloc[0]

    def drop(name: str, n: int, start: int) -> str:
        rows = pd.DataFrame({"编号": [f"{name}{i}" for i in range(n)],
                             "时间": [f"2025-12-{23 + i % 4} {10 + i}:00" for i in range(n)],
                             "类别": category, "经度": point.x, "纬度": point.y})
        path = tmp_path / f"{name}.csv"
        rows.to_csv(path, index=False)
        return str(path)

    assert main(["ingest", drop("a", 8, 0), "--workspace", str(ws.path)]) == 0
    out = capsys.readouterr().out
    assert "推送 notify:" in out and "1 attempt(s): ok" in out
    second = receiver.on("/hook")[1]["body"]["areas"]
    assert quiet in {a["area_id"] for a in second}
    assert not first & {a["area_id"] for a in second}  # nothing sent twice

    assert main(["ingest", drop("b", 2, 8), "--workspace", str(ws.path)]) == 0  # a second refresh
    later = [a["area_id"] for r in receiver.on("/hook")[2:] for a in r["body"]["areas"]]
    assert quiet not in later and not first & set(later)
    sent = read_sent(ws)
    assert sum(1 for _, a, lv, p in sent if a == quiet and lv == "red" and p == "2025-12-22") == 1


def test_retry_after_two_500s_then_sent(ws, receiver):
    _configure(ws, [{"url": f"{receiver.url}/hook", "format": "json"}], retries=3, backoff=0.25)
    receiver.script = [500, 500]
    waits: list[float] = []
    result = notify_warnings(ws, sleep=waits.append)
    (msg,) = result.messages
    assert msg["ok"] and msg["attempts"] == 3 and msg["status"] == 200
    assert waits == [0.25, 0.5]  # exponential backoff
    assert len(receiver.on("/hook")) == 3
    log = [json.loads(line) for line in (notify_dir(ws) / "notify.log").read_text(encoding="utf-8").splitlines()]
    assert [(e["attempt"], e["status"], e["ok"]) for e in log] == [(1, 500, False), (2, 500, False), (3, 200, True)]
    assert len(read_sent(ws)) == len(msg["areas"])
    assert notify_warnings(ws).messages == []  # recorded once sent


def test_a_dead_webhook_is_logged_not_fatal_and_retried_next_time(ws, receiver):
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/robot/send?access_token={'d' * 32}"
    _configure(ws, [{"url": dead, "format": "dingtalk", "secret": "S"},
                    {"url": f"{receiver.url}/hook", "format": "json"}], retries=2)
    result = notify_warnings(ws, sleep=lambda s: None)
    bad, good = result.messages
    assert not bad["ok"] and bad["attempts"] == 3 and bad["status"] is None and bad["error"]
    assert good["ok"] and len(receiver.on("/hook")) == 1
    log = (notify_dir(ws) / "notify.log").read_text(encoding="utf-8")
    assert log.count("access_token=dddd***") == 3 and "d" * 32 not in log
    assert "failed after 3 attempt(s)" in (ws.path / "audit.log").read_text(encoding="utf-8")
    again = notify_warnings(ws, sleep=lambda s: None)  # the dead one still owes its areas
    assert [m["webhook"] for m in again.messages] == [mask_webhook(dead)]


def test_cli_dry_run_sends_nothing_and_test_message(ws, receiver, capsys):
    _configure(ws, [{"url": f"{receiver.url}/cgi-bin/webhook/send?key=abc", "format": "wecom"}])
    assert main(["notify", "--workspace", str(ws.path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry-run" in out and '"msgtype": "markdown"' in out and receiver.requests == []
    assert not (notify_dir(ws) / "sent.jsonl").exists()
    assert main(["notify", "--workspace", str(ws.path), "--test"]) == 0
    (req,) = receiver.requests
    assert "推送测试" in req["body"]["markdown"]["content"]
    assert not (notify_dir(ws) / "sent.jsonl").exists()
    receiver.script = [404]
    assert main(["notify", "--workspace", str(ws.path), "--test"]) == 1


@pytest.mark.slow
def test_upload_in_the_app_pushes(ws, receiver):
    _configure(ws, [{"url": f"{receiver.url}/hook", "format": "json"}])
    frame = ws.incidents_frame().head(3)[["incident_id", "occurred_at", "category", "lon", "lat"]]
    frame["incident_id"] = frame["incident_id"] + "-up"
    payload = base64.b64encode(frame.to_csv(index=False).encode()).decode()
    Service(ws).upload("data:text/csv;base64," + payload, "more.csv")
    deadline = time.time() + 60
    while not receiver.on("/hook") and time.time() < deadline:
        time.sleep(0.1)
    assert receiver.on("/hook"), "the upload's refresh pushed nothing"


def test_no_webhooks_does_nothing(ws):
    assert notify_warnings(ws).note.startswith("no webhooks") and not notify_dir(ws).exists()


@pytest.mark.parametrize(("table", "message"), [
    ({"webhooks": [{"url": "ftp://x.y/z", "format": "json"}]}, "http"),
    ({"webhooks": [{"url": "https://a.b/c", "format": "slack"}]}, "format"),
    ({"webhooks": [{"url": "https://a.b/c", "levels": ["黄"]}]}, "levels"),
    ({"webhooks": [{"url": "https://a.b/c", "secrt": "x"}]}, "secrt"),
    ({"webhooks": {"url": "https://a.b/c"}}, "list"),
    ({"retries": -1}, "retries"),
    ({"backoff": "1"}, "backoff"),
])
def test_notify_config_is_checked(table, message):
    with pytest.raises(WorkspaceError, match=message):
        check_notify(table)
    with pytest.raises(WorkspaceError):
        Config.from_dict({"notify": table})


def test_notify_config_round_trips_and_normalises():
    cfg = Config.from_dict({"notify": {"webhooks": [{"url": "https://oapi.dingtalk.com/robot/send?access_token=x",
                                                     "format": "dingtalk", "levels": ["红", "橙"], "secret": "S"}]}})
    assert Config.from_dict(cfg.to_dict()) == cfg
    (hook,) = check_notify(cfg.notify)["webhooks"]
    assert hook["levels"] == ("red", "orange") and hook["secret"] == "S"
    assert check_notify({})["retries"] == 3 and np.isclose(check_notify({})["backoff"], 1.0)


@pytest.mark.slow
def test_a_file_dropped_for_pingan_watch_is_pushed(ws, receiver, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    _configure(ws, [{"url": f"{receiver.url}/hook", "format": "json", "levels": ["红"]}])
    notify_warnings(ws)  # the reds there already are sent first
    already = {a["area_id"] for r in receiver.on("/hook") for a in r["body"]["areas"]}
    table = Service(ws).warning_table(level="grid", period=str(WEEK.date()))
    quiet = table[(table["level"] == "green") & (table["observed"] == 0)].sort_values("expected")["area_id"].iloc[-1]
    point = ws.areas("grid").set_index("area_id").loc[[quiet]].to_crs(4326).representative_point().iloc[0]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    pd.DataFrame({"incident_id": [f"drop{i}" for i in range(8)],
                  "occurred_at": [f"2025-12-2{2 + i % 5} 0{i}:30" for i in range(8)],
                  "category": "盗窃", "lon": point.x, "lat": point.y}).to_csv(inbox / "x.csv.part", index=False)
    (inbox / "x.csv.part").rename(inbox / "x.csv")
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, str(root / "app.py"), "watch", "--workspace", str(ws.path), "--inbox",
                           str(inbox), "--once", "--settle", "0"], cwd=root, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "推送 notify:" in done.stdout and (inbox / "done" / "x.csv").exists()
    pushed = [a["area_id"] for r in receiver.on("/hook")[1:] for a in r["body"]["areas"]]
    assert quiet in pushed and not already & set(pushed)


def test_no_complete_week_yet_is_a_note_not_an_error(tmp_path, receiver):
    from data.ingest import ingest_files
    from data.pipeline import build_areas

    ws = Workspace.create(tmp_path / "w")
    n = 20
    pd.DataFrame({"id": range(n), "t": pd.Timestamp("2025-12-29") + pd.to_timedelta(range(n), unit="h"),
                  "cat": "盗窃", "lon": 106.7 + np.arange(n) * 1e-3, "lat": 26.6}).to_csv(tmp_path / "a.csv", index=False)
    ingest_files([tmp_path / "a.csv"], ws, mapping={"incident_id": "id", "occurred_at": "t", "category": "cat"})
    build_areas(ws, cell=250)
    _configure(ws, [{"url": f"{receiver.url}/hook", "format": "json"}])
    result = notify_warnings(ws)
    assert result.note.startswith("nothing to judge yet (") and "no complete W period" in result.note
    assert receiver.requests == []
