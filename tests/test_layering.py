"""Imports run one way (design.md, "One entrance"; house style rule 1), checked on the source.

Ranks, low to high: ``layers`` (geometry) < ``data`` (workspace, ingest) < statistics
(``analytics`` models, warning, backtest, hotspot statistics, plus the leaf tables
``analytics.present.i18n`` / ``palette``) < ``analytics.service`` (the façade) <
``analytics.present`` (the briefing) < ``pages`` < ``app``. A module may import its own rank
or lower, never higher — at module level or inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("layers", "data", "analytics", "pages")
LEAVES = ("analytics.present.i18n", "analytics.present.palette")


def _rank(module: str) -> int | None:
    top = module.split(".")[0]
    if top == "app":
        return 6
    if top == "pages":
        return 5
    if module.startswith("analytics.present") and module not in LEAVES and not module.startswith(LEAVES):
        return 4
    if module.startswith("analytics.service"):
        return 3
    if top == "analytics":
        return 2
    if top == "data":
        return 1
    if top == "layers":
        return 0
    return None  # not ours


def _modules() -> list[tuple[str, Path]]:
    out = [("app", ROOT / "app.py")]
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out.append((name, path))
    return out


def _imports(module: str, path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                base = module.split(".")[: -node.level] if not path.name == "__init__.py" else module.split(".")
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # "from analytics import service" imports the submodule analytics.service
            found += [(node.lineno, f"{target}.{a.name}") for a in node.names
                      if _rank(f"{target}.{a.name}") is not None and target in ("analytics", "analytics.present")]
    return found


MODULES = _modules()


def test_the_packages_are_found():
    names = {m for m, _ in MODULES}
    assert {"app", "analytics.service.facade", "data.workspace", "layers.grids", "pages.board"} <= names


@pytest.mark.parametrize("module,path", MODULES, ids=[m for m, _ in MODULES])
def test_no_upward_import(module, path):
    mine = _rank(module)
    upward = [f"{path.relative_to(ROOT)}:{line} imports {target}" for line, target in _imports(module, path)
              if (r := _rank(target)) is not None and r > mine]
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize("module", LEAVES)
def test_leaf_tables_import_nothing_of_ours(module):
    path = ROOT / (module.replace(".", "/") + ".py")
    ours = [t for _, t in _imports(module, path) if _rank(t) is not None]
    assert not ours, ours


def test_pages_reach_the_workspace_only_through_the_service():
    # The login gate (_auth) and the shared plumbing (_common) hold the Workspace object; a page
    # talks to analytics.service and the presentation tables only.
    allowed = ("analytics.service", "analytics.present", "pages")
    bad = []
    for module, path in MODULES:
        if not module.startswith("pages.") or module in ("pages._auth", "pages._common", "pages._serve"):
            continue
        for line, target in _imports(module, path):
            if _rank(target) is not None and not target.startswith(allowed):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not bad, "\n".join(bad)


def test_the_checker_sees_an_upward_import(tmp_path):
    # The rule itself must be able to fail: a statistics module reaching up into the service.
    path = tmp_path / "warning.py"
    path.write_text("def f():\n    from analytics.service import board\n", encoding="utf-8")
    targets = [t for _, t in _imports("analytics.warning", path)]
    assert "analytics.service" in targets and _rank("analytics.service") > _rank("analytics.warning")
