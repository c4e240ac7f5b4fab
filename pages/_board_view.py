"""Presentation helpers of the board and the big screen: the shown layer and its warning rows,
legend, KPI tiles, ranking table and breadcrumbs. Numbers come from the service only."""

from __future__ import annotations

import dash
import numpy as np
import pandas as pd
from dash import dash_table, html

from analytics.present.i18n import label, t
from pages._common import LEVEL_COLORS, LEVELS

__all__ = ["board_frame", "board_kpis", "drill_path", "legend", "table_columns", "table_rows", "kpi_tiles",
           "crumbs", "chain", "period_label", "alert_list", "alert_path", "ranking_export", "TABLE_COLS",
           "ranked_frame"]

TABLE_COLS = ("rank", "change", "name", "observed", "rate", "expected", "yoy", "mom", "level", "below", "reason")


def board_frame(svc, layer: str, path: list[str], period: str, freq: str, category: str,
                mode: str) -> tuple[str, pd.DataFrame]:
    """The layer shown for ``path`` and its warning rows (children of the last area in path).

    The path comes from the browser: every area in it is checked against the user's scope.
    """
    layers = chain(svc, layer)
    path = [svc.check_area(a, layers[i]) for i, a in enumerate(path[: len(layers) - 1])]
    shown = layers[min(len(path), len(layers) - 1)]
    table = svc.warning_table(level=shown, period=period, freq=freq, category=category, mode=mode)
    frame = pd.DataFrame(table.drop(columns="geometry", errors="ignore"))
    areas = svc.layer_table(shown)[["area_id", "parent_id", "lon", "lat"]]
    frame = frame.merge(areas, on="area_id", how="left")
    if path:
        frame = frame[frame["parent_id"].astype("string") == str(path[-1])]
    hierarchy = svc.hierarchy_of(shown)  # 区…网格 or 分局…警务区
    fine = svc.chain(hierarchy)[-1]
    if shown != fine and mode == "alert":  # how many red / orange 网格 lie inside each area
        below = svc.alerts_below(shown, svc.alerts(period, freq, category, hierarchy=hierarchy))
        frame = frame.merge(below.rename(columns={"red": "below_red", "orange": "below_orange"}),
                            on="area_id", how="left")
    return shown, frame.reset_index(drop=True)


def ranked_frame(svc, frame: pd.DataFrame, shown: str, period: str, freq: str, category: str, by: str,
                 mode: str) -> pd.DataFrame:
    """``frame`` ranked by ``by`` (warning level, cases or 万人发案率) with last period's rank:
    ``rank``, ``rank_prev``, ``change`` and ``new`` of :meth:`Service.ranking` (city-wide ranks)."""
    if by in (None, "level") and mode != "alert":  # the mode's own order; no change to show
        return frame
    ranks = svc.ranking(level=shown, period=period, freq=freq, category=category, by=by or "level")
    keep = ranks[["area_id", "rank", "rank_prev", "change", "new"]].assign(area_id=lambda f: f["area_id"].astype(str))
    return frame.drop(columns=["rank"], errors="ignore").merge(keep, on="area_id", how="left")


def board_kpis(svc, shown: str, path: list[str], period: str, freq: str, category: str, mode: str,
               frame: pd.DataFrame) -> dict:
    """The KPI tiles' figures for exactly what the map shows: the same layer, the same drill-down
    scope, and colour counts taken from the same rows as the legend (they cannot disagree)."""
    values = svc.kpis(period, freq, category, shown, within=path[-1] if path else None)
    counts = frame["level"].astype("string").value_counts()
    values["levels"] = {lv: int(counts.get(lv, 0)) for lv in LEVELS}
    values["n_areas"] = len(frame)
    if mode != "alert":  # chance figures belong to the statistical colours only
        values["chance"] = None
    return values


def drill_path(path: list[str], layers: list[str], clicked: str | None) -> list[str]:
    """``path`` extended by the clicked area when the shown layer has a finer one below it."""
    if clicked is None or len(path) + 1 >= len(layers):
        return dash.no_update if clicked is None else path
    return [*path, clicked]


def legend(frame: pd.DataFrame, lang: str) -> list:
    counts = frame["level"].astype("string").value_counts()
    items = [html.Span([html.Span(className="swatch", style={"background": LEVEL_COLORS[lv]}),
                        f"{label(lv, lang)} {int(counts.get(lv, 0))}"], className="legend-item",
                       id=f"board-legend-{lv}") for lv in reversed(LEVELS)]
    n_missing = int(frame["level"].isna().sum())
    if n_missing:  # a gap in the data: grey on the map (pages/_maps.py), 「数据缺失」
        items.append(html.Span([html.Span(className="swatch", style={"background": "#c9ced6"}),
                                f"{t('board.no_data', lang)} {n_missing}"], className="legend-item",
                               id="board-legend-missing"))
    return items


def table_columns(lang: str) -> list[dict]:
    fmt = {"yoy": dash_table.FormatTemplate.percentage(1), "mom": dash_table.FormatTemplate.percentage(1),
           "rate": dash_table.Format.Format(precision=2, scheme=dash_table.Format.Scheme.fixed)}
    cols = []
    for c in TABLE_COLS:
        col = {"name": t(f"col.{c}", lang), "id": c}
        if c in fmt:
            col.update(type="numeric", format=fmt[c])
        elif c in ("rank", "observed", "expected", "rate"):
            col["type"] = "numeric"
        cols.append(col)
    return cols


def table_rows(frame: pd.DataFrame, lang: str) -> list[dict]:
    from analytics.service.ranking import change_text

    change = frame["change"].astype("Float64").to_numpy(float, na_value=np.nan) if "change" in frame else None
    out = pd.DataFrame({
        "rank": (frame["rank"].astype("Float64").to_numpy(float, na_value=np.nan) if "rank" in frame
                 else range(1, len(frame) + 1)),
        "change": ([change_text(c, n, lang) for c, n in zip(change, frame["new"])] if change is not None
                   else [""] * len(frame)),
        "name": frame["name"].astype(str),
        "observed": frame["observed"],
        "rate": frame["rate"].astype(float).round(2) if "rate" in frame else np.nan,
        "expected": frame["expected"].astype(float).round(1),
        "yoy": frame["yoy"].astype(float).round(4) if "yoy" in frame else None,
        "mom": frame["mom"].astype(float).round(4) if "mom" in frame else None,
        "level": [label(v, lang) for v in frame["level"].astype(str)],
        "level_code": frame["level"].astype(str),
        "below": _below_text(frame, lang),
        "reason": frame.get(f"reason_{lang}", frame.get("reason_zh")),
        "area_id": frame["area_id"].astype(str),
    }).sort_values("rank", kind="stable", na_position="last")  # no rank (no population): last
    # Column lists zipped into records: 20x faster than to_dict for 2,500 网格 (NaN → null in JSON).
    cols = list(out.columns)
    return [dict(zip(cols, row)) for row in zip(*(out[c].tolist() for c in cols))]


def ranking_export(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The ranking as a table for Excel: the columns a person reads, headed in ``lang``."""
    rows = table_rows(frame, lang)
    cols = [c for c in TABLE_COLS if c != "below" or "below_red" in frame]
    out = pd.DataFrame(rows, columns=[*TABLE_COLS, "level_code", "area_id"])[[*cols, "area_id"]]
    return out.rename(columns={c: t(f"col.{c}", lang) for c in cols} | {"area_id": t("col.area_id", lang)})


def _below_text(frame: pd.DataFrame, lang: str) -> list[str]:
    if "below_red" not in frame:
        return [""] * len(frame)
    red = frame["below_red"].fillna(0).astype(int)
    orange = frame["below_orange"].fillna(0).astype(int)
    return [t("board.below", lang, red=r, orange=o) if r or o else "" for r, o in zip(red, orange)]


def alert_list(alerts: pd.DataFrame, lang: str, limit: int = 60) -> html.Div:
    """红橙预警清单: every red / orange area by its path, with its reason; a click drills to it."""
    if alerts.empty:
        return html.Div(t("board.alerts_none", lang), className="hint", id="board-alerts-none")
    items = []
    for r in alerts.head(limit).itertuples():
        lv = str(r.level)
        items.append(html.Button([
            html.Span(label(lv, lang), className="alert-badge",
                      style={"background": LEVEL_COLORS[lv], "color": "#ffffff"}),
            html.Span(str(r.path), className="alert-path"),
            html.Span(str(getattr(r, f"reason_{lang}", r.reason_zh)), className="alert-reason"),
        ], id={"type": "board-alert", "index": str(r.area_id)}, n_clicks=0, className="alert-item"))
    more = len(alerts) - limit
    if more > 0:
        items.append(html.Div(t("board.alerts_more", lang, n=more), className="hint"))
    return html.Div(items, className="alert-list", id="board-alert-items")


def alert_path(alerts: pd.DataFrame, area_id: str, layers: list[str]) -> list[str] | None:
    """The board's drill-down path (ids along ``layers`` but the last) that shows ``area_id``."""
    row = alerts[alerts["area_id"].astype(str) == str(area_id)]
    if row.empty:
        return None
    row = row.iloc[0]
    out = []
    for lv in layers[:-1]:
        value = row.get(lv)
        if value is None or pd.isna(value):
            return None
        out.append(str(value))
    return out


def kpi_tiles(values: dict, lang: str) -> list:
    """KPI tiles from analytics.service.board.kpis: 刑事发案 with 同比/环比, 两抢一盗, red and orange areas."""
    def pct(x):
        return "—" if x is None or pd.isna(x) else f"{x:+.1%}"

    def tile(key, title, value, sub="", cls=""):
        return html.Div([html.Div(title, className="kpi-label"),
                         html.Div(f"{value:,}" if isinstance(value, int) else str(value), className="kpi-value",
                                  id=f"board-kpi-{key}"),
                         html.Div(sub, className="kpi-sub")], className=f"kpi {cls}")

    tiles = [tile("total", f"{t('board.kpi.cases', lang)} · {label(values.get('category'), lang)}",
                  int(values["total"]),
                  f"{t('board.kpi.yoy', lang)} {pct(values.get('yoy'))} · {t('board.kpi.mom', lang)} {pct(values.get('mom'))}")]
    lqyd = values.get("liangqiang_yidao")
    if lqyd:
        tiles.append(tile("theft", t("board.kpi.theft", lang), int(lqyd["count"]),
                          f"{t('board.kpi.yoy', lang)} {pct(lqyd.get('yoy'))}"))
    levels = values.get("levels", {})
    n = values.get("n_areas", 0)
    chance = values.get("chance") or {}
    for lv in ("red", "orange"):
        # beside each colour count: how many areas would show it by chance if every forecast
        # were right (thousands of 网格 are tested each week)
        by_chance = chance.get(lv)
        extra = ("" if by_chance is None or pd.isna(by_chance)
                 else f" · {t('board.kpi.chance', lang, n=f'{by_chance:.1f}')}")
        tiles.append(tile(lv, t(f"board.kpi.{lv}", lang), int(levels.get(lv, 0)),
                          f"{label(values.get('level'), lang)} · {t('board.kpi.count', lang, n=n)}{extra}",
                          f"kpi-{lv}"))
    note = (values.get("model_note") or {}).get(lang)
    if note:  # which model coloured the board (auto: chosen by the last year's backtest)
        tiles.append(html.Div(note, className="kpi-note", id="board-model-note"))
    return tiles


def crumbs(svc, layer: str, path: list[str], lang: str) -> list:
    layers = chain(svc, layer)
    items = [html.Button(t("board.whole_city", lang) + f"（{label(layers[0], lang)}）",
                         id={"type": "board-crumb", "index": 0}, n_clicks=0, className="crumb")]
    for i, area_id in enumerate(path):
        names = svc.layer_table(layers[i]).set_index("area_id")["name"]
        items += [html.Span("›", className="crumb-sep"),
                  html.Button(str(names.get(area_id, area_id)), id={"type": "board-crumb", "index": i + 1},
                              n_clicks=0, className="crumb")]
    return items


def chain(svc, layer: str | None) -> list[str]:
    """The drill-down chain from ``layer`` down (the layers the user may see)."""
    layers = svc.chain(svc.hierarchy_of(layer))  # the layer's own hierarchy (admin or police …)
    if layer in layers:
        return layers[layers.index(layer):]
    return [layer] if layer else layers


def period_label(p: pd.Timestamp, freq: str) -> str:
    if freq == "M":
        return p.strftime("%Y-%m")
    return f"{p.strftime('%Y-%m-%d')} ~ {(p + pd.Timedelta(days=6)).strftime('%m-%d')}"
