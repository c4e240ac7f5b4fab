"""The translation table: complete in both languages, and every key the app uses exists."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from analytics.present.i18n import LANGS, TEXT, label, t

ROOT = Path(__file__).resolve().parents[3]
APP_FILES = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]
CJK = re.compile(r"[\u4e00-\u9fff]")


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_every_key_has_every_language_with_the_same_fields():
    for key, texts in TEXT.items():
        assert set(texts) == set(LANGS), key
        assert all(texts[lang].strip() for lang in LANGS), key
        assert _fields(texts["zh"]) == _fields(texts["en"]), key


def test_keys_used_by_the_app_exist():
    used = set()
    for path in APP_FILES:
        used |= set(re.findall(r"""\bt\(\s*["']([\w.]*\w)["']""", path.read_text(encoding="utf-8")))
    assert len(used) > 40
    assert sorted(used - set(TEXT)) == []


#: The command line in app.py speaks both languages on one line (``读入 rows in: …``), as the
#: design's CLI does; its help and messages are not the app's interface.
CLI_FUNCTIONS = {"build_parser", "_run", "_mapping", "_period_note", "main"}


def test_no_chinese_literals_in_app_code():
    # Every user-visible string goes through the table; a Chinese literal in app code (other
    # than a docstring, or the bilingual command line) would bypass it.
    offenders = []
    for path in APP_FILES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = {id(node.body[0].value) for node in ast.walk(tree)
                if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body
                and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef) and fn.name in CLI_FUNCTIONS and path.name == "app.py":
                docs |= {id(n) for n in ast.walk(fn)}
        offenders += [f"{path.name}:{node.lineno}: {node.value!r}" for node in ast.walk(tree)
                      if isinstance(node, ast.Constant) and isinstance(node.value, str)
                      and CJK.search(node.value) and id(node) not in docs]
    assert offenders == []


def test_t_formats_and_rejects_unknowns():
    assert t("board.kpi.count", "zh", n=5) == "5 个"
    assert t("board.kpi.count", "en", n=5) == "5 areas"
    with pytest.raises(KeyError, match="no 'en' text for key 'nope'"):
        t("nope", "en")
    with pytest.raises(ValueError, match="lang 'fr'"):
        t("nav.board", "fr")


def test_label_translates_known_values_and_keeps_unknown_ones():
    assert label("grid", "zh") == "网格"
    assert label("red", "en") == "red"
    assert label("missing_coordinates", "zh") == "缺少坐标"
    assert label("hot_99", "en") == "Hot spot (99%)"
    assert label("入室盗窃", "en") == "Burglary"
    assert label("入室盗窃", "zh") == "入室盗窃"
    assert label("花溪区", "en") == "花溪区"
