"""Named area hierarchies of a workspace: 区 › 街道 › 社区 › 网格 and any others (分局 › 派出所 › 警务区).

The admin hierarchy (:data:`ADMIN`) is built in: its levels are :data:`data.workspace.ADMIN_LEVELS`.
Any other hierarchy is named when its boundaries are loaded (``pingan areas --hierarchy police
--levels 分局,派出所,警务区 …``) and recorded in ``config.toml`` as ``[extra.hierarchies]``
``police = ["分局", "派出所", "警务区"]``; each of its levels is an area layer named like the level
(``areas/派出所.parquet``), with ``parent_id`` naming an area of the next coarser level of the same
hierarchy. Incidents are assigned to every layer of every hierarchy by :func:`data.pipeline.refresh`.

Generated grids (``cell`` …) belong to no hierarchy.
"""

from __future__ import annotations

from collections.abc import Sequence

from data.workspace import ADMIN_LEVELS, Workspace

__all__ = ["ADMIN", "hierarchies", "hierarchy_of", "hierarchy_levels", "check_new_levels", "record_hierarchy",
           "level_for"]

#: Name of the built-in admin hierarchy.
ADMIN = "admin"

_BAD_CHARS = set('/\\:*?"<>|') | {"\0"}


def hierarchies(ws: Workspace) -> dict[str, list[str]]:
    """Hierarchy name → its layers present in the workspace, coarse to fine; admin first.

    A hierarchy recorded in ``config.toml`` whose layers are all missing is left out; the
    admin hierarchy is listed when at least one admin layer exists.
    """
    present = ws.layers()
    out: dict[str, list[str]] = {}
    admin = [lv for lv in ADMIN_LEVELS if lv in present]
    if admin:
        out[ADMIN] = admin
    for name, levels in _recorded(ws).items():
        have = [lv for lv in levels if lv in present]
        if have:
            out[name] = have
    return out


def hierarchy_of(ws: Workspace, layer: str) -> str | None:
    """The hierarchy ``layer`` belongs to (None for a generated grid)."""
    if layer in ADMIN_LEVELS:
        return ADMIN
    for name, levels in _recorded(ws).items():
        if layer in levels:
            return name
    return None


def hierarchy_levels(ws: Workspace, name: str | None) -> list[str]:
    """The layers of hierarchy ``name`` present, coarse to fine (``None``: admin).

    Raises
    ------
    ValueError
        Unknown hierarchy (the message names ``--hierarchy`` and the known ones).
    """
    have = hierarchies(ws)
    key = ADMIN if name in (None, "", ADMIN) else str(name)
    if key not in have:
        raise ValueError(f"--hierarchy {key!r}: no such hierarchy in {ws.path} "
                         f"(hierarchies: {', '.join(have) or 'none'})")
    return have[key]


def check_new_levels(ws: Workspace, name: str, levels: Sequence[str]) -> list[str]:
    """Validate the level names of hierarchy ``name`` (they become layer file names).

    Returns the names stripped; raises ValueError naming ``--levels`` / ``--hierarchy`` when a
    name is empty, repeated, unusable as a file name, reserved (an admin level, a generated
    grid) or a level of another hierarchy.
    """
    if not name or name == ADMIN or any(ch in _BAD_CHARS for ch in name):
        raise ValueError(f"--hierarchy {name!r}: pick a name other than {ADMIN!r} (letters, digits, 汉字)")
    clean = [str(v).strip() for v in levels]
    if not clean:
        raise ValueError("--levels: give the level names coarse → fine, e.g. 分局,派出所,警务区")
    grids = set(ws.config.extra.get("grids", {}))
    taken = {lv: h for h, lvs in _recorded(ws).items() if h != name for lv in lvs}
    for lv in clean:
        if not lv or any(ch in _BAD_CHARS for ch in lv) or lv.startswith("."):
            raise ValueError(f"--levels {lv!r}: not usable as a layer name")
        if lv in ADMIN_LEVELS or lv in grids or lv == "cell":
            raise ValueError(f"--levels {lv!r}: reserved for the admin hierarchy or a generated grid")
        if lv in taken:
            raise ValueError(f"--levels {lv!r}: already a level of hierarchy {taken[lv]!r}")
    if len(set(clean)) != len(clean):
        raise ValueError(f"--levels {','.join(clean)}: a level is named twice")
    return clean


def record_hierarchy(ws: Workspace, name: str, levels: Sequence[str]) -> None:
    """Record hierarchy ``name`` with ``levels`` (coarse → fine) in ``config.toml``."""
    extra = dict(ws.config.extra)
    recorded = dict(extra.get("hierarchies", {}))
    recorded[name] = list(levels)
    extra["hierarchies"] = recorded
    ws.update_config(extra=extra)


def _recorded(ws: Workspace) -> dict[str, list[str]]:
    raw = ws.config.extra.get("hierarchies", {})
    if not isinstance(raw, dict):
        raise ValueError(f"{ws.config_path}: [extra] hierarchies must be a table of name = [levels]")
    return {str(k): [str(v) for v in vs] for k, vs in raw.items()}


def level_for(ws: Workspace, hierarchy: str | None, level: str | None) -> str | None:
    """The layer a command runs on: ``level`` (checked to be in ``hierarchy`` when both are
    given), else the finest level of ``hierarchy``; ``None`` when neither is given (the
    command's own default)."""
    if hierarchy in (None, ""):
        return level
    chain = hierarchy_levels(ws, hierarchy)
    if level is None:
        return chain[-1]
    if level not in chain:
        raise ValueError(f"--level {level!r}: not a level of hierarchy {hierarchy!r} ({', '.join(chain)})")
    return level
