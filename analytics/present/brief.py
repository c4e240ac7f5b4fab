"""The weekly briefing (周报): one call gives the board as PNG, a PDF, an offline HTML, Word and Excel.

:func:`make_brief` reads every number from the board façade (``analytics.service.board``: the
warning table, the KPIs, the trends) and the Gi* hot spots (``analytics.hotspots``), so the
briefing shows exactly what the app shows; it never recomputes a count. Output for week P:

- ``brief_P_1920x1080.png``  the board for slides and the 大屏
- ``brief_P_a4.png``         the board at A4 landscape, 3508×2480 (300 dpi)
- ``brief_P.pdf``            A4 landscape pages, numbered, headed with 第N周: a leader page in plain
                             words (map + KPIs + summary + places to watch, no P-values), the
                             ranking with reasons in words, trends of red/orange areas with their
                             usual range and changes since last week, hot spots, and a statistics
                             appendix (P, FDR, the chance figures)
- ``brief_P.html``           the same report with interactive charts, opens offline
- ``brief_P.docx``           the same report, editable in Word / WPS (charts as PNG)
- ``brief_P.xlsx``           the full ranking as a spreadsheet (values only, formulas neutralised)
- ``brief_P.txt``            the summary in Chinese and English

All text is in the brief's language (``lang``); areas are named by
:func:`analytics.service.names.display_names`, never by a raw generated-cell id.

Everything is deterministic: same workspace and week → same text, same PNG pixels, same PDF.

Examples
--------
>>> paths = make_brief(Workspace("workspace"), out="briefing")       # doctest: +SKIP
>>> sorted(paths)                                                    # doctest: +SKIP
['docx', 'html', 'pdf', 'png', 'png_a4', 'summary', 'xlsx']
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.hotspots.inference import hot_cold_class
from analytics.present.brief_figures import (
    board_figure,
    hot_label,
    hotspot_figure,
    map_figure,
    plain_reason,
    trend_figure,
)
from analytics.present.brief_html import Section, Table, fix_svg_ids, render_document
from analytics.present.brief_office import write_docx, write_xlsx
from analytics.present.brief_render import FigureRenderer, normalise_pdf, print_pdf
from analytics.present.brief_text import (
    Kpi,
    WeekFacts,
    change_text,
    display_name,
    plain_lines,
    ranked_areas,
    summary,
    usual_text,
    week_facts,
    week_title,
)
from analytics.present.i18n import label, t
from analytics.service.ranking import change_text as rank_change
from data.taxonomy import ALL

__all__ = ["deliver_brief", "make_brief", "BriefData", "gather", "render_brief", "GROUP", "TIMINGS"]

#: The reported group next to all cases (两抢一盗), when the workspace's taxonomy has it.
GROUP = "两抢一盗"

#: Seconds spent in each stage of the last :func:`make_brief` call (for the benchmark).
TIMINGS: dict[str, float] = {}

_N_TRENDS = 6
_N_RANK = 20
_N_LIST = 9
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
    model: str = ""
    monthly: pd.DataFrame | None = None  # 一月一排位 of the latest complete month (display form)
    parent_level: str = "subdistrict"  # the level named in the ranking's 所属 column (街道, 区, 派出所 …)


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
               lang: str = "zh", level: str | None = None,
               progress: Callable[[float, str], None] | None = None) -> dict[str, Path]:
    """Write the weekly briefing of ``week`` (default: the latest complete week) into ``out``.

    Parameters
    ----------
    ws : Workspace
    week : str or Timestamp, optional
        Any day of the week (weeks start on Monday), e.g. ``"2024-03-04"``.
    out : str or Path
        Output folder (created).
    lang : {"zh", "en"}
        Language of every file but ``summary`` (which holds both).
    level : str, optional
        Area layer to brief (default: the board's, :func:`analytics.service.board.default_level`).
    progress : callable, optional
        ``progress(fraction, label)``, called as each stage starts and once with 1.0 at the end.

    Returns
    -------
    dict of str to Path
        ``png`` (1920×1080), ``png_a4`` (3508×2480), ``pdf``, ``html``, ``docx``, ``xlsx``,
        ``summary``.

    Raises
    ------
    ValueError
        If ``week`` is not a date or not a week with data in the workspace.
    """
    TIMINGS.clear()
    if lang not in ("zh", "en"):
        raise ValueError(f"--lang {lang!r}: expected zh or en")
    t0 = time.perf_counter()
    period = _resolve_week(ws, week)  # a wrong --week fails before any browser starts
    # Start the browser now: it launches in kaleido's thread while we read the board.
    if progress is not None:
        progress(0.0, "gather")
    with FigureRenderer() as renderer:
        data = gather(ws, week=period, level=level, lang=lang)
        TIMINGS["gather"] = time.perf_counter() - t0
        paths = render_brief(data, out, lang=lang, renderer=renderer, progress=progress)
    TIMINGS["total"] = time.perf_counter() - t0
    return paths


#: One briefing render at a time per process (see :func:`deliver_brief`).
_BRIEF_SLOT = threading.Lock()


def gather(ws, *, week: str | pd.Timestamp | None = None, level: str | None = None,
           lang: str = "zh") -> BriefData:
    """Read the week's warning table, KPIs, trends and hot spots from the board façade.

    Area names are the display names of :func:`analytics.service.names.display_names` (in
    ``lang``), so no raw generated-cell id reaches the briefing.
    """
    from analytics.service import board
    from analytics.service.names import display_names

    period = _resolve_week(ws, week)
    table = board.warning_table(ws, level=level, period=period, freq="W", category=ALL)
    layer = str(table["level_name"].iloc[0]) if len(table) else (level or "grid")
    names = display_names(ws, layer, lang)
    table["name"] = table["area_id"].astype(str).map(names).fillna(table["name"].astype(str))
    previous = None
    prev_period = period - pd.Timedelta(days=7)
    if prev_period in set(pd.DatetimeIndex(board.periods(ws, "W"))):
        previous = board.warning_table(ws, level=layer, period=prev_period, freq="W", category=ALL)
        previous["name"] = previous["area_id"].astype(str).map(names).fillna(previous["name"].astype(str))
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
    city = str(cfg.name or "").strip()
    monthly = _monthly(ws, layer, period, lang)
    parent_level = outlines.attrs.get("level", "subdistrict") if outlines is not None else "subdistrict"
    return BriefData(monthly=monthly, parent_level=parent_level,
        city="" if city.lower() in ("", "pingan") else city, period=period, table=table, facts=facts, previous=previous,
        parents=parents, outlines=outlines, trends=trends, hotspots=hot, hot_window=window,
        attribution=cfg.attribution, timezone=cfg.timezone, model=str(table.attrs.get("model", "")),
    )


def render_brief(data: BriefData, out: str | Path, *, lang: str = "zh",
                 renderer: FigureRenderer | None = None,
                 progress: Callable[[float, str], None] | None = None) -> dict[str, Path]:
    """Render gathered :class:`BriefData` to PNG, PDF, HTML, Word, Excel and text files in ``out``.

    ``renderer`` is an open :class:`FigureRenderer` to reuse (else one is opened here);
    ``progress(fraction, label)`` is told each stage (fractions 0.3 … 1.0, rendering after gathering).
    """
    step = progress if progress is not None else (lambda fraction, label: None)
    from analytics.present.brief_figures import _title

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"brief_{data.period:%Y-%m-%d}"
    texts = {lg: summary(data.facts, lg) for lg in ("zh", "en")}
    paths = {
        "png": out / f"{stem}_1920x1080.png", "png_a4": out / f"{stem}_a4.png",
        "pdf": out / f"{stem}.pdf", "html": out / f"{stem}.html", "docx": out / f"{stem}.docx",
        "xlsx": out / f"{stem}.xlsx", "summary": out / f"{stem}.txt",
    }
    paths["summary"].write_text(f"{texts['zh']}\n\n{texts['en']}\n", encoding="utf-8")
    step(0.3, "figures")
    figures = _figures(data, lang, hover=False)
    title = _title(data.city, lang)
    heading = f"{title} · {week_title(data.period, lang)}"
    footer = t("brief.source", lang, source=data.attribution) if data.attribution else ""
    t0 = time.perf_counter()
    with nullcontext(renderer) if renderer is not None else FigureRenderer() as r, \
            tempfile.TemporaryDirectory(prefix="pingan-brief-") as tmp:
        TIMINGS["kaleido_start"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        step(0.35, "png")
        for key, (w, h, scale) in {"png": (1920, 1080, 1), "png_a4": (1754, 1240, 2)}.items():
            fig = board_figure(data.table, data.facts, texts[lang], city=data.city,
                               outlines=data.outlines, parents=data.parents, lang=lang,
                               width=w, height=h)
            r.write_png(fig, paths[key], width=w, height=h, scale=scale)
        TIMINGS["png"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        step(0.5, "svg")
        svgs = {k: fix_svg_ids(r.svg(f), k) for k, f in figures.items()}
        TIMINGS["svg"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        images = {}
        step(0.6, "docx/xlsx")
        for k, f in figures.items():  # the Word file's charts
            images[k] = r.write_png(f, Path(tmp) / f"{k}.png", width=f.layout.width,
                                    height=f.layout.height, scale=2)
        printed = _sections(data, texts, figures, lang)
        write_docx(paths["docx"], printed, title=heading, heading=heading, footer=footer, lang=lang,
                   images=images, page_label=t("brief.page", lang, page="{page}", pages="{pages}"))
        write_xlsx(paths["xlsx"], _ranking_frame(data, lang), sheet=t("brief.sheet.ranking", lang),
                   more={t("brief.sheet.monthly", lang): data.monthly} if data.monthly is not None else None)
        TIMINGS["office"] = time.perf_counter() - t1
        doc = dict(title=heading, heading=heading, footer=footer, lang=lang)
        t1 = time.perf_counter()
        step(0.75, "html/pdf")
        live = _sections(data, texts, _figures(data, lang, hover=True), lang)
        paths["html"].write_text(render_document(live, interactive=True, **doc), encoding="utf-8")
        page = Path(tmp) / f"{stem}.html"
        page.write_text(render_document(printed, svgs=svgs, **doc), encoding="utf-8")
        print_pdf(page, paths["pdf"])
    normalise_pdf(paths["pdf"], title=heading, subject=texts[lang], date=_pdf_date(data))
    TIMINGS["pdf_html"] = time.perf_counter() - t1
    step(1.0, "done")
    return paths


# -- pieces ---------------------------------------------------------------------------------------
def _resolve_week(ws, week) -> pd.Timestamp:
    from analytics.service import board

    if week is None or week == board.PARTIAL:  # the brief covers complete weeks only
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
    """Subdistrict (街道, or the 派出所 of a police layer) name of every area, and the outlines to
    draw over the map."""
    from data.hierarchies import hierarchies, hierarchy_of

    chain = hierarchies(ws).get(hierarchy_of(ws, layer) or "admin", [])  # a generated grid: admin's
    pos = chain.index(layer) if layer in chain else len(chain)
    target = chain[1] if pos > 1 and len(chain) > 1 else (chain[0] if chain else None)
    if target is None or layer == target:
        return {}, None
    frames = [pd.DataFrame(ws.areas(lv)[["area_id", "parent_id", "name"]]) for lv in chain]
    allareas = pd.concat(frames, ignore_index=True).drop_duplicates("area_id")
    parent = allareas.set_index("area_id")["parent_id"]
    outlines = ws.areas(target)
    target_ids = set(outlines["area_id"])
    ids = pd.Series(table["area_id"].to_numpy(), index=table["area_id"].to_numpy())
    cur = ids.copy()
    found = pd.Series(index=ids.index, dtype=object)
    for _ in range(len(chain)):  # at most grid → community → subdistrict → district
        hit = cur.isin(target_ids) & found.isna()
        found[hit] = cur[hit]
        cur = cur.map(parent)
    names = outlines.set_index("area_id")["name"].astype(str)
    parents = found.dropna().map(names).dropna().astype(str).to_dict()
    tol = max(float(np.sqrt(outlines.area.median())) / 200.0, 1.0)
    outlines = outlines[["area_id", "name", "geometry"]].copy()
    outlines["geometry"] = outlines.geometry.simplify(tol)
    outlines.attrs["level"] = target  # 街道, or 区 / 派出所 …: named in the ranking's 所属 column
    return parents, outlines


def _hotspots(ws, table, layer: str, period: pd.Timestamp):
    """Gi* over the last four weeks ending with ``period`` (analytics.hotspots), names attached."""
    from analytics.service.hotspots import run_hotspots

    start = period - pd.Timedelta(weeks=_HOT_WEEKS - 1)
    end = period + pd.Timedelta(days=6)
    hs = run_hotspots(ws, "gistar", layer=layer, category=ALL, start=f"{start:%Y-%m-%d}",
                      end=f"{end:%Y-%m-%d}", seed=12345, permutations=199)
    hs = pd.DataFrame(hs.drop(columns="geometry", errors="ignore"))[["area_id", "z", "p", "p_fdr", "class"]]
    # The brief's classes use the BH-adjusted p, so 「热点（99%）」 stands beside p(FDR) <= 0.01.
    hs["class"] = hot_cold_class(hs["z"].to_numpy(float), hs["p_fdr"].to_numpy(float))
    merged = table[["area_id", "name", "geometry"]].merge(hs, on="area_id", how="inner")
    return merged, (start, end)


def _figures(data: BriefData, lang: str, *, hover: bool) -> dict:
    """Figures of the report; ``hover`` adds per-area hover points (interactive HTML only —
    in print they would only cost time)."""
    figs = {"fig_map": map_figure(data.table, outlines=data.outlines, lang=lang, width=620,
                                  height=560, hover=hover, font_size=12)}
    if data.trends:
        rows = int(np.ceil(len(data.trends) / 3))
        figs["fig_trend"] = trend_figure(data.trends, lang=lang, width=1040, height=250 + 200 * (rows - 1))
    if data.hotspots is not None and len(data.hotspots):
        figs["fig_hot"] = hotspot_figure(data.hotspots, outlines=data.outlines, lang=lang,
                                         width=500, height=470, hover=hover)
    return figs


def _sections(data: BriefData, texts: dict[str, str], figures: dict, lang: str) -> list[Section]:
    """The report, in ``lang`` only: leader page, ranking, trends + changes, hot spots, appendix."""
    f = data.facts
    unit = t("brief.unit.cases", lang)
    kpis = [(t("brief.kpi.total", lang), f"{f.total.observed} {unit}"),
            (t("brief.kpi.yoy", lang), change_text(f.total.yoy, lang)),
            (t("brief.kpi.mom", lang), change_text(f.total.mom, lang))]
    if f.group and f.group_kpi is not None:
        g = label(f.group, lang)
        kpis += [(g, f"{f.group_kpi.observed} {unit}"),
                 (f"{g} {t('brief.kpi.yoy', lang)}", change_text(f.group_kpi.yoy, lang)),
                 (f"{g} {t('brief.kpi.mom', lang)}", change_text(f.group_kpi.mom, lang))]
    kpis += [(t(f"level.{lv}", lang), str(f.counts.get(lv, 0))) for lv in ("red", "orange")]
    watch = plain_lines(data.table, data.parents, lang)
    leader = Section(t("brief.sec.summary", lang), paragraphs=[texts[lang]], kpis=kpis,
                     figure=figures["fig_map"], figure_id="fig_map", side=True, list_columns=1)
    if watch:
        leader.lists = [(t("brief.sec.leader", lang), watch)]
    else:
        leader.paragraphs.append(t("brief.plain.none", lang))
    secs = [leader, Section(t("brief.sec.ranking", lang), table=_ranking_table(data, lang), page_break=True)]
    changes = Section(t("brief.sec.changes", lang), lists=[
        (f"{t('brief.new_red', lang)}（{len(f.new_red)}）" if lang == "zh"
         else f"{t('brief.new_red', lang)} ({len(f.new_red)})", _capped(f.new_red, lang)),
        (f"{t('brief.back_green', lang)}（{len(f.back_green)}）" if lang == "zh"
         else f"{t('brief.back_green', lang)} ({len(f.back_green)})", _capped(f.back_green, lang)),
    ])
    if data.previous is None:
        changes.paragraphs = [t("brief.change.na", lang)]
    if "fig_trend" in figures:
        secs.append(Section(t("brief.sec.trends", lang), figure=figures["fig_trend"],
                            figure_id="fig_trend", page_break=True))
    else:
        changes.page_break = True
    secs.append(changes)
    hot = Section(t("brief.sec.hotspots", lang), page_break=True)
    if "fig_hot" in figures:
        hot.figure, hot.figure_id, hot.side = figures["fig_hot"], "fig_hot", True
        hot.table = _hot_table(data, lang)
        a, b = data.hot_window
        hot.paragraphs = [t("brief.hot.window", lang, start=f"{a:%Y-%m-%d}", end=f"{b:%Y-%m-%d}")]
    else:
        hot.paragraphs = [t("brief.hot.none", lang)]
    secs.append(hot)
    secs.extend(_appendix(data, lang))
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
    """The worst areas, reasons in words (the P-values are in the appendix)."""
    top = ranked_areas(data.table)
    top = top[top["level"] != "green"].head(_N_RANK)
    if not len(top):
        top = ranked_areas(data.table).head(5)
    rows = [[str(i + 1), str(r.name), data.parents.get(r.area_id, ""), t(f"level.{r.level}", lang),
             str(int(r.observed)), usual_text(r.expected), change_text(_f(r, "yoy"), lang),
             change_text(_f(r, "mom"), lang), plain_reason(r.observed, r.expected, _f(r, "yoy"), lang)]
            for i, r in enumerate(top.itertuples())]
    header = [t("brief.col.rank", lang), t("brief.col.area", lang), _parent_header(data, lang),
              t("brief.col.level", lang), t("brief.col.observed", lang), t("brief.col.usual", lang),
              t("brief.kpi.yoy", lang), t("brief.kpi.mom", lang), t("brief.col.plain", lang)]
    rate = top["rate"].to_numpy(float) if "rate" in top else np.full(len(top), np.nan)
    if np.isfinite(rate).any():  # 万人发案率 beside the cases (blank where there is no population)
        header.insert(5, t("col.rate", lang))
        for row, v in zip(rows, rate):
            row.insert(5, "" if not np.isfinite(v) else f"{v:.2f}")
    if not any(row[2] for row in rows):  # no 街道 to show (e.g. a generated grid): drop the column
        header, rows = header[:2] + header[3:], [row[:2] + row[3:] for row in rows]
        return Table(header, rows, level_col=2, levels=[str(v) for v in top["level"]])
    return Table(header, rows, level_col=3, levels=[str(v) for v in top["level"]])


def _ranking_frame(data: BriefData, lang: str) -> pd.DataFrame:
    """Every area of the layer, ranked, for the spreadsheet (display names, values only)."""
    top = ranked_areas(data.table)
    p_bh = _bh(top["p_exceed"].to_numpy(float))
    cols = {
        t("brief.col.rank", lang): np.arange(1, len(top) + 1),
        t("brief.col.area", lang): top["name"].astype(str).to_numpy(),
        _parent_header(data, lang): top["area_id"].map(data.parents).astype(object).fillna("").to_numpy(),
        t("brief.col.level", lang): [t(f"level.{lv}", lang) if lv in ("red", "orange", "yellow", "green")
                                     else "" for lv in top["level"]],
        t("brief.col.observed", lang): top["observed"].to_numpy(),
        t("brief.col.usual", lang): np.round(top["expected"].to_numpy(float), 2),
        t("brief.kpi.yoy", lang): np.round(top["yoy"].to_numpy(float), 4),
        t("brief.kpi.mom", lang): np.round(top["mom"].to_numpy(float), 4),
        t("brief.col.plain", lang): [plain_reason(o, e, y, lang) for o, e, y in
                                     zip(top["observed"], top["expected"], top["yoy"])],
        t("brief.col.p", lang): np.round(top["p_exceed"].to_numpy(float), 5),
        t("brief.col.p_bh", lang): np.round(p_bh, 5),
    }
    # 万人发案率 (blank without population) and last week's place in the same order, ↑↓ / 新进
    rate = top["rate"].to_numpy(float) if "rate" in top else np.full(len(top), np.nan)
    cols[t("col.rate", lang)] = [("" if not np.isfinite(v) else round(float(v), 2)) for v in rate]
    if data.previous is not None:
        before = ranked_areas(data.previous)
        prev = pd.Series(np.arange(1, len(before) + 1), index=before["area_id"].astype(str).to_numpy())
        was = top["area_id"].astype(str).map(prev).to_numpy(float)
        now = np.arange(1, len(top) + 1, dtype=float)
        cols[t("col.rank_prev", lang)] = [("" if not np.isfinite(v) else int(v)) for v in was]
        cols[t("col.change", lang)] = [rank_change(c, not np.isfinite(w), lang) for c, w in zip(was - now, was)]
    frame = pd.DataFrame(cols)
    if not data.parents:  # no 街道 to show (e.g. a generated grid)
        frame = frame.drop(columns=_parent_header(data, lang))
    return frame


def _parent_header(data: BriefData, lang: str) -> str:
    """「所属街道」, or 「所属区」 / 「所属派出所」 when the ranking's areas lie in another level."""
    if data.parent_level == "subdistrict":
        return t("brief.col.parent", lang)
    return t("brief.col.parent_of", lang, level=label(data.parent_level, lang))


def _monthly(ws, layer: str, period: pd.Timestamp, lang: str) -> pd.DataFrame | None:
    """一月一排位 of the latest complete month begun by ``period`` (``[board] rank_by`` order),
    in display form; None before three months of data."""
    from analytics.present.rank_text import ranking_display
    from analytics.service import board
    from analytics.service.names import display_names
    from analytics.service.ranking import ranking

    months = [m for m in board.periods(ws, "M") if m <= period]
    if not months:
        return None
    try:
        table = ranking(ws, level=layer, period=months[-1], freq="M", by=ws.config.board.get("rank_by", "count"))
    except ValueError:  # too early in the data to judge a month
        return None
    names = display_names(ws, layer, lang)
    table["name"] = table["area_id"].astype(str).map(names).fillna(table["name"].astype(str))
    return ranking_display(table, lang)


def _appendix(data: BriefData, lang: str) -> list[Section]:
    """Statistics appendix: method, the chance figures, P and FDR of red/orange areas, Gi*."""
    f = data.facts
    th = data.table.attrs.get("thresholds")
    model = t(f"brief.model.{data.model}", lang) if data.model else "—"
    paras = [t("brief.app.method", lang, model=model,
               orange=f"{getattr(th, 'orange', 0.95):.0%}", red=f"{getattr(th, 'red', 0.99):.0%}",
               n=len(data.table))]
    note = (data.table.attrs.get("model_note") or {}).get(lang)
    if note:  # 预测模型：…（自动选择，依据近52周回测）
        paras.insert(0, note)
    ch = f.chance
    if all(np.isfinite(ch.get(lv, np.nan)) for lv in ("red", "orange")):
        paras.append(t("brief.app.chance", lang, red=f"{ch['red']:.1f}", orange=f"{ch['orange']:.1f}",
                       n_red=f.counts.get("red", 0), n_orange=f.counts.get("orange", 0)))
    ranked = ranked_areas(data.table)
    p_bh = pd.Series(_bh(ranked["p_exceed"].to_numpy(float)), index=ranked.index)
    q = float(getattr(th, "fdr_q", 0.05))
    top = ranked[ranked["level"].isin(["red", "orange"])].head(_N_RANK)
    rows = [[str(i + 1), display_name(r.area_id, r.name, data.parents), t(f"level.{r.level}", lang),
             str(int(r.observed)), f"{r.expected:.2f}", f"{r.q95:.0f}", f"{r.q99:.0f}",
             _pfmt(r.p_exceed), _pfmt(p_bh[r.Index]),
             t("brief.yes" if p_bh[r.Index] <= q else "brief.no", lang)]
            for i, r in enumerate(top.itertuples())]
    if not rows:
        rows = [["", t("brief.app.none", lang)] + [""] * 8]
    header = [t("brief.col.rank", lang), t("brief.col.area", lang), t("brief.col.level", lang),
              t("brief.col.observed", lang), t("brief.col.expected", lang), t("brief.col.q95", lang),
              t("brief.col.q99", lang), t("brief.col.p", lang), t("brief.col.p_bh", lang),
              t("brief.col.fdr_ok", lang)]
    secs = [Section(t("brief.sec.appendix", lang), paragraphs=paras, page_break=True,
                    table=Table(header, rows, level_col=2, levels=[str(v) for v in top["level"]]))]
    if data.hotspots is not None and len(data.hotspots):
        secs.append(Section(t("brief.app.hot_table", lang), paragraphs=[t("brief.app.hot", lang)],
                            table=_hot_stats(data, lang)))
    return secs


def _hot_rows(data: BriefData, n: int = 12) -> pd.DataFrame:
    hs = pd.DataFrame(data.hotspots.drop(columns="geometry"))
    hs = hs[hs["class"].astype(str).str.startswith("hot")]
    hs = hs.sort_values(["z", "area_id"], ascending=[False, True], kind="mergesort").head(n)
    return hs.rename(columns={"class": "klass"})


def _hot_table(data: BriefData, lang: str, n: int = 12) -> Table:
    """Hot spots for the reader: name and class (the numbers are in the appendix)."""
    rows = [[str(i + 1), display_name(r.area_id, r.name, data.parents), hot_label(str(r.klass), lang)]
            for i, r in enumerate(_hot_rows(data, n).itertuples())]
    if not rows:
        rows = [["", t("brief.hot.none", lang), ""]]
    return Table([t("brief.col.rank", lang), t("brief.col.area", lang), t("brief.col.class", lang)], rows)


def _hot_stats(data: BriefData, lang: str, n: int = 12) -> Table:
    rows = [[str(i + 1), display_name(r.area_id, r.name, data.parents), f"{r.z:.2f}",
             _pfmt(r.p), _pfmt(r.p_fdr), hot_label(str(r.klass), lang)]
            for i, r in enumerate(_hot_rows(data, n).itertuples())]
    if not rows:
        rows = [["", t("brief.hot.none", lang), "", "", "", ""]]
    header = [t("brief.col.rank", lang), t("brief.col.area", lang), t("brief.col.z", lang),
              t("brief.col.p", lang), t("brief.col.p_bh", lang), t("brief.col.class", lang)]
    return Table(header, rows)


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p over the finite values (NaN stays NaN)."""
    from scipy.stats import false_discovery_control

    out = np.full(len(p), np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = false_discovery_control(np.clip(p[ok], 0, 1), method="bh")
    return out


def _pfmt(p: float) -> str:
    p = float(p)
    if not np.isfinite(p):
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


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
