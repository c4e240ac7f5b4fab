"""The settings of a workspace, stored in ``config.toml``, and the error every workspace problem
raises (it names the file)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from data.taxonomy import DEFAULT_GROUPS, Taxonomy

__all__ = ["Config", "DEFAULT_LAG_DAYS", "WorkspaceError", "check_basemap", "check_notify"]

#: Reporting lag in days when ``config.toml`` has no ``[periods] lag_days``.
DEFAULT_LAG_DAYS: float = 1.0


class WorkspaceError(ValueError):
    """A workspace is missing, incomplete or inconsistent (names the file)."""



@dataclass(frozen=True)
class Config:
    """Per-workspace settings, stored in ``config.toml``.

    Parameters
    ----------
    name : str
        City or district name shown in the app (e.g. 示范市).
    timezone : str
        IANA zone of the naive local times in ``occurred_at``.
    crs : str or None
        Projected CRS (metres) for areas, e.g. ``"EPSG:32649"``; ``None`` until estimated.
    taxonomy : Taxonomy
        Category groups.
    thresholds : dict
        Overrides of the warning thresholds (see ``analytics.warning.Thresholds``).
    attribution : str
        Data source and licence, shown in the app and the briefing.
    center : tuple of float or None
        (lon, lat) of the study area, for maps.
    limits : dict
        Overrides of the ingest bounds, the ``[limits]`` table (see ``data.ingest_limits.IngestLimits``).
    periods : dict
        The ``[periods]`` table: ``lag_days`` = reporting lag in days (default 1). A period is
        complete when its end plus the lag is at or before the workspace's as-of time
        (:meth:`Workspace.as_of`, :func:`data.calendar.is_complete`).
    board : dict
        The ``[board]`` table: ``overview`` = the level the board opens on (default
        ``subdistrict``, 街道, when the workspace has it).
    basemap : dict
        The ``[basemap]`` table (default empty: no base map): ``url`` (tile template with
        ``{z}`` ``{x}`` ``{y}``) or ``file`` (MBTiles/PMTiles in the workspace), ``attribution``,
        ``opacity`` (0–1), ``minzoom``/``maxzoom``; checked by :func:`check_basemap`.
    notify : dict
        The ``[notify]`` table: ``webhooks`` (a list of ``{url, format = "wecom" | "dingtalk" |
        "json", levels = ["红"] or ["红", "橙"], secret}``), ``retries``, ``backoff``, ``timeout``;
        checked and normalised by :func:`check_notify`.
    """

    name: str = "Pingan"
    timezone: str = "Asia/Shanghai"
    crs: str | None = None
    taxonomy: Taxonomy = field(default_factory=Taxonomy)
    thresholds: dict[str, Any] = field(default_factory=dict)
    attribution: str = ""
    center: tuple[float, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, Any] = field(default_factory=dict)
    periods: dict[str, Any] = field(default_factory=dict)
    board: dict[str, Any] = field(default_factory=dict)
    basemap: dict[str, Any] = field(default_factory=dict)
    notify: dict[str, Any] = field(default_factory=dict)

    @property
    def reporting_lag(self) -> pd.Timedelta:
        """``[periods] lag_days`` as a Timedelta (default :data:`DEFAULT_LAG_DAYS` days)."""
        raw = self.periods.get("lag_days", DEFAULT_LAG_DAYS)
        try:
            days = float(raw)
        except (TypeError, ValueError):
            raise WorkspaceError(f"config.toml: [periods] lag_days = {raw!r} is not a number of days") from None
        if not 0 <= days <= 366:
            raise WorkspaceError(f"config.toml: [periods] lag_days = {raw!r}: use 0–366 days")
        return pd.Timedelta(days=days)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "timezone": self.timezone}
        if self.crs:
            d["crs"] = self.crs
        if self.attribution:
            d["attribution"] = self.attribution
        if self.center:
            d["center"] = list(self.center)
        d["taxonomy"] = self.taxonomy.to_dict()
        if self.thresholds:
            d["thresholds"] = dict(self.thresholds)
        if self.extra:
            d["extra"] = dict(self.extra)
        if self.limits:
            d["limits"] = dict(self.limits)
        if self.periods:
            d["periods"] = dict(self.periods)
        if self.board:
            d["board"] = dict(self.board)
        if self.basemap:
            d["basemap"] = dict(self.basemap)
        if self.notify:
            d["notify"] = dict(self.notify)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        known = {"name", "timezone", "crs", "taxonomy", "thresholds", "attribution", "center", "extra", "limits",
                 "periods", "board", "basemap", "notify"}
        unknown = set(d) - known
        if unknown:
            raise WorkspaceError(f"config.toml: unknown setting(s) {', '.join(sorted(unknown))}")
        return cls(
            name=d.get("name", "Pingan"),
            timezone=d.get("timezone", "Asia/Shanghai"),
            crs=d.get("crs"),
            taxonomy=Taxonomy(d.get("taxonomy", DEFAULT_GROUPS)),
            thresholds=dict(d.get("thresholds", {})),
            attribution=d.get("attribution", ""),
            center=tuple(d["center"]) if d.get("center") else None,
            extra=dict(d.get("extra", {})),
            limits=dict(d.get("limits", {})),
            periods=dict(d.get("periods", {})),
            board=dict(d.get("board", {})),
            basemap=check_basemap(d["basemap"]) if d.get("basemap") else {},
            notify=dict(d["notify"]) if d.get("notify") and check_notify(d["notify"]) else {},
        )


_NOTIFY_KEYS = ("webhooks", "retries", "backoff", "timeout")
_WEBHOOK_KEYS = ("url", "format", "levels", "secret", "name")
_NOTIFY_LEVELS = {"红": "red", "red": "red", "橙": "orange", "orange": "orange"}


def check_notify(table: dict[str, Any]) -> dict[str, Any]:
    """The ``[notify]`` table of ``config.toml``, checked and normalised (a WorkspaceError names the key).

    Returns ``{"webhooks": [{"url", "format", "levels": ("red", …), "secret", "name"}, …],
    "retries": int, "backoff": float, "timeout": float}``; ``format`` is ``wecom`` (企业微信
    group robot), ``dingtalk`` (钉钉 group robot; ``secret`` signs the request) or ``json``;
    ``levels`` are 红/橙 (or red/orange), default ``["红"]``.
    """
    _check_section(table, "notify", _NOTIFY_KEYS)
    hooks = table.get("webhooks", [])
    if not isinstance(hooks, list):
        raise WorkspaceError("config.toml: [notify] webhooks must be a list of tables ([[notify.webhooks]])")
    out: dict[str, Any] = {"webhooks": []}
    for i, hook in enumerate(hooks, 1):
        where = f"config.toml: [[notify.webhooks]] #{i}"
        if not isinstance(hook, dict):
            raise WorkspaceError(f"{where}: must be a table with url and format")
        bad = set(hook) - set(_WEBHOOK_KEYS)
        if bad:
            raise WorkspaceError(f"{where}: unknown key(s) {', '.join(sorted(bad))} (known: {', '.join(_WEBHOOK_KEYS)})")
        url = hook.get("url")
        if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")) or len(url) < 10:
            raise WorkspaceError(f"{where}: url must be an http:// or https:// address")
        fmt = hook.get("format", "json")
        if fmt not in ("wecom", "dingtalk", "json"):
            raise WorkspaceError(f"{where}: format = {fmt!r}: use wecom, dingtalk or json")
        levels = hook.get("levels", ["红"])
        if (not isinstance(levels, list) or not levels
                or any(not isinstance(v, str) or v not in _NOTIFY_LEVELS for v in levels)):
            raise WorkspaceError(f"{where}: levels = {levels!r}: use [\"红\"] or [\"红\", \"橙\"]")
        secret = hook.get("secret")
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise WorkspaceError(f"{where}: secret must be the robot's signing secret (text)")
        out["webhooks"].append({"url": url, "format": fmt, "secret": secret, "name": str(hook.get("name", "")),
                                "levels": tuple(dict.fromkeys(_NOTIFY_LEVELS[v] for v in levels))})
    for key, default, low, high, kind in (("retries", 3, 0, 10, int), ("backoff", 1.0, 0.0, 60.0, float),
                                          ("timeout", 10.0, 0.1, 120.0, float)):
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and not isinstance(value, int)) \
                or not low <= value <= high:
            raise WorkspaceError(f"config.toml: [notify] {key} = {value!r}: use a number from {low} to {high}")
        out[key] = kind(value)
    return out


_BASEMAP_KEYS = ("url", "file", "attribution", "opacity", "minzoom", "maxzoom")


def check_basemap(table: dict[str, Any]) -> dict[str, Any]:
    """The ``[basemap]`` table of ``config.toml``, checked (a ValueError names the key).

    Exactly one of ``url`` (an http(s) tile template with ``{z}``, ``{x}`` and ``{y}``) or
    ``file`` (a ``.mbtiles`` / ``.pmtiles`` path, relative to the workspace); ``opacity`` in
    0–1; ``minzoom`` ≤ ``maxzoom`` in 0–24.
    """
    _check_section(table, "basemap", _BASEMAP_KEYS)
    out = dict(table)
    if ("url" in out) == ("file" in out):
        raise WorkspaceError("config.toml: [basemap] needs exactly one of url (a tile server) or file (MBTiles/PMTiles)")
    if "url" in out:
        url = out["url"]
        if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
            raise WorkspaceError(f"config.toml: [basemap] url = {url!r}: not an http(s) address")
        missing = [k for k in ("{z}", "{x}", "{y}") if k not in url]
        if missing:
            raise WorkspaceError(f"config.toml: [basemap] url = {url!r}: a tile template needs {' '.join(missing)}")
    else:
        name = out["file"]
        if not isinstance(name, str) or not name.lower().endswith((".mbtiles", ".pmtiles")):
            raise WorkspaceError(f"config.toml: [basemap] file = {name!r}: must be a .mbtiles or .pmtiles file")
    if not isinstance(out.get("attribution", ""), str):
        raise WorkspaceError(f"config.toml: [basemap] attribution = {out['attribution']!r}: must be text")
    opacity = out.get("opacity", 1.0)
    if isinstance(opacity, bool) or not isinstance(opacity, int | float) or not 0 <= opacity <= 1:
        raise WorkspaceError(f"config.toml: [basemap] opacity = {opacity!r}: use a number from 0 to 1")
    zooms = {}
    for key, default in (("minzoom", 0), ("maxzoom", 18)):
        value = out.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 24:
            raise WorkspaceError(f"config.toml: [basemap] {key} = {value!r}: use a whole number from 0 to 24")
        zooms[key] = value
    if zooms["minzoom"] > zooms["maxzoom"]:
        raise WorkspaceError(f"config.toml: [basemap] minzoom = {zooms['minzoom']} is above maxzoom = {zooms['maxzoom']}")
    return out


def _check_section(table: Any, section: str, known) -> None:
    """A config.toml section must be a table of known keys (the error names the section)."""
    if not isinstance(table, dict):
        raise WorkspaceError(f"config.toml: [{section}] must be a table, got {table!r}")
    unknown = set(table) - set(known)
    if unknown:
        raise WorkspaceError(f"config.toml: [{section}] unknown key(s) {', '.join(sorted(unknown))} "
                             f"(known: {', '.join(known)})")
