"""The evaluation's yardstick sentence (analytics/present/evaluation_text.py ``target_text``)."""

from __future__ import annotations

from analytics.present.evaluation_text import target_text


def _m(pai: float, log: float, crps: float) -> dict:
    return {"pai": {"0.05": pai}, "log_score": log, "crps": crps}


def test_target_names_the_best_model_against_the_best_baseline_kde_included():
    result = {"models": {
        "longrun": _m(4.0, 0.070, 0.0100),
        "recency_kde": _m(4.2, 0.066, 0.0098),   # the best baseline: a kernel-smoothed one
        "eb": _m(4.0, 0.060, 0.0097),
        "stack": _m(4.41, 0.064, 0.0099),        # the best forecasting model by PAI@5 %
        "farrington": _m(9.9, 0.010, 0.0010),    # a detector: neither a baseline nor a rival
    }}
    zh = target_text(result, "zh")
    assert "堆叠组合模型 4.41" in zh and "近期加权核密度 4.20" in zh
    assert "×1.050" in zh  # 4.41 / 4.2, worked by hand
    assert "对数评分更优：堆叠组合模型" in zh and "CRPS 更优：近期加权核密度" in zh
    en = target_text(result, "en")
    assert "ratio ×1.050" in en and "lower CRPS: recency-weighted KDE" in en


def test_target_is_empty_without_a_baseline_or_a_model():
    assert target_text({"models": {"longrun": _m(4.0, 0.07, 0.01)}}) == ""
    assert target_text({"models": {"eb": _m(4.0, 0.07, 0.01)}}) == ""
    assert target_text({}) == ""
