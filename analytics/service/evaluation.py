"""The workspace's own backtest, for the evaluation page: settings and a cached result.

A rolling-origin backtest (:mod:`analytics.backtest`) of every fast model on the workspace's
incidents, gridded at :data:`CELL_M` metres, weekly, with the last :data:`TEST_WEEKS` weeks as
test periods. It takes tens of seconds, so the result is kept in ``W/cache/backtest.json`` with
the workspace version it was computed for, and in the service cache.
"""

from __future__ import annotations

import json
import os

import pandas as pd

from analytics.backtest import backtest_file
from analytics.models import MODELS
from analytics.service.cache import cached
from data.calendar import period_start

__all__ = ["workspace_backtest", "CELL_M", "TEST_WEEKS", "SLOW_MODELS"]

#: Backtest settings for the workspace: 500 m cells, weekly, the last 12 weeks as test periods.
CELL_M = 500.0
TEST_WEEKS = 12
#: Models left out of the in-app backtest: minutes instead of seconds on a 2-core machine
#: (``pingan backtest`` runs them).
SLOW_MODELS = frozenset({"gbm"})


def workspace_backtest(ws) -> dict:
    """The backtest JSON of the workspace (design.md, "Backtest JSON"), computed once per version."""
    return cached(ws, "backtest", (CELL_M, TEST_WEEKS), lambda: _stored_or_run(ws))


def _stored_or_run(ws) -> dict:
    path = ws.path / "cache" / "backtest.json"
    version = ws.version
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("_version") == version:
            return stored
    end = pd.Timestamp(ws.incidents_frame(["occurred_at"])["occurred_at"].max()).normalize()
    start = period_start([end - pd.Timedelta(weeks=TEST_WEEKS)], "W")[0]
    models = [m for m in MODELS if m not in SLOW_MODELS]
    result = backtest_file(str(ws.incidents_path), cell=CELL_M, freq="W", start=str(start.date()),
                           end=None, category=None, models=models)
    result = {**result, "_version": version}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"backtest.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)  # a derived file: no workspace lock, but never half-written
    return result
