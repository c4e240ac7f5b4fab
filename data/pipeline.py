"""Workspace orchestration: area layers → assignments → counts (design.md, "Data flow").

- :func:`build_areas` writes admin layers from boundary files, the layers of another named
  hierarchy (分局 › 派出所 › 警务区, :mod:`data.hierarchies`), or a generated square/hex grid;
  it also joins population and households to the areas (:mod:`data.population`); then it calls
  :func:`refresh`.
- :func:`refresh` assigns every incident to every layer (``assignments.parquet``) and writes
  the dense weekly counts of all layers (``counts.parquet``). Idempotent: when incidents,
  layers and grid specs are those the counts were made from, it writes nothing.
- :func:`counts` reads a layer's dense counts for the app, the CLI and the models.

Both writers run in one workspace transaction (:meth:`data.workspace.Workspace.transaction`):
layers, config, assignments and counts switch in together, or not at all.

Incidents outside every area of a layer are counted nowhere for that layer, and reported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from data.calendar import period_start
from data.cube import count_array, count_cube
from data.hierarchies import build_hierarchy, hierarchy_report
from data.partitions import identity, part_files, write_assignments
from data.population import join_population_file, population_columns, population_note
from data.workspace import ADMIN_LEVELS, Workspace

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    import pyarrow.parquet as pq

__all__ = ["CUBE_ROWS", "build_areas", "refresh", "counts", "cube_tables", "layer_index", "grid_spec", "write_cube"]

#: Schema metadata key of ``counts.parquet``: the inputs it was made from and the refresh report.
_MADE_FROM = b"pingan.refresh"
#: Rows of a row group of ``counts.parquet`` (whole areas: a few thousand of them).
CUBE_ROWS = 4_000_000


def build_areas(
    ws: Workspace,
    *,
    boundaries=None,
    cell: float | None = None,
    shape: str = "square",
    name: str | None = None,
    level: str | None = None,
    id_column: str | None = None,
    name_column: str | None = None,
    parent_column: str | None = None,
    margin: float = 10.0,
    hierarchy: str | None = None,
    levels=None,
    population=None,
) -> str:
    """Write area layers into the workspace, validate them, and refresh assignments and counts.

    Parameters
    ----------
    ws : Workspace
    boundaries : path or list of paths, optional
        Admin boundary files (see :func:`layers.boundaries.read_boundaries`).
    cell : float, optional
        Generate a grid of this cell size in metres instead (square side or hexagon
        centre-to-centre distance, see :mod:`layers.grids`).
    shape : {"square", "hex"}
    name : str, optional
        Layer name of a generated grid (default ``"cell"``).
    level, id_column, name_column, parent_column : str, optional
        Passed to :func:`layers.boundaries.read_boundaries`.
    margin : float, default 10
        A grid with no admin layer to clip to covers the convex hull of the central 99.9% of
        the incidents grown by ``margin`` metres (keeps incidents on the hull's edge inside),
        plus the whole cells of the incidents outside it. With admin layers, the grid is
        clipped to the coarsest admin layer's union.
    hierarchy : str, optional
        Load ``boundaries`` as the levels of this named hierarchy (not ``"admin"``, the
        default), e.g. ``"police"``; needs ``levels``.
    levels : sequence of str, optional
        Level names of ``hierarchy``, coarse → fine (分局, 派出所, 警务区); each becomes a layer.
        With one file per level, file *i* holds level *i*; otherwise a level column or the
        file names say. Parents come from a parent-id column, else by largest overlap with
        the next coarser level.
    population : path, optional
        A CSV/Excel of ``area_id, population[, households]`` (:func:`data.population.read_population`)
        joined to every layer by area id (alone, or with the boundaries just loaded).

    Returns
    -------
    str
        Report: layers written, hierarchy issues in m², then the refresh report.
    """
    if boundaries is not None and cell is not None:
        raise ValueError("give either --boundaries FILE… or --cell METRES, not both")
    if boundaries is None and cell is None and population is None:
        raise ValueError("give --boundaries FILE…, --cell METRES or --population FILE")
    if (hierarchy not in (None, "admin")) != (levels is not None):
        raise ValueError("--hierarchy NAME and --levels L1,L2,… go together (admin levels need neither)")
    if hierarchy not in (None, "admin") and boundaries is None:
        raise ValueError(f"--hierarchy {hierarchy}: give its --boundaries FILE…")
    with ws.transaction() as tx:  # layers, config, assignments and counts: one version
        lines = []
        if cell is not None:
            crs = _workspace_crs(ws, boundaries)
            lines = [_build_grid(ws, tx, float(cell), shape, name or "cell", crs, margin)]
        elif boundaries is not None and levels is not None:
            crs = _workspace_crs(ws, boundaries)
            lines = build_hierarchy(ws, tx, boundaries, crs, hierarchy, levels, level=level, id_column=id_column,
                                    name_column=name_column, parent_column=parent_column)
        elif boundaries is not None:
            crs = _workspace_crs(ws, boundaries)
            lines = _build_admin(ws, tx, boundaries, crs, level, id_column, name_column, parent_column)
        if population is not None:
            lines.append(join_population_file(ws, tx, population))
        lines.append(refresh(ws))
    return "\n".join(lines)


def refresh(ws: Workspace) -> str:
    """Assign every incident to every layer and rewrite assignments and weekly counts.

    Returns a report (one line per layer: incidents assigned / outside); when the workspace
    has no area layer yet, a note saying so (ingest alone still works). Runs in the open
    transaction of this thread, else in one of its own; when the counts are already made from
    the current incidents and layers, nothing is written and their report is returned.
    """
    with ws.transaction() as tx:
        layers = ws.layers()
        if not ws.exists():
            return f"no incidents yet in {ws.path}: nothing to count"
        if not layers:
            return "no area layers yet: run `pingan areas --workspace W --cell 250` or `--boundaries FILE`"
        inputs = _inputs(ws, layers)
        done = _made_from(ws)
        if done is not None and done.get("inputs") == inputs and part_files(ws, "assignments.parquet", read=False):
            return str(done["report"])
        return _refresh(ws, tx, layers, inputs)


def _refresh(ws: Workspace, tx, layers: list[str], inputs: dict) -> str:
    from data.engine_dask import current_client, refresh_distributed

    if current_client() is not None:  # pingan ingest --engine dask: assign + count on the cluster
        return refresh_distributed(ws, tx, layers, inputs, current_client())
    inc = ws.incidents_frame(["incident_id", "occurred_at", "category", "lon", "lat"])
    n = len(inc)
    assigned: dict[str, pd.Series] = {}
    positions: dict[str, np.ndarray] = {}
    xy: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    report = []
    for layer in layers:
        areas = ws.areas(layer)
        key = areas.crs.to_string()
        if key not in xy:
            from layers.assign import project_lonlat

            xy[key] = project_lonlat(inc["lon"].to_numpy(), inc["lat"].to_numpy(), areas.crs)
        idx = layer_index(ws, layer, areas)
        pos = idx.locate(*xy[key])
        positions[layer] = pos
        ids = pd.array(areas["area_id"].astype("str").to_numpy(dtype=object), dtype="str")
        assigned[layer] = pd.Series(ids.take(pos, allow_fill=True))
        inside = int((pos >= 0).sum())
        report.append(f"{layer}: {inside:,} of {n:,} incidents assigned to {len(areas):,} areas, {n - inside:,} outside")
    # Arrow-backed str columns end to end: no 10-million-element object arrays
    table = pd.DataFrame({"incident_id": inc["incident_id"].astype("str").reset_index(drop=True), **assigned})
    write_assignments(ws, tx, table)  # one file, or parts beside the incidents' (data.partitions)

    codes, labels = pd.factorize(inc["category"].astype("str"), sort=True)
    cats = [str(c) for c in labels]
    cat_codes = codes.astype(np.int64)  # -1: missing category, not counted
    t = pd.to_datetime(inc["occurred_at"])
    start, end = t.min(), t.max()
    import pyarrow.parquet as pq

    del assigned, table  # the strings are written; keep the peak memory down
    tmp = tx.path("counts.parquet")
    writer = None
    try:
        for layer in layers:
            area_ids = ws.areas(layer)["area_id"].astype("str").tolist()
            ids, periods, cat_index, cube = count_array(
                positions[layer], t, cat_codes, areas=area_ids, categories_index=cats, freq="W",
                start=start, end=end,
            )
            writer = write_cube(writer, tmp, layer, ids, periods, cat_index, cube)
        if writer is None:  # no period at all: an empty table with the right columns
            empty = _arrow_cube(layers[0], pd.Index([], dtype="str"), pd.DatetimeIndex([]),
                                pd.Index(cats, dtype="str"), np.zeros((0, 0, len(cats)), dtype=np.int64))
            writer = pq.ParquetWriter(tmp, empty.schema)
            writer.write_table(empty)
        report.append(
            f"counts: {len(layers)} layer(s) × {len(periods)} weeks × {len(cats)} categories → {ws.counts_path.name}"
        )
        made = {"inputs": inputs, "report": "\n".join(report)}
        writer.add_key_value_metadata({_MADE_FROM: json.dumps(made).encode()})
    finally:
        if writer is not None:
            writer.close()
    return "\n".join(report)


def _inputs(ws: Workspace, layers: list[str]) -> dict:
    """Identity of the files counts are made from (a switched-in file keeps inode and mtime; a
    PostGIS table its stored key), never their content: the check costs no read of the incidents."""
    grids = ws.config.extra.get("grids", {})
    return {"incidents": identity(ws, "incidents.parquet"),
            "layers": {lv: [*identity(ws, f"areas/{lv}.parquet"), grids.get(lv)] for lv in layers}}


def _made_from(ws: Workspace) -> dict | None:
    import pyarrow.parquet as pq

    if ws.backend != "folder":  # from the store's catalogue: the cube is not rebuilt to be asked
        meta = ws.metadata("counts.parquet") or {}
    else:
        path = ws.read_path("counts.parquet")
        if not path.exists():
            return None
        meta = pq.read_metadata(path).metadata or {}
    return json.loads(meta[_MADE_FROM]) if _MADE_FROM in meta else None


def counts(
    ws: Workspace,
    layer: str,
    *,
    freq: str = "W",
    categories=None,
    start=None,
    end=None,
) -> pd.DataFrame:
    """Dense tidy counts ``area_id, period, category, count`` of one layer.

    ``area_id`` and ``category`` are pandas Categoricals of str (see
    :func:`data.cube.count_cube`); the service caches by workspace version.

    Parameters
    ----------
    ws : Workspace
    layer : str
    freq : {"W", "D", "M"}
        Weekly counts are read from ``counts.parquet``; days and months are recomputed from
        the assignments.
    categories : list of str, optional
        Raw categories to keep (groups: :func:`data.cube.group_counts`).
    start, end : time, optional
        Keep the periods holding ``start`` … ``end``.
    """
    if freq not in ("D", "W", "M"):
        raise ValueError(f"freq {freq!r}: use D, W or M")
    path = ws.require(ws.counts_path)
    if freq == "W":
        frame = _weekly(path, layer)
    else:
        frame = _recount(ws, layer, freq)
    if categories is not None:
        cats = [categories] if isinstance(categories, str) else list(categories)
        unknown = set(cats) - set(frame["category"].cat.categories)
        if unknown and not frame.empty:
            raise ValueError(f"category {sorted(unknown)[0]!r} not in the workspace's counts")
        frame = frame[frame["category"].isin(cats)]
    if start is not None:
        frame = frame[frame["period"] >= period_start([start], freq)[0]]
    if end is not None:
        frame = frame[frame["period"] <= period_start([end], freq)[0]]
    return frame.reset_index(drop=True)


def grid_spec(ws: Workspace, layer: str):
    """The :class:`layers.grids.GridSpec` recorded for a generated grid layer, or ``None``."""
    from layers.grids import GridSpec

    spec = ws.config.extra.get("grids", {}).get(layer)
    return GridSpec.from_dict(spec) if spec else None


def layer_index(ws: Workspace, layer: str, areas=None):
    """Point-location index of a layer (:class:`GridIndex` for generated grids)."""
    from layers.assign import area_index

    areas = ws.areas(layer) if areas is None else areas
    return area_index(areas, grid_spec(ws, layer) if layer not in ADMIN_LEVELS else None)


# -- helpers ------------------------------------------------------------------------------------
def _workspace_crs(ws: Workspace, boundaries) -> str:
    """The workspace's projected CRS; estimated (UTM) and recorded on first use."""
    from layers.crs import estimate_utm_crs, require_projected

    if ws.config.crs:
        return require_projected(ws.config.crs, f"{ws.config_path}: crs").to_string()
    if ws.exists():
        inc = ws.incidents_frame(["lon", "lat"])
        crs = estimate_utm_crs(inc["lon"].to_numpy(), inc["lat"].to_numpy())
    elif boundaries is not None:
        from layers.boundaries import read_boundaries

        b = read_boundaries(boundaries).to_crs(4326)
        c = b.geometry.representative_point()
        crs = estimate_utm_crs(c.x.to_numpy(), c.y.to_numpy())
    else:
        raise ValueError(f"{ws.path}: no incidents to place a grid; ingest incidents first")
    ws.update_config(crs=crs.to_string())
    return crs.to_string()


def _build_grid(ws: Workspace, tx, cell: float, shape: str, layer: str, crs: str, margin: float) -> str:
    import shapely

    from layers.grids import GridSpec, make_grid

    if layer in ADMIN_LEVELS:
        raise ValueError(f"--name {layer!r}: reserved for admin levels; pick another layer name")
    old = grid_spec(ws, layer)
    spec = GridSpec(0.0, 0.0, cell, shape, crs)
    if old is not None and (old.cell, old.shape, old.crs) == (spec.cell, spec.shape, spec.crs):
        spec = old  # same origin → the same ids as before
    admin = [lv for lv in ws.layers() if lv in ADMIN_LEVELS]
    if admin:
        base = ws.areas(admin[0]).to_crs(crs)
        boundary = shapely.union_all(base.geometry.values)
        where = f"the union of the {admin[0]} layer"
        outliers = None
    else:
        from layers.assign import project_lonlat

        inc = ws.incidents_frame(["lon", "lat"])
        x, y = project_lonlat(inc["lon"].to_numpy(), inc["lat"].to_numpy(), crs)
        ok = np.isfinite(x) & np.isfinite(y)
        if not ok.any():
            raise ValueError(f"{ws.incidents_path}: no incident with coordinates to place a grid")
        x, y = x[ok], y[ok]
        # hull of the central 99.9% (a few mis-geocoded points must not add a county of empty
        # cells), plus the whole cell of every incident outside it, so every incident is counted
        lo_x, hi_x = np.quantile(x, [0.0005, 0.9995])
        lo_y, hi_y = np.quantile(y, [0.0005, 0.9995])
        core = (x >= lo_x) & (x <= hi_x) & (y >= lo_y) & (y <= hi_y)
        if core.sum() < 1000:  # too few to call any of them outlying
            core[:] = True
        boundary = _hull(x[core], y[core]).buffer(margin)
        shapely.prepare(boundary)
        out = ~shapely.intersects_xy(boundary, x, y)
        outliers = np.unique(np.column_stack(spec.index(x[out], y[out])), axis=0) if out.any() else None
        where = (f"the convex hull of the central 99.9% of incidents + {margin:g} m"
                 f" and {0 if outliers is None else len(outliers):,} whole cells of outlying incidents")
    grid = make_grid(spec, boundary)
    if not admin and outliers is not None:
        grid = _with_whole_cells(grid, spec, outliers)
    tx.write_parquet(f"areas/{layer}.parquet", grid)
    extra = dict(ws.config.extra)
    grids = dict(extra.get("grids", {}))
    grids[layer] = spec.to_dict()
    extra["grids"] = grids
    ws.update_config(extra=extra)
    return (
        f"{layer}: {len(grid):,} {shape} cells of {cell:g} m ({int(grid['partial'].sum()):,} clipped) "
        f"over {where}, {crs}"
    )


def _hull(x: np.ndarray, y: np.ndarray):
    """Convex hull polygon of many points (qhull; no GEOS copy of millions of points)."""
    import shapely
    from scipy.spatial import ConvexHull, QhullError

    pts = np.column_stack([x, y])
    try:
        ring = pts[ConvexHull(pts).vertices]
    except (QhullError, ValueError):  # fewer than 3 points, or all on a line
        return shapely.convex_hull(shapely.multipoints(pts))
    return shapely.Polygon(ring)


def _with_whole_cells(grid, spec, cells: np.ndarray):
    """Add the whole cells ``(col, row)`` to a grid (clipped ones become whole again)."""
    import geopandas as gpd

    key = grid["col"].to_numpy() * (1 << 32) + grid["row"].to_numpy()
    want = cells[:, 0] * (1 << 32) + cells[:, 1]
    partial = grid["partial"].to_numpy() & np.isin(key, want)
    grid = grid.copy()
    if partial.any():
        grid.loc[partial, "geometry"] = spec.polygons(grid["col"][partial], grid["row"][partial])
        grid.loc[partial, "partial"] = False
    new = cells[~np.isin(want, key)]
    if len(new):
        ids = spec.ids(new[:, 0], new[:, 1])
        add = gpd.GeoDataFrame(
            {"area_id": pd.array(ids, dtype="str"), "name": pd.array(ids, dtype="str"), "level": "cell",
             "parent_id": pd.array([None] * len(new), dtype="str"), "col": new[:, 0], "row": new[:, 1],
             "partial": False},
            geometry=spec.polygons(new[:, 0], new[:, 1]), crs=grid.crs,
        )
        grid = pd.concat([grid, add], ignore_index=True)
    return grid.sort_values("area_id", ignore_index=True)


def _build_admin(ws, tx, boundaries, crs, level, id_column, name_column, parent_column) -> list[str]:
    import geopandas as gpd

    from layers.admin import infer_parents, validate_hierarchy
    from layers.boundaries import read_boundaries

    paths = [boundaries] if isinstance(boundaries, str | Path) else list(boundaries)
    new = read_boundaries(paths, level=level, id_column=id_column, name_column=name_column,
                          parent_column=parent_column).to_crs(crs)
    new["geometry"] = new.geometry.make_valid()
    new = population_columns(new, ", ".join(Path(p).name for p in paths))
    levels = [lv for lv in ADMIN_LEVELS if lv in set(new["level"])]
    existing = {lv: ws.areas(lv) for lv in ws.layers() if lv not in levels}
    taken = set()
    for g in existing.values():
        taken |= set(g["area_id"].astype("str"))
    clash = taken & set(new["area_id"])
    if clash:
        raise ValueError(f"{paths[0]}: area id {sorted(clash)[0]!r} already used by another layer")
    lines = []
    layers = {lv: g for lv, g in existing.items() if lv in ADMIN_LEVELS}
    for lv in levels:
        g = new[new["level"] == lv].sort_values("area_id").reset_index(drop=True)
        coarser = [c for c in ADMIN_LEVELS[: ADMIN_LEVELS.index(lv)] if c in layers or c in levels]
        inferred = ""
        if coarser and g["parent_id"].isna().all():
            parent_layer = coarser[-1]
            parents = layers[parent_layer] if parent_layer in layers else new[new["level"] == parent_layer]
            g["parent_id"] = infer_parents(g, parents.to_crs(crs)).to_numpy()
            inferred = f", parents inferred from {parent_layer} by largest overlap"
        g = gpd.GeoDataFrame(g, geometry="geometry", crs=crs)
        tx.write_parquet(f"areas/{lv}.parquet", g)
        layers[lv] = g
        lines.append(f"{lv}: {len(g):,} areas from {', '.join(Path(p).name for p in paths)}{inferred}"
                     f"{population_note(g)}")
    lines += hierarchy_report(validate_hierarchy({lv: layers[lv] for lv in ADMIN_LEVELS if lv in layers}), "")
    return lines


def cube_tables(layer: str, ids: pd.Index, periods: pd.DatetimeIndex, cats: pd.Index,
                cube: np.ndarray) -> Iterator[pa.Table]:
    """One layer's dense cube ``(areas, periods, categories)`` as the rows of ``counts.parquet``:
    Arrow tables of a few thousand areas (about :data:`CUBE_ROWS` rows), so the dense table never
    exists whole."""
    step = max(1, CUBE_ROWS // max(1, len(periods) * len(cats)))
    for i in range(0, len(ids), step):
        yield _arrow_cube(layer, ids[i : i + step], periods, cats, cube[i : i + step])


def write_cube(writer: pq.ParquetWriter | None, path: Path, layer: str, ids: pd.Index, periods: pd.DatetimeIndex,
               cats: pd.Index, cube: np.ndarray) -> pq.ParquetWriter | None:
    """Append one layer's dense cube to ``counts.parquet`` being written at ``path`` (row groups of
    :func:`cube_tables`); opens the writer on the first rows. Returns the writer."""
    import pyarrow.parquet as pq

    for part in cube_tables(layer, ids, periods, cats, cube):
        if writer is None:
            writer = pq.ParquetWriter(path, part.schema)
        writer.write_table(part)
    return writer


def _arrow_cube(layer, ids, periods, cats, cube):
    """The dense cube as an Arrow table with dictionary-encoded strings (no Python rows)."""
    import pyarrow as pa

    n_a, n_p, n_c = cube.shape
    n = n_a * n_p * n_c
    a_codes = np.repeat(np.arange(n_a, dtype=np.int32), n_p * n_c)
    c_codes = np.tile(np.arange(n_c, dtype=np.int32), n_a * n_p)
    period = np.tile(np.repeat(periods.to_numpy().astype("datetime64[ns]"), n_c), n_a)
    return pa.table(
        {
            "layer": pa.DictionaryArray.from_arrays(np.zeros(n, dtype=np.int32), pa.array([layer])),
            "area_id": pa.DictionaryArray.from_arrays(a_codes, pa.array(ids.to_numpy(dtype=object), pa.string())),
            "period": pa.array(period, pa.timestamp("ns")),
            "category": pa.DictionaryArray.from_arrays(c_codes, pa.array(cats.to_numpy(dtype=object), pa.string())),
            "count": pa.array(cube.ravel(), pa.int64()),
        }
    )


def _weekly(path: Path, layer: str) -> pd.DataFrame:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path, filters=[("layer", "==", layer)], columns=["area_id", "period", "category", "count"])
    table = table.unify_dictionaries()  # row groups carry their own dictionaries
    if table.num_rows == 0:
        have = pc.unique(pq.read_table(path, columns=["layer"]).column("layer").cast("string")).to_pylist()
        if layer not in have:
            raise ValueError(f"{path}: no counts for layer {layer!r}; layers: {', '.join(map(str, have)) or 'none'}")
    frame = pd.DataFrame(
        {
            "area_id": _as_categorical(table.column("area_id")),
            "period": table.column("period").to_numpy().astype("datetime64[ns]"),
            "category": _as_categorical(table.column("category")),
            "count": table.column("count").to_numpy().astype(np.int64),
        }
    )
    return frame


def _as_categorical(column) -> pd.Categorical:
    """A dictionary-encoded Arrow string column as a pandas Categorical of str (no copies of strings)."""
    import pyarrow as pa

    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    words = pd.Index(pd.array(column.dictionary.to_pylist(), dtype="str"))
    codes = column.indices.to_numpy(zero_copy_only=False)
    if not words.is_unique:  # row groups written separately may repeat dictionary words
        uniq = pd.Index(words.unique())
        codes = uniq.get_indexer(words)[codes]
        words = uniq
    return pd.Categorical.from_codes(codes, categories=words)


def _recount(ws: Workspace, layer: str, freq: str) -> pd.DataFrame:
    areas = ws.areas(layer)
    asg = pd.read_parquet(ws.require(ws.assignments_path), columns=["incident_id", layer])
    inc = ws.incidents_frame(["incident_id", "occurred_at", "category"])
    if len(asg) != len(inc) or not (asg["incident_id"].to_numpy() == inc["incident_id"].astype("str").to_numpy()).all():
        raise ValueError(f"{ws.assignments_path}: out of date with the incidents; run refresh")
    cats = sorted(pd.unique(inc["category"].astype("str").dropna()))
    t = pd.to_datetime(inc["occurred_at"])
    return count_cube(asg[layer].to_numpy(dtype=object), t, inc["category"].to_numpy(dtype=object),
                      areas=areas["area_id"].astype("str").tolist(), categories_index=cats, freq=freq,
                      start=t.min(), end=t.max())
