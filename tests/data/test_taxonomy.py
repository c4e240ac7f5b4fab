"""The one place a category choice becomes raw categories (Taxonomy.resolve)."""

from __future__ import annotations

import pytest

from data.taxonomy import ALL, Taxonomy, canonical_name

CATS = ["入室盗窃", "抢劫", "诈骗", "毒品"]


@pytest.mark.parametrize("name", [None, "", "  ", ALL, "ALL"])
def test_all_and_its_spellings(name):
    assert canonical_name(name) == ALL
    assert Taxonomy().resolve(name, CATS) == tuple(CATS)


def test_group_and_raw_category():
    t = Taxonomy()
    # default 两抢一盗: 抢劫 抢夺 入室盗窃 盗窃电动车 扒窃 — only those present, in their order
    assert t.resolve("两抢一盗", CATS) == ("入室盗窃", "抢劫")
    assert t.resolve("诈骗", CATS) == ("诈骗",)
    assert canonical_name("诈骗") == "诈骗"
    custom = Taxonomy({"毒赌": ("毒品", "赌博")})
    assert custom.resolve("毒赌", CATS) == ("毒品",)
    with pytest.raises(ValueError, match="两抢一盗"):  # a group of the defaults only
        custom.resolve("两抢一盗", CATS)


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match=r"unknown category or group '杀人'; known: 全部, 两抢一盗.*诈骗"):
        Taxonomy().resolve("杀人", CATS)


def test_a_group_named_like_a_category_holds_it_and_is_listed_once():
    # Issue 16: the built-in group 盗窃 left out raw 盗窃 cases (8 counted instead of 12), and the
    # dropdown showed two identical 「盗窃」 entries.
    from data.taxonomy import ALL, Taxonomy

    t = Taxonomy()
    present = ["盗窃", "入室盗窃", "扒窃", "抢劫"]
    assert set(t.resolve("盗窃", present)) == {"盗窃", "入室盗窃", "扒窃"}
    choices = t.choices(present)
    assert choices.count("盗窃") == 1 and choices[0] == ALL and "抢劫" in choices


@pytest.mark.parametrize("groups, message", [
    ({"两抢一盗": []}, "group '两抢一盗': no members"),
    ({"两抢一盗": ["抢劫", " "]}, "group '两抢一盗': an empty member"),
    ({"两抢一盗": ["抢劫", "抢劫"]}, "group '两抢一盗': member '抢劫' is listed twice"),
    ({"两抢一盗": ["全部"]}, "group '两抢一盗': member '全部' means all categories"),
    ({"甲": ["乙"], "乙": ["丙", "甲"]}, r"group '甲' contains itself \(甲 → 乙 → 甲\)"),
])
def test_malformed_groups_are_refused_naming_the_group(groups, message):
    with pytest.raises(ValueError, match=message):
        Taxonomy(groups)


def test_groups_of_groups_and_unknown_members():
    t = Taxonomy({"两抢": ("抢劫", "抢夺"), "一盗": ("入室盗窃",), "两抢一盗": ("两抢", "一盗", "扒窃x")})
    assert t.resolve("两抢一盗", ["抢劫", "入室盗窃", "诈骗", "抢夺"]) == ("抢劫", "入室盗窃", "抢夺")
    # a typo counts nothing, silently: unknown_members names the group and the member
    assert t.unknown_members(["抢劫", "抢夺", "入室盗窃", "扒窃"]) == [("两抢一盗", "扒窃x")]
    assert Taxonomy().unknown_members(["入室盗窃"])[0] == ("两抢一盗", "抢劫")


def test_config_toml_groups_are_validated_on_read(tmp_path):
    from data.workspace import Workspace

    ws = Workspace.create(tmp_path / "w")
    text = ws.config_path.read_text(encoding="utf-8")
    assert "[taxonomy]" in text  # the defaults are written out, for the office to edit
    ws.config_path.write_text(text.replace("[taxonomy]", '[taxonomy]\n"两抢" = ["抢劫", "抢劫"]'), encoding="utf-8")
    with pytest.raises(ValueError, match="group '两抢': member '抢劫' is listed twice"):
        _ = ws.config.taxonomy
