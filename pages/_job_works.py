"""The app's long jobs: what the weekly briefing and the model evaluation do in a worker.

Each job is a ``prepare`` (in the request: role and arguments), a ``work`` (in the worker) and,
for the briefing, a ``show`` and a ``cleanup``; :func:`pages._jobs.register_job` runs them. Not a
page (the leading underscore keeps Dash Pages from importing it as one).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from dash import html

from analytics.present.i18n import t
from analytics.service import Service
from pages._jobs import JobFailed, jobs_dir

__all__ = ["brief_prepare", "brief_work", "brief_show", "brief_cleanup", "evaluation_prepare",
           "evaluation_work"]


@contextlib.contextmanager
def _slot(name: str, progress: Callable[[float, str], None]) -> Iterator[None]:
    """One job of ``name`` at a time across the worker processes (an OS file lock: a killed
    worker releases it at once); waiting shows as its own step."""
    with open(jobs_dir() / f"{name}.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(0.0, "queued")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)



# -- the weekly briefing (board) -----------------------------------------------------------------
_BRIEF_KINDS = ("png", "pdf", "html", "docx", "xlsx")


def brief_prepare(svc: Service, lang: str, period: object) -> dict:
    """In the request: the role must allow ``brief``; the board's week (its running week or
    none: the latest complete week; a month: the week of its first day)."""
    import pandas as pd

    from analytics.service.board import PARTIAL

    svc.require("brief")
    weeks = pd.DatetimeIndex(svc.periods("W"))
    if len(weeks) == 0:
        raise JobFailed(t("job.no_complete_week", lang))
    if period is None or period == PARTIAL:
        day = weeks[-1]
    else:
        try:
            day = pd.Timestamp(str(period))
        except ValueError as exc:
            raise ValueError(f"period {period!r}: not a date") from exc
    monday = (day - pd.Timedelta(days=day.weekday())).normalize()
    if monday not in weeks:
        raise JobFailed(t("job.no_week", lang, week=f"{monday:%Y-%m-%d}", first=f"{weeks[0]:%Y-%m-%d}",
                          last=f"{weeks[-1]:%Y-%m-%d}"))
    return {"week": str(monday.date()), "lang": lang}


def brief_work(svc: Service, args: dict, progress: Callable[[float, str], None]) -> dict[str, str]:
    """In the worker: write the briefing into a folder of its own, then switch it in as
    ``W/briefs/<week>-<lang>``; one briefing renders at a time (each drives a Chromium)."""
    from analytics.present.brief import make_brief

    svc.require("brief")
    week, lang = args["week"], args["lang"]
    final = svc.ws.path / "briefs" / f"{week}-{lang}"
    staging = _staging(svc, args)
    try:
        with _slot("brief", progress):
            paths = make_brief(svc.ws, week=week, out=staging, lang=lang, progress=progress)
            if final.exists():
                shutil.rmtree(final)
            os.replace(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    svc.record("brief", f"week {week} ({lang})")
    return {k: str(final / Path(p).name) for k, p in paths.items() if k in _BRIEF_KINDS}


def brief_show(svc: Service, paths: dict[str, str], lang: str) -> tuple[dict, html.Div]:
    """In the request: offer the files as download ids of this user (server-side tokens)."""
    files = {k: svc.offer(paths[k]) for k in _BRIEF_KINDS if k in paths and Path(paths[k]).is_file()}
    buttons = [html.Button(k.upper(), id={"type": "board-dl", "index": k}, n_clicks=0, className="btn")
               for k in files]
    return files, html.Div([html.Span(t("board.brief_done", lang) + "："), *buttons], className="row")


def brief_cleanup(svc: Service, args: dict) -> None:
    """After a cancel: remove the half-written briefing."""
    shutil.rmtree(_staging(svc, args), ignore_errors=True)


def _staging(svc: Service, args: dict) -> Path:
    tag = re.sub(r"[^A-Za-z0-9_-]", "", str(args["job"]))[:32]
    return svc.ws.path / "briefs" / f".job-{tag}"


# -- the model evaluation (backtest) -------------------------------------------------------------
def evaluation_prepare(svc: Service, lang: str, category: object, weeks: object) -> dict:
    """In the request: the evaluation is for roles that may see the data, and needs the test
    weeks plus two weeks of history."""
    from analytics.service.evaluation import ALL, CHOICE_WEEKS, SPANS

    svc.require("data")
    weeks = int(weeks or CHOICE_WEEKS)
    if weeks not in SPANS:
        raise JobFailed(t("job.failed", lang))
    have, need = len(svc.periods("W")), weeks + 2
    if have < need:
        raise JobFailed(t("job.too_few_weeks", lang, have=have, need=need))
    return {"category": str(category or ALL), "weeks": weeks}


def evaluation_work(svc: Service, args: dict, progress: Callable[[float, str], None]) -> dict:
    """In the worker: the evaluation (:func:`analytics.service.evaluation.evaluate`), stored with
    the model choice; one at a time, so a second viewer waits, then reads the stored result."""
    from analytics.service.evaluation import evaluate

    svc.require("data")
    with _slot("evaluation", progress):
        return evaluate(svc.ws, args["category"], int(args["weeks"]), progress=progress)
