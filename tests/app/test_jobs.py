"""Long work as background jobs (pages/_jobs.py), with real worker processes.

In headless Chromium: the weekly briefing runs in a worker process with a progress bar whose
value and step text advance, and its PDF opens; 取消 kills the worker and its Chromium and no
file appears; a job that fails inside the worker shows its message on the page. Against a
served board with accounts (requests speaking the renderer's background protocol): a job's
result goes only to the user and session that started it; a replayed id runs nothing.

Screenshots of a running job and of a failure go to tests/output/ (gitignored) for review.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

import psutil
import pytest
import requests
from dash.testing.wait import until
from test_auth import PW, _copy, _login, _start

from analytics.service.evaluation import CHOICE_WEEKS, result_path
from data.accounts import add_user
from data.audit import read_audit
from pages._auth import CSRF_COOKIE, CSRF_HEADER
from pages._jobs import _store, job_ids, step_text, stop_job

OUT = Path(__file__).resolve().parents[1] / "output"
BRIEF = job_ids("board-brief")
EVAL = job_ids("evaluation")


# -- helpers ---------------------------------------------------------------------------------------
def _claims() -> dict[str, tuple[int, float]]:
    """job id -> (pid, start time) of every worker that claimed a job in this process's store."""
    store = _store()
    return {k.split(":", 1)[1]: store.get(k) for k in list(store.iterkeys()) if str(k).startswith("claim:")}


def _bar(dash_duo, ids) -> tuple[float, str, str]:
    """(progress value, step text, box display) as the page shows them."""
    return tuple(dash_duo.driver.execute_script(
        "const b = document.getElementById(arguments[0]), s = document.getElementById(arguments[1]),"
        " x = document.getElementById(arguments[2]);"
        "return [b ? b.value : -1, s ? s.textContent : '', x ? getComputedStyle(x).display : ''];",
        ids.bar, ids.step, ids.box))


def _stored_backtest(ws) -> dict:
    """A finished backtest stored for the workspace's current version (the worker reads it)."""
    shares = {"0.01": 0.1, "0.05": 0.3, "0.10": 0.45}
    result = {"n_cells": 10, "n_periods": 12, "n_events": 100, "cell_m": 500.0, "freq": "W",
              "models": {"eb": {"hit_rate": shares, "pai": {k: v / float(k) for k, v in shares.items()},
                                "pei": {"0.05": 0.8}, "crps": 0.5, "coverage_90": 0.88, "seconds": 1.5}},
              "_version": ws.version, "category": "全部", "end": "2025-12-22", "_computed": "2025-12-29T08:00:00Z"}
    path = result_path(ws, None, CHOICE_WEEKS)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result), encoding="utf-8")
    return result


class Client:
    """A signed-in session firing callbacks the way dash-renderer does, background ones included
    (the per-page ``endId``, then polling with the signed ``cacheKey`` and ``job``)."""

    def __init__(self, base: str, name: str) -> None:
        self.base = base
        self.s = requests.Session()
        assert _login(base, name, PW, session=self.s).status_code == 302
        self.deps = self.s.get(f"{base}/_dash-dependencies", timeout=60).json()
        page = self.s.get(f"{base}/", timeout=60).text
        config = re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>', page, re.S)
        self.end_id = json.loads(config.group(1)).get("end_id")

    def post(self, first_input: str, values: dict, params: dict | None = None,
             blank: bool = False) -> requests.Response:
        """Fire the callback whose first input is ``first_input`` (``id.prop``)."""
        dep = next(d for d in self.deps if f"{d['inputs'][0]['id']}.{d['inputs'][0]['property']}" == first_input)
        item = lambda spec: {"id": spec["id"], "property": spec["property"],  # noqa: E731
                             "value": None if blank else values.get(f"{spec['id']}.{spec['property']}")}
        outputs = [dict(zip(("id", "property"), o.rsplit(".", 1), strict=True))
                   for o in dep["output"].strip(".").split("...")]
        body = {"output": dep["output"], "outputs": outputs if len(outputs) > 1 else outputs[0],
                "inputs": [item(i) for i in dep["inputs"]], "state": [item(i) for i in dep["state"]],
                "changedPropIds": [first_input]}
        headers = {CSRF_HEADER: self.s.cookies.get(CSRF_COOKIE), "Origin": self.base}
        return self.s.post(f"{self.base}/_dash-update-component", json=body, headers=headers,
                           params={"endId": self.end_id, **(params or {})}, timeout=120)

    def out(self, first_input: str, values: dict) -> dict:
        r = self.post(first_input, values)
        assert r.status_code == 200, (first_input, r.status_code, r.text[:300])
        return r.json()["response"]

    def run_background(self, ids, job_id: str, timeout: float = 120) -> dict | None:
        """Start the worker of ``job_id`` and poll until it ends; the final response (None: no
        update)."""
        values = {f"{ids.job}.data": job_id}
        handle = self.post(f"{ids.job}.data", values).json()
        params = {"cacheKey": handle["cacheKey"], "job": handle["job"]}
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = self.post(f"{ids.job}.data", values, params=params, blank=True)
            if r.status_code == 204:
                return None
            data = r.json()
            if "response" in data:
                return data["response"]
            time.sleep(0.3)
        raise AssertionError(f"job {job_id} did not end in {timeout} s")


def _text(resp: dict) -> str:
    return json.dumps(resp, ensure_ascii=False)


# -- the served board with accounts -----------------------------------------------------------------
@pytest.fixture(scope="module")
def served(app_workspace, tmp_path_factory):
    import pandas as pd

    ws = _copy(app_workspace, tmp_path_factory.mktemp("jobs") / "w")
    area = str(pd.read_parquet(ws.area_path("community"), columns=["area_id"])["area_id"].iloc[0])
    add_user(ws, "li", "analyst", password=PW)
    add_user(ws, "wang", "grid", password=PW, area_id=area)
    stored = _stored_backtest(ws)
    server, base = _start(ws)
    yield {"base": base, "ws": ws, "stored": stored}
    server.close()


def test_a_job_result_goes_only_to_its_user_and_session(served):
    li, li_again, wang = (Client(served["base"], n) for n in ("li", "li", "wang"))
    start = li.out("evaluation-trigger.data", {"evaluation-trigger.data": 1, "app-lang.data": "zh"})
    job_id = start[EVAL.job]["data"]
    assert isinstance(job_id, str) and len(job_id) >= 20
    done = li.run_background(EVAL, job_id)
    assert done[EVAL.done]["data"] == {"job": job_id, "ok": True}
    pid, _ = _claims()[job_id]
    assert pid != psutil.Process().pid  # it ran in a worker process
    finish = {f"{EVAL.done}.data": {"job": job_id}, "app-lang.data": "zh"}
    mine = _text(li.out(f"{EVAL.done}.data", finish))
    assert "evaluation-grid" in mine and "经验贝叶斯" in mine  # the stored model, named
    for other in (li_again, wang):  # the same user in another browser, another user
        theirs = _text(other.out(f"{EVAL.done}.data", finish))
        assert "evaluation-grid" not in theirs and "此任务不属于您当前的登录会话" in theirs
        cancel = _text(other.out(f"{EVAL.cancel}.n_clicks", {f"{EVAL.cancel}.n_clicks": 1,
                                                             f"{EVAL.job}.data": job_id, "app-lang.data": "zh"}))
        assert "此任务不属于您当前的登录会话" in cancel
    # replaying the id to the worker runs nothing (claimed once) and shows nothing
    claims = dict(_claims())
    again = wang.run_background(EVAL, job_id)
    assert again[EVAL.done]["data"] == {"job": job_id, "ok": False} and _claims() == claims
    # a role outside the evaluation is refused before any worker starts
    refused = wang.out("evaluation-trigger.data", {"evaluation-trigger.data": 1, "app-lang.data": "zh"})
    assert EVAL.job not in refused and "辖区范围" in _text(refused)  # no job id given out


def test_a_briefing_for_a_week_without_data_is_refused_before_it_starts(served):
    li = Client(served["base"], "li")
    claims = dict(_claims())
    start = li.out("board-brief.n_clicks", {"board-brief.n_clicks": 1, "board-period.value": "1999-01-04",
                                            "app-lang.data": "zh"})
    assert BRIEF.job not in start and _claims() == claims
    assert "1999-01-04 所在周没有完整数据" in _text(start)


def test_a_valueerror_inside_the_worker_is_shown_in_words(served, monkeypatch):
    """The brief's own week check (make_brief) fails inside the worker: a zh sentence, the
    original text folded under 技术信息, the staging folder removed."""
    import pages._jobs as jobs

    li = Client(served["base"], "li")
    start = li.out("board-brief.n_clicks", {"board-brief.n_clicks": 1, "board-period.value": None,
                                            "app-lang.data": "zh"})
    job_id = start[BRIEF.job]["data"]
    spec = jobs._store().get(f"spec:{job_id}")  # as if the week had vanished since the click
    jobs._store().set(f"spec:{job_id}", {**spec, "args": {**spec["args"], "week": "1999-01-04"}})
    done = li.run_background(BRIEF, job_id)
    assert done[BRIEF.done]["data"] == {"job": job_id, "ok": False}
    shown = _text(li.out(f"{BRIEF.done}.data", {f"{BRIEF.done}.data": {"job": job_id}, "app-lang.data": "zh"}))
    assert "未能完成：工作区的数据或所选参数不满足要求" in shown and "技术信息" in shown
    assert "1999-01-04" in shown and "board-dl" not in shown
    assert not list((served["ws"].path / "briefs").glob(".job-*"))  # its staging folder is gone


def test_grid_users_get_no_briefing_job(served):
    wang = Client(served["base"], "wang")
    resp = wang.out("board-brief.n_clicks", {"board-brief.n_clicks": 1, "board-period.value": None,
                                             "app-lang.data": "zh"})
    assert BRIEF.job not in resp and "辖区范围" in _text(resp)


@pytest.fixture(scope="module")
def three_days(tmp_path_factory):
    """A workspace of an own city with three days of data: no complete week yet."""
    import numpy as np
    import pandas as pd

    from data.ingest import ingest_files
    from data.pipeline import build_areas
    from data.workspace import Workspace

    root = tmp_path_factory.mktemp("three_days")
    rng = np.random.default_rng(3)
    n = 200
    start = pd.Timestamp("2025-12-22")
    pd.DataFrame({"incident_id": [f"X{i}" for i in range(n)],
                  "occurred_at": (start + pd.to_timedelta(rng.uniform(0, 3 * 86400, n), unit="s")).astype(str),
                  "category": rng.choice(["盗窃", "诈骗"], n), "lon": 106.6 + rng.uniform(0, 0.03, n),
                  "lat": 26.6 + rng.uniform(0, 0.03, n)}).to_csv(root / "in.csv", index=False)
    ws = Workspace(root / "w")
    ingest_files([str(root / "in.csv")], ws)
    build_areas(ws, cell=500)
    return ws


# -- in the browser --------------------------------------------------------------------------------
@pytest.mark.browser
@pytest.mark.slow
def test_briefing_shows_progress_in_a_worker_and_its_pdf_opens(dash_duo, app_factory, app_workspace):
    OUT.mkdir(exist_ok=True)
    dash_duo.driver.set_window_size(1920, 1080)
    dash_duo.start_server(app_factory())
    dash_duo.wait_for_element("#board-kpis > *", timeout=300)  # the board drawn: the worker inherits its tables
    before = set(_claims())
    dash_duo.find_element("#board-brief").click()
    seen, shots = [], []
    deadline = time.time() + 400
    while time.time() < deadline and not dash_duo.find_elements("#board-brief-status button"):
        value, step, display = _bar(dash_duo, BRIEF)
        if display == "flex" and step:
            seen.append((value, step))
            if value >= 35 and len(shots) < 2:  # screenshots of the running job, both sizes
                size = (1920, 1080) if not shots else (1366, 768)
                dash_duo.driver.set_window_size(*size)
                time.sleep(0.3)
                shots.append(OUT / f"jobs_brief_running_{size[0]}.png")
                dash_duo.driver.save_screenshot(str(shots[-1]))
        time.sleep(0.25)
    values = [v for v, _ in seen]
    # progress advances (a fast machine with the tables cached passes some stages between two polls)
    assert len(set(values)) >= 2 and values == sorted(values) and max(values) >= 35, seen
    steps = {s for _, s in seen}
    # named stages: the first, and at least one later one (which ones a poll catches is timing)
    assert any("汇总本周数据" in s for s in steps) and len(steps) >= 2, steps
    new = set(_claims()) - before
    assert len(new) == 1 and _claims()[new.pop()][0] != psutil.Process().pid
    assert len(shots) == 2
    assert _bar(dash_duo, BRIEF)[2] == "none"  # the bar goes away when the job ends
    labels = [b.text for b in dash_duo.find_elements("#board-brief-status button")]
    assert labels == ["PNG", "PDF", "HTML", "DOCX", "XLSX"]
    dash_duo.find_elements("#board-brief-status button")[1].click()
    folder = Path(dash_duo.download_path)
    until(lambda: any(p.suffix == ".pdf" for p in folder.iterdir()), timeout=30)
    pdf = next(p for p in folder.iterdir() if p.suffix == ".pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert "brief" in read_audit(app_workspace)["action"].tolist()
    assert dash_duo.get_logs() == []


@pytest.mark.browser
@pytest.mark.slow
def test_cancel_stops_the_worker_and_leaves_no_file(dash_duo, app_workspace, tmp_path):
    import shutil

    from app import create_app

    ws = _copy(app_workspace, tmp_path / "w")
    shutil.rmtree(ws.path / "briefs", ignore_errors=True)  # briefings made by earlier tests
    dash_duo.start_server(create_app(ws))
    dash_duo.wait_for_element("#board-brief", timeout=60)
    before = set(_claims())
    dash_duo.find_element("#board-brief").click()
    until(lambda: set(_claims()) - before and "汇总本周数据" in _bar(dash_duo, BRIEF)[1], timeout=60)
    job_id = (set(_claims()) - before).pop()
    worker = psutil.Process(_claims()[job_id][0])
    until(lambda: len(worker.children(recursive=True)) >= 2, timeout=60)  # the briefing's Chromium
    family = [worker, *worker.children(recursive=True)]
    dash_duo.find_element(f"#{BRIEF.cancel}").click()
    dash_duo.wait_for_text_to_equal(f"#{BRIEF.msg}", "已取消，未生成任何结果。", timeout=30)
    gone, alive = psutil.wait_procs(family, timeout=10)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    assert _bar(dash_duo, BRIEF)[2] == "none"
    assert dash_duo.find_element("#board-brief").is_enabled()
    time.sleep(3)  # nothing is written after the cancel either
    made = list((ws.path / "briefs").rglob("*")) if (ws.path / "briefs").exists() else []
    assert not [p for p in made if p.suffix == ".pdf" or p.name.startswith(".job-")], made
    assert dash_duo.find_elements("#board-brief-status button") == []


@pytest.mark.browser
@pytest.mark.slow
def test_a_stored_evaluation_is_shown_without_a_job(dash_duo, app_workspace, tmp_path):
    from app import create_app

    ws = _copy(app_workspace, tmp_path / "w")
    _stored_backtest(ws)
    dash_duo.start_server(create_app(ws))
    claims = dict(_claims())
    dash_duo.driver.get(dash_duo.server_url + "/evaluation")
    dash_duo.wait_for_element("#evaluation-grid td", timeout=60)
    assert "经验贝叶斯" in dash_duo.find_element("#evaluation-grid").text
    assert dash_duo.find_element(f"#{EVAL.msg}").text == ""
    time.sleep(1)
    assert _claims() == claims  # read from the stored result: no worker started
    assert dash_duo.get_logs() == []


@pytest.mark.browser
@pytest.mark.slow
def test_an_evaluation_finishing_after_the_user_moved_on_keeps_their_view(dash_duo, app_workspace,
                                                                          tmp_path):
    """The job started on opening (全部, 26 weeks) ends after the user chose 12 weeks: the page
    keeps 12 weeks' view and says the 26-week result is ready; choosing 26 again shows it."""
    from app import create_app

    ws = _copy(app_workspace, tmp_path / "w")
    shutil.rmtree(ws.path / "cache", ignore_errors=True)  # nothing stored: the job must run
    dash_duo.start_server(create_app(ws))
    dash_duo.driver.get(dash_duo.server_url + "/evaluation")
    until(lambda: _bar(dash_duo, EVAL)[2] not in ("none", ""), timeout=60)  # the job runs
    dash_duo.find_elements("#evaluation-weeks input")[0].click()  # 12 weeks
    dash_duo.wait_for_element("#evaluation-none", timeout=30)
    note = dash_duo.wait_for_element("#evaluation-finished-other", timeout=240)
    assert note.text == f"全部，近{CHOICE_WEEKS}周的评估已完成并已保存；选择它即可查看。"
    assert dash_duo.find_element("#evaluation-note").text.startswith("全部，近12周：本版本数据尚无评估结果。")
    assert dash_duo.find_elements("#evaluation-grid") == []  # not the 26-week table under "12"
    assert result_path(ws, None, CHOICE_WEEKS).exists()
    dash_duo.find_elements("#evaluation-weeks input")[1].click()  # 26 weeks: stored, at once
    dash_duo.wait_for_element("#evaluation-grid td", timeout=30)
    assert dash_duo.find_elements("#evaluation-finished-other") == []
    assert dash_duo.get_logs() == []


@pytest.mark.browser
@pytest.mark.slow
def test_a_failure_inside_the_job_shows_its_message(dash_duo, app_workspace, tmp_path):
    from app import create_app

    OUT.mkdir(exist_ok=True)
    ws = _copy(app_workspace, tmp_path / "w")
    # no stored evaluation (an earlier test may have run one on the session's workspace): the
    # job must compute, and so read the broken incidents
    shutil.rmtree(ws.path / "cache", ignore_errors=True)
    app = create_app(ws)
    ws.incidents_path.write_bytes(b"not a parquet file")  # breaks the worker, not the page
    dash_duo.start_server(app)
    dash_duo.driver.get(dash_duo.server_url + "/evaluation")
    msg = dash_duo.wait_for_element(f"#{EVAL.msg} [role=alert]", timeout=60)
    assert msg.text.startswith(("未能完成：", "任务出错")), msg.text
    assert "arquet" not in msg.text  # the technical text is folded away ...
    assert dash_duo.find_elements("#evaluation-grid") == []
    for size in ((1920, 1080), (1366, 768)):
        dash_duo.driver.set_window_size(*size)
        time.sleep(0.3)
        dash_duo.driver.save_screenshot(str(OUT / f"jobs_failure_{size[0]}.png"))
    dash_duo.find_element(f"#{EVAL.msg} summary").click()  # ... one click away
    until(lambda: "incidents.parquet" in dash_duo.find_element(f"#{EVAL.msg}").text, timeout=5)


@pytest.mark.browser
def test_no_complete_week_says_so_on_both_pages(dash_duo, three_days):
    from app import create_app

    OUT.mkdir(exist_ok=True)
    dash_duo.start_server(create_app(three_days))
    claims = dict(_claims())
    dash_duo.wait_for_element("#board-brief", timeout=60).click()
    dash_duo.wait_for_text_to_equal(f"#{BRIEF.msg}", "工作区还没有完整的一周数据，无法生成周报。", timeout=30)
    dash_duo.driver.get(dash_duo.server_url + "/evaluation")
    dash_duo.wait_for_text_to_equal(f"#{EVAL.msg}", "回测需要至少 28 个完整周的数据，本工作区只有 0 周。", timeout=30)
    assert _claims() == claims  # refused in the request: no worker started
    dash_duo.driver.set_window_size(1366, 768)
    dash_duo.driver.save_screenshot(str(OUT / "jobs_no_week_1366.png"))


# -- without a browser -----------------------------------------------------------------------------
@pytest.mark.parametrize("label,zh,en", [
    ("gather", "汇总本周数据", "Gathering the week's figures"),
    ("html/pdf", "生成网页与 PDF", "Writing the web page and PDF"),
    ("glm 3/12", "回测「", "Backtesting "),
    ("something new", "something new", "something new"),
])
def test_step_text_names_each_stage(label, zh, en):
    assert step_text(label, "zh").startswith(zh) and step_text(label, "en").startswith(en)
    if label == "glm 3/12":
        assert "3/12" in step_text(label, "zh") and "period 3 of 12" in step_text(label, "en")


def test_stop_job_kills_the_claimed_worker_and_its_children_only():
    import subprocess
    import sys

    store = _store()
    code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    worker = subprocess.Popen([sys.executable, "-c", code])
    try:
        until(lambda: psutil.Process(worker.pid).children(), timeout=10)
        child = psutil.Process(worker.pid).children()[0]
        created = psutil.Process(worker.pid).create_time()
        store.set("claim:test-reused", (worker.pid, created - 100.0))  # same pid, another process
        assert not stop_job("test-reused") and worker.poll() is None
        store.set("claim:test-live", (worker.pid, created))
        assert stop_job("test-live")
        assert not psutil.pid_exists(worker.pid)  # killed (and reaped)
        assert not child.is_running()
    finally:
        worker.kill()
        store.delete("claim:test-reused")
        store.delete("claim:test-live")


@pytest.mark.slow  # a Python that imports the app: about 8 s
def test_the_job_folder_and_running_workers_go_when_the_server_exits(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "server.py"
    script.write_text(
        "import subprocess, sys, psutil\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})\n"
        "from pages._jobs import _store, jobs_dir\n"
        "w = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "_store().set('claim:x', (w.pid, psutil.Process(w.pid).create_time()))\n"
        "print(jobs_dir(), w.pid, flush=True)\n", encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True)
    folder, pid = out.stdout.split()
    assert folder.startswith(tempfile.gettempdir()) and not Path(folder).exists()
    assert not psutil.pid_exists(int(pid)) or psutil.Process(int(pid)).status() == psutil.STATUS_ZOMBIE


def test_a_download_id_made_in_another_process_is_worthless_here(tmp_path):
    """Why results are offered in the finish callback: the download table lives in the server's
    memory, so an id made in a worker (a forked process) redeems nothing in the server."""
    import multiprocess

    from analytics.service.downloads import DOWNLOADS

    made = tmp_path / "brief.pdf"
    made.write_bytes(b"%PDF-1.7")
    parent, child = multiprocess.Pipe()
    worker = multiprocess.Process(target=lambda conn: conn.send(DOWNLOADS.add(made, "li")), args=(child,))
    worker.start()
    token = parent.recv()
    worker.join(10)
    with pytest.raises(PermissionError):
        DOWNLOADS.path(token, "li")
    assert DOWNLOADS.path(DOWNLOADS.add(made, "li"), "li") == made.resolve()  # made here: valid


@pytest.mark.slow  # a real `pingan serve`: about 10 s
def test_sigterm_stops_the_server_cleanly_and_removes_the_job_folder(app_workspace, tmp_path):
    """systemd stops the board with SIGTERM: the exit handlers must run (no orphaned folder)."""
    import os
    import signal
    import socket
    import subprocess
    import sys


    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    server = subprocess.Popen(
        [sys.executable, "-c", "import sys; from app import main; sys.exit(main())", "serve",
         "--workspace", str(app_workspace.path), "--port", str(port)],
        cwd=Path(__file__).resolve().parents[2], env={**os.environ, "TMPDIR": str(tmp)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200:
                    break
            time.sleep(0.5)
        folders = list(tmp.glob("pingan-jobs-*"))
        assert len(folders) == 1, folders
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        assert not folders[0].exists()
    finally:
        if server.poll() is None:
            server.kill()
