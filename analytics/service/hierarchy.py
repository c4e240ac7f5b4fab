"""Area hierarchies as tables: every area's ancestors, and a readable path of names.

区 › 街道 › 社区 › 网格 (or 分局 › 派出所 › 警务区, :mod:`data.hierarchies`): each layer of a
hierarchy names its parent in ``parent_id``. The board needs, for a 网格, the 区, 街道 and 社区 it
lies in (to count red 网格 per 街道, to drill down to it, and to name it by its path); this module
walks the ``parent_id`` chain of the layer's own hierarchy once per workspace version.
"""

from __future__ import annotations

import pandas as pd

from analytics.service.cache import cached
from analytics.service.maps import layer_table

__all__ = ["ancestors", "path_names", "chains", "chain_of", "PATH_SEP"]

#: Separator of a path of names (区 › 街道 › 社区 › 网格).
PATH_SEP = " › "


def ancestors(ws, layer: str) -> pd.DataFrame:
    """One row per area of ``layer``: ``area_id`` and one column per coarser layer of its
    hierarchy present, holding the id of the ancestor there (NaN when the chain is broken)."""
    return cached(ws, "ancestors", (layer,), lambda: _ancestors(ws, layer))


def path_names(ws, layer: str) -> pd.Series:
    """``area_id`` → 「区 › 街道 › 社区 › 网格」 names, coarse to fine."""
    def compute():
        anc = ancestors(ws, layer)
        parts = []
        for lv in [c for c in anc.columns if c != "area_id"] + [layer]:
            names = layer_table(ws, lv).set_index("area_id")["name"]
            ids = anc["area_id"] if lv == layer else anc[lv]
            parts.append(ids.map(names).fillna(""))
        text = parts[0].astype(str)
        for p in parts[1:]:
            text = text.where(p == "", text.where(text == "", text + PATH_SEP) + p.astype(str))
        return pd.Series(text.to_numpy(), index=anc["area_id"].to_numpy())
    return cached(ws, "path_names", (layer,), compute)


def chains(ws) -> dict[str, list[str]]:
    """Hierarchy name → its layers present, coarse to fine (:func:`data.hierarchies.hierarchies`),
    cached per workspace version; ``admin`` first."""
    from data.hierarchies import hierarchies

    return cached(ws, "hierarchies", (), lambda: hierarchies(ws))


def chain_of(ws, layer: str) -> list[str]:
    """The layers of ``layer``'s hierarchy, coarse to fine (``[]`` for a generated grid)."""
    for levels in chains(ws).values():
        if layer in levels:
            return list(levels)
    return []


def _ancestors(ws, layer: str) -> pd.DataFrame:
    admin = chain_of(ws, layer)
    out = pd.DataFrame({"area_id": layer_table(ws, layer)["area_id"].astype(str)})
    if layer not in admin:
        return out
    child = out["area_id"]
    for lv in reversed(admin[: admin.index(layer)]):
        finer = admin[admin.index(lv) + 1]
        parent = layer_table(ws, finer).set_index("area_id")["parent_id"].astype("string")
        child = child.map(parent)
        out[lv] = child.astype(object).where(child.notna(), None).to_numpy()
    return out[["area_id", *[lv for lv in admin if lv in out.columns]]]
