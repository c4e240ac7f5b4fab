"""The workspace's model evaluation and the board's stored model choice.

**Evaluation.** A rolling-origin backtest (:mod:`analytics.backtest`) of every fast model on the
workspace's incidents of one category (全部, a group of the taxonomy or a raw category), gridded
at :data:`CELL_M` metres, weekly, the last 12, 26 or 52 weeks (:data:`SPANS`) as test periods.
It takes seconds to a minute, so each result is kept in ``W/cache/evaluation/`` with the
workspace version it was computed for (and in the service cache): :func:`evaluate` computes or
reads it, :func:`stored_evaluation` only reads.

**Model choice.** Each evaluation also updates ``W/cache/model_choice.json``
(:func:`stored_choice`): per category, the candidate of :data:`analytics.models.auto.CANDIDATES`
with the best log score, with the version and data week it was computed from, the scores and the
date. The board's default model is that file's choice for its category (:func:`board_choice`),
**whatever version it was made for**: a choice made last week stays the model until the next
evaluation, so an ingest never sends the board back to ``eb``. A category with fewer than
:data:`MIN_EVENTS` cases in the test weeks has too few to tell the models apart and takes
全部's choice. Models whose log scores lie within :data:`KEEP_MARGIN` (0.2 %) of the best count as equally
good: the category keeps its stored model if it is one of them (the colours do not flip on
noise from week to week), else the first of them in :data:`CANDIDATES`' order of preference (on
the demo city the stack beats empirical Bayes by 0.05 % at most, so the board stays on ``eb``).
:func:`refresh_choice` evaluates 全部 and every group of the taxonomy at :data:`CHOICE_WEEKS`
(``pingan watch`` after each ingest, ``pingan ingest --evaluate``, ``pingan evaluate``).

On a PostGIS workspace ``ws.path`` is the board server's cache folder: the stored evaluations and
the choice are per server there.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.backtest import backtest_incidents
from analytics.models import MODELS
from analytics.models.auto import CANDIDATES
from analytics.service.cache import cached
from data.calendar import period_start
from data.taxonomy import ALL, Taxonomy, canonical_name

__all__ = [
    "ALL", "CELL_M", "CHOICE_WEEKS", "KEEP_MARGIN", "MIN_EVENTS", "SLOW_MODELS", "SPANS", "TEST_WEEKS",
    "board_choice", "board_groups", "choice_location", "choice_path", "evaluate", "fast_models", "refresh_choice", "result_path",
    "stored_choice", "stored_evaluation", "winner", "workspace_backtest", "stored_backtest",
    "backtest_file", "read_incidents", "canonical_name",
]

# ALL (全部, every category) is re-exported for the pages, which reach data/ only through the service.

#: Grid of the workspace's evaluation (metres).
CELL_M = 500.0
#: Test spans offered (weeks).
SPANS: tuple[int, ...] = (12, 26, 52)
#: Test weeks of the stored model choice (and the evaluation page's default): half a year of
#: one-step forecasts, about 15 s per category on the demo's 1,600 cells with today's stack.
CHOICE_WEEKS = 26
#: Default span of :func:`workspace_backtest`.
TEST_WEEKS = CHOICE_WEEKS
#: A category chooses its own model only with at least this many cases in the test weeks.
MIN_EVENTS = 200
#: Log scores within this share (0.2 %) of the best count as equally good (see the module note).
KEEP_MARGIN = 0.002
#: Models left out of the in-app evaluation: minutes instead of seconds on a 2-core machine
#: (``pingan backtest`` runs them; sepp took 24 s of the 34 s of a 12-week demo run).
SLOW_MODELS = frozenset({"gbm", "sepp"})

_CHOICE_FILE = "model_choice.json"


def fast_models() -> list[str]:
    """Models of the in-app evaluation: every registered model except :data:`SLOW_MODELS`."""
    return [m for m in MODELS if m not in SLOW_MODELS]


def board_groups(ws) -> list[str]:
    """全部 and each group of the workspace's taxonomy that has cases (the board's groups)."""
    known = _known_categories(ws)
    tax = ws.config.taxonomy
    return [ALL, *[g for g in tax.groups if tax.resolve(g, known)]]


# -- one evaluation ---------------------------------------------------------------------------------
def evaluate(ws, category: str | None = None, weeks: int = TEST_WEEKS, *,
             progress: Callable[[float, str], None] | None = None, choose: bool | None = None) -> dict:
    """The backtest JSON of one category and test span, computed once per workspace version.

    Parameters
    ----------
    ws : Workspace
    category : str, optional
        全部 (default), a group of the taxonomy or a raw category.
    weeks : int
        Test weeks (one of :data:`SPANS`).
    progress : callable, optional
        ``progress(fraction, label)`` as the backtest advances (not called when stored).
    choose : bool, optional
        Also update the stored model choice of ``category`` (:func:`stored_choice`); default:
        when ``weeks`` is :data:`CHOICE_WEEKS` — the board's model is chosen by one rule, and an
        analyst looking at 12 or 52 weeks does not change it for everyone.

    Returns
    -------
    dict
        design.md's backtest JSON plus ``_version``, ``_computed`` (UTC, ISO) and ``category``.

    Raises
    ------
    ValueError
        ``weeks`` not in :data:`SPANS`, an unknown category, or too little history.
    """
    weeks = _weeks_arg(weeks)
    name = canonical_name(category)
    known = _known_categories(ws)
    members = ws.config.taxonomy.resolve(name, known)  # ValueError naming the known ones
    result = cached(ws, "evaluation", (name, weeks),
                    lambda: _stored_or_run(ws, name, members, weeks, progress))
    if choose or (choose is None and weeks == CHOICE_WEEKS):
        _update_choice(ws, {name: result})
    return result


def stored_evaluation(ws, category: str | None = None, weeks: int = TEST_WEEKS) -> dict | None:
    """The evaluation of ``category`` and ``weeks`` stored for the workspace's current version,
    else ``None`` (never computes: the evaluation page shows it without starting a worker)."""
    stored = _read_stored(ws, _result_name(category, _weeks_arg(weeks)))
    return stored if stored is not None and stored.get("_version") == ws.version else None


def result_path(ws, category: str | None = None, weeks: int = TEST_WEEKS) -> Path:
    """Where a folder workspace stores the evaluation of ``category`` and ``weeks``
    (``W/cache/evaluation/``; on PostGIS the store keeps it: :func:`_read_stored`)."""
    return ws.path / "cache" / _result_name(category, weeks)


def _result_name(category: str | None, weeks: int) -> str:
    tag = hashlib.sha1(canonical_name(category).encode()).hexdigest()[:12]
    return f"evaluation/{int(weeks)}w-{tag}.json"


def _read_stored(ws, name: str) -> dict | None:
    """A stored JSON (``name`` under ``W/cache/``: an evaluation, the model choice); on PostGIS a
    document of the store, so every board server of the store reads the same one."""
    if ws.backend != "postgis":
        return _read_json(ws.path / "cache" / name)
    try:
        stored = json.loads(ws.document(name) or "null")
    except ValueError:
        return None
    return stored if isinstance(stored, dict) else None


def _write_stored(ws, name: str, data: dict) -> None:
    """Replace a stored JSON of :func:`_read_stored` (never half-written)."""
    if ws.backend == "postgis":
        ws.put_document(name, json.dumps(data, ensure_ascii=False, indent=1))
    else:
        _write_json(ws.path / "cache" / name, data)


def winner(result: dict) -> str | None:
    """The candidate (:data:`CANDIDATES`) that ``result`` chooses: the lowest finite log score,
    or the first in :data:`CANDIDATES`' order within :data:`KEEP_MARGIN` of it; ``None`` when no
    candidate was scored."""
    scores = _candidate_scores(result)
    return _pick(scores, None) if scores else None


# -- the stored choice ------------------------------------------------------------------------------
def refresh_choice(ws, weeks: int = CHOICE_WEEKS, *,
                   progress: Callable[[float, str], None] | None = None) -> dict:
    """Evaluate 全部 and every group of the taxonomy (:func:`board_groups`) at ``weeks`` and, at
    :data:`CHOICE_WEEKS`, store the model choice; returns the stored choice (:func:`stored_choice`,
    ``{}`` when there is none). Each evaluation is stored, so a second call for the same version
    costs nothing. Runs without the workspace's writer lock."""
    groups = board_groups(ws)
    results = {}
    for i, name in enumerate(groups):
        part = None
        if progress is not None:
            def part(f: float, label: str, i: int = i) -> None:
                progress((i + f) / len(groups), label)
        results[name] = evaluate(ws, name, weeks, progress=part, choose=False)
    if weeks != CHOICE_WEEKS:  # other spans are for looking: the choice stays as it is
        return stored_choice(ws) or {}
    return _update_choice(ws, results)


def choice_path(ws) -> Path:
    """Where a folder workspace stores the model choice (``W/cache/model_choice.json``)."""
    return ws.path / "cache" / _CHOICE_FILE


def choice_location(ws) -> str:
    """Where the model choice is stored, for messages: the file of a folder workspace; on
    PostGIS a document of the store, which every board server of the store reads."""
    if ws.backend == "postgis":
        return f"{ws.location} ({_CHOICE_FILE})"
    return str(choice_path(ws))


def stored_choice(ws) -> dict | None:
    """The stored model choice (``W/cache/model_choice.json``) of whatever version, else ``None``.

    ``{"version", "data_week", "computed", "cell_m", "categories": {name: {"model" (None: too
    few cases, 全部's applies), "weeks", "n_events", "version", "data_week", "computed",
    "scores": {model: {"log_score", "crps", "pai_05"}}}}}``; the top-level fields are those of the
    latest update.
    """
    stored = _read_stored(ws, _CHOICE_FILE)  # on PostGIS the store's: one for every board server
    return stored if isinstance(stored, dict) and isinstance(stored.get("categories"), dict) else None


def board_choice(ws, category: str | None = None) -> dict | None:
    """The stored choice the board uses for ``category``: its own entry when it has a model,
    else 全部's (``inherited`` True); ``None`` when no choice was ever made.

    Returns the category entry of :func:`stored_choice` plus ``category`` (the entry's),
    ``inherited`` and ``why`` (``"few"``: too few cases in the category's test weeks;
    ``"none"``: the category has not been evaluated; ``None`` when not inherited).
    """
    stored = stored_choice(ws)
    if stored is None:
        return None
    cats = stored["categories"]
    name = canonical_name(category)
    own = cats.get(name)
    if own and own.get("model") in MODELS:
        return {**own, "category": name, "inherited": False, "why": None}
    whole = cats.get(ALL)
    if whole and whole.get("model") in MODELS:
        why = None if name == ALL else ("few" if own else "none")
        return {**whole, "category": ALL, "inherited": name != ALL, "why": why}
    return None


def _update_choice(ws, results: dict[str, dict]) -> dict:
    """Merge the choices of ``results`` (category -> evaluation) into the stored file, one
    process at a time (a watcher and the page's worker may both update it; on PostGIS, machines
    too: a database lock)."""
    if ws.backend == "postgis":
        with ws.document_lock(_CHOICE_FILE):
            return _merge_choice(ws, results)
    lock = choice_path(ws).with_suffix(".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # released by the kernel if the process dies
        try:
            return _merge_choice(ws, results)
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _merge_choice(ws, results: dict[str, dict]) -> dict:
    old = stored_choice(ws) or {"categories": {}}
    cats = dict(old["categories"])
    newest = None
    for name, result in results.items():
        scores = _candidate_scores(result)
        if not scores:  # nothing to choose from (e.g. a stored table without log scores)
            continue
        best = _pick(scores, (cats.get(name) or {}).get("model"))
        n_events = int(result.get("n_events", 0))
        entry = {
            "model": best if n_events >= MIN_EVENTS else None,
            "best": winner(result), "weeks": int(result.get("_weeks") or result.get("n_periods", 0)),
            "n_events": n_events, "version": result.get("_version"),
            "data_week": result.get("end"), "computed": result.get("_computed"),
            "scores": {n: {"log_score": m.get("log_score"), "crps": m.get("crps"),
                           "pai_05": (m.get("pai") or {}).get("0.05")}
                       for n, m in result.get("models", {}).items() if n in CANDIDATES},
        }
        if cats.get(name) != entry:
            cats[name] = newest = entry
    if newest is None:  # nothing new (the same evaluation asked again): no write
        return old if old.get("categories") else {}
    out = {"version": newest["version"], "data_week": newest["data_week"],
           "computed": newest["computed"], "cell_m": CELL_M, "categories": cats}
    _write_stored(ws, _CHOICE_FILE, out)
    return out


def _pick(scores: dict[str, float], before: str | None) -> str:
    """The model of a category: the best log score, unless a model within :data:`KEEP_MARGIN` of
    it is the category's stored model (kept: no flip on noise) or comes earlier in
    :data:`CANDIDATES`' order of preference (a simpler, faster model that is as good)."""
    top = min(scores.values())
    close = [n for n in scores if scores[n] <= top + KEEP_MARGIN * abs(top)]
    if before in close:
        return before
    return min(close, key=CANDIDATES.index)


# -- compatibility: the page's and the façade's 全部 evaluation --------------------------------------
def workspace_backtest(ws, progress=None) -> dict:
    """The evaluation of 全部 over :data:`TEST_WEEKS` weeks (:func:`evaluate`)."""
    return evaluate(ws, None, TEST_WEEKS, progress=progress)


def stored_backtest(ws) -> dict | None:
    """:func:`stored_evaluation` of 全部 over :data:`TEST_WEEKS` weeks."""
    return stored_evaluation(ws, None, TEST_WEEKS)


# -- helpers ----------------------------------------------------------------------------------------
def _weeks_arg(weeks) -> int:
    try:
        w = int(weeks)
    except (TypeError, ValueError):
        w = -1
    if w not in SPANS:
        raise ValueError(f"--weeks {weeks!r}: expected one of {', '.join(map(str, SPANS))}")
    return w


def _known_categories(ws) -> list[str]:
    def compute():
        cats = ws.incidents_frame(["category"])["category"].astype(str)
        return sorted(pd.unique(cats))

    return cached(ws, "evaluation_categories", (), compute)


def _candidate_scores(result: dict) -> dict[str, float]:
    scores = {n: m.get("log_score") for n, m in (result or {}).get("models", {}).items()
              if n in CANDIDATES}
    return {n: float(v) for n, v in scores.items() if v is not None and np.isfinite(v)}


def _stored_or_run(ws, name: str, members: Sequence[str], weeks: int, progress=None) -> dict:
    version = ws.version
    stored = _read_stored(ws, _result_name(name, weeks))
    if stored is not None and stored.get("_version") == version:
        return stored
    every = ws.incidents_frame(["occurred_at", "category", "lon", "lat"])
    incidents, others = every, None
    if name != ALL:  # the other categories' counts are blend's `related` (as on the board)
        mine = every["category"].astype(str).isin(members).to_numpy()
        incidents, others = every[mine], every.loc[~mine, ["occurred_at", "lon", "lat"]]
    if incidents.empty:
        raise ValueError(f"--category {name}: no incidents in {ws.location}")
    end = pd.Timestamp(incidents["occurred_at"].max()).normalize()
    # the last `weeks` complete weeks (a week ending on the last day with data is complete)
    start = period_start([end - pd.Timedelta(weeks=weeks) + pd.Timedelta(days=1)], "W")[0]
    # the workspace's own projected CRS: the same metres as its areas, no second UTM guess
    result = backtest_incidents(incidents[["occurred_at", "lon", "lat"]], cell=CELL_M, freq="W",
                                start=str(start.date()), end=None, category=name,
                                models=fast_models(), crs=ws.config.crs, progress=progress,
                                others=others)
    result = {**result, "_version": version, "_weeks": weeks,
              "_computed": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")}
    _write_stored(ws, _result_name(name, weeks), result)
    return result


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # absent, or being replaced right now: as if absent
        return None


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)  # a derived file: no workspace lock, but never half-written


# -- pingan backtest --incidents FILE ---------------------------------------------------------------
def backtest_file(path: str | Path, *, cell: float, freq: str = "W", start, end=None,
                  category: str | None = None, models=None, progress=None,
                  risk_factors: str | Path | None = None, related: bool = True) -> dict:
    """``pingan backtest --incidents FILE [--risk-factors POINTS]``: read a canonical incident
    file (and risk-factor points, ``type, lon, lat``) and backtest it.

    With a ``category``, the file's other incidents are counted on the same cells and given to
    the models that learn from them (``blend``), unless ``related`` is false
    (``--no-related``). See :func:`analytics.backtest.backtest_incidents` for the JSON and
    ``progress``.
    """
    from analytics.service.risk import read_risk_factors

    factors = read_risk_factors(risk_factors) if risk_factors is not None else None
    every = read_incidents(path).reset_index(drop=True)
    mine = _select_category(every, category, path)
    others = None
    if related and len(mine) < len(every):
        others = every.drop(index=mine.index)[["occurred_at", "lon", "lat"]]
    return backtest_incidents(mine, cell=cell, freq=freq, start=start, end=end, category=category,
                              models=models, progress=progress, risk_factors=factors,
                              others=others)


def read_incidents(path: str | Path, category: str | None = None) -> pd.DataFrame:
    """Canonical incident file (.parquet or .csv) with ``occurred_at, category, lon, lat``.

    ``category`` keeps a raw category or the members of a default group
    (:meth:`data.taxonomy.Taxonomy.resolve`); ``None``, 全部 or ALL keep every row.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such incident file")
    if path.suffix.lower() == ".parquet":
        df = pd.read_parquet(path)
    elif path.suffix.lower() == ".csv":
        df = pd.read_csv(path)
    else:
        raise ValueError(f"{path}: expected a .parquet or .csv incident file")
    missing = {"occurred_at", "lon", "lat"} - set(df.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    df = _select_category(df, category, path)
    return df.assign(occurred_at=pd.to_datetime(df["occurred_at"], errors="coerce"))


def _select_category(df: pd.DataFrame, category: str | None, path) -> pd.DataFrame:
    """The rows of ``category`` (a raw category or a group of the default taxonomy; all rows for
    None, 全部 or ALL), with an error naming ``path`` and the known categories."""
    if canonical_name(category) != ALL:
        if "category" not in df.columns:
            raise ValueError(f"{path}: no 'category' column to select {category!r} from")
        known = sorted(df["category"].astype(str).unique())
        try:  # a raw category, or a group of the default taxonomy (两抢一盗 …)
            members = Taxonomy().resolve(category, known)
        except ValueError as exc:
            raise ValueError(f"--category {category!r}: not in {path} ({exc})") from None
        df = df[df["category"].astype(str).isin(members)]
    return df
