"""Plotly figures of the weekly briefing: level map, board composite, trends, hot spots.

Maps are drawn from the area polygons in the workspace's projected CRS as filled scatter
traces on a plain background — no tiles, nothing fetched. One trace per warning level keeps
the legend meaningful and the figure small; ``hover=True`` adds invisible points at each
area's representative point carrying name, level and reason for the interactive HTML.
Every figure uses :data:`analytics.present.palette.FONT_FAMILY` so Chinese renders with Noto Sans CJK.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import shapely
from plotly.subplots import make_subplots

from analytics.present.brief_text import (
    WeekFacts,
    change_text,
    display_name,
    plain_sentence,
    ranked_areas,
    usual_text,
    week_title,
)
from analytics.present.i18n import label, t
from analytics.present.palette import (
    BACKGROUND,
    FONT_FAMILY,
    INK,
    LEVEL_COLORS,
    MUTED,
    OUTLINE,
)
from analytics.warning import LEVELS

__all__ = [
    "map_figure",
    "board_figure",
    "trend_figure",
    "hotspot_figure",
    "wrap_text",
    "hot_label",
    "plain_reason",
    "HOTSPOT_COLORS",
]

#: Gi* classes (analytics.hotspots.inference.hot_cold_class) → colour, hot reds / cold blues.
HOTSPOT_COLORS: dict[str, str] = {
    "hot_99": "#b71c1c",
    "hot_95": "#e53935",
    "hot_90": "#ef9a9a",
    "not_significant": "#eceff1",
    "cold_90": "#90caf9",
    "cold_95": "#1e88e5",
    "cold_99": "#0d47a1",
}


def map_figure(
    table: pd.DataFrame,
    *,
    outlines=None,
    lang: str = "zh",
    width: int = 1000,
    height: int = 700,
    hover: bool = False,
    font_size: int = 14,
) -> go.Figure:
    """Areas filled by warning level, with a legend (绿/黄/橙/红 and the number of areas).

    Parameters
    ----------
    table : GeoDataFrame
        ``board.warning_table`` (area polygons in a projected CRS, ``level``).
    outlines : GeoDataFrame, optional
        Coarser areas (街道) drawn as outlines with their names, for orientation.
    """
    fig = go.Figure()
    _add_level_traces(fig, table, lang=lang, hover=hover)
    if outlines is not None and len(outlines):
        _add_outlines(fig, outlines, font_size=max(9, font_size - 3))
    _map_layout(fig, width=width, height=height, font_size=font_size, lang=lang)
    return fig


def plain_reason(observed: float, expected: float, yoy: float = float("nan"), lang: str = "zh") -> str:
    """The ranking's 说明 column: :func:`plain_sentence` without the area name."""
    text = plain_sentence("", observed, expected, yoy, lang)
    return text[2:] if lang == "en" and text.startswith(": ") else text


def board_figure(
    table: pd.DataFrame,
    facts: WeekFacts,
    summary_text: str,
    *,
    city: str,
    outlines=None,
    parents: Mapping[str, str] | None = None,
    lang: str = "zh",
    width: int = 1920,
    height: int = 1080,
    n_rank: int = 10,
) -> go.Figure:
    """The board on one canvas (大屏 / slide): map + legend, KPIs, top ranking, summary."""
    s = min(width / 1920, height / 1080)
    fs = round(18 * s)
    fig = go.Figure()
    _add_level_traces(fig, table, lang=lang, hover=False)
    if outlines is not None and len(outlines):
        _add_outlines(fig, outlines, font_size=round(12 * s))
    map_right = 0.55
    fig.update_layout(
        xaxis=dict(domain=[0.01, map_right], visible=False, scaleanchor="y", constrain="domain"),
        yaxis=dict(domain=[0.02, 0.86], visible=False, constrain="domain"),
        # Horizontal, between title and map, so it never covers an area.
        legend=dict(
            orientation="h", x=0.01, y=0.92, xanchor="left", yanchor="top",
            title=dict(text=t("brief.legend", lang)), font=dict(size=fs),
        ),
    )
    title = f"{_title(city, lang)}  ·  {week_title(facts.period, lang)}"
    _note(fig, title, x=0.01, y=0.985, size=round(34 * s), color=INK, anchor="top")
    _kpi_row(fig, facts, lang=lang, x0=map_right + 0.04, y=0.90, s=s, width=width)
    # Ranking table: the worst areas with the board's own numbers, in words (no P-values),
    # wrapped rather than cut.
    top = ranked_areas(table)
    top = top[top["level"] != "green"].head(n_rank)
    parents = dict(parents or {})
    col_px = (0.99 - map_right - 0.04) * width
    cell_px = round(14 * s)
    names = [display_name(a, n, parents) for a, n in zip(top["area_id"], top["name"])]
    plain = [plain_reason(o, e, y, lang) for o, e, y in
             zip(top["observed"], top["expected"], top.get("yoy", [np.nan] * len(top)))]
    cells = [
        [str(int(r)) for r in range(1, len(top) + 1)],
        [wrap_text(n, col_px * 2.2 / 9.2 - 8, cell_px) for n in names],
        [t(f"level.{lv}", lang) for lv in top["level"]],
        [f"{int(o)} / {usual_text(e)}" for o, e in zip(top["observed"], top["expected"])],
        [wrap_text(r, col_px * 4.2 / 9.2 - 8, cell_px) for r in plain],
    ]
    fills = [[BACKGROUND] * len(top)] * 2 + [[LEVEL_COLORS[lv] for lv in top["level"]]] + [
        [BACKGROUND] * len(top)
    ] * 2
    # Only the rows that fit the table's box: plotly would scroll (cut, in a PNG) the rest.
    lines = [max(col[i].count("<br>") + 1 for col in cells) for i in range(len(top))]
    room = 0.40 * height - 2 * round(30 * s)  # two header lines at most
    used = np.cumsum([n * round(27 * s) + 2 for n in lines])  # plotly: ~one row height per line
    keep = int((used <= room).sum())
    cells = [col[:keep] for col in cells]
    fills = [col[:keep] for col in fills]
    head = [t("brief.col.rank", lang), t("brief.col.area", lang), t("brief.col.level", lang),
            f"{t('brief.col.observed', lang)} / {t('brief.col.usual', lang)}",
            t("brief.col.plain", lang)]
    fig.add_trace(go.Table(
        domain=dict(x=[map_right + 0.04, 0.99], y=[0.30, 0.70]),
        columnwidth=[0.6, 2.2, 0.9, 1.3, 4.2],
        header=dict(values=head, fill_color="#eceff1", font=dict(size=round(15 * s), color=INK),
                    align="left", height=round(30 * s)),
        cells=dict(values=cells, fill_color=fills, font=dict(size=cell_px, color=INK),
                   align="left", height=round(27 * s), line=dict(color="#cfd8dc", width=1)),
    ))
    _note(fig, t("brief.sec.ranking", lang), x=map_right + 0.04, y=0.735, size=round(20 * s),
          color=INK, anchor="bottom")
    _note(fig, t("brief.sec.summary", lang), x=map_right + 0.04, y=0.265, size=round(20 * s),
          color=INK, anchor="bottom")
    avail_px = (0.99 - map_right - 0.04) * width
    body = wrap_text(summary_text, avail_px, round(17 * s))
    _note(fig, body, x=map_right + 0.04, y=0.255, size=round(17 * s), color=INK, anchor="top")
    fig.update_layout(
        width=width, height=height, margin=dict(l=0, r=0, t=0, b=0),
        paper_bgcolor=BACKGROUND, plot_bgcolor=BACKGROUND, font=dict(family=FONT_FAMILY, color=INK),
        showlegend=True,
    )
    return fig


def trend_figure(
    trends: Sequence[tuple[str, str, pd.DataFrame]],
    *,
    lang: str = "zh",
    width: int = 1100,
    height: int = 640,
    cols: int = 3,
) -> go.Figure:
    """Small multiples of observed vs. expected with the 95–99 % band, one per area.

    ``trends`` holds (title, level, ``board.trend`` frame) per area, worst first.
    """
    n = max(1, len(trends))
    rows = int(np.ceil(n / cols))
    titles = [f"{title}（{t(f'level.{lv}', lang)}）" if lang == "zh" else f"{title} ({lv})"
              for title, lv, _ in trends] or [""]
    fig = make_subplots(rows=rows, cols=min(cols, n), subplot_titles=titles,
                        horizontal_spacing=0.06, vertical_spacing=0.16 if rows > 1 else 0.1)
    for i, (_title, lv, frame) in enumerate(trends):
        r, c = i // cols + 1, i % cols + 1
        f = frame.sort_values("period")
        x = pd.to_datetime(f["period"])
        first = i == 0
        lo = f["q05"] if "q05" in f else pd.Series(0, index=f.index)
        # the usual range from its lower quantile (not from 0), then the high band above it
        fig.add_trace(go.Scatter(x=x, y=lo, mode="lines", line=dict(width=0),
                                 showlegend=False, hoverinfo="skip"), row=r, col=c)
        # thin edges keep a band visible where it is narrow (quiet areas: 0 to 0 or 1)
        fig.add_trace(go.Scatter(x=x, y=f["q95"], mode="lines",
                                 line=dict(width=0.8, color="rgba(67,160,71,0.7)"),
                                 fill="tonexty", fillcolor="rgba(67,160,71,0.18)",
                                 name=t("brief.trend.normal", lang), showlegend=first,
                                 legendgroup="normal"), row=r, col=c)
        fig.add_trace(go.Scatter(x=x, y=f["q99"], mode="lines",
                                 line=dict(width=0.8, color="rgba(251,140,0,0.8)"),
                                 fill="tonexty", fillcolor="rgba(251,140,0,0.25)",
                                 name=t("brief.trend.high", lang), showlegend=first,
                                 legendgroup="band"), row=r, col=c)
        fig.add_trace(go.Scatter(x=x, y=f["expected"], mode="lines",
                                 line=dict(color=MUTED, dash="dash", width=1.5),
                                 name=t("brief.trend.expected", lang), showlegend=first,
                                 legendgroup="exp"), row=r, col=c)
        colors = [LEVEL_COLORS.get(str(v), "#b0bec5") for v in f.get("level", ["green"] * len(f))]
        fig.add_trace(go.Scatter(x=x, y=f["observed"], mode="lines+markers",
                                 line=dict(color=INK, width=1.8),
                                 marker=dict(color=colors, size=6, line=dict(color=INK, width=0.5)),
                                 name=t("brief.trend.observed", lang), showlegend=first,
                                 legendgroup="obs"), row=r, col=c)
        del lv
    fig.update_xaxes(tickformat="%m-%d", showgrid=False, tickfont=dict(size=10))
    fig.update_yaxes(rangemode="tozero", gridcolor="#eceff1", tickfont=dict(size=10))
    fig.update_annotations(font=dict(size=13))
    fig.update_layout(
        width=width, height=height, margin=dict(l=40, r=10, t=40, b=30),
        paper_bgcolor=BACKGROUND, plot_bgcolor=BACKGROUND,
        font=dict(family=FONT_FAMILY, color=INK, size=12),
        legend=dict(orientation="h", x=0, y=-0.08, yanchor="top"),
    )
    return fig


def hotspot_figure(
    areas: pd.DataFrame,
    *,
    outlines=None,
    lang: str = "zh",
    width: int = 900,
    height: int = 640,
    hover: bool = False,
) -> go.Figure:
    """Areas coloured by Gi* class (hot 99/95/90 %, not significant, cold)."""
    fig = go.Figure()
    cls = areas["class"].astype(str)
    for name in HOTSPOT_COLORS:
        part = areas[cls == name]
        if not len(part):
            continue
        x, y = _rings_xy(part.geometry.values)
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="lines", fill="toself", fillcolor=HOTSPOT_COLORS[name],
            line=dict(color="#ffffff", width=0.4), name=f"{hot_label(name, lang)} ({len(part)})",
            hoverinfo="skip",
        ))
        if hover:
            _add_hover(fig, part, [f"{n}<br>z = {z:.2f}" for n, z in zip(part["name"], part["z"])])
    if outlines is not None and len(outlines):
        _add_outlines(fig, outlines, font_size=10)
    _map_layout(fig, width=width, height=height, font_size=13, lang=lang)
    fig.update_layout(legend_title_text=t("brief.col.class", lang),
                      legend_entrywidth=max(60, (width - 30) // 2))
    return fig


def hot_label(cls: str, lang: str = "zh") -> str:
    """Readable name of a Gi* class such as ``hot_99`` (热点 99%)."""
    kind, _, conf = cls.partition("_")
    if kind in ("hot", "cold") and conf.isdigit():
        return t(f"brief.hot.{kind}", lang, conf=conf)
    return t("brief.hot.ns", lang) if cls == "not_significant" else cls


def wrap_text(text: str, width_px: float, font_px: float) -> str:
    """Break ``text`` into ``<br>``-separated lines no wider than ``width_px``.

    Full-width (CJK) characters count one em, others about half; breaks prefer the
    position after Chinese punctuation or a space, so numbers are never split.
    """
    lines: list[str] = []
    line, used, last_break = "", 0.0, -1
    limit = width_px / font_px
    for ch in text:
        w = 1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.55
        if used + w > limit and line:
            if last_break > 0 and last_break > len(line) // 2:
                lines.append(line[:last_break].rstrip())
                line = line[last_break:].lstrip()
            else:
                lines.append(line)
                line = ""
            used = sum(1.0 if unicodedata.east_asian_width(c) in "WF" else 0.55 for c in line)
            last_break = -1
        line += ch
        used += w
        if ch in "，。；、,;. ）)":
            last_break = len(line)
    if line:
        lines.append(line)
    return "<br>".join(lines)


# -- helpers ------------------------------------------------------------------------------------
def _rings_xy(geoms) -> tuple[np.ndarray, np.ndarray]:
    """Exterior rings of (multi)polygons as x, y with NaN between rings (one trace, many shapes)."""
    geoms = np.asarray(geoms, dtype=object)
    if not len(geoms):
        return np.array([]), np.array([])
    parts = shapely.get_parts(geoms)
    rings = shapely.get_exterior_ring(parts)
    coords, idx = shapely.get_coordinates(rings, return_index=True)
    breaks = np.flatnonzero(np.diff(idx)) + 1
    x = np.insert(coords[:, 0], breaks, np.nan)
    y = np.insert(coords[:, 1], breaks, np.nan)
    return np.round(x, 1), np.round(y, 1)


def _add_level_traces(fig: go.Figure, table: pd.DataFrame, *, lang: str, hover: bool) -> None:
    levels = table["level"].astype(str)
    for lv in LEVELS:  # green first so red is drawn on top
        part = table[levels == lv]
        x, y = _rings_xy(part.geometry.values)
        fig.add_trace(go.Scatter(
            x=x if len(part) else [None], y=y if len(part) else [None], mode="lines",
            fill="toself", fillcolor=LEVEL_COLORS[lv], line=dict(color="#ffffff", width=0.5),
            name=f"{t(f'level.{lv}', lang)} ({len(part)})", hoverinfo="skip", legendrank=4 - LEVELS.index(lv),
        ))
        if hover and len(part):
            reason = part["reason_zh" if lang == "zh" else "reason_en"].astype(str)
            text = [f"<b>{n}</b><br>{t(f'level.{lv}', lang)} · {int(o)} / {e:.1f}<br>{r}"
                    for n, o, e, r in zip(part["name"], part["observed"], part["expected"], reason)]
            _add_hover(fig, part, text)


def _add_hover(fig: go.Figure, part: pd.DataFrame, text: list[str]) -> None:
    pts = shapely.point_on_surface(np.asarray(part.geometry.values, dtype=object))
    xy = shapely.get_coordinates(pts)
    fig.add_trace(go.Scatter(
        x=np.round(xy[:, 0], 1), y=np.round(xy[:, 1], 1), mode="markers",
        marker=dict(size=8, color="rgba(0,0,0,0)"), text=text, hoverinfo="text",
        showlegend=False,
    ))


def _add_outlines(fig: go.Figure, outlines, *, font_size: int) -> None:
    x, y = _rings_xy(outlines.geometry.values)
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line=dict(color=OUTLINE, width=1.3),
                             hoverinfo="skip", showlegend=False))
    pts = shapely.get_coordinates(shapely.point_on_surface(np.asarray(outlines.geometry.values, dtype=object)))
    fig.add_trace(go.Scatter(
        x=np.round(pts[:, 0], 1), y=np.round(pts[:, 1], 1), mode="text",
        text=list(outlines["name"].astype(str)), textfont=dict(size=font_size, color=INK),
        hoverinfo="skip", showlegend=False,
    ))


def _map_layout(fig: go.Figure, *, width: int, height: int, font_size: int, lang: str) -> None:
    fig.update_layout(
        width=width, height=height, margin=dict(l=5, r=5, t=5, b=round(3.4 * font_size)),
        paper_bgcolor=BACKGROUND, plot_bgcolor=BACKGROUND,
        font=dict(family=FONT_FAMILY, color=INK, size=font_size),
        xaxis=dict(visible=False, scaleanchor="y", constrain="domain"),
        yaxis=dict(visible=False, constrain="domain"),
        # Below the map, in the margin: beside the areas, never over them.
        # fixed entry widths: the legend wraps the same way in kaleido and in the printed SVG
        legend=dict(orientation="h", x=0.0, y=0.0, xanchor="left", yanchor="top",
                    entrywidthmode="pixels", entrywidth=max(60, (width - 30) // 4),
                    title=dict(text=t("brief.legend", lang), side="top left")),
        hovermode="closest", dragmode="pan",
    )


def _kpi_row(fig: go.Figure, facts: WeekFacts, *, lang: str, x0: float, y: float, s: float,
             width: int = 1920) -> None:
    """Four KPI blocks: 刑事发案, 同比, 环比, group (两抢一盗) — the board's figures."""
    tot = facts.total
    blocks = [
        (t("brief.kpi.total", lang), f"{tot.observed} {t('brief.unit.cases', lang)}"),
        (t("brief.kpi.yoy", lang), change_text(tot.yoy, lang)),
        (t("brief.kpi.mom", lang), change_text(tot.mom, lang)),
    ]
    if facts.group and facts.group_kpi is not None:
        g = facts.group_kpi
        blocks.append((label(facts.group, lang), f"{g.observed} {t('brief.unit.cases', lang)}"))
    step = (0.99 - x0) / len(blocks)
    for i, (name, value) in enumerate(blocks):
        x = x0 + i * step
        label_px = round(17 * s)
        _note(fig, wrap_text(name, step * width - 12 * s, label_px), x=x, y=y, size=label_px,
              color=MUTED, anchor="bottom")
        _note(fig, f"<b>{value}</b>", x=x, y=y - 0.005, size=round(30 * s), color=INK, anchor="top")
    counts = facts.counts
    chips = "   ".join(
        f"<span style='color:{LEVEL_COLORS[lv]}'>■</span> {t(f'level.{lv}', lang)} {counts.get(lv, 0)}"
        for lv in ("red", "orange", "yellow", "green")
    )
    _note(fig, f"{t('brief.kpi.levels', lang)}：{chips}" if lang == "zh"
          else f"{t('brief.kpi.levels', lang)}: {chips}", x=x0, y=y - 0.085, size=round(17 * s),
          color=INK, anchor="top")


def _note(fig: go.Figure, text: str, *, x: float, y: float, size: int, color: str, anchor: str) -> None:
    fig.add_annotation(text=text, x=x, y=y, xref="paper", yref="paper", showarrow=False,
                       xanchor="left", yanchor=anchor, align="left",
                       font=dict(size=size, color=color, family=FONT_FAMILY))


def _title(city: str, lang: str) -> str:
    """「示范市平安预警周报」, or 「平安预警周报」 when the workspace has no city name."""
    return t("brief.title", lang, city=city) if city else t("brief.title_plain", lang)
