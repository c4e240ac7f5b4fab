"""一月一排位: the ranking of areas of one layer for one period, with 万人发案率 and rank change.

Three orders (``by``):

- ``level``: the board's order — worst colour first, then the most surprising, then the most
  cases (the ``rank`` of :func:`analytics.service.board.warning_table`);
- ``count``: most cases first (发案数);
- ``rate``: highest 万人发案率 first (cases per 10,000 residents, :func:`data.population.rate_per_10k`).

Ties in ``count`` and ``rate`` share a rank (1, 2, 2, 4): an office does not rank one of two
areas with 5 cases above the other. An area without population has no rate and, by rate, no
rank: it is listed after the ranked ones with its rank blank, never ranked as 0 or infinity.

Each area's rank of the previous period, by the same order, gives ``change`` (positive = up,
「↑2」) and ``new``: 新进 — no rank last period, or, when only the top ``top`` are listed,
outside last period's top ``top``. When the previous period cannot be ranked (before the data,
or a gap), ``rank_prev`` is blank for every area and nothing is marked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.present.i18n import t
from data.population import HOUSEHOLDS, POPULATION, rate_per_10k

__all__ = ["RANK_BY", "ranking", "with_rates", "rank_values", "change_text"]

#: Orders of the ranking.
RANK_BY: tuple[str, ...] = ("level", "count", "rate")


def with_rates(table: pd.DataFrame, areas: pd.DataFrame) -> pd.DataFrame:
    """``table`` (``area_id``, ``observed``) with ``population``, ``households`` and ``rate``.

    ``rate`` is observed cases per 10,000 residents of the area (NaN without population).
    """
    cols = [c for c in (POPULATION, HOUSEHOLDS) if c in areas.columns]
    attrs = pd.DataFrame(areas[["area_id", *cols]]).assign(area_id=lambda f: f["area_id"].astype(str))
    out = table.drop(columns=[POPULATION, HOUSEHOLDS, "rate"], errors="ignore")
    out = out.merge(attrs, on="area_id", how="left")
    for c in (POPULATION, HOUSEHOLDS):
        out[c] = out[c].astype(float) if c in out else np.nan
    out["rate"] = rate_per_10k(out["observed"].to_numpy(float), out[POPULATION].to_numpy(float))
    return out


def rank_values(table: pd.DataFrame, by: str, observed: str = "observed", rate: str = "rate") -> np.ndarray:
    """Rank of every row of a warning table by ``by`` (float; NaN = not ranked).

    ``level`` keeps the table's ``rank``; ``count`` and ``rate`` rank the highest first, ties
    sharing the best rank; NaN (no population, a gap) is not ranked.
    """
    if by not in RANK_BY:
        raise ValueError(f"--by {by!r}: expected one of {', '.join(RANK_BY)}")
    if by == "level":
        return table["rank"].to_numpy(float)
    values = pd.Series(table[observed if by == "count" else rate].to_numpy(float))
    return values.rank(method="min", ascending=False, na_option="keep").to_numpy(float)


def ranking(ws, level: str | None = None, period=None, freq: str = "M", category: str | None = None,
            by: str = "count", top: int | None = None) -> pd.DataFrame:
    """The ranking of ``level``'s areas in ``period`` by ``by``, with last period's ranks.

    Parameters
    ----------
    ws : Workspace
    level : str, optional
        Layer (default :func:`analytics.service.board.default_level`).
    period : date-like, optional
        Any day in the period (default: the latest complete one).
    freq : {"M", "W"}
        一月一排位 is monthly; ``W`` ranks weeks.
    category : str, optional
        Category or group (default 全部).
    by : {"count", "rate", "level"}
    top : int, optional
        Keep the first ``top`` ranks; 新进 then also marks areas outside last period's top.

    Returns
    -------
    DataFrame
        ``rank, rank_prev, change, new, area_id, name, observed, observed_prev, population,
        households, rate, rate_prev, level, expected, p_exceed, yoy, mom, reason_zh, reason_en``
        sorted by rank (unranked last). ``attrs``: ``period``, ``prev_period`` (None when last
        period could not be ranked), ``by``, ``level``, ``freq``, ``no_population`` (areas
        without population), ``unranked``.
    """
    from analytics.service import board

    if by not in RANK_BY:
        raise ValueError(f"--by {by!r}: expected one of {', '.join(RANK_BY)}")
    if top is not None and int(top) < 1:
        raise ValueError(f"--top {top}: must be at least 1")
    table = pd.DataFrame(board.warning_table(ws, level=level, period=period, freq=freq, category=category)
                         .drop(columns="geometry"))
    p = pd.Timestamp(table.attrs.get("period", table["period"].iloc[0] if len(table) else None))
    level = str(table["level_name"].iloc[0]) if len(table) else (level or board.default_level(ws))
    table["rank_by"] = rank_values(table, by)
    prev_p, prev_rank = _previous(ws, table, level, p, freq, category, by)
    table["rank_prev"] = prev_rank
    table["observed_prev"] = table["observed_prev"].astype(float)
    table["rate_prev"] = rate_per_10k(table["observed_prev"].to_numpy(float), table[POPULATION].to_numpy(float))
    has_prev = prev_p is not None
    rank, before = table["rank_by"].to_numpy(float), table["rank_prev"].to_numpy(float)
    table["change"] = before - rank  # NaN when either is missing
    table["new"] = has_prev & np.isfinite(rank) & (~np.isfinite(before) | (before > (top or np.inf)))
    table = table.drop(columns="rank").rename(columns={"rank_by": "rank"})
    order = np.lexsort((table["area_id"].astype(str).to_numpy(), np.nan_to_num(rank, nan=np.inf)))
    table = table.iloc[order].reset_index(drop=True)
    if top is not None:
        table = table[table["rank"].to_numpy(float) <= int(top)].reset_index(drop=True)
    cols = ["rank", "rank_prev", "change", "new", "area_id", "name", "observed", "observed_prev", POPULATION,
            HOUSEHOLDS, "rate", "rate_prev", "level", "expected", "p_exceed", "yoy", "mom", "reason_zh",
            "reason_en"]
    out = table[cols].copy()
    for c in ("rank", "rank_prev", "change"):  # whole numbers, blank where there is none
        out[c] = pd.array(np.where(np.isfinite(out[c].to_numpy(float)), out[c].to_numpy(float), np.nan)
                          ).astype("Int64")
    out.attrs.update(period=p, prev_period=prev_p, by=by, level=level, freq=freq,
                     no_population=int((~np.isfinite(table[POPULATION].to_numpy(float))
                                        | (table[POPULATION].to_numpy(float) <= 0)).sum()),
                     unranked=int((~np.isfinite(out["rank"].to_numpy(float))).sum()))
    return out


def change_text(change, new, lang: str = "zh") -> str:
    """「↑2」, 「↓1」, 「—」 (same rank), 「新进」 / "new", or "" (nothing to compare)."""
    if bool(new):
        return t("rank.new", lang)
    if change is None or pd.isna(change) or not np.isfinite(float(change)):
        return ""
    d = int(change)
    return f"↑{d}" if d > 0 else (f"↓{-d}" if d < 0 else "—")


def _previous(ws, table, level, p, freq, category, by) -> tuple[pd.Timestamp | None, np.ndarray]:
    """Last period's ranks of the areas of ``table`` by ``by`` (all NaN when not rankable)."""
    from analytics.service import board

    none = np.full(len(table), np.nan)
    earlier = [q for q in board.periods(ws, freq) if q < p]
    if not earlier:
        return None, none
    q = earlier[-1]
    if q in set(board.gaps(ws, freq).query("missing")["period"]):
        return None, none
    if by == "level":
        try:
            prev = pd.DataFrame(board.warning_table(ws, level=level, period=q, freq=freq, category=category)
                                .drop(columns="geometry"))
        except ValueError:  # too early to forecast last period: no colour order to compare with
            return None, none
        return q, table["area_id"].astype(str).map(prev.set_index(prev["area_id"].astype(str))["rank"]) \
            .to_numpy(float)
    prev = pd.DataFrame({"observed": table["observed_prev"].to_numpy(float),
                         "rate": rate_per_10k(table["observed_prev"].to_numpy(float),
                                              table[POPULATION].to_numpy(float))})
    if not np.isfinite(prev["observed"].to_numpy()).any():
        return None, none
    return q, rank_values(prev, by)
