"""Long work in the app: Dash background callbacks with a progress bar, a cancel button that
really stops the work, and a clear message when it fails.

Not a page (the leading underscore keeps Dash Pages from importing it as one).

How a job runs
--------------
A background callback runs in a separate worker process (``dash.DiskcacheManager``) with **no
request**: no login, no session, no CSRF check. So the user's scope is captured before dispatch:

1. **start** (a normal callback, in the request): the page's ``prepare(svc, lang, *states)``
   runs with the signed-in user's :class:`analytics.service.Service` — it checks the role
   (``svc.require(...)``) and the arguments and returns them as a small dict. The spec
   (workspace path, user name, role, area, client address, language, arguments, owner) is kept
   server-side under a random job id; only that id goes to the browser.
2. **work** (the background callback, in the worker): looks the spec up by id — nothing else
   from the browser is used — claims it once (a replayed id runs nothing), rebuilds the Service
   for that user and calls ``work(svc, args, progress)``; ``progress(fraction, label)`` drives
   the bar and its step text. The result (or the failure message) stays server-side under the
   job id; the browser learns only that the job ended.
3. **finish** (a normal callback, in the request): checks that the job belongs to this user
   *and this session* (another user or another browser replaying the id gets a refusal), then
   ``show(svc, value, lang)`` turns the result into the page's outputs. Files are offered here,
   in the server process, as opaque download ids (``svc.offer(path)``): the download table lives
   in the server's memory, so a token made in the worker would be worthless.

**Cancel** kills the worker and its children (a briefing's headless Chromium) with psutil, both
through Dash's own ``cancel=`` and from the page's cancel callback, which also removes the job's
half-written output (``cleanup(svc, args)``).

Job state (specs, progress, results) lives in a private temporary folder of the serving process
(``/tmp/pingan-jobs-*``, mode 0700, :func:`jobs_dir`), removed when that process exits. It is
not in the workspace: the workspace holds the office's data that its own tools read, may be
shared by two servers, and must not collect process ids, progress ticks and per-session results.

API (for any page)
------------------
>>> from pages._jobs import job_controls, register_job          # doctest: +SKIP
>>> layout: [..., html.Button(id="data-go"), job_controls("data-up", lang), ...]   # doctest: +SKIP
>>> register_job("data-up", start=Input("data-go", "n_clicks"),     # doctest: +SKIP
...              state=[State("data-upload", "contents"), State("data-upload", "filename")],
...              prepare=lambda svc, lang, contents, name: (svc.require("upload"),
...                                                          {"name": name, ...})[1],
...              work=lambda svc, args, progress: ...,            # in the worker
...              show=lambda svc, value, lang: (...,),            # one value per output
...              outputs=[Output("data-upload-result", "children")],
...              running=[(Output("data-go", "disabled"), True, False)])

Component ids made by :func:`job_controls` for ``prefix``: ``{prefix}-job`` (store: job id),
``{prefix}-job-done`` (store: ended), ``{prefix}-job-box`` (shown while running),
``{prefix}-job-bar`` (``html.Progress`` 0–100), ``{prefix}-job-step`` (step text),
``{prefix}-job-cancel`` (取消 / Cancel) and ``{prefix}-job-msg`` (failure / cancelled message).
``prepare`` and ``work`` raise ``PermissionError`` (refused), :class:`JobFailed` (a message for
people, already in the page's language: shown as it is), ``ValueError`` (unusable data or
arguments) or anything else (a failure; the traceback goes to the server's stderr). The last two
show a plain zh/en sentence with the exception's own text folded under 技术信息 / Details.
``work`` gets ``args["job"]`` (the job id) and ``args["lang"]`` besides what ``prepare`` returned.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dash
import flask
from dash import Input, Output, State, callback, dcc, html, no_update

from analytics.present.i18n import TEXT, t
from analytics.service import Service
from pages._common import LANG_STORE, lang_of, service

__all__ = [
    "JobFailed", "job_controls", "register_job", "manager", "jobs_dir", "step_text", "job_ids",
    "stop_job",
]

#: Seconds a started job's spec, result and owner are kept.
KEEP_S = 86_400
#: Milliseconds between the page's progress polls.
POLL_MS = 500

_STATE: dict[str, Any] = {}
#: The served workspaces by location, recorded in the request: a forked worker finds the same
#: object (a folder or a PostGIS store), not a second one rebuilt from a string.
_LIVE: dict[str, Any] = {}


class JobFailed(ValueError):
    """A job cannot run or finish, with a message for people in the page's language."""


@dataclass(frozen=True)
class _Who:
    """The user a job runs for, as captured in the request (name, role, area)."""

    name: str
    role: str
    area_id: str | None = None


# -- the manager and its folder ------------------------------------------------------------------
def manager() -> dash.DiskcacheManager:
    """The process's one background-callback manager (created on first use).

    Its diskcache lives in :func:`jobs_dir`; worker processes are forked from the server and
    find the same folder. ``app.create_app`` passes it to ``dash.Dash``.
    """
    if "manager" not in _STATE:
        import diskcache

        folder = Path(tempfile.mkdtemp(prefix="pingan-jobs-"))  # 0700: job specs are private
        cache = diskcache.Cache(str(folder / "cache"))
        _STATE.update(manager=dash.DiskcacheManager(cache), dir=folder, pid=os.getpid())
        atexit.register(_remove_folder, folder, os.getpid())
    return _STATE["manager"]


def jobs_dir() -> Path:
    """The private temporary folder of this server's jobs (removed when the server exits)."""
    manager()
    return _STATE["dir"]


def _remove_folder(folder: Path, pid: int) -> None:
    """At the server's exit: stop its workers still running, then remove the folder."""
    if os.getpid() != pid:  # a worker never removes its server's folder
        return
    with contextlib.suppress(OSError):
        for key in list(_store().iterkeys()):
            if str(key).startswith("claim:"):
                stop_job(str(key).split(":", 1)[1], timeout=2.0)
    with contextlib.suppress(OSError):
        _STATE["manager"].handle.close()
    shutil.rmtree(folder, ignore_errors=True)


def _store():
    return manager().handle


# -- the page's part -----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Ids:
    job: str
    done: str
    box: str
    bar: str
    step: str
    cancel: str
    msg: str


def job_ids(prefix: str) -> _Ids:
    """Component ids of the job controls of ``prefix`` (see the module docstring)."""
    p = f"{prefix}-job"
    return _Ids(p, f"{p}-done", f"{p}-box", f"{p}-bar", f"{p}-step", f"{p}-cancel", f"{p}-msg")


def job_controls(prefix: str, lang: str) -> html.Div:
    """The stores, progress bar, step text, cancel button and message area of a job."""
    ids = job_ids(prefix)
    return html.Div([
        dcc.Store(id=ids.job), dcc.Store(id=ids.done),
        html.Div([
            html.Progress(id=ids.bar, value="0", max="100", className="job-bar",
                          style={"width": "260px", "height": "14px"}),
            html.Span(id=ids.step, className="job-step", style={"minWidth": "16em"}),
            html.Button(t("job.cancel", lang), id=ids.cancel, n_clicks=0, className="btn job-cancel"),
        ], id=ids.box, className="job-box",
            style={"display": "none", "alignItems": "center", "gap": "10px", "margin": "6px 0"}),
        html.Div(id=ids.msg, className="job-msg", role="status"),
    ], className="job")


def register_job(prefix: str, *, start: Input, work: Callable[[Service, dict, Callable], Any],
                 show: Callable[[Service, Any, str], Sequence[Any]], outputs: Sequence[Output],
                 state: Sequence[State] = (), prepare: Callable[..., dict] | None = None,
                 cleanup: Callable[[Service, dict], None] | None = None,
                 running: Sequence[tuple[Output, Any, Any]] = (), initial: bool = False,
                 show_state: bool = False) -> None:
    """Register the start, background, finish and cancel callbacks of one job.

    Parameters
    ----------
    prefix : str
        The prefix given to :func:`job_controls` in the page's layout.
    start : Input
        What starts the job (a button's ``n_clicks``, or a store for a job that runs on load).
    work : callable
        ``work(svc, args, progress) -> value``, run in a worker process; ``progress(fraction,
        label)`` with fraction in 0…1. ``value`` must pickle; it stays on the server.
    show : callable
        ``show(svc, value, lang)`` in the request after the job: one value per ``outputs``.
    outputs : sequence of Output
        What ``show`` fills (left unchanged when the job fails or is cancelled).
    state : sequence of State
        Passed to ``prepare`` after ``svc`` and ``lang``.
    prepare : callable, optional
        ``prepare(svc, lang, *states) -> dict`` in the request: check the role and the
        arguments (PermissionError / ValueError are shown at once); default: no arguments.
    cleanup : callable, optional
        ``cleanup(svc, args)`` after a cancel, once the worker is gone (remove partial output).
    running : sequence of (Output, value while running, value after)
        Extra properties to switch while the job runs (e.g. disable the start button).
    initial : bool
        Start on page load (``start`` fires with its initial value).
    show_state : bool
        Call ``show(svc, value, lang, *states)`` with the ``state`` values as they are when the
        job finishes (the user may have changed them meanwhile: ``show`` can then keep the view).
    """
    ids = job_ids(prefix)
    outputs = list(outputs)

    @callback(Output(ids.job, "data"), Output(ids.msg, "children", allow_duplicate=True), start,
              *state, State(LANG_STORE, "data"),
              prevent_initial_call="initial_duplicate" if initial else True)
    def _start(trigger, *values):
        *values, lang = values
        lang = lang_of(lang)
        if not initial and not trigger:
            return no_update, no_update
        svc = service()
        try:
            args = prepare(svc, lang, *values) if prepare is not None else {}
        except PermissionError:  # nothing is dispatched: the job store stays as it is
            return no_update, _message(t("app.refused", lang), lang)
        except ValueError as exc:
            text, detail = _explain(exc, lang)
            return no_update, _message(text, lang, detail)
        return _save_spec(prefix, svc, lang, args), ""

    @callback(Output(ids.done, "data"), Input(ids.job, "data"), background=True, manager=manager(),
              progress=[Output(ids.bar, "value"), Output(ids.step, "children")],
              progress_default=["0", ""], cancel=[Input(ids.cancel, "n_clicks")], interval=POLL_MS,
              running=[(Output(ids.box, "style"), _BOX_SHOWN, _BOX_HIDDEN), *running],
              prevent_initial_call=True)
    def _work(set_progress, job_id):
        return _run(job_id, work, set_progress)

    @callback(*outputs, Output(ids.msg, "children", allow_duplicate=True), Input(ids.done, "data"),
              *(state if show_state else ()), State(LANG_STORE, "data"), prevent_initial_call=True)
    def _finish(done, *values):
        *now, lang = values
        lang = lang_of(lang)
        keep = [no_update] * len(outputs)
        outcome, problem = _own_outcome(done.get("job") if isinstance(done, dict) else None, lang)
        if problem is not None:
            return *keep, problem
        try:
            values = show(service(), outcome["value"], lang, *now)
        except PermissionError:
            return *keep, _message(t("app.refused", lang), lang)
        return *values, ""

    @callback(Output(ids.msg, "children", allow_duplicate=True), Input(ids.cancel, "n_clicks"),
              State(ids.job, "data"), State(LANG_STORE, "data"), prevent_initial_call=True)
    def _cancel(clicks, job_id, lang):
        lang = lang_of(lang)
        if not clicks or not isinstance(job_id, str):
            return no_update
        spec = _store().get(f"spec:{job_id}")
        if spec is None or spec["owner"] != _owner():
            return _message(t("job.refused", lang), lang)
        stop_job(job_id)
        if cleanup is not None:
            cleanup(service(), {**spec["args"], "job": job_id})
        return html.Div(t("job.cancelled", lang), className="job-note")


_BOX_SHOWN = {"display": "flex", "alignItems": "center", "gap": "10px", "margin": "6px 0"}
_BOX_HIDDEN = {"display": "none"}


def _message(text: str, lang: str, detail: str | None = None) -> html.Div:
    """A failure as the page shows it: one sentence, the technical text folded away."""
    body: list[Any] = [html.Span(text)]
    if detail:
        body.append(html.Details([html.Summary(t("job.details", lang)),
                                  html.Pre(detail, style={"whiteSpace": "pre-wrap", "margin": "4px 0 0"})],
                                 className="job-detail"))
    return html.Div(body, className="job-error not-ready", role="alert")


def _explain(exc: BaseException, lang: str) -> tuple[str, str | None]:
    """(sentence, technical detail) of a job's exception."""
    if isinstance(exc, JobFailed):
        return str(exc), None
    if isinstance(exc, ValueError):
        return t("job.failed", lang), str(exc)
    return t("job.crashed", lang), f"{type(exc).__name__}: {exc}"


def _owner() -> str:
    """Who may see a job's result: the user's name and this browser session (in a request)."""
    from pages._auth import current_user

    session = flask.session.get("csrf", "") if flask.has_request_context() else ""
    tag = hashlib.sha256(str(session).encode()).hexdigest()[:16]
    return f"{current_user().name}|{tag}"


def _save_spec(prefix: str, svc: Service, lang: str, args: dict) -> str:
    user = svc.user
    who = None if user is None else (str(user.name), str(user.role), getattr(user, "area_id", None))
    job_id = secrets.token_urlsafe(18)
    where = str(getattr(svc.ws, "location", svc.ws.path))
    _LIVE[where] = svc.ws
    spec = {"kind": prefix, "ws": where, "user": who, "remote": svc.remote, "lang": lang,
            "args": dict(args), "owner": _owner(), "created": time.time()}
    _store().set(f"spec:{job_id}", spec, expire=KEEP_S)
    return job_id


def _own_outcome(job_id: object, lang: str) -> tuple[dict | None, html.Div | None]:
    """The job's result if it belongs to this user and session, else a message to show."""
    if not isinstance(job_id, str):
        return None, _message(t("job.unknown", lang), lang)
    store = _store()
    spec = store.get(f"spec:{job_id}")
    if spec is None:
        return None, _message(t("job.unknown", lang), lang)
    if spec["owner"] != _owner():
        return None, _message(t("job.refused", lang), lang)
    outcome = store.get(f"out:{job_id}")
    if outcome is None:
        return None, _message(t("job.unknown", lang), lang)
    if not outcome["ok"]:
        return None, _message(outcome["message"], lang, outcome.get("detail"))
    return outcome, None


# -- the worker's part ---------------------------------------------------------------------------
def _run(job_id: object, work: Callable, set_progress: Callable) -> dict:
    """The body of every background callback: claim the spec, run, keep the outcome."""
    store = _store()
    if not isinstance(job_id, str):
        return {"job": None, "ok": False}
    spec = store.get(f"spec:{job_id}")
    # claim once: a replayed id (another tab, another user) starts nothing
    if spec is None or not store.add(f"claim:{job_id}", _this_process(), expire=KEEP_S):
        return {"job": job_id, "ok": False}
    lang = spec["lang"]

    def progress(fraction: float, label: str = "") -> None:
        pct = int(round(100 * min(max(float(fraction), 0.0), 1.0)))
        set_progress((str(pct), f"{step_text(label, lang)}（{pct}%）" if lang == "zh"
                      else f"{step_text(label, lang)} ({pct}%)"))

    progress(0.0, "start")
    user = None if spec["user"] is None else _Who(*spec["user"])
    svc = Service(_LIVE.get(spec["ws"], spec["ws"]), user, remote=spec["remote"])
    try:
        outcome = {"ok": True, "value": work(svc, {**spec["args"], "job": job_id, "lang": lang}, progress)}
    except PermissionError:
        outcome = {"ok": False, "message": t("app.refused", lang)}
    except ValueError as exc:
        message, detail = _explain(exc, lang)
        outcome = {"ok": False, "message": message, "detail": detail}
    except Exception as exc:  # any failure of a job must reach the page, not die in a worker
        traceback.print_exc(file=sys.stderr)
        message, detail = _explain(exc, lang)
        outcome = {"ok": False, "message": message, "detail": detail}
    store.set(f"out:{job_id}", outcome, expire=KEEP_S)
    return {"job": job_id, "ok": outcome["ok"]}


def _this_process() -> tuple[int, float]:
    import psutil

    return os.getpid(), psutil.Process().create_time()


def stop_job(job_id: str, timeout: float = 5.0) -> bool:
    """Kill the worker of ``job_id`` and its children (e.g. a briefing's Chromium); wait for
    them to go. Returns True if a running worker was stopped."""
    import psutil

    claim = _store().get(f"claim:{job_id}")
    if claim is None:
        return False
    pid, created = claim
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - created) > 1e-3:  # the pid was reused: not our worker
            return False
        procs = [*proc.children(recursive=True), proc]
    except psutil.NoSuchProcess:
        return False
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(procs, timeout=timeout)
    return True


_STEP_RE = re.compile(r"^(?P<model>[\w-]+) (?P<i>\d+)/(?P<n>\d+)$")


def step_text(label: str, lang: str) -> str:
    """A progress label in words: ``job.step.<label>`` when the table has it (the briefing's
    stages, the backtest's ``grid``), a backtest's ``"glm 3/12"`` as its model and period,
    a model code as its name; anything else as given."""
    key = f"job.step.{label}"
    if key in TEXT:
        return t(key, lang)
    hit = _STEP_RE.match(str(label))
    if hit:
        return t("job.step.model", lang, model=_model(hit["model"], lang), i=hit["i"], n=hit["n"])
    if f"brief.model.{label}" in TEXT:
        return t("job.step.model_done", lang, model=_model(label, lang))
    return str(label)


def _model(code: str, lang: str) -> str:
    key = f"brief.model.{code}"
    return t(key, lang) if key in TEXT else code
