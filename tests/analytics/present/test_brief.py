"""The weekly briefing: PNG/PDF/HTML/Word/Excel from a small demo city, checked against the board.

One small demo workspace is built per module and briefed twice in Chinese (same week): the
second run must give the same text, the same PNG pixels and the same PDF bytes. A third
brief, in English on the generated 500 m grid (cells without human names), checks the English
text and that no raw cell id reaches any file.
"""

from __future__ import annotations

import hashlib
import math
import re
import subprocess

import numpy as np
import pandas as pd
import pytest
import shapely
from PIL import Image

from analytics.present.brief import gather, make_brief
from analytics.present.brief_html import ALLOWED_URLS, EXTERNAL_URL, fix_svg_ids, plotly_js
from analytics.present.brief_text import (
    Kpi,
    change_text,
    changes,
    plain_sentence,
    summary,
    week_facts,
    week_label,
    week_title,
)
from analytics.service import board
from analytics.service.names import GENERATED_ID, display_names
from data.taxonomy import ALL

# three Chromium renders and a demo city (~70 s for the module on 2 cores)
pytestmark = pytest.mark.slow

WEEK = "2024-06-19"  # a Wednesday: the briefing covers its week, Monday 2024-06-17
MONDAY = pd.Timestamp("2024-06-17")


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    from data.demo import build_demo
    from data.workspace import Workspace

    path = tmp_path_factory.mktemp("brief") / "workspace"
    build_demo(str(path), incidents=20_000, years=2, end="2024-06-30")
    return Workspace(path)


@pytest.fixture(scope="module")
def runs(ws, tmp_path_factory):
    out = tmp_path_factory.mktemp("brief_out")
    first = make_brief(ws, week=WEEK, out=out / "a",
                       progress=lambda f, label: PROGRESS.append((f, label)))
    second = make_brief(ws, week=WEEK, out=out / "b")
    return first, second


#: ``(fraction, label)`` calls of the first briefing of ``runs``.
PROGRESS: list[tuple[float, str]] = []


def test_progress_rises_through_the_stages(runs):
    fractions = [f for f, _ in PROGRESS]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert [label for _, label in PROGRESS][:2] == ["gather", "figures"] and len(PROGRESS) == 7


@pytest.fixture(scope="module")
def en_cells(ws, tmp_path_factory):
    """An English brief of the generated grid: every cell is named by display_names."""
    return make_brief(ws, week=WEEK, out=tmp_path_factory.mktemp("brief_en"), lang="en", level="cell")


#: ASCII words allowed in a Chinese brief.
ALLOW = {"PAI", "CRPS", "Gi", "KDE", "FDR", "P", "z"}  # z: the Gi* z-score symbol
_WORD = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]+(?![A-Za-z0-9])")
_RAW_ID = re.compile(GENERATED_ID.pattern.strip("^$"))


def _pages(path) -> list[str]:
    """pdftotext per page (form feeds separate pages)."""
    return _pdftotext(path).split("\f")[:-1]


def _docx_text(path) -> str:
    import docx

    d = docx.Document(str(path))
    parts = [p.text for p in d.paragraphs]
    for tab in d.tables:
        for row in tab.rows:
            for cell in row.cells:
                parts.append(cell.text)
    return "\n".join(parts)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _pdftotext(path) -> str:
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout


# -- against the real façade -------------------------------------------------------------------
def test_outputs_exist(runs):
    paths = runs[0]
    assert set(paths) == {"png", "png_a4", "pdf", "html", "docx", "xlsx", "summary"}
    assert all(p.exists() and p.stat().st_size > 200 for p in paths.values())
    assert "2024-06-17" in paths["pdf"].name


def test_summary_numbers_are_the_boards(ws, runs):
    level = board.default_level(ws)
    k = board.kpis(ws, period=MONDAY, freq="W", category=ALL, level=level)
    g = board.kpis(ws, period=MONDAY, freq="W", category="两抢一盗", level=level)
    table = board.warning_table(ws, period=MONDAY, freq="W", category=ALL)
    zh = runs[0]["summary"].read_text(encoding="utf-8").split("\n\n")[0]
    assert zh.startswith("本周（2024-06-17至06-23）全市共发生刑事案件 ")
    assert f"共发生刑事案件 {k['total']} 起" in zh
    assert f"同比{change_text(k['yoy'] if k['yoy'] is not None else math.nan)}" in zh
    assert f"环比{change_text(k['mom'] if k['mom'] is not None else math.nan)}" in zh
    assert f"两抢一盗 {g['total']} 起" in zh
    assert g["total"] == k["liangqiang_yidao"]["count"]
    n_red = int((table["level"].astype(str) == "red").sum())
    assert (f"红色预警 {n_red} 个网格" in zh) if n_red else ("本周无红色预警" in zh)


def test_pdf_has_the_summary_and_numbers_as_text(ws, runs):
    paths = runs[0]
    text = _squash(_pdftotext(paths["pdf"]))
    zh, en = paths["summary"].read_text(encoding="utf-8").strip().split("\n\n")
    assert _squash(zh) in text  # the Chinese summary, as extractable text (not radicals)
    assert _squash(en) not in text  # one language per brief (the .txt holds both)
    k = board.kpis(ws, period=MONDAY, freq="W", category=ALL, level=board.default_level(ws))
    for needle in (f"{k['total']}起", "刑事发案", "同比", "环比", "两抢一盗", "预警区域排名及原因",
                   "与上周相比", "热点区域"):
        assert needle in text
    # the worst area of the board's ranking is named in the PDF
    table = board.warning_table(ws, period=MONDAY, freq="W", category=ALL)
    worst = table.sort_values("rank").iloc[0]
    assert _squash(str(worst["name"])) in text


def test_pdf_is_a4_landscape_with_embedded_fonts_and_fixed_date(runs):
    pdf = runs[0]["pdf"]
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    w, h = map(float, re.search(r"Page size:\s+([\d.]+) x ([\d.]+)", info).groups())
    assert abs(w - 842) < 2 and abs(h - 595) < 2
    assert int(re.search(r"Pages:\s+(\d+)", info).group(1)) >= 3
    assert "2024" in re.search(r"CreationDate:(.*)", info).group(1)  # the week, not "now"
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True,
                           check=True).stdout.splitlines()[2:]
    assert fonts, "no fonts: text would be outlines"
    assert all(line.split()[-5] == "yes" for line in fonts)  # emb column: every font embedded


@pytest.mark.parametrize("key,size", [("png", (1920, 1080)), ("png_a4", (3508, 2480))])
def test_png_size_and_not_blank(runs, key, size):
    img = np.asarray(Image.open(runs[0][key]).convert("RGB"))
    assert img.shape[1::-1] == size
    assert img.std() > 20
    colours = {tuple(c) for c in img[::7, ::7].reshape(-1, 3)}
    assert len(colours) > 50
    # the four level colours of the palette are drawn (legend and map)
    from analytics.present.palette import LEVEL_COLORS

    for hexcol in LEVEL_COLORS.values():
        rgb = tuple(int(hexcol[i:i + 2], 16) for i in (1, 3, 5))
        assert (np.abs(img[::2, ::2].astype(np.int16) - rgb).sum(axis=2) < 6).sum() > 5, hexcol


def test_html_opens_offline(runs):
    html = runs[0]["html"].read_text(encoding="utf-8")
    urls = set(EXTERNAL_URL.findall(html))
    assert urls <= ALLOWED_URLS, sorted(urls - ALLOWED_URLS)
    assert "<script src" not in html and "<link" not in html and "@import" not in html
    assert "Plotly.newPlot" in html and html.count("Plotly.newPlot") >= 2
    assert "全市共发生刑事案件" in html


def test_same_inputs_same_outputs(runs):
    a, b = runs
    assert a["summary"].read_text(encoding="utf-8") == b["summary"].read_text(encoding="utf-8")
    for key in ("png", "png_a4"):
        pa = np.asarray(Image.open(a[key]).convert("RGBA"))
        pb = np.asarray(Image.open(b[key]).convert("RGBA"))
        assert hashlib.sha256(pa.tobytes()).digest() == hashlib.sha256(pb.tobytes()).digest()
    assert a["html"].read_bytes() == b["html"].read_bytes()
    assert _pdftotext(a["pdf"]) == _pdftotext(b["pdf"])
    assert a["pdf"].read_bytes() == b["pdf"].read_bytes()


def test_week_errors_name_the_argument(ws, tmp_path):
    with pytest.raises(ValueError, match="--week"):
        make_brief(ws, week="2031-01-06", out=tmp_path)
    with pytest.raises(ValueError, match="--week"):
        make_brief(ws, week="next tuesday", out=tmp_path)


def test_cli_bad_week_exits_2(ws, tmp_path, capsys):
    from app import main

    assert main(["brief", "--workspace", str(ws.path), "--week", "1999-01-04",
                 "--out", str(tmp_path)]) == 2
    assert "--week" in capsys.readouterr().err


# -- text, hand-worked ---------------------------------------------------------------------------
def _table(levels, observed, ids=None):
    ids = ids or [f"G{i}" for i in range(len(levels))]
    return pd.DataFrame({
        "area_id": ids, "name": [f"第{i + 1}网格" for i in range(len(ids))], "level_name": "grid",
        "level": pd.Categorical(levels, categories=["green", "yellow", "orange", "red"], ordered=True),
        "observed": observed, "expected": [1.0] * len(ids), "p_exceed": [0.5] * len(ids),
        "reason_zh": ["原因"] * len(ids), "reason_en": ["reason"] * len(ids),
    })


def test_change_text_and_week_label():
    assert change_text(-0.045) == "下降 4.5%"
    assert change_text(0.0212, "en") == "up 2.1%"
    assert change_text(0.0) == "持平"
    assert change_text(math.nan) == "无可比数据"
    assert week_label(pd.Timestamp("2024-03-04")) == "2024-03-04至03-10"
    assert week_label(pd.Timestamp("2024-12-30")) == "2024-12-30至2025-01-05"


def test_summary_hand_worked():
    now = _table(["red", "red", "orange", "green", "green"], [5, 4, 3, 0, 1])
    before = _table(["red", "green", "orange", "orange", "green"], [4, 0, 3, 2, 1])
    parents = {"G0": "东湖街道", "G1": "西城街道", "G2": "西城街道", "G3": "东湖街道", "G4": "东湖街道"}
    facts = week_facts(period=pd.Timestamp("2024-03-04"), table=now, previous=before,
                       total=Kpi(120, -0.05, 0.1), group="两抢一盗", group_kpi=Kpi(30, 0.2, math.nan),
                       parents=parents)
    assert summary(facts) == (
        "本周（2024-03-04至03-10）全市共发生刑事案件 120 起，同比下降 5.0%，环比上升 10.0%；"
        "两抢一盗 30 起，同比上升 20.0%，环比无可比数据。红色预警 2 个网格，集中在东湖街道、西城街道；"
        "橙色预警 1 个网格。与上周相比，新增红色 1 个，恢复绿色 1 个。"
        "建议重点关注东湖街道第1网格、西城街道第2网格、西城街道第3网格。"
    )
    assert summary(facts, "en").startswith("Week 2024-03-04 to 2024-03-10: 120 criminal cases")
    new_red, green = changes(now, before)
    assert new_red == [("G1", "第2网格")] and green == [("G3", "第4网格")]


def test_summary_says_how_many_by_chance():
    now = _table(["red", "orange", "green"], [5, 3, 0])
    now.attrs["chance"] = {"red": 1.23, "orange": 4.56}
    text = summary(week_facts(period=pd.Timestamp("2024-03-04"), table=now, total=Kpi(8)))
    assert "按统计规律也约有红色 1.2 个、橙色 4.6 个" in text
    en = summary(week_facts(period=pd.Timestamp("2024-03-04"), table=now, total=Kpi(8)), "en")
    assert "about 1.2 red and 4.6 orange would appear by chance" in en


def test_summary_without_warnings():
    calm = _table(["green", "yellow"], [0, 1])
    facts = week_facts(period=pd.Timestamp("2024-03-04"), table=calm, total=Kpi(1))
    text = summary(facts)
    assert "本周无红色预警" in text and "各区域发案均在正常范围内" in text and "与上周" not in text


def test_fix_svg_ids_is_stable():
    a = '<svg><defs id="defs-1a2b3c"><clipPath id="clip1a2b3cxyplot"/></defs>' \
        '<path d="M10.1a2b3c"/><g clip-path="url(#clip1a2b3cxyplot)"/></svg>'
    out = fix_svg_ids(a, "fig_map")
    assert 'id="defs-fig_map"' in out and "url(#clipfig_mapxyplot)" in out
    assert "M10.1a2b3c" in out  # numbers are never touched


def test_vendored_plotly_has_only_namespace_urls():
    assert set(EXTERNAL_URL.findall(plotly_js())) <= ALLOWED_URLS


def test_map_rings_are_nan_separated():
    from analytics.present.brief_figures import _rings_xy

    geoms = np.array([shapely.box(0, 0, 1, 1), shapely.box(2, 0, 3, 1)], dtype=object)
    x, y = _rings_xy(geoms)
    assert len(x) == 11 and np.isnan(x[5]) and np.nanmax(x) == 3.0


# -- Monday-ready: leader page, week number, page numbers, appendix, Word, Excel -----------------
def test_every_page_has_week_number_and_page_number(runs):
    pages = _pages(runs[0]["pdf"])
    assert len(pages) >= 4
    assert "2024年第25周" in _squash(pages[0])  # ISO week of 2024-06-17
    for i, page in enumerate(pages, start=1):
        assert f"第{i}页/共{len(pages)}页" in _squash(page), i


def test_leader_page_is_plain_words_without_p_values(ws, runs):
    page1 = _pages(runs[0]["pdf"])[0]
    flat = _squash(page1)
    assert "本周需关注的地方" in flat
    assert not re.search(r"P\s*[=<≤]|P值|FDR|Gi\*", page1), page1
    worst = board.warning_table(ws, period=MONDAY, freq="W", category=ALL).sort_values("rank").iloc[0]
    sentence = plain_sentence(str(worst["name"]), worst["observed"], worst["expected"], worst["yoy"])
    # the sentence ends the name; the parent (街道) may stand before it
    assert _squash(sentence) in flat


def test_no_truncation_and_no_english_in_the_chinese_brief(ws, runs):
    text = _pdftotext(runs[0]["pdf"])
    assert "…" not in text
    attribution = ws.config.attribution  # the workspace's own words, printed as given
    words = set(_WORD.findall(text.replace(attribution, "")))
    assert words <= ALLOW, sorted(words - ALLOW)
    assert words & {"FDR", "P"}  # the appendix is there


def test_appendix_has_p_fdr_and_the_chance_figures(ws, runs):
    pages = _pages(runs[0]["pdf"])
    appendix = _squash("".join(p for p in pages if "统计附录" in p))
    assert appendix
    assert "P值" in appendix and "FDR校正P值" in appendix and "FDR确认" in appendix
    table = board.warning_table(ws, period=MONDAY, freq="W", category=ALL)
    ch = table.attrs["chance"]
    assert f"按统计规律本周也约有红色{ch['red']:.1f}个、橙色{ch['orange']:.1f}个区域" in appendix


def test_hot_spot_classes_agree_with_the_fdr_p_beside_them(ws):
    data = gather(ws, week=WEEK)
    hs = data.hotspots
    assert len(hs)
    for conf, alpha in (("99", 0.01), ("95", 0.05), ("90", 0.10)):
        part = hs[hs["class"] == f"hot_{conf}"]
        assert (part["p_fdr"] <= alpha + 1e-12).all(), conf
    ns = hs[hs["class"] == "not_significant"]
    assert (ns["p_fdr"] > 0.10).all()


def test_trend_bands_start_at_their_lower_quantile():
    from analytics.present.brief_figures import trend_figure

    frame = pd.DataFrame({"period": pd.date_range("2024-01-01", periods=4, freq="W-MON"),
                          "observed": [5, 6, 9, 4], "expected": [5.0] * 4, "q05": [2] * 4,
                          "q95": [9] * 4, "q99": [12] * 4, "level": ["green"] * 4})
    fig = trend_figure([("东湖街道第1网格", "green", frame)])
    lower, normal, high = fig.data[:3]
    assert list(lower.y) == [2] * 4  # from q05, not from 0
    assert normal.fill == "tonexty" and list(normal.y) == [9] * 4
    assert high.fill == "tonexty" and list(high.y) == [12] * 4


def test_map_legend_sits_below_the_map():
    from analytics.present.brief_figures import map_figure

    table = _table(["red", "green"], [5, 0])
    table["geometry"] = [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)]
    fig = map_figure(table)
    legend = fig.layout.legend
    assert legend.orientation == "h" and legend.y <= 0 and legend.yanchor == "top"
    assert fig.layout.margin.b > 20  # room for it outside the plot area


def test_board_png_wraps_long_names_instead_of_cutting():
    from analytics.present.brief_figures import board_figure

    table = _table(["red", "orange"], [9, 5])
    table["name"] = ["一个名字非常非常非常非常非常长的社区第十九网格", "短名"]
    table["geometry"] = [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)]
    facts = week_facts(period=MONDAY, table=table, total=Kpi(14))
    fig = board_figure(table, facts, summary(facts), city="示范市")
    cells = [str(v) for tr in fig.data if tr.type == "table" for col in tr.cells.values for v in col]
    assert not any("…" in c for c in cells)
    assert any("<br>" in c for c in cells)
    assert _squash("".join(cells).replace("<br>", "")).count("一个名字非常非常非常非常非常长的社区第十九网格") == 1


def test_docx_holds_summary_kpis_maps_and_ranking(ws, runs):
    import docx

    paths = runs[0]
    d = docx.Document(str(paths["docx"]))
    text = _docx_text(paths["docx"])
    zh = paths["summary"].read_text(encoding="utf-8").split("\n\n")[0].strip()
    assert zh in text
    assert "2024年第25周" in d.paragraphs[0].text
    assert len(d.inline_shapes) >= 3  # map, trends, hot spots as pictures
    ranking = next(t for t in d.tables if t.rows[0].cells[0].text == "排名"
                   and t.rows[0].cells[-1].text == "说明")
    worst = board.warning_table(ws, period=MONDAY, freq="W", category=ALL).sort_values("rank").iloc[0]
    assert ranking.rows[1].cells[1].text == str(worst["name"])
    footer = d.sections[0].footer._element.xml  # noqa: SLF001
    assert "PAGE" in footer and "NUMPAGES" in footer
    assert "统计附录" in text and "P 值" in text
    words = set(_WORD.findall(text.replace(ws.config.attribution, "")))
    assert words <= ALLOW, sorted(words - ALLOW)  # Chinese throughout, like the PDF
    assert "…" not in text


def test_xlsx_ranking_is_values_only(ws, runs):
    import openpyxl

    wb = openpyxl.load_workbook(runs[0]["xlsx"])
    sheet = wb["排名"]
    rows = list(sheet.iter_rows(values_only=False))
    assert all(c.data_type != "f" for row in rows for c in row)
    table = board.warning_table(ws, period=MONDAY, freq="W", category=ALL)
    assert len(rows) == len(table) + 1
    header = [c.value for c in rows[0]]
    assert header[:2] == ["排名", "区域"] and "FDR 校正 P 值" in header
    worst = table.sort_values("rank").iloc[0]
    assert rows[1][1].value == str(worst["name"]) and rows[1][4].value == int(worst["observed"])


def test_write_xlsx_neutralises_formulas(tmp_path):
    import openpyxl

    from analytics.present.brief_office import write_xlsx

    frame = pd.DataFrame({"区域": ['=HYPERLINK("http://x","y")', "@SUM(A1)", "云岩区"], "n": [1, -2, 3]})
    wb = openpyxl.load_workbook(write_xlsx(tmp_path / "r.xlsx", frame, sheet="排名"))
    cells = list(wb["排名"].iter_rows(min_row=2, values_only=False))
    assert [r[0].value for r in cells] == ['\'=HYPERLINK("http://x","y")', "'@SUM(A1)", "云岩区"]
    assert all(r[0].data_type == "s" for r in cells)
    assert [r[1].value for r in cells] == [1, -2, 3]


def test_english_brief_of_generated_cells_has_no_raw_ids(ws, en_cells):
    names = display_names(ws, "cell")
    assert not names.str.contains(_RAW_ID).any() and names.is_unique
    pdf = _pdftotext(en_cells["pdf"])
    assert "Week 25 of 2024" in pdf and "Page 1 of" in pdf and "Statistics appendix" in pdf
    assert "统计附录" not in pdf and "本周" not in pdf  # English throughout, but place names
    texts = {"pdf": pdf, "docx": _docx_text(en_cells["docx"]),
             "html": en_cells["html"].read_text(encoding="utf-8"),
             "summary": en_cells["summary"].read_text(encoding="utf-8")}
    import openpyxl

    wb = openpyxl.load_workbook(en_cells["xlsx"])
    texts["xlsx"] = "\n".join(str(v) for row in wb["Ranking"].iter_rows(values_only=True) for v in row)
    for kind, text in texts.items():
        assert not _RAW_ID.search(text), (kind, _RAW_ID.search(text).group(0))
    assert " cell " in texts["xlsx"]  # 「<社区> cell k」 names
    en = texts["summary"].split("\n\n")[1]
    assert "Robbery, snatching & theft" in en and "两抢一盗" not in en


def test_cli_brief_has_lang_and_level():
    from app import build_parser

    args = build_parser().parse_args(["brief", "--workspace", "w", "--out", "o", "--lang", "en",
                                      "--level", "cell"])
    assert args.lang == "en" and args.level == "cell"
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["brief", "--workspace", "w", "--out", "o", "--lang", "fr"])
    assert exc.value.code == 2


def test_week_title_and_plain_sentences():
    assert week_title(pd.Timestamp("2024-06-17")) == "2024年第25周（2024-06-17至06-23）"
    assert week_title(pd.Timestamp("2024-12-30")) == "2025年第1周（2024-12-30至2025-01-05）"
    assert week_title(pd.Timestamp("2024-12-30"), "en") == "Week 1 of 2025 (2024-12-30 to 2025-01-05)"
    assert plain_sentence("X网格", 14, 4.6) == "X网格本周 14 起，约为常态的 3 倍"
    assert plain_sentence("X网格", 5, 2.0) == "X网格本周 5 起，约为常态的 2.5 倍"
    assert plain_sentence("X网格", 3, 2.5) == "X网格本周 3 起，高于常态（约 2.5 起）"
    assert plain_sentence("X网格", 3, 0.1, -0.5) == "X网格本周 3 起，而平时每周通常不到 1 起，同比下降 50.0%"
    assert plain_sentence("X", 6, 2.0, lang="en") == "X: 6 cases this week, about 3 times the usual"


def test_a_figure_that_cannot_render_raises_instead_of_naming_a_missing_png(tmp_path):
    """kaleido returns a failed render's error instead of raising it; the briefing must not
    then list a PNG that was never written (a world map needs a topojson file from the
    internet, which the closed network refuses)."""
    import plotly.graph_objects as go

    from analytics.present.brief_render import FigureRenderer

    with FigureRenderer() as r:
        ok = r.write_png(go.Figure(go.Scatter(x=[1, 2], y=[1, 3])), tmp_path / "ok.png",
                         width=200, height=100)
        assert Image.open(ok).size == (200, 100)
        bad = tmp_path / "map.png"
        with pytest.raises(RuntimeError, match=r"map\.png: the figure could not be rendered as PNG \(.*topojson"):
            r.write_png(go.Figure(go.Scattergeo(lon=[106.7], lat=[26.6])), bad, width=200, height=100)
    assert not bad.exists()
