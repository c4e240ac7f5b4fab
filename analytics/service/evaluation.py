"""The workspace's own backtest, for the evaluation page: settings and a cached result.

A rolling-origin backtest (:mod:`analytics.backtest`) of every fast model on the workspace's
incidents, gridded at :data:`CELL_M` metres, weekly, with the last :data:`TEST_WEEKS` weeks as
test periods. It takes tens of seconds, so the result is kept in ``W/cache/backtest.json`` with
the workspace version it was computed for, and in the service cache.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from analytics.backtest import backtest_incidents
from analytics.models import MODELS
from analytics.service.cache import cached
from data.calendar import period_start
from data.taxonomy import ALL, Taxonomy, canonical_name

__all__ = ["workspace_backtest", "stored_backtest", "backtest_file", "read_incidents", "CELL_M", "TEST_WEEKS", "SLOW_MODELS"]

#: Backtest settings for the workspace: 500 m cells, weekly, the last 12 weeks as test periods.
CELL_M = 500.0
TEST_WEEKS = 12
#: Models left out of the in-app backtest: minutes instead of seconds on a 2-core machine
#: (``pingan backtest`` runs them).
SLOW_MODELS = frozenset({"gbm"})


def workspace_backtest(ws, progress=None) -> dict:
    """The backtest JSON of the workspace (design.md, "Backtest JSON"), computed once per version.

    ``progress(fraction, label)`` is told how far a computation has come (not called on a hit).
    """
    return cached(ws, "backtest", (CELL_M, TEST_WEEKS), lambda: _stored_or_run(ws, progress))


def stored_backtest(ws) -> dict | None:
    """The backtest JSON already computed for the workspace's current version, else ``None``
    (never computes: the board's ``auto`` reads it on every render)."""
    path = ws.path / "cache" / "backtest.json"
    if not path.exists():
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # being replaced right now: as if absent
        return None
    return stored if stored.get("_version") == ws.version else None


def _stored_or_run(ws, progress=None) -> dict:
    path = ws.path / "cache" / "backtest.json"
    version = ws.version
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("_version") == version:
            return stored
    incidents = ws.incidents_frame(["occurred_at", "lon", "lat"])
    end = pd.Timestamp(incidents["occurred_at"].max()).normalize()
    start = period_start([end - pd.Timedelta(weeks=TEST_WEEKS)], "W")[0]
    models = [m for m in MODELS if m not in SLOW_MODELS]
    # the workspace's own projected CRS: the same metres as its areas, no second UTM guess
    result = backtest_incidents(incidents, cell=CELL_M, freq="W", start=str(start.date()), end=None,
                                category=None, models=models, crs=ws.config.crs, progress=progress)
    result = {**result, "_version": version}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"backtest.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)  # a derived file: no workspace lock, but never half-written
    return result


def backtest_file(path: str | Path, *, cell: float, freq: str = "W", start, end=None,
                  category: str | None = None, models=None, progress=None) -> dict:
    """``pingan backtest --incidents FILE``: read a canonical incident file and backtest it.

    See :func:`analytics.backtest.backtest_incidents` for the JSON and ``progress``.
    """
    return backtest_incidents(read_incidents(path, category), cell=cell, freq=freq, start=start,
                              end=end, category=category, models=models, progress=progress)


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
    if canonical_name(category) != ALL:
        if "category" not in df.columns:
            raise ValueError(f"{path}: no 'category' column to select {category!r} from")
        known = sorted(df["category"].astype(str).unique())
        try:  # a raw category, or a group of the default taxonomy (两抢一盗 …)
            members = Taxonomy().resolve(category, known)
        except ValueError as exc:
            raise ValueError(f"--category {category!r}: not in {path} ({exc})") from None
        df = df[df["category"].astype(str).isin(members)]
    return df.assign(occurred_at=pd.to_datetime(df["occurred_at"], errors="coerce"))
