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
from pathlib import Path

from data.workspace import ADMIN_LEVELS, Workspace

__all__ = ["ADMIN", "hierarchies", "hierarchy_of", "hierarchy_levels", "check_new_levels", "record_hierarchy",
           "level_for", "build_hierarchy", "hierarchy_report"]

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


def build_hierarchy(ws: Workspace, tx, boundaries, crs: str, hierarchy: str, levels, *, level: str | None = None,
                    id_column: str | None = None, name_column: str | None = None,
                    parent_column: str | None = None) -> list[str]:
    """Write the layers of a named hierarchy (分局 › 派出所 › 警务区) in the open transaction ``tx``:
    one layer per level, parents linked, the hierarchy recorded; returns report lines.

    With one file per level, file *i* holds level *i*; otherwise a level column or the file names
    say. A parent comes from a parent-id column (given, or named like 所属派出所 / 上级派出所 /
    派出所编码), else by largest overlap with the next coarser level. Called by
    :func:`data.pipeline.build_areas`.
    """
    import geopandas as gpd
    import numpy as np
    import pandas as pd

    from data.population import population_columns, population_note
    from layers.admin import infer_parents, validate_hierarchy
    from layers.boundaries import read_boundaries

    levels = check_new_levels(ws, str(hierarchy), [levels] if isinstance(levels, str) else levels)
    paths = [boundaries] if isinstance(boundaries, str | Path) else list(boundaries)
    kw = {"id_column": id_column, "name_column": name_column, "parent_column": parent_column, "levels": levels}
    if level is None and len(paths) == len(levels):  # file i holds level i
        frames = []
        for i, (p, lv) in enumerate(zip(paths, levels)):
            # 警务区 files name their parent 所属派出所 / 上级派出所 / 派出所编码 …
            own = {**kw, "parent_column": parent_column or (_parent_column(p, levels[i - 1]) if i else None)}
            frames.append(read_boundaries(p, level=lv, **own).to_crs(crs))
        new = pd.concat(frames, ignore_index=True)
        dup = new["area_id"][new["area_id"].duplicated()]
        if len(dup):
            raise ValueError(f"{', '.join(map(str, paths))}: area id {dup.iloc[0]!r} occurs more than once")
    else:
        new = read_boundaries(paths, level=level, **kw).to_crs(crs)
    new = gpd.GeoDataFrame(new, geometry="geometry", crs=crs)
    new["geometry"] = new.geometry.make_valid()
    new = population_columns(new, ", ".join(Path(p).name for p in paths))
    missing = [lv for lv in levels if lv not in set(new["level"])]
    if missing:
        raise ValueError(f"--levels: no area of level {missing[0]!r} in {', '.join(Path(p).name for p in paths)}")
    taken = set()
    for lv in ws.layers():
        if lv not in levels:
            taken |= set(ws.areas(lv)["area_id"].astype("str"))
    clash = taken & set(new["area_id"])
    if clash:
        raise ValueError(f"{paths[0]}: area id {sorted(clash)[0]!r} already used by another layer")
    lines, layers = [], {}
    for i, lv in enumerate(levels):
        g = new[new["level"] == lv].sort_values("area_id").reset_index(drop=True)
        how = ""
        if i and g["parent_id"].isna().all():  # parents by containment (largest overlap)
            g["parent_id"] = infer_parents(g, layers[levels[i - 1]]).to_numpy()
            how = f", parents by containment in {levels[i - 1]}"
        elif i:
            unknown = ~g["parent_id"].isna().to_numpy() & ~g["parent_id"].isin(layers[levels[i - 1]]["area_id"]).to_numpy()
            if unknown.any():
                j = int(np.flatnonzero(unknown)[0])
                raise ValueError(f"{lv}: parent id {g['parent_id'].iloc[j]!r} of area {g['area_id'].iloc[j]!r} "
                                 f"is not an area of {levels[i - 1]}")
            how = ", parents from the parent-id column"
        else:
            g["parent_id"] = pd.array([None] * len(g), dtype="str")
        g = gpd.GeoDataFrame(g, geometry="geometry", crs=crs)
        tx.write_parquet(f"areas/{lv}.parquet", g)
        layers[lv] = g
        lines.append(f"{lv}: {len(g):,} areas ({hierarchy}){how}{population_note(g)}")
    record_hierarchy(ws, str(hierarchy), levels)
    return lines + hierarchy_report(validate_hierarchy(layers), str(hierarchy))


def hierarchy_report(issues, name: str) -> list[str]:
    """The validation report of a hierarchy (``name`` prefixed: "police hierarchy: …")."""
    head = f"{name} hierarchy" if name else "hierarchy"
    if issues.empty:
        return [f"{head}: no overlaps, gaps or children outside their parents (≥ 1 m²)"]
    return [f"{head}: {len(grp):,} {kind} issue(s), {grp['area_m2'].sum():,.0f} m² in total "
            f"(largest {grp['area_m2'].max():,.0f} m² at {grp.loc[grp['area_m2'].idxmax(), 'area_id']})"
            for kind, grp in issues.groupby("kind", sort=False)]


def _parent_column(path, parent_level: str) -> str | None:
    """A column of a boundary file that names the parent level: 所属派出所, 上级派出所, 派出所编码 …"""
    path = Path(path)
    if not path.exists():
        return None
    if path.suffix.lower() in (".parquet", ".geoparquet"):
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
    else:
        import pyogrio

        try:
            names = [str(c) for c in pyogrio.read_info(path)["fields"]]
        except (OSError, ValueError):  # unreadable: read_boundaries names the file
            return None
    wanted = [f"{pre}{parent_level}{post}" for pre in ("所属", "上级", "")
              for post in ("", "编码", "代码", "id", "_id", "ID")]
    return next((c for c in wanted if c in names and c != parent_level), None)


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
