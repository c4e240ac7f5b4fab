"""``pingan evaluate``, ``pingan ingest --evaluate`` and ``pingan watch``: the board's model choice
is stored by the command line, and refreshed after each ingest before warnings are pushed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.service import evaluation as ev
from app import main
from data.workspace import Workspace
from tests.analytics.service.test_evaluation import WEEKS, _build, _incidents

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """The small two-regime city of the evaluation tests (no evaluation run yet), and a new
    week of its cases as a CSV."""
    incidents = _incidents(np.random.default_rng(3))
    root = tmp_path_factory.mktemp("cli-eval")
    ws = _build(root / "ws", incidents)
    week = incidents.sample(300, random_state=2).assign(
        incident_id=lambda d: "w" + d["incident_id"],
        occurred_at=pd.Timestamp("2024-01-01") + pd.Timedelta(weeks=WEEKS, days=2))
    week.to_csv(root / "week.csv", index=False)
    return ws, root / "week.csv"


def _copy(ws: Workspace, dest: Path) -> Workspace:
    return Workspace(shutil.copytree(ws.path, dest))


@pytest.mark.slow  # the small city, a 12-week and a 26-week evaluation (about 20 s on a loaded machine)
def test_evaluate_prints_the_table_and_stores_the_choice(city, tmp_path, capsys):
    ws = _copy(city[0], tmp_path / "ws")
    code = main(["evaluate", "--workspace", str(ws.path), "--category", "突发类", "--weeks", "12",
                 "--lang", "en"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("Model evaluation: ") and "last 12 weeks" in out
    # 12 weeks is for looking: the board's model is chosen from 26-week evaluations only
    assert ev.stored_choice(ws) is None and "No automatic choice yet" in out
    assert main(["evaluate", "--workspace", str(ws.path), "--category", "突发类", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    stored = ev.stored_choice(ws)["categories"]["突发类"]
    assert stored["weeks"] == ev.CHOICE_WEEKS and stored["version"] == ws.version
    starred = [line for line in out.splitlines() if line.startswith("★")]
    name = {"blend": "multi-scale kernel blend", "stack": "stacked ensemble",
            "recency_kde": "recency-weighted KDE"}.get(stored["model"], "?")
    assert len(starred) == 1 and name in starred[0]
    assert f"The board's model (突发类): {name}, from the model evaluation of {stored['computed'][:10]}" in out
    assert "Model choice stored: " in out
    # --json: the backtest JSON itself (design.md's contract), nothing else on stdout
    assert main(["evaluate", "--workspace", str(ws.path), "--category", "突发类", "--weeks", "12",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n_periods"] == 12 and data["cell_m"] == ev.CELL_M and "eb" in data["models"]
    assert {"hit_rate", "pai", "pei", "crps", "coverage_90", "seconds"} <= set(data["models"]["eb"])
    # zh by default; a bad span is one line and exit 2
    assert main(["evaluate", "--workspace", str(ws.path), "--category", "突发类", "--weeks", "12"]) == 0
    assert capsys.readouterr().out.startswith("模型评估：")
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--workspace", str(ws.path), "--weeks", "13"])
    assert exc.value.code == 2
    assert main(["evaluate", "--workspace", str(ws.path), "--category", "没有这类"]) == 2
    assert "pingan evaluate: error:" in capsys.readouterr().err


@pytest.mark.slow  # four categories evaluated after the ingest (about 20 s)
def test_ingest_evaluate_refreshes_the_choice_for_the_new_version(city, tmp_path, capsys):
    ws = _copy(city[0], tmp_path / "ws")
    assert main(["ingest", str(city[1]), "--workspace", str(ws.path), "--quiet"]) == 0
    assert ev.stored_choice(ws) is None  # off by default
    before = ws.version
    assert main(["ingest", str(city[1]), "--workspace", str(ws.path), "--quiet", "--evaluate"]) == 0
    out = capsys.readouterr().out
    assert "evaluate: model choice 全部 " in out
    choice = ev.stored_choice(ws)
    assert ws.version == before  # the same bytes: nothing ingested, but the choice was made
    assert choice["version"] == ws.version and set(choice["categories"]) == set(ev.board_groups(ws))


@pytest.mark.slow  # a watcher process, then four categories evaluated (about 25 s)
def test_watch_refreshes_the_choice_after_an_ingest_before_the_push(city, tmp_path):
    ws = _copy(city[0], tmp_path / "ws")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(city[1], inbox / "week.csv")
    before = ws.version
    run = subprocess.run([sys.executable, str(ROOT / "app.py"), "watch", "--workspace", str(ws.path),
                          "--inbox", str(inbox), "--once", "--settle", "0"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert (inbox / "done" / "week.csv").exists() and ws.version > before
    choice = ev.stored_choice(ws)
    assert choice is not None and choice["version"] == ws.version  # made from this week's data
    lines = run.stdout.splitlines()
    made = next(i for i, line in enumerate(lines) if line.startswith("evaluate: model choice"))
    done = next(i for i, line in enumerate(lines) if line.startswith("done week.csv"))
    assert done < made  # after the ingest's commit (outside its lock) ...
    assert not any(line.startswith("notify") for line in lines[:made])  # ... and before any push
