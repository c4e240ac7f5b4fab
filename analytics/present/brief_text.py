"""The briefing's words: week facts gathered from the board's tables, and the summary text.

Nothing here recomputes a number: counts, 同比 and 环比 come from ``board.kpis`` and levels
from ``board.warning_table``; this module only sorts, counts areas per level and phrases.
Everything is deterministic (stable sorts with ``area_id`` as the last key, no clock), so the
same workspace and week always give the same text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from analytics.present.i18n import label, t

__all__ = [
    "Kpi",
    "WeekFacts",
    "week_facts",
    "summary",
    "change_text",
    "week_label",
    "week_title",
    "plain_sentence",
    "plain_lines",
    "usual_text",
    "level_counts",
    "changes",
]


@dataclass(frozen=True)
class Kpi:
    """One headline figure: count this period, 同比 and 环比 as fractions (NaN if unknown)."""

    observed: int
    yoy: float = math.nan
    mom: float = math.nan

    @classmethod
    def from_board(cls, d: Mapping[str, object]) -> Kpi:
        """Read a ``board.kpis`` dict (its ``observed``/``yoy``/``mom`` entries)."""
        observed = _first(d, ("observed", "total", "count", "cases"))
        if observed is None:
            raise ValueError(f"board.kpis: no observed count among keys {sorted(d)}")
        return cls(int(observed), _num(_first(d, ("yoy",))), _num(_first(d, ("mom",))))


@dataclass(frozen=True)
class WeekFacts:
    """Everything the summary says, already sorted.

    ``places`` are subdistrict names where the red areas concentrate (most reds first),
    ``focus`` display names of the areas to watch (worst first).
    """

    period: pd.Timestamp
    level_name: str
    total: Kpi
    group: str | None = None
    group_kpi: Kpi | None = None
    counts: dict[str, int] = field(default_factory=dict)
    places: tuple[str, ...] = ()
    focus: tuple[str, ...] = ()
    new_red: tuple[str, ...] = ()
    back_green: tuple[str, ...] = ()
    has_previous: bool = False
    #: Areas expected red / orange by chance alone if every forecast were right.
    chance: dict[str, float] = field(default_factory=dict)


def week_facts(
    *,
    period: pd.Timestamp,
    table: pd.DataFrame,
    total: Kpi,
    previous: pd.DataFrame | None = None,
    group: str | None = None,
    group_kpi: Kpi | None = None,
    parents: Mapping[str, str] | None = None,
    n_places: int = 3,
    n_focus: int = 3,
) -> WeekFacts:
    """Collect the facts of one week from the warning tables of this and the previous week.

    Parameters
    ----------
    period : Timestamp
        Start (Monday) of the week.
    table, previous : DataFrame
        ``board.warning_table`` of this week and of the week before (``previous`` may be None).
    total, group_kpi : Kpi
        ``board.kpis`` of all cases and of ``group`` (e.g. 两抢一盗).
    parents : mapping, optional
        area_id → name of its subdistrict (街道), to say where reds concentrate.
    """
    parents = dict(parents or {})
    ranked = ranked_areas(table)
    red = ranked[ranked["level"] == "red"]
    places: tuple[str, ...] = ()
    if len(red) and parents:
        where = red["area_id"].map(parents).dropna()
        if len(where):
            n = where.value_counts()
            order = sorted(n.index, key=lambda name: (-int(n[name]), str(name)))
            places = tuple(order[:n_places])
    hot = ranked[ranked["level"].isin(["red", "orange"])].head(n_focus)
    focus = tuple(display_name(r.area_id, r.name, parents) for r in hot.itertuples())
    new_red, back_green = changes(table, previous) if previous is not None else ((), ())
    return WeekFacts(
        period=pd.Timestamp(period),
        level_name=str(table["level_name"].iloc[0]) if len(table) else "grid",
        total=total,
        group=group,
        group_kpi=group_kpi,
        counts=level_counts(table),
        places=places,
        focus=focus,
        new_red=tuple(display_name(a, n, parents) for a, n in new_red),
        back_green=tuple(display_name(a, n, parents) for a, n in back_green),
        has_previous=previous is not None,
        chance={k: float(v) for k, v in dict(table.attrs.get("chance") or {}).items()},
    )


def summary(facts: WeekFacts, lang: str = "zh") -> str:
    """The short summary paragraph, e.g. 「本周（2024-03-04至03-10）全市共发生刑事案件 …」."""
    unit = _unit(facts.level_name, lang)
    sep = t("brief.sep", lang)
    total = facts.total
    text = t(
        "brief.s.total", lang, week=week_label(facts.period, lang), n=total.observed,
        yoy=t("brief.s.yoy", lang, change=change_text(total.yoy, lang)),
        mom=t("brief.s.mom", lang, change=change_text(total.mom, lang)),
    )
    if facts.group and facts.group_kpi is not None:
        g = facts.group_kpi
        text += t(
            "brief.s.group", lang, group=label(facts.group, lang), n=g.observed,
            yoy=t("brief.s.yoy", lang, change=change_text(g.yoy, lang)),
            mom=t("brief.s.mom", lang, change=change_text(g.mom, lang)),
        )
    n_red = facts.counts.get("red", 0)
    if n_red:
        text += t("brief.s.red", lang, n=n_red, unit=unit)
        if facts.places:
            text += t("brief.s.where", lang, places=sep.join(facts.places))
    else:
        text += t("brief.s.red_none", lang)
    text += t("brief.s.orange", lang, n=facts.counts.get("orange", 0), unit=unit)
    if all(math.isfinite(facts.chance.get(lv, math.nan)) for lv in ("red", "orange")):
        text += t("brief.s.chance", lang, red=f"{facts.chance['red']:.1f}", orange=f"{facts.chance['orange']:.1f}")
    if facts.has_previous:
        text += t("brief.s.change", lang, new=len(facts.new_red), green=len(facts.back_green))
    if facts.focus:
        text += t("brief.s.focus", lang, places=sep.join(facts.focus))
    else:
        text += t("brief.s.calm", lang)
    return text


def change_text(x: float, lang: str = "zh") -> str:
    """``-0.045`` → 「下降 4.5%」 / "down 4.5%"; NaN → 「无可比数据」; one decimal."""
    if x is None or not math.isfinite(x):
        return t("brief.change.na", lang)
    pct = round(abs(float(x)) * 100, 1)
    if pct == 0:
        return t("brief.change.flat", lang)
    word = t("brief.change.up" if x > 0 else "brief.change.down", lang)
    return f"{word} {pct:.1f}%"


def week_label(period: pd.Timestamp, lang: str = "zh") -> str:
    """「2024-03-04至03-10」 (year and month shown again only when they change)."""
    start = pd.Timestamp(period)
    end = start + pd.Timedelta(days=6)
    if lang == "en":
        return t("brief.week", lang, start=f"{start:%Y-%m-%d}", end=f"{end:%Y-%m-%d}")
    tail = f"{end:%m-%d}" if end.year == start.year else f"{end:%Y-%m-%d}"
    return t("brief.week", lang, start=f"{start:%Y-%m-%d}", end=tail)


def week_title(period: pd.Timestamp, lang: str = "zh") -> str:
    """「2024年第25周（2024-06-17至06-23）」: ISO week number and year of the week, and its dates.

    The ISO year is the one the week belongs to (2024-12-30 is 2025 第1周).
    """
    start = pd.Timestamp(period)
    iso = start.isocalendar()
    return t("brief.week_no", lang, year=int(iso.year), week=int(iso.week),
             dates=week_label(start, lang))


def plain_sentence(name: str, observed: float, expected: float, yoy: float = math.nan,
                   lang: str = "zh") -> str:
    """One area in words a leader reads without statistics: observed against the usual.

    「X本周 14 起，约为常态的 3 倍」 when the usual week has at least half a case; 「…而平时每周
    通常不到 1 起」 when it has less (a ratio to ~0 would be meaningless); 「高于常态（约 E 起）」
    when the ratio rounds below 1.5. 同比 is added when known.

    Examples
    --------
    >>> plain_sentence("东湖街道第3网格", 14, 4.6)
    '东湖街道第3网格本周 14 起，约为常态的 3 倍'
    >>> plain_sentence("G1", 3, 0.2, 1.0, "en")
    'G1: 3 cases this week, where a usual week has fewer than one, up 100.0% year on year'
    """
    n, e = int(observed), float(expected)
    if not math.isfinite(e) or e < 0.5:
        text = t("brief.plain.rare", lang, area=name, n=n)
    else:
        x = n / e
        if x < 1.5:
            text = t("brief.plain.above", lang, area=name, n=n, e=f"{e:.1f}")
        else:
            xs = f"{x:.1f}".rstrip("0").rstrip(".") if x < 3 else f"{x:.0f}"
            text = t("brief.plain.times", lang, area=name, n=n, x=xs)
    if yoy is not None and math.isfinite(yoy):
        text += t("brief.plain.yoy", lang, change=change_text(yoy, lang))
    return text


def usual_text(expected: float) -> str:
    """The usual (expected) count for a table cell: one decimal, 「<0.1」 below 0.05 (never 0.0,
    which would read as "never happens").

    Examples
    --------
    >>> usual_text(2.345), usual_text(0.04), usual_text(0.05)
    ('2.3', '<0.1', '0.1')
    """
    e = float(expected)
    if not math.isfinite(e):
        return "—"
    return "<0.1" if e < 0.05 else f"{e:.1f}"


def plain_lines(table: pd.DataFrame, parents: Mapping[str, str] | None = None, lang: str = "zh",
                n: int = 6) -> list[str]:
    """Plain sentences for the worst red and orange areas (worst first, at most ``n``)."""
    parents = dict(parents or {})
    top = ranked_areas(table)
    top = top[top["level"].isin(["red", "orange"])].head(n)
    return [plain_sentence(display_name(r.area_id, r.name, parents), r.observed, r.expected,
                           _num(getattr(r, "yoy", math.nan)), lang)
            for r in top.itertuples()]


def level_counts(table: pd.DataFrame) -> dict[str, int]:
    """Number of areas per level, every level present (zeros included)."""
    levels = table["level"].astype(str)
    return {lv: int((levels == lv).sum()) for lv in ("red", "orange", "yellow", "green")}


def ranked_areas(table: pd.DataFrame) -> pd.DataFrame:
    """Rows worst first: by the board's ``rank`` if present, else level, p_exceed, observed."""
    frame = pd.DataFrame(table.drop(columns="geometry", errors="ignore"))
    frame["level"] = frame["level"].astype(str)
    frame["_sev"] = frame["level"].map({"red": 0, "orange": 1, "yellow": 2, "green": 3})
    keys = ["rank", "area_id"] if "rank" in frame else ["_sev", "p_exceed", "observed", "area_id"]
    asc = [True, True] if "rank" in frame else [True, True, False, True]
    return frame.sort_values(keys, ascending=asc, kind="mergesort").drop(columns="_sev")


def changes(
    table: pd.DataFrame, previous: pd.DataFrame
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(area_id, name) of areas newly red and of areas back to green since ``previous``."""
    now = table.set_index("area_id")["level"].astype(str)
    before = previous.set_index("area_id")["level"].astype(str).reindex(now.index)
    names = table.set_index("area_id")["name"].astype(str)
    new_red = now.index[(now == "red") & (before != "red") & before.notna()]
    green = now.index[(now == "green") & (before != "green") & before.notna()]
    rank = ranked_areas(table)["area_id"].tolist()
    order = {a: i for i, a in enumerate(rank)}
    out = []
    for ids in (new_red, green):
        ids = sorted(ids, key=lambda a: (order.get(a, len(order)), a))
        out.append([(a, names[a]) for a in ids])
    return out[0], out[1]


def display_name(area_id: str, name: str, parents: Mapping[str, str]) -> str:
    """Area name prefixed by its subdistrict (unless the name already starts with it)."""
    parent = parents.get(area_id)
    name = str(name)
    if parent and not name.startswith(str(parent)) and parent != name:
        return f"{parent}{name}"
    return name


def _unit(level_name: str, lang: str) -> str:
    key = f"brief.unit.{level_name}"
    try:
        return t(key, lang)
    except KeyError:
        return t("brief.unit.cell", lang)


def _first(d: Mapping[str, object], keys: tuple[str, ...]) -> object | None:
    for k in keys:
        if k in d and d[k] is not None:
            return d[k]
    return None


def _num(x: object) -> float:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return v
