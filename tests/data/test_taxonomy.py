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
