"""The monthly ranking and the category table in words and columns (``pingan rank``,
``pingan categories``, the briefing's spreadsheet).

Headers are Chinese by default (``lang="en"`` for English), through :func:`analytics.present.i18n.t`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.present.i18n import label, t
from analytics.service.ranking import change_text

__all__ = ["ranking_display", "rank_report", "categories_table", "categories_report"]


def ranking_display(table: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """A ranking (:func:`analytics.service.ranking.ranking`) as the columns a person reads.

    排位, 上期排位, 升降 (↑2 / ↓1 / — / 新进), 名称, 发案数, 上期发案, 人口, 万人发案率 (two
    decimals; blank without population), 等级 — headed in ``lang``.
    """
    def blank_int(col):
        return [("" if pd.isna(v) else int(v)) for v in table[col]]

    rate = table["rate"].to_numpy(float)
    pop = table["population"].to_numpy(float)
    out = {
        "rank": blank_int("rank"),
        "rank_prev": blank_int("rank_prev"),
        "change": [change_text(c, n, lang) for c, n in zip(table["change"].astype("Float64").to_numpy(float,
                                                                                                      na_value=np.nan),
                                                         table["new"])],
        "name": table["name"].astype(str).to_list(),
        "observed": blank_int("observed"),
        "observed_prev": [("" if not np.isfinite(v) else int(v)) for v in table["observed_prev"].to_numpy(float)],
        "population": [("" if not np.isfinite(v) or v <= 0 else int(round(v))) for v in pop],
        "rate": [("" if not np.isfinite(v) else round(float(v), 2)) for v in rate],
        "level": [label(str(v), lang) if isinstance(v, str) or pd.notna(v) else "" for v in table["level"]],
    }
    return pd.DataFrame({t(f"col.{k}", lang): v for k, v in out.items()})


def rank_report(svc, *, level: str | None = None, month=None, freq: str = "M", by: str = "count",
                category: str | None = None, top: int | None = None, lang: str = "zh") -> tuple[str, pd.DataFrame]:
    """``pingan rank``: a title line, notes (no population, no previous period) and the table.

    Returns ``(text, display table)``.
    """
    table = svc.ranking(level=level, period=month, freq=freq, category=category, by=by, top=top)
    a = table.attrs
    p = pd.Timestamp(a["period"])
    when = f"{p:%Y-%m}" if freq == "M" else f"{p:%Y-%m-%d}"
    lines = [t("rank.title", lang, period=when, level=label(a["level"], lang), by=t(f"rank.by.{by}", lang))]
    if a.get("no_population"):
        lines.append(t("rank.no_population", lang, n=a["no_population"]))
    if a.get("prev_period") is None:
        lines.append(t("rank.prev_none", lang))
    shown = ranking_display(table, lang)
    with pd.option_context("display.unicode.east_asian_width", True):  # 汉字 are two columns wide
        lines.append(shown.to_string(index=False) if len(shown) else t("app.no_data", lang))
    return "\n".join(lines), shown


def categories_table(ws, lang: str = "zh") -> pd.DataFrame:
    """Raw category → the groups holding it, with its number of incidents, most cases first;
    then one row per group with its total (groups: ``[taxonomy]`` of ``config.toml``)."""
    inc = ws.incidents_frame(["category"])
    counts = inc["category"].astype("string").fillna("").value_counts()
    tax = ws.config.taxonomy
    cats = [str(c) for c in counts.index if str(c)]
    groups_of = {c: [g for g in tax.groups if c in tax.members(g, cats)] for c in cats}
    none = t("cat.unmatched", lang)
    rows = [(c, int(counts[c]), "、".join(groups_of[c]) if groups_of[c] else none) for c in cats]
    for g in tax.groups:
        members = tax.members(g, cats)
        rows.append((f"[{g}]", int(sum(counts[m] for m in members)), "、".join(members) or "—"))
    rows.append((t("cat.total", lang), int(counts.sum()), ""))
    return pd.DataFrame(rows, columns=[t("col.raw", lang), t("col.cases", lang), t("col.group", lang)])


def categories_report(svc, lang: str = "zh") -> tuple[str, list[str]]:
    """``pingan categories``: the table, and the problems of the ``[taxonomy]`` groups (members
    that are no category of the incidents nor a group), each naming the group and the member."""
    ws = svc.ws
    table = categories_table(ws, lang)
    cats = ws.incidents_frame(["category"])["category"].astype("string").dropna().unique()
    problems = [f"{ws.config_path}: [taxonomy] group {g!r}: member {m!r} is not a category of the incidents "
                f"nor a group (categories: {', '.join(sorted(map(str, cats))[:12])})"
                for g, m in ws.config.taxonomy.unknown_members(cats)]
    with pd.option_context("display.unicode.east_asian_width", True):
        text = table.to_string(index=False)
    if len(problems) > 1:
        problems[0] += f" (and {len(problems) - 1} more member(s) of the [taxonomy] groups)"
    return text, problems
