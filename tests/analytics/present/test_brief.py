"""The weekly briefing: PNG/PDF/HTML from a small demo city, checked against the board façade.

One small demo workspace is built per module and briefed twice (same week): the second run
must give the same text, the same PNG pixels and the same PDF bytes.
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

from analytics.present.brief import make_brief
from analytics.present.brief_html import ALLOWED_URLS, EXTERNAL_URL, fix_svg_ids, plotly_js
from analytics.present.brief_text import Kpi, change_text, changes, summary, week_facts, week_label
from analytics.service import board
from data.taxonomy import ALL

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
    first = make_brief(ws, week=WEEK, out=out / "a")
    second = make_brief(ws, week=WEEK, out=out / "b")
    return first, second


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _pdftotext(path) -> str:
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout


# -- against the real façade -------------------------------------------------------------------
def test_outputs_exist(runs):
    paths = runs[0]
    assert set(paths) == {"png", "png_a4", "pdf", "html", "summary"}
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
    assert _squash(en) in text
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
