"""The weekly briefing (周报): one call gives the board as PNG, a PDF and an offline HTML.

:func:`make_brief` reads every number from the board façade (``analytics.service.board``: the
warning table, the KPIs, the trends) and the Gi* hot spots (``analytics.hotspots``), so the
briefing shows exactly what the app shows; it never recomputes a count. Output for week P:

- ``brief_P_1920x1080.png``  the board for slides and the 大屏
- ``brief_P_a4.png``         the board at A4 landscape, 3508×2480 (300 dpi)
- ``brief_P.pdf``            A4 landscape pages: map + KPIs + summary, ranking with reasons,
                             trends of red/orange areas, hot spots, changes since last week
- ``brief_P.html``           the same report with interactive charts, opens offline
- ``brief_P.txt``            the summary in Chinese and English

Everything is deterministic: same workspace and week → same text, same PNG pixels, same PDF.

Examples
--------
>>> paths = make_brief(Workspace("workspace"), out="briefing")       # doctest: +SKIP
>>> sorted(paths)                                                    # doctest: +SKIP
['html', 'pdf', 'png', 'png_a4', 'summary']
"""

from __future__ import annotations

import tempfile
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.present.brief_figures import (
    board_figure,
    hot_label,
    hotspot_figure,
    map_figure,
    trend_figure,
)
from analytics.present.brief_html import Section, Table, fix_svg_ids, render_document
from analytics.present.brief_render import FigureRenderer, normalise_pdf, print_pdf
from analytics.present.brief_text import (
    Kpi,
    WeekFacts,
    change_text,
    display_name,
    ranked_areas,
    summary,
    week_facts,
    week_label,
)
from analytics.present.i18n import label, t
from data.taxonomy import ALL

__all__ = ["deliver_brief", "make_brief", "BriefData", "gather", "render_brief", "GROUP", "TIMINGS"]

#: The reported group next to all cases (两抢一盗), when the workspace's taxonomy has it.
GROUP = "两抢一盗"

#: Seconds spent in each stage of the last :func:`make_brief` call (for the benchmark).
TIMINGS: dict[str, float] = {}

_N_TRENDS = 6
_N_RANK = 20
_N_LIST = 12
_TREND_PERIODS = 13  # a quarter; the board's one-step-ahead trend costs ~linear in this
_HOT_WEEKS = 4


@dataclass
class BriefData:
    """Everything the briefing shows, gathered from the board façade (no figures yet)."""

    city: str
    period: pd.Timestamp
    table: pd.DataFrame
    facts: WeekFacts
    previous: pd.DataFrame | None = None
    parents: dict[str, str] = field(default_factory=dict)
    outlines: object | None = None
    trends: list[tuple[str, str, pd.DataFrame]] = field(default_factory=list)
    hotspots: pd.DataFrame | None = None
    hot_window: tuple[pd.Timestamp, pd.Timestamp] | None = None
    attribution: str = ""
    timezone: str = "Asia/Shanghai"


def deliver_brief(svc, week=None, lang: str = "zh") -> dict[str, str]:
    """Make the week's briefing for a signed-in user; returns ``{kind: download id}``.

    The briefing is city-wide, so the role must allow ``brief`` (not ``grid``). Briefings render
    one at a time per process — each drives a headless Chromium; four at once reached 5.9 GB —
    and later requests wait their turn. The files stay on the server; the page gets opaque ids
    that only this user can redeem (:meth:`analytics.service.Service.download`).
    """
    svc.require("brief")
    if lang not in ("zh", "en"):
        raise ValueError(f"lang {lang!r}: expected zh or en")
    period = _resolve_week(svc.ws, week)
    out = svc.ws.path / "briefs" / f"{period.date()}-{lang}"
    with _BRIEF_SLOT:
        paths = make_brief(svc.ws, week=period, out=out, lang=lang)
    svc.record("brief", f"week {period.date()} ({lang})")
    return {k: svc.offer(p) for k, p in paths.items() if Path(p).is_file()}


def make_brief(ws, *, week: str | pd.Timestamp | None = None, out: str | Path,
               lang: str = "zh") -> dict[str, Path]:
    """Write the weekly briefing of ``week`` (default: the latest complete week) into ``out``.

    Parameters
    ----------
    ws : Workspace
    week : str or Timestamp, optional
        Any day of the week (weeks start on Monday), e.g. ``"2024-03-04"``.
    out : str or Path
        Output folder (created).
    lang : {"zh", "en"}
        Language of the PNGs and of the first summary (the PDF/HTML carry both summaries).

    Returns
    -------
    dict of str to Path
        ``png`` (1920×1080), ``png_a4`` (3508×2480), ``pdf``, ``html``, ``summary``.

    Raises
    ------
    ValueError
        If ``week`` is not a date or not a week with data in the workspace.
    """
    TIMINGS.clear()
    t0 = time.perf_counter()
    period = _resolve_week(ws, week)  # a wrong --week fails before any browser starts
    # Start the browser now: it launches in kaleido's thread while we read the board.
    with FigureRenderer() as renderer:
        data = gather(ws, week=period)
        TIMINGS["gather"] = time.perf_counter() - t0
        paths = render_brief(data, out, lang=lang, renderer=renderer)
    TIMINGS["total"] = time.perf_counter() - t0
    return paths


#: One briefing render at a time per process (see :func:`deliver_brief`).
_BRIEF_SLOT = threading.Lock()


def gather(ws, *, week: str | pd.Timestamp | None = None) -> BriefData:
    """Read the week's warning table, KPIs, trends and hot spots from the board façade."""
    from analytics.service import board

    period = _resolve_week(ws, week)
    table = board.warning_table(ws, period=period, freq="W", category=ALL)
    layer = str(table["level_name"].iloc[0]) if len(table) else "grid"
    previous = None
    prev_period = period - pd.Timedelta(days=7)
    if prev_period in set(pd.DatetimeIndex(board.periods(ws, "W"))):
        previous = board.warning_table(ws, level=layer, period=prev_period, freq="W", category=ALL)
    cfg = ws.config
    total = Kpi.from_board(board.kpis(ws, period=period, freq="W", category=ALL, level=layer))
    group = GROUP if GROUP in cfg.taxonomy.groups else None
    group_kpi = None
    if group:
        group_kpi = Kpi.from_board(board.kpis(ws, period=period, freq="W", category=group, level=layer))
    parents, outlines = _context(ws, table, layer)
    facts = week_facts(period=period, table=table, total=total, previous=previous, group=group,
                       group_kpi=group_kpi, parents=parents)
    trends = []
    worst = ranked_areas(table)
    worst = worst[worst["level"].isin(["red", "orange"])].head(_N_TRENDS)
    for r in worst.itertuples():
        frame = board.trend(ws, area_id=r.area_id, category=ALL, freq="W", n_periods=_TREND_PERIODS)
        frame = frame[pd.to_datetime(frame["period"]) <= period]
        trends.append((display_name(r.area_id, r.name, parents), str(r.level), frame))
    hot, window = _hotspots(ws, table, layer, period)
    return BriefData(
        city=cfg.name, period=period, table=table, facts=facts, previous=previous,
        parents=parents, outlines=outlines, trends=trends, hotspots=hot, hot_window=window,
        attribution=cfg.attribution, timezone=cfg.timezone,
    )


def render_brief(data: BriefData, out: str | Path, *, lang: str = "zh",
                 renderer: FigureRenderer | None = None) -> dict[str, Path]:
    """Render gathered :class:`BriefData` to PNG, PDF, HTML and text files in ``out``.

    ``renderer`` is an open :class:`FigureRenderer` to reuse (else one is opened here).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"brief_{data.period:%Y-%m-%d}"
    texts = {lg: summary(data.facts, lg) for lg in ("zh", "en")}
    paths = {
        "png": out / f"{stem}_1920x1080.png", "png_a4": out / f"{stem}_a4.png",
        "pdf": out / f"{stem}.pdf", "html": out / f"{stem}.html", "summary": out / f"{stem}.txt",
    }
    paths["summary"].write_text(f"{texts['zh']}\n\n{texts['en']}\n", encoding="utf-8")
    figures = _figures(data, lang, hover=False)
    t0 = time.perf_counter()
    with nullcontext(renderer) if renderer is not None else FigureRenderer() as r:
        TIMINGS["kaleido_start"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        for key, (w, h, scale) in {"png": (1920, 1080, 1), "png_a4": (1754, 1240, 2)}.items():
            fig = board_figure(data.table, data.facts, texts[lang], city=data.city,
                               outlines=data.outlines, parents=data.parents, lang=lang,
                               width=w, height=h)
            r.write_png(fig, paths[key], width=w, height=h, scale=scale)
        TIMINGS["png"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        svgs = {k: fix_svg_ids(r.svg(f), k) for k, f in figures.items()}
        TIMINGS["svg"] = time.perf_counter() - t1
    title = t("brief.title", lang, city=data.city)
    heading = f"{title} · {week_label(data.period, lang)}"
    footer = t("brief.source", lang, source=data.attribution) if data.attribution else ""
    doc = dict(title=heading, heading=heading, footer=footer, lang=lang)
    t1 = time.perf_counter()
    live = _sections(data, texts, _figures(data, lang, hover=True), lang)
    paths["html"].write_text(render_document(live, interactive=True, **doc), encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="pingan-brief-") as tmp:
        page = Path(tmp) / f"{stem}.html"
        printed = _sections(data, texts, figures, lang)
        page.write_text(render_document(printed, svgs=svgs, **doc), encoding="utf-8")
        print_pdf(page, paths["pdf"])
    normalise_pdf(paths["pdf"], title=heading, subject=texts[lang], date=_pdf_date(data))
    TIMINGS["pdf_html"] = time.perf_counter() - t1
    return paths


# -- pieces ---------------------------------------------------------------------------------------
def _resolve_week(ws, week) -> pd.Timestamp:
    from analytics.service import board

    if week is None:
        return pd.Timestamp(board.latest_period(ws, "W"))
    try:
        day = pd.Timestamp(week)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"--week {week!r}: not a date (expected YYYY-MM-DD)") from exc
    monday = (day - pd.Timedelta(days=day.weekday())).normalize()
    known = pd.DatetimeIndex(board.periods(ws, "W"))
    if monday not in set(known):
        span = f"{known.min():%Y-%m-%d} … {known.max():%Y-%m-%d}" if len(known) else "none"
        raise ValueError(f"--week {week!r}: week of {monday:%Y-%m-%d} has no data (weeks: {span})")
    return monday


def _context(ws, table: pd.DataFrame, layer: str) -> tuple[dict[str, str], object | None]:
    """Subdistrict (街道) name of every area, and the outlines to draw over the map."""
    layers = ws.layers()
    target = "subdistrict" if layer not in ("subdistrict", "district") else "district"
    if target not in layers or layer == target:
        return {}, None
    frames = [pd.DataFrame(ws.areas(lv)[["area_id", "parent_id", "name"]]) for lv in layers
              if lv in ("district", "subdistrict", "community", "grid")]
    allareas = pd.concat(frames, ignore_index=True).drop_duplicates("area_id")
    parent = allareas.set_index("area_id")["parent_id"]
    outlines = ws.areas(target)
    target_ids = set(outlines["area_id"])
    ids = pd.Series(table["area_id"].to_numpy(), index=table["area_id"].to_numpy())
    cur = ids.copy()
    found = pd.Series(index=ids.index, dtype=object)
    for _ in range(4):  # at most grid → community → subdistrict → district
        hit = cur.isin(target_ids) & found.isna()
        found[hit] = cur[hit]
        cur = cur.map(parent)
    names = outlines.set_index("area_id")["name"].astype(str)
    parents = found.dropna().map(names).dropna().astype(str).to_dict()
    tol = max(float(np.sqrt(outlines.area.median())) / 200.0, 1.0)
    outlines = outlines[["area_id", "name", "geometry"]].copy()
    outlines["geometry"] = outlines.geometry.simplify(tol)
    return parents, outlines


def _hotspots(ws, table, layer: str, period: pd.Timestamp):
    """Gi* over the last four weeks ending with ``period`` (analytics.hotspots), names attached."""
    from analytics.service.hotspots import run_hotspots

    start = period - pd.Timedelta(weeks=_HOT_WEEKS - 1)
    end = period + pd.Timedelta(days=6)
    hs = run_hotspots(ws, "gistar", layer=layer, category=ALL, start=f"{start:%Y-%m-%d}",
                      end=f"{end:%Y-%m-%d}", seed=12345, permutations=199)
    hs = pd.DataFrame(hs.drop(columns="geometry", errors="ignore"))[["area_id", "z", "p", "p_fdr", "class"]]
    merged = table[["area_id", "name", "geometry"]].merge(hs, on="area_id", how="inner")
    return merged, (start, end)


def _figures(data: BriefData, lang: str, *, hover: bool) -> dict:
    """Figures of the report; ``hover`` adds per-area hover points (interactive HTML only —
    in print they would only cost time)."""
    figs = {"fig_map": map_figure(data.table, outlines=data.outlines, lang=lang, width=620,
                                  height=600, hover=hover, font_size=12)}
    if data.trends:
        rows = int(np.ceil(len(data.trends) / 3))
        figs["fig_trend"] = trend_figure(data.trends, lang=lang, width=1040, height=250 + 260 * (rows - 1))
    if data.hotspots is not None and len(data.hotspots):
        figs["fig_hot"] = hotspot_figure(data.hotspots, outlines=data.outlines, lang=lang,
                                         width=500, height=470, hover=hover)
    return figs


def _sections(data: BriefData, texts: dict[str, str], figures: dict, lang: str) -> list[Section]:
    f = data.facts
    kpis = [(t("brief.kpi.total", lang), f"{f.total.observed} {t('brief.unit.cases', lang)}"),
            (t("brief.kpi.yoy", lang), change_text(f.total.yoy, lang)),
            (t("brief.kpi.mom", lang), change_text(f.total.mom, lang))]
    if f.group and f.group_kpi is not None:
        g = label(f.group, lang)
        kpis += [(g, f"{f.group_kpi.observed} {t('brief.unit.cases', lang)}"),
                 (f"{g} {t('brief.kpi.yoy', lang)}", change_text(f.group_kpi.yoy, lang)),
                 (f"{g} {t('brief.kpi.mom', lang)}", change_text(f.group_kpi.mom, lang))]
    kpis += [(t(f"level.{lv}", lang), str(f.counts.get(lv, 0))) for lv in ("red", "orange", "yellow", "green")]
    other = "en" if lang == "zh" else "zh"
    secs = [Section(t("brief.sec.summary", lang), paragraphs=[texts[lang]], kpis=kpis,
                    figure=figures["fig_map"], figure_id="fig_map", side=True)]
    secs.append(Section(t("brief.sec.ranking", lang), table=_ranking_table(data, lang), page_break=True))
    if "fig_trend" in figures:
        secs.append(Section(t("brief.sec.trends", lang), figure=figures["fig_trend"],
                            figure_id="fig_trend", page_break=True))
    hot = Section(t("brief.sec.hotspots", lang), page_break=True)
    if "fig_hot" in figures:
        hot.figure, hot.figure_id, hot.side = figures["fig_hot"], "fig_hot", True
        hot.table = _hot_table(data, lang)
        a, b = data.hot_window
        hot.paragraphs = [t("brief.hot.window", lang, start=f"{a:%Y-%m-%d}", end=f"{b:%Y-%m-%d}")]
    else:
        hot.paragraphs = [t("brief.hot.none", lang)]
    secs.append(hot)
    changes = Section(t("brief.sec.changes", lang), lists=[
        (f"{t('brief.new_red', lang)}（{len(f.new_red)}）", _capped(f.new_red, lang)),
        (f"{t('brief.back_green', lang)}（{len(f.back_green)}）", _capped(f.back_green, lang)),
    ])
    if data.previous is None:
        changes.paragraphs = [t("brief.change.na", lang)]
    secs.append(changes)
    secs.append(Section(t("brief.english", lang) if lang == "zh" else "中文概要", paragraphs=[texts[other]]))
    return secs


def _capped(names: tuple[str, ...], lang: str) -> list[str]:
    """At most _N_LIST names (worst first), then 「等 N 个」 — the full lists are in the HTML table."""
    if not names:
        return [t("brief.none", lang)]
    head = list(names[:_N_LIST])
    if len(names) > _N_LIST:
        head.append(t("brief.more", lang, n=len(names) - _N_LIST))
    return head


def _ranking_table(data: BriefData, lang: str) -> Table:
    top = ranked_areas(data.table)
    top = top[top["level"] != "green"].head(_N_RANK)
    if not len(top):
        top = ranked_areas(data.table).head(5)
    reason = "reason_zh" if lang == "zh" else "reason_en"
    rows = [[str(i + 1), str(r.name), data.parents.get(r.area_id, ""), t(f"level.{r.level}", lang),
             str(int(r.observed)), f"{r.expected:.1f}", change_text(_f(r, "yoy"), lang),
             change_text(_f(r, "mom"), lang), str(getattr(r, reason, ""))]
            for i, r in enumerate(top.itertuples())]
    header = [t("brief.col.rank", lang), t("brief.col.area", lang), t("brief.col.parent", lang),
              t("brief.col.level", lang), t("brief.col.observed", lang), t("brief.col.expected", lang),
              t("brief.kpi.yoy", lang), t("brief.kpi.mom", lang), t("brief.col.reason", lang)]
    return Table(header, rows, level_col=3, levels=[str(v) for v in top["level"]])


def _hot_table(data: BriefData, lang: str, n: int = 12) -> Table:
    hs = pd.DataFrame(data.hotspots.drop(columns="geometry"))
    hs = hs[hs["class"].astype(str).str.startswith("hot")]
    hs = hs.sort_values(["z", "area_id"], ascending=[False, True], kind="mergesort").head(n)
    hs = hs.rename(columns={"class": "klass"})
    rows = [[str(i + 1), display_name(r.area_id, r.name, data.parents), f"{r.z:.2f}",
             f"{r.p:.3f}", f"{r.p_fdr:.3f}", hot_label(str(r.klass), lang)]
            for i, r in enumerate(hs.itertuples())]
    if not rows:
        rows = [["", t("brief.hot.none", lang), "", "", "", ""]]
    header = [t("brief.col.rank", lang), t("brief.col.area", lang), t("brief.col.z", lang), "p",
              t("brief.col.p_fdr", lang), t("brief.col.class", lang)]
    return Table(header, rows)


def _f(row, name: str) -> float:
    v = getattr(row, name, np.nan)
    return float(v) if v is not None and pd.notna(v) else float("nan")


def _pdf_date(data: BriefData) -> str:
    """The Monday after the week, 08:00 local — fixed, so reruns give the same PDF."""
    day = (data.period + pd.Timedelta(days=7)).replace(hour=8)
    off = pd.Timestamp(day).tz_localize(data.timezone).utcoffset() or pd.Timedelta(0)
    mins = int(off.total_seconds() // 60)
    sign = "+" if mins >= 0 else "-"
    return f"D:{day:%Y%m%d%H%M%S}{sign}{abs(mins) // 60:02d}'{abs(mins) % 60:02d}'"
