"""The briefing's spreadsheet: the week's ranking with 万人发案率 and last week's place, and the
一月一排位 sheet, on the tiny hand-worked city (tests/tiny_city.py)."""

from __future__ import annotations

import openpyxl
import pandas as pd
import pytest
from tiny_city import tiny_city

from analytics.present.brief import BriefData, _monthly, _ranking_frame
from analytics.present.brief_office import write_xlsx
from analytics.service.board import warning_table


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """What :func:`analytics.present.brief.gather` hands the spreadsheet, for the week of 2025-12-22."""
    ws = tiny_city(tmp_path_factory.mktemp("briefrank"))
    week = pd.Timestamp("2025-12-22")
    table = warning_table(ws, level="community", period=week, freq="W")
    previous = warning_table(ws, level="community", period=week - pd.Timedelta(days=7), freq="W")
    return BriefData(city="小城", period=week, table=table, facts=None, previous=previous,
                     monthly=_monthly(ws, "community", week, "zh"))


def test_monthly_sheet_is_the_hand_worked_ranking(data):
    # [board] rank_by is not set: by cases; December is the latest complete month
    monthly = data.monthly
    assert list(monthly.columns) == ["排位", "上期排位", "升降", "名称", "发案数", "上期发案", "人口", "万人发案率", "等级"]
    got = {r["名称"]: (r["发案数"], r["上期发案"], r["人口"], r["万人发案率"]) for _, r in monthly.iterrows()}
    assert got == {"一社区": (6, 1, 12000, 5.0), "二社区": (4, 3, 8000, 5.0), "三社区": (5, 2, 6000, 8.33),
                   "四社区": (3, 4, "", "")}
    assert set(monthly["升降"]) <= {"—"} | {f"{a}{n}" for a in "↑↓" for n in range(1, 4)}


def test_weekly_ranking_has_rate_and_last_weeks_place(data, tmp_path):
    frame = _ranking_frame(data, "zh")
    assert {"万人发案率", "上期排位", "升降"} <= set(frame.columns)
    row = frame.set_index("区域").loc["四社区"]
    assert row["万人发案率"] == ""  # no population: blank, not 0
    path = write_xlsx(tmp_path / "b.xlsx", frame, sheet="排名", more={"一月一排位": data.monthly})
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["排名", "一月一排位"]
    cells = [[c.value for c in row] for row in book["一月一排位"].iter_rows()]
    assert cells[0][:3] == ["排位", "上期排位", "升降"] and len(cells) == 5


def test_the_parent_column_names_the_level_of_the_hierarchy(tmp_path):
    from analytics.present.brief import _context

    ws = tiny_city(tmp_path)
    week = pd.Timestamp("2025-12-22")
    for layer, header, parent in (("警务区", "所属派出所", "南门派出所"), ("community", "所属街道", "东风街道"),
                                  ("subdistrict", "所属区", "甲区")):
        table = warning_table(ws, level=layer, period=week, freq="W")
        parents, outlines = _context(ws, table, layer)
        data = BriefData(city="小城", period=week, table=table, facts=None, parents=parents,
                         parent_level=outlines.attrs["level"])
        frame = _ranking_frame(data, "zh")
        assert list(frame.columns)[:3] == ["排名", "区域", header]
        assert parent in set(frame[header])
