"""The model evaluation as a table and as text (``pingan evaluate``, the evaluation page).

One table for both (:func:`evaluation_table`): a row per model with the winner marked, so the
page and the command line cannot disagree.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd

from analytics.present.i18n import TEXT, label, t

__all__ = ["evaluation_table", "evaluation_report", "result_note", "model_name", "choice_text", "target_text",
           "WINNER_MARK"]

#: The mark of the evaluation's best candidate (the board's model when the category has one).
WINNER_MARK = "★"


def model_name(code: str, lang: str = "zh") -> str:
    """A model's name for people (「经验贝叶斯（伽马-泊松）」), its code when it has none."""
    key = f"brief.model.{code}"
    return t(key, lang) if key in TEXT else code


def evaluation_table(result: dict, lang: str = "zh") -> pd.DataFrame:
    """One row per model of a backtest JSON, best PAI@5 % first.

    Columns ``best`` (:data:`WINNER_MARK` on the candidate with the best log score,
    :func:`analytics.service.evaluation.winner`), ``model`` (named in ``lang``), hit rate and PAI
    at 1/5/10 % of area, PEI at 5 %, ``log_score``, ``crps``, ``coverage_90``, ``seconds``.
    """
    from analytics.service.evaluation import winner

    best = winner(result)
    rows = []
    for name, m in result.get("models", {}).items():
        row = {"best": WINNER_MARK if name == best else "", "model": model_name(name, lang)}
        for share in ("0.01", "0.05", "0.10"):
            row[f"hit_{share}"] = _round(m.get("hit_rate", {}).get(share), 3)
            row[f"pai_{share}"] = _round(m.get("pai", {}).get(share), 2)
        row["pei_0.05"] = _round(m.get("pei", {}).get("0.05"), 3)
        row["log_score"] = _round(m.get("log_score"), 4)
        row["crps"] = _round(m.get("crps"), 4)
        row["coverage_90"] = _round(m.get("coverage_90"), 3)
        row["seconds"] = _round(m.get("seconds"), 2)
        rows.append(row)
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).sort_values("pai_0.05", ascending=False, na_position="last",
                                          kind="stable").reset_index(drop=True)


def result_note(result: dict, lang: str = "zh") -> str:
    """When and on what the evaluation ran (date, data week, test weeks, cells, cases)."""
    return t("eval.result_note", lang, category=label(result.get("category") or "全部", lang),
             date=str(result.get("_computed") or "")[:10],
             week=result.get("end", ""), n=result.get("n_periods", ""), cells=result.get("n_cells", ""),
             cell=f"{float(result.get('cell_m', 0)):g}", events=result.get("n_events", ""))


def target_text(result: dict, lang: str = "zh") -> str:
    """Issue 17's yardstick in one sentence: the best forecasting model's PAI@5 % against the best
    baseline's (the counting and kernel-smoothed ones, :data:`analytics.models.BASELINES`), their
    ratio, and which of the two has the lower log score and CRPS; ``""`` without both kinds."""
    from analytics.models import BASELINES, DETECTORS

    models = result.get("models", {})

    def pai(name: str) -> float:
        v = models[name].get("pai", {}).get("0.05")
        return float(v) if v is not None and np.isfinite(float(v)) else -np.inf

    bases = [n for n in models if n in BASELINES and np.isfinite(pai(n))]
    rivals = [n for n in models if n not in BASELINES and n not in DETECTORS and np.isfinite(pai(n))]
    if not bases or not rivals:
        return ""
    base, best = max(bases, key=pai), max(rivals, key=pai)
    ratio = pai(best) / pai(base) if pai(base) > 0 else float("nan")

    def lower(key: str) -> str:
        a, b = models[best].get(key), models[base].get(key)
        if a is None or b is None or not (np.isfinite(a) and np.isfinite(b)):
            return "?"
        return model_name(best if a < b else base, lang)

    return t("eval.target", lang, model=model_name(best, lang), pai=f"{pai(best):.2f}",
             base=model_name(base, lang), base_pai=f"{pai(base):.2f}", ratio=f"{ratio:.3f}",
             log=lower("log_score"), crps=lower("crps"))


def choice_text(ws, category: str | None, lang: str = "zh") -> str:
    """Which model the board uses for ``category`` and from which evaluation, in one sentence."""
    from analytics.service.board import DEFAULT_MODEL
    from analytics.service.evaluation import MIN_EVENTS, board_choice
    from data.taxonomy import canonical_name

    name = canonical_name(category)
    choice = board_choice(ws, name)
    if choice is None:
        return t("eval.board_none", lang, model=model_name(DEFAULT_MODEL, lang))
    key = {None: "eval.board_uses", "few": "eval.board_inherits",
           "none": "eval.board_inherits_none"}[choice["why"]]
    return t(key, lang, category=label(name, lang), model=model_name(choice["model"], lang),
             date=str(choice.get("computed") or "")[:10], n=choice.get("weeks", ""), min=MIN_EVENTS)


def evaluation_report(ws, *, category: str | None = None, weeks: int = 26, lang: str = "zh",
                      as_json: bool = False, progress: Callable[[float, str], None] | None = None) -> str:
    """``pingan evaluate``: evaluate ``category`` (default 全部 and every group of the taxonomy),
    store the model choice and return the tables (or the JSON) as text."""
    from analytics.service.evaluation import choice_location, evaluate, refresh_choice

    if category is None:
        from analytics.service.evaluation import board_groups

        refresh_choice(ws, weeks, progress=progress)
        names = board_groups(ws)
        results = {n: evaluate(ws, n, weeks, choose=False) for n in names}  # stored: read back
    else:
        result = evaluate(ws, category, weeks, progress=progress)
        results = {result.get("category") or category: result}
    if as_json:
        clean = {k: {f: v for f, v in r.items() if f != "_version"} for k, r in results.items()}
        return json.dumps(clean if category is None else next(iter(clean.values())),
                          ensure_ascii=False, indent=1)
    blocks = []
    for name, result in results.items():
        lines = [t("eval.cli_title", lang, category=label(name, lang), n=result.get("n_periods", ""),
                   cells=result.get("n_cells", ""), cell=f"{float(result.get('cell_m', 0)):g}",
                   events=result.get("n_events", ""), date=str(result.get("_computed") or "")[:10],
                   week=result.get("end", ""))]
        lines.append(_text_table(evaluation_table(result, lang), lang))
        if target_text(result, lang):
            lines.append(target_text(result, lang))
        lines.append(choice_text(ws, name, lang))
        blocks.append("\n".join(lines))
    blocks.append(t("eval.cli_stored", lang, path=choice_location(ws)))
    return "\n\n".join(blocks)


def _text_table(table: pd.DataFrame, lang: str) -> str:
    cols = ["best", "model", "log_score", "crps", "pai_0.05", "hit_0.05", "coverage_90", "seconds"]
    heads = [t("eval.winner", lang), t("eval.model", lang), t("eval.log_score", lang),
             t("eval.crps", lang), "PAI@5%", f"{t('eval.hit', lang)}@5%", t("eval.calibration", lang),
             t("eval.seconds", lang)]
    cells = [[("" if v is None or (isinstance(v, float) and not np.isfinite(v)) else str(v))
              for v in table[c]] for c in cols] if len(table) else [[] for _ in cols]
    width = [max([_width(h), *(_width(v) for v in col)]) for h, col in zip(heads, cells)]
    rows = [heads, *zip(*cells)]
    return "\n".join("  ".join(_pad(v, w) for v, w in zip(row, width)) for row in rows)


def _width(text: str) -> int:
    """Columns a string takes in a terminal (CJK characters take two)."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in str(text))


def _pad(text: str, width: int) -> str:
    return str(text) + " " * (width - _width(text))


def _round(value, digits: int) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return round(v, digits) if np.isfinite(v) else float("nan")
