"""``pingan demo``: build the synthetic demo city 示范市 as a complete workspace.

The demo exercises the real pipeline: the generator writes *raw export files* (a GBK CSV with
Chinese headers, a UTF-8 CSV, an Excel file and one 派出所's GCJ-02 export, with a few hundred
planted bad rows) and admin boundary files under ``W/raw/``, then ingests them with
:func:`data.ingest.ingest_files` and loads the boundaries with :func:`data.pipeline.build_areas`,
exactly as a city's own data would go in. Ground truth (outbreaks, the crackdown, the planted
errors) and secondary layers (cameras, hot places) are written as workspace extras.

See ``data/README.md`` for the generative process and every file written.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from data.demo_events import CATEGORY_SPECS, generate_events
from data.demo_geography import DEMO_CENTER, DEMO_CRS, DemoCity, build_city
from data.demo_names import CITY_NAME, station_name
from data.demo_raw import write_raw_files
from data.taxonomy import DEFAULT_GROUPS, Taxonomy
from data.transaction import in_transaction
from data.workspace import ADMIN_LEVELS, GENERATED_FILES, Config, Workspace, reset_generated

__all__ = ["build_demo", "DEFAULT_SEED", "default_end", "DEMO_FILES"]

#: The fixed demo seed (``pingan demo`` without ``--seed``).
DEFAULT_SEED = 20240101
#: Files and folders a demo build owns inside the workspace (removed on rebuild).
DEMO_FILES = GENERATED_FILES


@in_transaction("workspace")  # one version: readers see the old build until this one is whole
def build_demo(
    workspace: str | Path,
    *,
    seed: int = DEFAULT_SEED,
    incidents: int = 300_000,
    end: str | dt.date | None = None,
    years: float = 3,
    decline: float = 0.2,
    branching: float = 0.25,
    cameras: int = 7000,
    n_grids: int = 2500,
    cell: float | None = 500.0,
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, Any]:
    """Generate the demo city and write it as a workspace.

    Parameters
    ----------
    workspace : str or Path
        Folder to (re)build. An existing folder must be empty or a previous demo build.
    seed : int
        Random seed; the same seed, size and ``end`` give identical tables.
    incidents : int
        Expected number of incidents (all categories).
    end : str or date, optional
        Last day of data (``YYYY-MM-DD``); snapped back to a Sunday so every week is whole.
        Default: the last Sunday before today (end of the last full week).
    years : float
        Years of history (rounded to whole weeks).
    decline : float
        Long-run decline per year (0.2 = −20 %/year).
    branching : float
        Near-repeat branching ratio of 入室盗窃.
    cameras : int
        Number of cameras in the ``cameras`` extra.
    n_grids : int
        Approximate number of 网格.
    cell : float or None
        Also generate a square grid layer ``cell`` of this size in metres (``None``: none).
    progress : callable, optional
        ``progress(fraction, label)`` as each stage starts (non-decreasing fractions, 1.0 last).

    Returns
    -------
    dict
        Summary: workspace, seed, period, rows, quarantine by reason, areas per level, seconds.

    Raises
    ------
    ValueError
        A bad argument, or ``workspace`` holds something that is not a demo build.
    """
    from data.workspace_copy import build_into
    from data.workspace_pg import is_postgres_url

    if is_postgres_url(workspace):  # built in a local folder, then copied into the store as one version
        return build_into(str(workspace), functools.partial(
            build_demo, seed=seed, incidents=incidents, end=end, years=years, decline=decline, branching=branching,
            cameras=cameras, n_grids=n_grids, cell=cell, progress=progress), owned=_owned, what="demo")
    t0 = time.perf_counter()
    seed = int(seed)
    if incidents < 1000:
        raise ValueError(f"--incidents {incidents}: the demo needs at least 1000 incidents")
    if not 0.6 <= years <= 20:
        raise ValueError(f"--years {years}: use between 0.6 and 20 years")
    end_day = _resolve_end(end)
    weeks = int(round(years * 365.25 / 7))
    start_day = end_day - dt.timedelta(days=7 * weeks - 1)
    if start_day.year < 2015:
        raise ValueError(f"--end {end_day} with --years {years}: data would start in {start_day.year}; 春节 dates are tabulated from 2015")

    step = progress if progress is not None else (lambda fraction, label: None)
    ws = _fresh_workspace(Path(workspace))
    rng = np.random.default_rng(seed)
    step(0.0, "city")
    city = build_city(rng, n_grids=n_grids)
    step(0.05, "incidents")
    events = generate_events(city, rng, n=incidents, start=start_day, weeks=weeks, decline=decline, branching=branching)
    t_gen = time.perf_counter()

    cfg = Config(
        name=CITY_NAME,
        timezone="Asia/Shanghai",
        crs=DEMO_CRS,
        taxonomy=Taxonomy(DEFAULT_GROUPS),
        attribution=f"{CITY_NAME}模拟演示数据（平安预警生成，随机种子 {seed}）",
        center=DEMO_CENTER,
        extra={"demo": {"seed": seed, "start": start_day.isoformat(), "end": end_day.isoformat(),
                        "weeks": weeks, "incidents": int(incidents), "decline": decline,
                        "branching": branching, "categories": list(CATEGORY_SPECS)}},
    )
    ws = Workspace.create(ws.path, cfg)
    raw = ws.path / "raw"
    step(0.3, "raw files")
    bfiles, city_file = _write_boundaries(city, raw / "boundaries")

    inc = events.incidents
    station = _stations(city, inc)
    gcj_station = station_name(city.layers["subdistrict"].sort_values("area_id")["name"].iloc[-1])
    recent_from = pd.Timestamp(end_day - dt.timedelta(weeks=52) + dt.timedelta(days=1))
    last_from = pd.Timestamp(end_day - dt.timedelta(weeks=4) + dt.timedelta(days=1))
    files, planted = write_raw_files(inc, station, gcj_station, raw / "incidents", rng,
                                     recent_from=recent_from, last_from=last_from)
    t_raw = time.perf_counter()

    from data.ingest import ingest_files

    reports = []
    # The demo's data are complete up to the end of its last Sunday (a simulation has no late
    # reports), so it records as-of = that end + the default reporting lag: its last week counts
    # as complete, as a real export made after the lag would.
    as_of = pd.Timestamp(end_day + dt.timedelta(days=1)) + ws.config.reporting_lag
    for i, coords in enumerate(("wgs84", "gcj02")):
        step(0.45 + 0.2 * i, f"ingest {coords}")
        group = [f.path for f in files if f.coords == coords]
        reports.append(ingest_files(group, ws, coords=coords, boundary=city_file, as_of=as_of))
    t_ingest = time.perf_counter()

    step(0.85, "areas")
    area_report = _load_areas(ws, bfiles, city, cell)
    t_areas = time.perf_counter()

    ws.write_extra("outbreaks", events.outbreaks)
    ws.write_extra("interventions", events.interventions)
    ws.write_extra("planted_errors", planted)
    ws.write_extra("cameras", _cameras(city, rng, cameras))
    ws.write_extra("places", _places_table(city))
    # the hot places as a risk-factor file (type, name, lon, lat), loaded as pingan areas
    # --risk-factors would (pingan risk prints their relative risks)
    factors = _places_table(city)[["type", "name", "lon", "lat"]]
    (raw / "risk_factors").mkdir(parents=True, exist_ok=True)
    factors.to_csv(raw / "risk_factors" / "places.csv", index=False, encoding="utf-8-sig")
    ws.write_extra("risk_factors", _places_table(city)[["type", "name", "lon", "lat", "geometry"]])

    step(1.0, "done")
    q = ws.quarantine()
    summary = {
        "workspace": str(ws.path),
        "city": CITY_NAME,
        "seed": seed,
        "start": start_day.isoformat(),
        "end": end_day.isoformat(),
        "weeks": weeks,
        "rows_in": sum(r.rows_in for r in reports),
        "incidents": sum(r.rows_used for r in reports),
        "quarantined": int(len(q)),
        "quarantine_by_reason": {str(k): int(v) for k, v in q["reason"].value_counts().sort_index().items()},
        "planted_errors": int(len(planted)),
        "areas": {lv: int(len(ws.areas(lv))) for lv in ws.layers()},
        "outbreaks": int(len(events.outbreaks)),
        "cameras": int(cameras),
        "raw_files": [str(f.path.relative_to(ws.path)) for f in files],
        "areas_report": area_report,
        "seconds": {
            "generate": round(t_gen - t0, 2),
            "raw_files": round(t_raw - t_gen, 2),
            "ingest": round(t_ingest - t_raw, 2),
            "areas_and_counts": round(t_areas - t_ingest, 2),
            "total": round(time.perf_counter() - t0, 2),
        },
    }
    return summary


def default_end(today: dt.date | None = None) -> dt.date:
    """The last Sunday before ``today`` (end of the last full Monday–Sunday week).

    Examples
    --------
    >>> default_end(dt.date(2026, 11, 23))   # a Monday
    datetime.date(2026, 11, 22)
    >>> default_end(dt.date(2026, 11, 22))   # a Sunday: that week is not over yet
    datetime.date(2026, 11, 15)
    """
    today = today or dt.date.today()
    return today - dt.timedelta(days=today.weekday() + 1)


# -- helpers --------------------------------------------------------------------------------
def _resolve_end(end) -> dt.date:
    if end is None:
        return default_end()
    if isinstance(end, dt.datetime):
        end = end.date()
    if not isinstance(end, dt.date):
        try:
            end = dt.date.fromisoformat(str(end))
        except ValueError:
            raise ValueError(f"--end {end!r}: expected a date YYYY-MM-DD") from None
    if end > dt.date.today():
        raise ValueError(f"--end {end}: must not be in the future (ingest quarantines future times)")
    return end - dt.timedelta(days=(end.weekday() + 1) % 7)  # back to Sunday


def _fresh_workspace(path: Path) -> Workspace:
    """An empty folder, or a previous demo build whose demo files are removed."""
    return Workspace(reset_generated(path, owned=_owned, what="demo"))


def _owned(cfg: Config) -> bool:
    """A previous demo build (which a new one may replace)."""
    return "demo" in cfg.extra


def _write_boundaries(city: DemoCity, folder: Path) -> tuple[dict[str, Path], Path]:
    """One GeoJSON per admin level (EPSG:4326, as a city's GIS office would hand them over)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for level in ADMIN_LEVELS:
        gdf = city.layers[level].to_crs(4326)
        path = folder / f"{level}.geojson"
        gdf.to_file(path, driver="GeoJSON", engine="pyogrio")
        files[level] = path
    # the study boundary for ingest, 50 m wider so GCJ-02 round trips at the edge stay inside
    outline = gpd.GeoDataFrame({"name": [CITY_NAME]}, geometry=[city.boundary.buffer(50)], crs=DEMO_CRS)
    city_file = folder / "city.geojson"
    outline.to_crs(4326).to_file(city_file, driver="GeoJSON", engine="pyogrio")
    return files, city_file


def _load_areas(ws: Workspace, files: dict[str, Path], city: DemoCity, cell: float | None) -> str:
    """Load the boundary files through the real pipeline (it writes assignments and counts)."""
    try:
        from data.pipeline import build_areas
    except ImportError:  # pipeline not available: write the layers as they are (no counts)
        with ws.transaction() as tx:
            for level in ADMIN_LEVELS:
                tx.write_parquet(f"areas/{level}.parquet", city.layers[level])
        return "areas written directly (data.pipeline not available: no assignments/counts)"

    # one call for all four files (each has a level column): one refresh of assignments/counts
    files_list = [str(files[level]) for level in ADMIN_LEVELS]
    report = str(build_areas(ws, boundaries=files_list, id_column="area_id", name_column="name",
                             parent_column="parent_id"))
    if cell:
        report += "\n" + str(build_areas(ws, cell=cell, shape="square"))
    return report


def _stations(city: DemoCity, inc: pd.DataFrame) -> np.ndarray:
    """派出所 of each incident: the one of the 街道 its point lies in."""
    sub = city.layers["subdistrict"]
    tree = shapely.STRtree(sub.geometry.to_numpy())
    pts = shapely.points(inc["x"].to_numpy(), inc["y"].to_numpy())
    pi, ai = tree.query(pts, predicate="intersects")
    first = np.full(len(inc), -1)
    first[pi[::-1]] = ai[::-1]  # the first match wins on a shared border
    names = np.array([station_name(n) for n in sub["name"]] + [""], dtype=object)
    return names[first]


def _cameras(city: DemoCity, rng: np.random.Generator, n: int) -> gpd.GeoDataFrame:
    """Cameras: denser at hot places and in the busy centre; ~95 % online."""
    grids = city.grids
    geoms = grids.geometry.to_numpy()
    n_place = int(0.35 * n)
    n_urban = int(0.45 * n)
    p = city.places
    pi = rng.integers(0, len(p), n_place)
    px = p["x"].to_numpy()[pi] + rng.normal(0, 1, n_place) * 1.5 * p["sigma"].to_numpy()[pi]
    py = p["y"].to_numpy()[pi] + rng.normal(0, 1, n_place) * 1.5 * p["sigma"].to_numpy()[pi]
    w = np.exp(city.field)
    gi = np.concatenate([rng.choice(len(grids), n_urban, p=w / w.sum()), rng.integers(0, len(grids), n - n_place - n_urban)])
    gx, gy = _uniform_in(geoms, gi, rng)
    x, y = np.concatenate([px, gx]), np.concatenate([py, gy])
    inside = shapely.contains_xy(city.boundary, x, y)
    x, y = x[inside], y[inside]
    kinds = np.array(["高清探头", "治安卡口", "人脸识别", "车辆识别"], dtype=object)
    cam = gpd.GeoDataFrame(
        {
            "camera_id": [f"SXT{i + 1:05d}" for i in range(len(x))],
            "kind": kinds[rng.choice(4, len(x), p=[0.6, 0.15, 0.15, 0.1])],
            "online": rng.random(len(x)) < 0.95,
        },
        geometry=shapely.points(x, y),
        crs=DEMO_CRS,
    ).to_crs(4326)
    cam["lon"] = np.round(cam.geometry.x, 6)
    cam["lat"] = np.round(cam.geometry.y, 6)
    return cam[["camera_id", "kind", "online", "lon", "lat", "geometry"]]


def _uniform_in(geoms: np.ndarray, gi: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    b = shapely.bounds(geoms)
    x, y = np.empty(len(gi)), np.empty(len(gi))
    todo = np.arange(len(gi))
    while len(todo):  # rejection in bounding boxes; each round keeps about half
        bb = b[gi[todo]]
        tx = bb[:, 0] + rng.random(len(todo)) * (bb[:, 2] - bb[:, 0])
        ty = bb[:, 1] + rng.random(len(todo)) * (bb[:, 3] - bb[:, 1])
        ok = shapely.contains_xy(geoms[gi[todo]], tx, ty)
        x[todo[ok]], y[todo[ok]] = tx[ok], ty[ok]
        todo = todo[~ok]
    return x, y


def _places_table(city: DemoCity) -> gpd.GeoDataFrame:
    p = city.places
    return gpd.GeoDataFrame(
        p[["place_id", "name", "type", "grid_id", "sigma", "lon", "lat"]],
        geometry=shapely.points(p["lon"].to_numpy(), p["lat"].to_numpy()),
        crs=4326,
    )
