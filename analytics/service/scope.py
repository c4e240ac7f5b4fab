"""Who may see what: a user's role and area scope, resolved against a workspace.

Roles (design.md, "Users and roles"; permissions in :data:`data.accounts.PERMISSIONS`):
**leader** and **admin** see the whole city, **analyst** sees, exports and uploads, **grid** sees only its area's subtree — the area itself, every finer
admin area below it, the generated cells whose centre lies inside it, and the incidents assigned
to it — everywhere: maps, tables, trends, hotspots, exports. Nothing coarser than its area, and
nothing beside it.

The scope is applied once, by :class:`analytics.service.Service`; pages never filter. An area id
that comes from a browser is checked with :meth:`Scope.check_area` before it is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.service.cache import cached
from analytics.service.hierarchy import chain_of
from data.accounts import PERMISSIONS, ROLES

__all__ = ["Scope", "ScopeError", "WHOLE_CITY"]



class ScopeError(PermissionError):
    """The user asked for an area or an action outside their role or scope."""


@dataclass(frozen=True)
class Scope:
    """A role and, for the ``grid`` role, the area whose subtree the user may see.

    Parameters
    ----------
    role : {"leader", "analyst", "grid", "admin"}
    area_id : str or None
        Required for ``grid``; ignored otherwise.
    user : str
        Name shown in the audit log.
    """

    role: str = "analyst"
    area_id: str | None = None
    user: str = "local"

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role {self.role!r}: expected one of {', '.join(ROLES)}")
        if self.role == "grid" and not self.area_id:
            raise ValueError("role 'grid' needs an area (--area AREA_ID)")

    @classmethod
    def of(cls, user) -> Scope:
        """The scope of an account object with ``name``, ``role`` and ``area_id`` (None: local)."""
        if user is None:
            return WHOLE_CITY
        return cls(role=str(user.role), area_id=getattr(user, "area_id", None) or None,
                   user=str(getattr(user, "name", "?")))

    @property
    def whole_city(self) -> bool:
        return self.role != "grid"

    def may(self, action: str) -> bool:
        """Whether the role allows ``action`` (:data:`data.accounts.PERMISSIONS`)."""
        return action in PERMISSIONS[self.role]

    def require(self, action: str) -> None:
        if not self.may(action):
            raise ScopeError(f"{self.user}: role {self.role!r} may not {action}")

    # -- areas ----------------------------------------------------------------------------
    def home_layer(self, ws) -> str | None:
        """The layer holding the scope's area (None for the whole city)."""
        if self.whole_city:
            return None
        return _subtree(ws, self.area_id)[0]

    def layers(self, ws) -> list[str]:
        """Layers the user may look at, coarse to fine."""
        layers = ws.layers()
        if self.whole_city:
            return layers
        home = self.home_layer(ws)
        chain = chain_of(ws, home)  # 区…网格 or 分局…警务区: the home's own hierarchy
        if home in chain:
            grids = [lv for lv in layers if not chain_of(ws, lv)]
            return chain[chain.index(home):] + grids
        return [home]

    def area_ids(self, ws, layer: str) -> frozenset[str] | None:
        """Area ids of ``layer`` inside the scope (None: all of them)."""
        if self.whole_city:
            return None
        return _subtree(ws, self.area_id)[1].get(layer, frozenset())

    def check_area(self, ws, area_id: object, layer: str | None = None) -> str:
        """``area_id`` as a str if it exists (in ``layer``) and lies in the scope, else ScopeError."""
        area = str(area_id)
        layers = [layer] if layer else ws.layers()
        for lv in layers:
            if area in _all_ids(ws, lv):
                allowed = self.area_ids(ws, lv)
                if allowed is None or area in allowed:
                    return area
                break
        raise ScopeError(f"area {area!r}: not in the scope of {self.user}")

    def filter(self, ws, frame: pd.DataFrame, layer: str, column: str = "area_id") -> pd.DataFrame:
        """Rows of ``frame`` whose ``column`` lies in the scope of ``layer``."""
        allowed = self.area_ids(ws, layer)
        if allowed is None:
            return frame
        return frame[frame[column].astype(str).isin(allowed).to_numpy()]

    def incident_mask(self, ws, incident_ids: pd.Series) -> np.ndarray | None:
        """Which incidents (by id) lie in the scope (None: all)."""
        if self.whole_city:
            return None
        home = self.home_layer(ws)
        assigned = cached(ws, "assignment", (home,), lambda: _assignment(ws, home))
        inside = set(assigned.index[assigned.to_numpy() == self.area_id])
        return incident_ids.astype(str).isin(inside).to_numpy()


#: The scope of the command line and of loopback without accounts.
WHOLE_CITY = Scope(role="analyst", user="local")


def _all_ids(ws, layer: str) -> frozenset[str]:
    return cached(ws, "area_ids", (layer,), lambda: frozenset(ws.areas(layer)["area_id"].astype(str)))


def _subtree(ws, area_id: str) -> tuple[str, dict[str, frozenset[str]]]:
    return cached(ws, "subtree", (area_id,), lambda: _build_subtree(ws, area_id))


def _build_subtree(ws, area_id: str) -> tuple[str, dict[str, frozenset[str]]]:
    """(home layer, {layer: ids}) of the subtree rooted at ``area_id``."""
    layers = ws.layers()
    home = next((lv for lv in layers if area_id in _all_ids(ws, lv)), None)
    if home is None:
        raise ScopeError(f"area {area_id!r}: not in any layer of {ws.path}")
    out: dict[str, frozenset[str]] = {home: frozenset({area_id})}
    admin = chain_of(ws, home)  # the home's hierarchy (admin or police …)
    frontier = {area_id}
    if home in admin:
        for lv in admin[admin.index(home) + 1:]:
            areas = ws.areas(lv)
            if "parent_id" not in areas:
                frontier = set()
            else:
                parent = areas["parent_id"].astype("string").fillna("")
                frontier = set(areas.loc[parent.isin(frontier).to_numpy(), "area_id"].astype(str))
            out[lv] = frozenset(frontier)
    home_geom = ws.areas(home)
    home_geom = home_geom[home_geom["area_id"].astype(str) == area_id]
    for lv in layers:
        if lv in out or chain_of(ws, lv):  # another hierarchy's areas are not in this subtree
            continue
        cells = ws.areas(lv)
        centre = cells.geometry.representative_point().to_crs(home_geom.crs)
        inside = centre.within(home_geom.geometry.iloc[0]).to_numpy()
        out[lv] = frozenset(cells.loc[inside, "area_id"].astype(str))
    return home, out


def _assignment(ws, layer: str) -> pd.Series:
    """area_id of ``layer`` per incident id (from assignments.parquet)."""
    table = pd.read_parquet(ws.require(ws.assignments_path), columns=["incident_id", layer])
    return pd.Series(table[layer].astype("string").fillna("").to_numpy(),
                     index=table["incident_id"].astype(str).to_numpy())
