"""The service façade: one workspace seen by one user.

``Service(ws, user)`` is what the app's pages, the CLI and the briefing hold. Every read goes
through it: it caches by workspace version (:mod:`analytics.service.cache`) and applies the
user's role and area scope (:mod:`analytics.service.scope`) once, here, so a page cannot forget
to. Area ids that come from a browser are checked against the scope before they are used; a
download is an opaque id (:mod:`analytics.service.downloads`), never a path.

Examples
--------
>>> svc = Service(ws)                      # doctest: +SKIP  (the CLI: whole city)
>>> svc.warning_table(level="grid")        # doctest: +SKIP
"""

from __future__ import annotations

import base64
import binascii
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analytics.service import board, hotspots, incidents, intervention, maps
from analytics.service.cache import cached
from analytics.service.downloads import DOWNLOADS
from analytics.service.scope import Scope, ScopeError
from data.ingest_limits import check_upload_size, limits_of
from data.workspace import ADMIN_LEVELS, Workspace

__all__ = ["Service", "ScopeError"]


class Service:
    """A workspace as one user may see it.

    Parameters
    ----------
    ws : Workspace or str or Path
    user : object, optional
        An account (``name``, ``role``, ``area_id``, see :class:`data.accounts.User`);
        ``None`` is the whole city (the command line, a loopback board without accounts).
    remote : str
        Where the request came from, for the audit log (``local`` for the command line).
    """

    def __init__(self, ws: Workspace | str | Path, user: Any = None, *, remote: str = "local") -> None:
        self.ws = ws if isinstance(ws, Workspace) else Workspace(ws)
        self.user = user
        self.scope = Scope.of(user)
        self.remote = remote

    # -- what there is ------------------------------------------------------------------------
    @property
    def version(self) -> int:
        return self.ws.version

    @property
    def city(self) -> str:
        return self.ws.config.name

    @property
    def attribution(self) -> str:
        return self.ws.config.attribution

    def basemap(self, origin: str = "") -> dict | None:
        """The base map under the maps (:func:`analytics.service.basemap.background`), or None."""
        from analytics.service.basemap import background

        return background(self.ws, origin)

    def tile(self, z: int, x: int, y: int) -> tuple[bytes, str] | None:
        """Tile ``z/x/y`` of the workspace's local base map file, with its media type (or None)."""
        from analytics.service.basemap import tile

        return tile(self.ws, z, x, y)

    def may(self, action: str) -> bool:
        """Whether the user's role allows ``action`` (brief, export, upload, data …)."""
        return self.scope.may(action)

    def layers(self) -> list[str]:
        """Layers the user may look at, coarse to fine."""
        return self.scope.layers(self.ws)

    def admin_layers(self) -> list[str]:
        """The drill-down chain: admin layers the user may see, coarse to fine."""
        present = self.layers()
        return [lv for lv in ADMIN_LEVELS if lv in present] or present[:1]

    def hierarchies(self) -> dict[str, list[str]]:
        """Hierarchies with layers the user may see (admin first): name → layers, coarse to fine."""
        from analytics.service.hierarchy import chains

        present = set(self.layers())
        out = {name: [lv for lv in levels if lv in present] for name, levels in chains(self.ws).items()}
        return {name: levels for name, levels in out.items() if levels}

    def chain(self, hierarchy: str | None = None) -> list[str]:
        """The drill-down chain of ``hierarchy`` (default admin): its layers the user may see."""
        if hierarchy in (None, "", "admin"):
            return self.admin_layers()
        have = self.hierarchies()
        if hierarchy not in have:
            raise ValueError(f"--hierarchy {hierarchy!r}: not one of {', '.join(have) or 'none'}")
        return have[hierarchy]

    def hierarchy_of(self, layer: str | None) -> str:
        """The hierarchy holding ``layer`` (``admin`` for grids and unknown layers)."""
        from analytics.service.hierarchy import chain_of

        chain = chain_of(self.ws, layer) if layer else []
        for name, levels in self.hierarchies().items():
            if chain and levels[-1] in chain:
                return name
        return "admin"

    def ranking(self, level: str | None = None, period=None, freq: str = "M", category: str | None = None,
                by: str = "count", top: int | None = None) -> pd.DataFrame:
        """一月一排位 of ``level`` (:func:`analytics.service.ranking.ranking`): city-wide ranks
        with 万人发案率 and rank change, only the rows in the user's scope."""
        from analytics.service.ranking import ranking

        level = self._layer(level)
        args = (level, None if period is None else str(period), freq, category, by, top)
        table = cached(self.ws, "ranking", args, lambda: ranking(self.ws, level, period, freq, category, by, top))
        out = self.scope.filter(self.ws, table, level).reset_index(drop=True)
        out.attrs = dict(table.attrs)
        return out

    def default_level(self) -> str:
        home = self.scope.home_layer(self.ws)
        return home if home is not None else board.default_level(self.ws)

    def has_extra(self, name: str) -> bool:
        return self.ws.has_extra(name)

    def category_choices(self) -> list[str]:
        """全部, the taxonomy's groups, then the raw categories present."""
        return board.category_choices(self.ws)

    def members(self, category: str | None, present) -> tuple[str, ...]:
        """Raw categories of a category or group name."""
        return self.ws.config.taxonomy.resolve(category, present)

    def periods(self, freq: str = "W") -> list[pd.Timestamp]:
        return board.periods(self.ws, freq)

    def latest_period(self, freq: str = "W") -> pd.Timestamp:
        return board.latest_period(self.ws, freq)

    def partial_period(self, freq: str = "W") -> pd.Timestamp | None:
        """The running (incomplete) period, else None; show it with ``period=board.PARTIAL``."""
        return board.partial_period(self.ws, freq)

    def as_of(self) -> pd.Timestamp:
        """What the data covers (the latest source's as-of time)."""
        return board.as_of(self.ws)

    def gaps(self, freq: str = "W") -> pd.DataFrame:
        """Complete periods flagged as missing data (:func:`analytics.service.board.gaps`)."""
        g = board.gaps(self.ws, freq)
        return g[g["missing"]].reset_index(drop=True)

    # -- the board ----------------------------------------------------------------------------
    def warning_table(self, level: str | None = None, period=None, freq: str = "W",
                      category: str | None = None, mode: str = "alert", model: str | None = None):
        """The four-colour table of one layer (:func:`analytics.service.board.warning_table`),
        only the rows in the user's scope."""
        level = self._layer(level)
        table = board.warning_table(self.ws, level=level, period=period, freq=freq,
                                    category=category, mode=mode, model=model)
        return self.scope.filter(self.ws, table, level)

    def kpis(self, period=None, freq: str = "W", category: str | None = None,
             level: str | None = None, within: str | None = None) -> dict[str, Any]:
        """Headline figures over the user's scope of ``level`` (and the children of ``within``)."""
        level = self._layer(level)
        ids = self.scope.area_ids(self.ws, level)
        if within is not None:
            children = self.layer_table(level)
            children = children.loc[children["parent_id"].astype("string") == self.check_area(within),
                                    "area_id"]
            ids = set(children) if ids is None else set(children) & set(ids)
        return board.kpis(self.ws, period=period, freq=freq, category=category, level=level, area_ids=ids)

    def trend(self, area_id: str, category: str | None = None, freq: str = "W",
              n_periods: int = 104) -> pd.DataFrame:
        return board.trend(self.ws, self.check_area(area_id), category=category, freq=freq,
                           n_periods=n_periods)

    def overview_level(self, hierarchy: str | None = None) -> str:
        """The level the board opens on: ``[board] overview`` (default 街道) where the user may
        see it, else the coarsest level of the user's scope; for another hierarchy its second
        level (派出所) when the user may see it."""
        if hierarchy not in (None, "", "admin"):
            from analytics.service.hierarchy import chains

            chain, full = self.chain(hierarchy), chains(self.ws)[hierarchy]
            return full[1] if len(full) > 1 and full[1] in chain else chain[0]
        admin = self.admin_layers()
        want = self.ws.config.board.get("overview", "subdistrict")
        return want if want in admin else admin[0]

    def alerts(self, period=None, freq: str = "W", category: str | None = None,
               mode: str = "alert", hierarchy: str | None = None) -> pd.DataFrame:
        """The red and orange areas of the finest level in scope (红橙预警清单) of ``hierarchy``
        (default admin), worst first.

        Columns: ``area_id, name, path`` (区 › 街道 › 社区 › 网格), ``level``, ``observed``,
        ``expected``, ``reason_zh``, ``reason_en``, ``rank`` and one column per coarser admin
        layer holding the ancestor's id (to count reds per area and to drill down to them).
        """
        from data.taxonomy import canonical_name

        fine = self.chain(hierarchy)[-1]
        key = (self.scope.area_id, None if period is None else str(period), freq, canonical_name(category), mode)
        if fine != self.admin_layers()[-1]:
            key = (*key, fine)
        # the board's map, its tiles and the 清单 all ask for it in one render: compute it once
        return cached(self.ws, "alerts", key, lambda: self._alerts(period, freq, category, mode, fine)).copy()

    def _alerts(self, period, freq: str, category: str | None, mode: str, fine: str) -> pd.DataFrame:
        from analytics.service.hierarchy import ancestors, path_names

        table = pd.DataFrame(self.warning_table(level=fine, period=period, freq=freq, category=category,
                                                mode=mode).drop(columns="geometry"))
        hot = table[table["level"].astype(str).isin(["red", "orange"])]
        hot = hot.merge(ancestors(self.ws, fine), on="area_id", how="left")
        hot.insert(2, "path", hot["area_id"].map(path_names(self.ws, fine)).fillna(hot["name"]).to_numpy())
        hot["layer"] = fine
        return hot.sort_values("rank", kind="stable").reset_index(drop=True)

    def alerts_below(self, level: str, alerts: pd.DataFrame) -> pd.DataFrame:
        """Per area of ``level``: how many of ``alerts`` (see :meth:`alerts`) lie inside it,
        as ``area_id, red, orange``."""
        level = self._layer(level)
        if level not in alerts.columns:  # the alerts' own level (or no hierarchy): themselves
            key = alerts["area_id"]
        else:
            key = alerts[level]
        counts = pd.crosstab(key.astype(str), alerts["level"].astype(str))
        counts = counts.reindex(columns=["red", "orange"], fill_value=0)
        return counts.rename_axis("area_id").reset_index()

    def recent_totals(self, n: int = 12, category: str | None = None) -> pd.DataFrame:
        """Weekly cases in the user's scope over the last ``n`` complete weeks, beside the same
        weeks a year (52 weeks) earlier: ``period, observed, last_year``."""
        return cached(self.ws, "recent_totals", (self.scope.area_id, n, category),
                      lambda: self._recent_totals(n, category))

    def _recent_totals(self, n: int, category: str | None) -> pd.DataFrame:
        from data.calendar import period_start

        frame = self.incidents()
        weeks = pd.DatetimeIndex(self.periods("W"))[-n:]
        members = self.members(category, frame["category"].unique())
        starts = pd.Series(period_start(frame["occurred_at"], "W"), index=frame.index)
        per_week = starts[frame["category"].isin(members).to_numpy()].value_counts()
        last_year = weeks - pd.Timedelta(weeks=52)
        before_data = last_year < (starts.min() if len(starts) else weeks[0])
        return pd.DataFrame({"period": weeks,
                             "observed": per_week.reindex(weeks, fill_value=0).to_numpy(),
                             "last_year": per_week.reindex(last_year, fill_value=0).to_numpy(float)
                             * np.where(before_data, np.nan, 1.0)})

    def check_area(self, area_id: object, layer: str | None = None) -> str:
        """``area_id`` if it exists and lies in the user's scope, else :class:`ScopeError`."""
        return self.scope.check_area(self.ws, area_id, layer)

    # -- maps ---------------------------------------------------------------------------------
    def layer_geojson(self, layer: str) -> dict:
        """The layer's WGS84 GeoJSON, only the areas in scope."""
        layer = self._layer(layer)
        gj = maps.layer_geojson(self.ws, layer)
        ids = self.scope.area_ids(self.ws, layer)
        if ids is None:
            return gj
        return cached(self.ws, "geojson_scoped", (layer, self.scope.area_id), lambda: {
            "type": "FeatureCollection", "features": [f for f in gj["features"] if f["id"] in ids]})

    def layer_table(self, layer: str) -> pd.DataFrame:
        """area_id, name, level, parent_id, lon, lat of the areas in scope."""
        layer = self._layer(layer)
        return self.scope.filter(self.ws, maps.layer_table(self.ws, layer), layer).reset_index(drop=True)

    # -- incidents ----------------------------------------------------------------------------
    def incidents(self) -> pd.DataFrame:
        """Incidents in scope with date, hour, weekday and ``when`` (cached per version)."""
        frame = cached(self.ws, "incident_frame", (), lambda: incidents.incident_frame(self.ws))
        if self.scope.whole_city:
            return frame
        return cached(self.ws, "incident_frame_scoped", (self.scope.area_id,), lambda: frame[
            self.scope.incident_mask(self.ws, frame["incident_id"])].reset_index(drop=True))

    def area_of_incident(self, layer: str) -> pd.Series | None:
        """The ``layer`` area of every row of :meth:`incidents` (aligned on its index)."""
        layer = self._layer(layer)
        frame = self.incidents()
        return cached(self.ws, "area_of_incident", (layer, self.scope.area_id),
                      lambda: incidents.area_of_incident(self.ws, frame, layer))

    def cameras(self) -> pd.DataFrame | None:
        """Camera points (lon, lat …) inside the scope's outline, or None."""
        if not self.ws.has_extra("cameras"):
            return None
        cams = cached(self.ws, "cameras", (), lambda: pd.DataFrame(
            self.ws.extra("cameras")).drop(columns="geometry", errors="ignore"))
        if self.scope.whole_city:
            return cams

        def inside_scope():
            import shapely

            areas = self.ws.areas(self.scope.home_layer(self.ws))
            home = areas[areas["area_id"].astype(str) == self.scope.area_id].to_crs(4326)
            keep = shapely.contains_xy(home.geometry.iloc[0], cams["lon"].to_numpy(float),
                                       cams["lat"].to_numpy(float))
            return cams[keep].reset_index(drop=True)

        return cached(self.ws, "cameras_scoped", (self.scope.area_id,), inside_scope)

    # -- hotspots -----------------------------------------------------------------------------
    def hotspot_layer(self) -> str:
        """The layer of the hotspot overlays: 网格 when present, else the finest admin layer."""
        layers = self.layers()
        return "grid" if "grid" in layers else self.admin_layers()[-1]

    def hotspots(self, method: str, *, layer: str | None = None, category: str | None = None,
                 start=None, end=None, seed: int = 12345, permutations: int = 999,
                 hours=None, weekdays=None) -> pd.DataFrame:
        """One hot-spot method (:func:`analytics.service.hotspots.run_hotspots`).

        Area methods are computed city-wide (a statistic needs its neighbours) and only the rows
        in scope are returned; Knox needs every pair of incidents, so a grid user gets it over
        the incidents of their own area only. ``hours`` (inclusive pair) and ``weekdays`` (0 =
        Monday) keep only incidents at those hours / on those days (gistar, moran, emerging, knox).
        """
        hours = None if hours is None else tuple(int(h) for h in hours)
        weekdays = None if weekdays is None else tuple(sorted({int(d) for d in weekdays}))
        if method == "knox" and not self.scope.whole_city:
            ids = frozenset(self.incidents()["incident_id"].astype(str))
            return cached(self.ws, "knox_scoped", (self.scope.area_id, category, start, end, seed, permutations,
                                                   hours, weekdays),
                          lambda: hotspots.knox_table(self.ws, category, start, end, seed=seed,
                                                      permutations=max(permutations, 1), incident_ids=ids,
                                                      hours=hours, weekdays=weekdays))
        if method != "knox":
            layer = self._layer(layer or hotspots.default_layer(self.ws, None))
        args = (method, layer, category, start, end, seed, permutations, hours, weekdays)
        table = cached(self.ws, "hotspots", args, lambda: hotspots.run_hotspots(
            self.ws, method, layer=layer, category=category, start=start, end=end, seed=seed,
            permutations=permutations, hours=hours, weekdays=weekdays))
        if method == "knox":
            return table
        return self.scope.filter(self.ws, table, layer)

    def density(self, category: str | None = None, start=None, end=None, hours=None, weekdays=None,
                bandwidth: float = 300.0) -> dict:
        """Quartic kernel density (incidents per km²) of the incidents in scope passing the
        hotspot page's filters (:func:`analytics.service.incidents.filter_incidents`), on a
        grid over the scope's incidents (:func:`analytics.service.hotspots.density_grid`;
        ``bandwidth`` in metres, default :data:`analytics.service.hotspots.DENSITY_BANDWIDTH`);
        cached by version, scope and filters."""
        hours = None if hours is None else tuple(int(h) for h in hours)
        weekdays = None if weekdays is None else tuple(sorted({int(d) for d in weekdays}))
        args = (self.scope.area_id, category, None if start is None else str(start),
                None if end is None else str(end), hours, weekdays, float(bandwidth))

        def compute() -> dict:
            frame = self.incidents()
            members = self.members(category, frame["category"].unique())
            keep = incidents.filter_incidents(frame, categories=members, start=start, end=end, hours=hours,
                                              weekdays=weekdays).to_numpy()
            lon, lat = frame["lon"].to_numpy(float), frame["lat"].to_numpy(float)
            box = (np.nanmin(lon), np.nanmin(lat), np.nanmax(lon), np.nanmax(lat)) if len(frame) else (0, 0, 0, 0)
            return hotspots.density_grid(lon[keep], lat[keep], hotspots.workspace_crs(self.ws), box,
                                         float(bandwidth))

        return cached(self.ws, "density", args, compute)

    def intervention(self, area_ids, start, end=None, category: str | None = None, buffer: float = 500.0,
                     *, layer: str | None = None, weeks_before: int = 26, permutations: int = 99) -> dict:
        """整治 evaluation of ``area_ids`` from ``start``
        (:func:`analytics.service.intervention.evaluate_intervention`): every area is checked against
        the user's scope first; the control areas come from the whole city (the comparison
        needs them), only their sums are shown."""
        ids = [area_ids] if isinstance(area_ids, str) else list(area_ids or [])
        if not ids:
            raise ValueError("--area: give at least one area id")
        if layer is not None:
            layer = self._layer(layer)
        # the whole city: evaluate_intervention names an unknown id (--area 'x': not an area …)
        ids = tuple(sorted({str(a) if self.scope.whole_city else self.check_area(a, layer) for a in ids}))
        args = (ids, str(start), None if end is None else str(end), category, float(buffer), layer,
                int(weeks_before), int(permutations))
        return cached(self.ws, "intervention", args, lambda: intervention.evaluate_intervention(
            self.ws, area_ids=list(ids), start=start, end=end, layer=layer, buffer_m=float(buffer),
            weeks_before=weeks_before, category=category, permutations=permutations))

    def recorded_interventions(self) -> list[dict]:
        """The workspace's recorded 整治 (``interventions`` extra) as ``intervention_id, name,
        layer, area_ids, start, group``, only their areas in scope (none left: left out)."""
        if not self.ws.has_extra("interventions"):
            return []
        table = cached(self.ws, "interventions", (), lambda: pd.DataFrame(self.ws.extra("interventions")))
        out = []
        for row in table.to_dict("records"):
            layer = str(row.get("layer", ""))
            if layer not in self.layers():
                continue
            allowed = self.scope.area_ids(self.ws, layer)
            ids = [str(a) for a in row["area_ids"] if allowed is None or str(a) in allowed]
            if ids:
                out.append({"intervention_id": str(row["intervention_id"]), "name": str(row.get("name", "")),
                            "layer": layer, "area_ids": ids, "start": pd.Timestamp(row["start"]),
                            "group": row.get("group") or None})
        return out

    # -- data, evaluation, briefing, downloads --------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Rows, quarantined rows, date range, layers with area counts, attribution."""
        self.scope.require("data")
        def compute():
            inc = self.ws.incidents_frame(["occurred_at"])
            return {"incidents": len(inc), "quarantined": len(self.ws.quarantine()),
                    "first": inc["occurred_at"].min() if len(inc) else None,
                    "last": inc["occurred_at"].max() if len(inc) else None,
                    "layers": {lv: len(self.ws.areas(lv)) for lv in self.ws.layers()},
                    "attribution": self.ws.config.attribution}
        return cached(self.ws, "summary", (), compute)

    def quarantine(self) -> pd.DataFrame:
        """Every quarantined row with its reason, and ``resolved``: True when a later file brought
        the same incident in (its id is among the incidents now), so the office sees what is
        still to fix. Rows quarantined as ``duplicate_id`` are never "resolved" that way."""
        self.scope.require("data")
        return cached(self.ws, "quarantine", (), lambda: _with_resolved(
            self.ws.quarantine(), self.ws.incidents_frame(["incident_id"])["incident_id"]))

    def risk_table(self, level: str | None = None, category: str | None = None):
        """The RTM relative-risk table of the workspace's risk factors (:mod:`analytics.service.risk`)."""
        self.scope.require("data")
        from analytics.service.risk import risk_table

        return risk_table(self.ws, level=level, category=category)

    def backtest(self) -> dict:
        """The workspace's model evaluation (:mod:`analytics.service.evaluation`)."""
        self.scope.require("data")
        from analytics.service.evaluation import workspace_backtest

        return workspace_backtest(self.ws)

    def upload_check(self, contents: str, filename: str | None) -> None:
        """Before an upload is queued: the user's role and the size limit (nothing decoded)."""
        self.scope.require("upload")
        payload = str(contents).split(",", 1)[-1]
        check_upload_size(len(payload) * 3 // 4, limits_of(self.ws.config), name=str(filename or "upload"))

    def upload(self, contents: str, filename: str | None, **options: Any):
        """Ingest a browser upload (``data:…;base64,…``) the way ``pingan ingest`` does.

        The bytes are written to a private temporary folder under the file's own (sanitised)
        name. ``options`` are :func:`data.ingest.ingest_files`'s (``coords``, ``epsg``,
        ``mapping``, ``encoding``, ``sheet``, ``layer``, ``centroids``, ``as_of``, ``dry_run``);
        a dry run validates the same way and writes, refreshes and records nothing. Returns the
        :class:`data.ingest.IngestReport`; errors name the file as the user named it.
        """
        self.scope.require("upload")
        from data.ingest import ingest_files
        from data.pipeline import refresh

        payload = str(contents).split(",", 1)[-1]
        check_upload_size(len(payload) * 3 // 4, limits_of(self.ws.config), name=str(filename or "upload"))
        try:
            raw = base64.b64decode(payload, validate=True)
        except binascii.Error as exc:
            raise ValueError("upload: not a file the browser sent (bad data URL)") from exc
        given = Path(str(filename or "upload.csv")).name
        stem = "".join(ch for ch in Path(given).stem if ch.isalnum() or ch in "-_")[:60] or "upload"
        suffix = "".join(ch for ch in Path(given).suffix if ch.isalnum() or ch == ".")[:16]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / (stem + suffix)
            path.write_bytes(raw)
            try:
                report = ingest_files([str(path)], self.ws, **options)
            except ValueError as exc:  # name the file as the user knows it, not our temporary path
                raise ValueError(str(exc).replace(str(path), given).replace(tmp, "")) from exc
            if options.get("dry_run"):
                return report
            refresh(self.ws)
        self.record("upload",
               f"{filename}: {report.rows_in} rows in, {report.rows_used} used, "
               f"{report.rows_quarantined} quarantined")
        from analytics.service.notify import notify_in_background

        notify_in_background(self.ws)  # new red/orange warnings to the [notify] webhooks
        return report

    def require(self, action: str) -> None:
        """ScopeError unless the user's role allows ``action``."""
        self.scope.require(action)

    def record(self, action: str, detail: str = "") -> None:
        """Append ``action`` by this user to the workspace's audit log."""
        from data.audit import record

        record(self.ws, action, user=self.scope.user, remote=self.remote, detail=detail)

    def export(self, table: pd.DataFrame, name: str, fmt: str = "xlsx") -> tuple[str, bytes]:
        """A table the user sees, as a file to download: ``(file name, bytes)``.

        Only rows the service already cut to the user's scope should be passed in; every text
        cell that a spreadsheet would run as a formula is neutralised (:mod:`data.io`). The
        export goes to the audit log.
        """
        from data.io import write_table

        self.scope.require("export")
        if fmt not in ("xlsx", "csv"):
            raise ValueError(f"export format {fmt!r}: expected xlsx or csv")
        safe = "".join(ch for ch in str(name) if ch.isalnum() or ch in "-_")[:60] or "export"
        frame = pd.DataFrame(table).drop(columns="geometry", errors="ignore")
        with tempfile.TemporaryDirectory() as tmp:
            path = write_table(frame, Path(tmp) / f"{safe}.{fmt}")
            data = path.read_bytes()
        self.record("export", f"{safe}.{fmt}: {len(frame)} rows")
        return f"{safe}.{fmt}", data

    def offer(self, path: str | Path) -> str:
        """Register a server-made file for this user; returns its download id."""
        return DOWNLOADS.add(path, self.scope.user)

    def download(self, token: object) -> Path:
        """The file behind a download id made for this user (PermissionError otherwise)."""
        path = DOWNLOADS.path(token, self.scope.user)
        self.record("download", path.name)
        return path

    # -- helpers ------------------------------------------------------------------------------
    def _layer(self, layer: str | None) -> str:
        """A layer the user may see (default: the board's), checked."""
        allowed = self.layers()
        if layer is None:
            layer = self.default_level()
        if layer not in allowed:
            raise ScopeError(f"layer {layer!r}: not one of {', '.join(allowed) or 'none'}")
        return layer



def _with_resolved(q: pd.DataFrame, ids: pd.Series) -> pd.DataFrame:
    """``q`` with a ``resolved`` column (see :meth:`Service.quarantine`)."""
    from data.columns import map_columns

    resolved = np.zeros(len(q), dtype=bool)
    if len(q) and "source_file" in q:
        known = set(ids.astype(str))
        for _, rows in q.groupby("source_file", sort=False):
            present = [c for c in rows.columns if rows[c].notna().any()]
            try:
                column = map_columns(present).get("incident_id")
            except ValueError:  # the file's headers name no id: nothing to match on
                column = None
            if column is None:
                continue
            hit = rows[column].astype("string").isin(known).to_numpy() & (rows["reason"] != "duplicate_id").to_numpy()
            resolved[q.index.get_indexer(rows.index)] = hit
    return q.assign(resolved=resolved)
