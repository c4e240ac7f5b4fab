"""The evaluation page (pages/evaluation.py) in headless Chromium: category and test span chosen
on the page, a stored result shown at once without a worker, the board's model marked ★ and the
date of the evaluation named."""

from __future__ import annotations

import json
import time

import pytest
from test_auth import _copy
from test_jobs import EVAL, _claims

from analytics.service import evaluation as ev
from pages._evaluation_view import status_lines


def _result(ws, category: str, weeks: int, scores: dict[str, float], day: str) -> dict:
    """A stored evaluation of ``category`` over ``weeks`` weeks with these log scores."""
    shares = {"0.01": 0.1, "0.05": 0.3, "0.10": 0.45}
    models = {n: {"hit_rate": shares, "pai": {k: v / float(k) for k, v in shares.items()},
                  "pei": {"0.05": 0.8}, "crps": 0.5, "log_score": s, "coverage_90": 0.9, "seconds": 0.5}
              for n, s in scores.items()}
    result = {"n_cells": 40, "n_periods": weeks, "n_events": 900, "cell_m": 500.0, "freq": "W",
              "start": "2025-07-07", "end": "2025-12-22", "category": category, "models": models,
              "_version": ws.version, "_weeks": weeks, "_computed": f"{day}T08:00:00Z"}
    path = ev.result_path(ws, category, weeks)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    return result


def _starred(dash_duo) -> list[str]:
    rows = dash_duo.find_elements("#evaluation-grid tbody tr")
    return [r.text for r in rows if r.text.startswith("★")]


@pytest.mark.browser
@pytest.mark.slow
def test_the_page_shows_stored_results_per_category_and_span_without_a_job(dash_duo, app_workspace, tmp_path):
    from app import create_app

    ws = _copy(app_workspace, tmp_path / "w")
    _result(ws, "全部", ev.CHOICE_WEEKS, {"eb": 1.00, "stack": 0.999, "glm": 1.2, "longrun": 1.1}, "2025-12-29")
    ev.evaluate(ws, None, ev.CHOICE_WEEKS)  # read back, and the board's choice made from it
    _result(ws, "盗窃", 12, {"eb": 0.80, "recency_kde": 0.70, "kde_longrun": 0.75}, "2025-12-30")
    dash_duo.start_server(create_app(ws))
    claims = dict(_claims())
    dash_duo.driver.get(dash_duo.server_url + "/evaluation")
    dash_duo.wait_for_element("#evaluation-grid td", timeout=60)
    # 全部 over 26 weeks: the stack is within 0.2 % of eb, so the simpler eb is the choice
    starred = _starred(dash_duo)
    assert len(starred) == 1 and "经验贝叶斯" in starred[0], starred
    dash_duo.wait_for_contains_text("#evaluation-when", "2025-12-29 评估", timeout=10)
    assert "看板预测模型（全部）：经验贝叶斯" in dash_duo.find_element("#evaluation-choice").text
    # the yardstick: the best model's PAI@5 % against the best baseline's (all 6.0 here)
    target = dash_duo.find_element("#evaluation-target").text
    assert "最佳基线 长期均值 6.00" in target and "×1.000" in target, target
    # another category: nothing stored for 盗窃 over 26 weeks — said, and no worker started
    dash_duo.select_dcc_dropdown("#evaluation-category", value="盗窃")
    dash_duo.wait_for_contains_text("#evaluation-none", "盗窃，近26周：本版本数据尚无评估结果", timeout=30)
    assert dash_duo.find_elements("#evaluation-grid") == []
    # and another span: its own stored result, its own winner
    dash_duo.find_element("#evaluation-weeks input[value='12']").click()
    dash_duo.wait_for_contains_text("#evaluation-when", "2025-12-30 评估", timeout=30)
    starred = _starred(dash_duo)
    assert len(starred) == 1 and "近期加权核密度" in starred[0], starred
    assert "12 个测试周" in dash_duo.find_element("#evaluation-when").text
    # 12 weeks is for looking: the board keeps 全部's 26-week choice for 盗窃, and says so
    choice = dash_duo.find_element("#evaluation-choice").text
    assert choice.startswith("看板预测模型（盗窃）：经验贝叶斯") and "本类尚无近26周的模型评估" in choice
    time.sleep(1)
    assert _claims() == claims  # both read from the stored results: no worker started
    assert dash_duo.find_element(f"#{EVAL.msg}").text == ""
    # 运行评估 starts the job for what is selected (the stored result is read back in the worker)
    dash_duo.find_element("#evaluation-run").click()
    dash_duo.wait_for_contains_text("#evaluation-when", "2025-12-30 评估", timeout=60)
    time.sleep(1)
    assert len(_claims()) == len(claims) + 1
    assert dash_duo.get_logs() == []


def test_the_note_names_the_date_and_the_boards_model_in_english(app_workspace, tmp_path):
    ws = _copy(app_workspace, tmp_path / "w")
    result = _result(ws, "全部", 26, {"eb": 1.0, "glm": 0.9}, "2025-12-29")
    ev.evaluate(ws, None, 26)  # the stored result: read, and the choice stored from it
    text = " ".join(str(c.children) for c in status_lines(ws, result, "en").children)
    assert "All cases, evaluated 2025-12-29: data up to the week of 2025-12-22, 26 test weeks" in text
    assert "The board's model" in text and "Poisson regression" in text
