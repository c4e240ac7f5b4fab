"""The command line of hierarchies, rates, the monthly ranking and categories, on real workspaces:
pingan areas --hierarchy / --population, pingan rank, pingan warn --hierarchy, pingan categories."""

from __future__ import annotations

import pandas as pd
import pytest
from tiny_city import tiny_city, write_boundaries

from app import main


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    ws = tiny_city(root, police=False)
    files = write_boundaries(root / "again")
    assert main(["areas", "--workspace", str(ws.path), "--hierarchy", "police", "--levels", "分局,派出所,警务区",
                 "--boundaries", str(files["fenju"]), str(files["paichusuo"]), str(files["jingwuqu"])]) == 0
    return ws


def test_areas_police_hierarchy_from_the_command_line(city, capsys):
    assert {"分局", "派出所", "警务区"} <= set(city.layers())
    assert city.config.extra["hierarchies"]["police"] == ["分局", "派出所", "警务区"]
    capsys.readouterr()
    assert main(["areas", "--workspace", str(city.path), "--hierarchy", "police", "--boundaries", "x.geojson"]) == 2
    assert "--hierarchy NAME and --levels" in capsys.readouterr().err


def test_rank_by_rate_prints_and_writes_the_hand_worked_table(city, tmp_path, capsys):
    out = tmp_path / "rank.csv"
    assert main(["rank", "--workspace", str(city.path), "--month", "2025-12", "--level", "community",
                 "--by", "rate", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == "一月一排位 · 2025-12 · 社区 · 按万人发案率"
    assert "1 个区域无人口数据，万人发案率空白（不参与按发案率排位）" in text
    table = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert table[["排位", "上期排位", "升降", "名称", "发案数", "万人发案率"]].values.tolist() == [
        ["1", "2", "↑1", "三社区", "5", "8.33"], ["2", "3", "↑1", "一社区", "6", "5.0"],
        ["2", "1", "↓1", "二社区", "4", "5.0"], ["", "", "", "四社区", "3", ""]]


def test_rank_of_the_police_hierarchy_in_english(city, capsys):
    assert main(["rank", "--workspace", str(city.path), "--hierarchy", "police", "--lang", "en"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == "Monthly ranking · 2025-12 · 派出所 · by cases"
    assert "南门派出所" in text and "Rank" in text and "Per 10k" in text


def test_rank_refuses_bad_arguments_in_one_line(city, capsys):
    assert main(["rank", "--workspace", str(city.path), "--month", "2030-01"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pingan rank: error: --period 2030-01") and len(err.strip().splitlines()) == 1
    assert main(["rank", "--workspace", str(city.path), "--hierarchy", "police", "--level", "community"]) == 2
    assert "not a level of hierarchy 'police'" in capsys.readouterr().err


def test_warn_on_the_police_hierarchy_says_which_areas_have_no_rate(city, tmp_path, capsys):
    out = tmp_path / "w.csv"
    assert main(["warn", "--workspace", str(city.path), "--hierarchy", "police", "--freq", "M",
                 "--out", str(out)]) == 0
    assert "rate per 10k: 0 of 4 areas have a population; the other 4 have a blank rate" in capsys.readouterr().out
    table = pd.read_csv(out)
    assert set(table["level_name"]) == {"警务区"} and table["rate"].isna().all()
    assert main(["warn", "--workspace", str(city.path), "--level", "subdistrict", "--freq", "M",
                 "--out", str(out)]) == 0
    assert "all 2 areas have a population" in capsys.readouterr().out
    rates = pd.read_csv(out).set_index("area_id")["rate"]
    assert rates.to_dict() == pytest.approx({"S1": 5.0, "S2": 8.0})


def test_categories_table_and_unknown_members(city, app_workspace, capsys):
    assert main(["categories", "--workspace", str(app_workspace.path)]) == 0  # the demo's groups all fit
    text = capsys.readouterr().out
    assert text.splitlines()[0].split() == ["原始类别", "案件数", "所属分组"]
    assert "[两抢一盗]" in text and "合计" in text
    raw = app_workspace.incidents_frame(["category"])["category"].value_counts()
    line = next(ln for ln in text.splitlines() if ln.split()[0] == "扒窃")
    assert line.split()[1] == str(raw["扒窃"]) and "两抢一盗" in line
    # the tiny city has only 抢劫 and 入室盗窃: the default groups name categories it never had
    assert main(["categories", "--workspace", str(city.path), "--lang", "en"]) == 2
    cap = capsys.readouterr()
    assert cap.out.splitlines()[0].split()[:2] == ["Raw", "category"]
    assert "[taxonomy] group '两抢一盗': member '抢夺' is not a category of the incidents" in cap.err
