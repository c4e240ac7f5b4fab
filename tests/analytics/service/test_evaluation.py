"""The workspace's own backtest (analytics.service.evaluation): progress, then the stored result."""

from __future__ import annotations

import json

import pytest

from analytics.service.evaluation import SLOW_MODELS, workspace_backtest
from data.demo import build_demo
from data.workspace import Workspace


@pytest.mark.slow
def test_workspace_backtest_reports_progress_then_reads_its_stored_result(tmp_path):
    build_demo(tmp_path / "ws", seed=7, incidents=20_000, years=2, end="2025-12-28")
    ws = Workspace(tmp_path / "ws")
    calls: list[tuple[float, str]] = []
    result = workspace_backtest(ws, progress=lambda f, label: calls.append((f, label)))
    fractions = [f for f, _ in calls]
    assert calls[0] == (0.0, "grid") and fractions == sorted(fractions) and fractions[-1] == 1.0
    models = {label.split()[0] for _, label in calls[1:]}
    assert models == set(result["models"]) and not models & SLOW_MODELS
    assert all(v["crps"] is not None and v["crps"] > 0 for v in result["models"].values())
    stored = json.loads((ws.path / "cache" / "backtest.json").read_text(encoding="utf-8"))
    assert stored["_version"] == ws.version
    # a fresh process would read the stored JSON: no computation, no progress
    again: list[tuple[float, str]] = []
    from analytics.service.evaluation import _stored_or_run

    assert _stored_or_run(ws, lambda f, label: again.append((f, label)))["models"] == result["models"]
    assert again == []
