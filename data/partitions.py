"""Incidents and assignments as monthly parts, and the weekly update in O(new rows).

A small workspace keeps ``W/incidents.parquet`` and ``W/assignments.parquet`` as single files.
Once the incidents reach ``[extra] partition_rows`` (default :data:`PARTITION_ROWS`), the next
ingest stores them as folders of the same names holding one GeoParquet part per month of
``occurred_at`` (Hive/Spark style, what ``pandas.read_parquet``, pyarrow and DuckDB's
``read_parquet('W/incidents.parquet/*.parquet')`` read)::

    W/incidents.parquet/2025-11.parquet     incidents of November 2025, sorted (occurred_at, id)
    W/assignments.parquet/2025-11.parquet   their area ids, row for row

Parts sort by name in time order, so the parts read in name order are the whole table in the
canonical order, and the assignment parts line up with the incident parts row for row.

An ingest into a partitioned workspace (:func:`append_incidents`) rewrites only the months its
rows fall in, assigns only the new rows to the area layers, and adds their weekly counts to the
cube (``counts.parquet``) instead of recounting the history — all staged in the ingest's
transaction (:mod:`data.transaction`), so a kill at any point leaves the old or the new
version. The counts equal a full recount (:func:`data.pipeline.refresh`), tested.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from data.transaction import active

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from data.transaction import Transaction
    from data.workspace import Workspace

__all__ = [
    "PARTITION_ROWS", "part_files", "is_partitioned", "read_frame", "read_table", "id_array", "identity", "wants_parts",
    "append_incidents", "write_assignments",
]

#: Incidents from which a workspace is stored in monthly parts (``[extra] partition_rows``).
PARTITION_ROWS = 100_000

_INCIDENTS = "incidents.parquet"
_ASSIGNMENTS = "assignments.parquet"


def part_files(ws: Workspace, name: str, *, read: bool = True) -> list[Path]:
    """The files holding the table ``name`` as this thread sees them, in table order.

    One file for a single-file table, the parts in name order for a partitioned one (inside a
    transaction: the committed parts with the staged ones over them), ``[]`` when absent.
    PostGIS keeps one table per file: its local copy, or (``read=False``, to ask whether it
    exists) the path it will have, without reading it.
    """
    if ws.backend != "folder":  # PostGIS keeps one table per file (data.workspace_pg)
        if not read:
            return [ws.path / name] if ws.has_file(name) else []
        path = ws.read_path(name)
        return [path] if path.exists() else []
    tx = active(ws.path)
    if tx is None:
        path = ws.read_path(name)  # finishes a dead writer's switch first
        if path.is_dir():
            return _parts_in(path)
        return [path] if path.exists() else []
    if name in tx.staged and tx.staged[name].exists():
        return [tx.staged[name]]
    if name in tx.deleted:
        return []
    staged = {rel: p for rel, p in tx.staged.items() if rel.startswith(name + "/") and p.exists()}
    canon = ws.path / name
    if canon.is_file() and not staged:
        return [canon]
    parts = {} if not canon.is_dir() else {f"{name}/{p.name}": p for p in _parts_in(canon)}
    parts = {rel: p for rel, p in parts.items() if rel not in tx.deleted}
    parts.update(staged)  # a staged part replaces the committed one; a staged file replaces a folder
    return [parts[rel] for rel in sorted(parts)]


def is_partitioned(ws: Workspace, name: str = _INCIDENTS) -> bool:
    """True when ``name`` is (or is being made, in this thread's transaction) a folder of parts."""
    files = part_files(ws, name)
    return bool(files) and files[0].parent.name == name


def read_frame(ws: Workspace, name: str, columns: list[str] | None = None, *, geo: bool = False):
    """Read ``name`` (single file or parts) as a DataFrame (``geo``: a GeoDataFrame)."""
    files = part_files(ws, name)
    if geo:
        import geopandas as gpd

        frames = [gpd.read_parquet(p, columns=columns) for p in files]
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if len(files) == 1:
        return pd.read_parquet(files[0], columns=columns)
    return _read_arrow(files, columns).to_pandas()


def read_table(ws: Workspace, name: str, columns: list[str] | None = None) -> pa.Table:
    """Read ``name`` (single file or parts) as one Arrow table (GeoParquet metadata of the first)."""
    return _read_arrow(part_files(ws, name), columns)


def id_array(ws: Workspace):
    """Every ``incident_id`` of the workspace as one Arrow ``large_string`` array (the value set
    :func:`data.ingest_values.isin` checks new ids against)."""
    import pyarrow as pa

    if ws.backend != "folder":  # only the column, from the store (not the whole table)
        col = ws.table(_INCIDENTS, ["incident_id"]).column("incident_id")
    else:
        col = _read_arrow(part_files(ws, _INCIDENTS), ["incident_id"]).column("incident_id")
    return col.cast(pa.large_string()).combine_chunks()


def identity(ws: Workspace, name: str) -> list:
    """What identifies the current content of ``name``: ``[inode, size, mtime]`` of a single
    file (as :func:`data.pipeline.refresh` always recorded), one such triple per part else.

    A switched-in file keeps the inode and mtime of its staged copy, so the identity computed
    inside the writing transaction is that of the committed files. In PostGIS: ``[key]``
    (:meth:`data.workspace_pg.PostgisWorkspace.file_key`), made stable by the commit likewise.
    """
    if ws.backend != "folder":  # the store's key of the write (a token inside the writing transaction)
        return [ws.file_key(name)]
    files = part_files(ws, name)
    if len(files) == 1 and files[0].parent.name != name:
        st = files[0].stat()
        return [st.st_ino, st.st_size, st.st_mtime_ns]
    return [[p.name, p.stat().st_ino, p.stat().st_size, p.stat().st_mtime_ns] for p in files]


def wants_parts(ws: Workspace, new_rows: int) -> bool:
    """Whether an ingest of ``new_rows`` rows goes through :func:`append_incidents`: a folder's
    monthly parts, or (PostGIS) any workspace that has incidents already."""
    if ws.backend != "folder":
        return ws.exists()
    if is_partitioned(ws):
        return True
    limit = int(ws.config.extra.get("partition_rows", PARTITION_ROWS))
    files = part_files(ws, _INCIDENTS)
    if files:
        import pyarrow.parquet as pq

        new_rows += pq.read_metadata(files[0]).num_rows
    return new_rows >= limit


def append_incidents(ws: Workspace, tx: Transaction, new: pa.Table) -> str | None:
    """Stage ``new`` incident rows (canonical + source columns, no geometry) as monthly parts.

    Only the months the rows fall in are rewritten. When the workspace was partitioned and its
    counts were up to date before, the new rows are also assigned to every layer and added to
    the counts cube here (returns the report then); otherwise (``None``) the caller runs the full
    :func:`data.pipeline.refresh`, which also migrates a single-file workspace's assignments.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from data.ingest_write import write_incidents

    if ws.backend != "folder":
        return _append_rows(ws, tx, new)
    layers = ws.layers()
    incremental = bool(layers) and is_partitioned(ws, _INCIDENTS) and _counts_current(ws, layers)
    old_files = part_files(ws, _INCIDENTS)
    if old_files and old_files[0].parent.name != _INCIDENTS:  # migration: the single file → parts
        old = pq.read_table(old_files[0])
        new = _concat([old.drop_columns([c for c in ("geometry",) if c in old.column_names]), new])
        old_parts: dict[str, Path] = {}
    else:
        old_parts = {p.name: p for p in old_files}
    month = pc.strftime(new.column("occurred_at"), format="%Y-%m")
    new = new.append_column("__part", month)
    positions = _assign(ws, layers, new) if incremental else {}
    asg_parts = {p.name: p for p in part_files(ws, _ASSIGNMENTS)} if incremental else {}
    for m in pc.unique(month).to_pylist():
        part = f"{m}.parquet"
        mask = pc.equal(new.column("__part"), m)
        rows = new.filter(mask).drop_columns(["__part"])
        n_old = 0
        if part in old_parts:
            prior = pq.read_table(old_parts[part])
            prior = prior.drop_columns([c for c in ("geometry",) if c in prior.column_names])
            n_old = prior.num_rows
            rows = _concat([prior, rows])
        order = pc.sort_indices(rows.select(["occurred_at", "incident_id"]),
                                sort_keys=[("occurred_at", "ascending"), ("incident_id", "ascending")])
        write_incidents(rows.take(order), tx.path(f"{_INCIDENTS}/{part}"), sort=())
        if incremental:
            sel = np.flatnonzero(np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool))
            cols = {"incident_id": rows.column("incident_id").cast(pa.string())}
            prior_asg = pq.read_table(asg_parts[part]) if part in asg_parts else None
            if n_old and (prior_asg is None or prior_asg.num_rows != n_old):
                raise ValueError(f"{ws.path / _ASSIGNMENTS / part}: out of step with its incidents; run refresh")
            for layer in layers:
                ids = positions[layer][1].take(positions[layer][0][sel], allow_fill=True)
                fresh = pa.array(ids.to_numpy(dtype=object, na_value=None), pa.string())
                cols[layer] = (pa.concat_arrays([prior_asg.column(layer).combine_chunks().cast(pa.string()), fresh])
                               if n_old else fresh)
            pq.write_table(pa.table(cols).take(order), tx.path(f"{_ASSIGNMENTS}/{part}"), compression="snappy")
    if not incremental:
        return None
    return _add_counts(ws, tx, layers, new, positions)


def write_assignments(ws: Workspace, tx: Transaction, table: pd.DataFrame) -> None:
    """Stage the assignments of all incidents (rows in incident order), in the incidents' layout."""
    import pyarrow.parquet as pq

    files = part_files(ws, _INCIDENTS)
    if not (files and files[0].parent.name == _INCIDENTS):
        tx.write_parquet(_ASSIGNMENTS, table)
        return
    start = 0
    names = set()
    for p in files:
        n = pq.read_metadata(p).num_rows
        tx.write_parquet(f"{_ASSIGNMENTS}/{p.name}", table.iloc[start:start + n])
        names.add(p.name)
        start += n
    if start != len(table):
        raise ValueError(f"{ws.path / _ASSIGNMENTS}: {len(table):,} assignments for {start:,} incidents")
    for p in part_files(ws, _ASSIGNMENTS):  # parts of months no longer there
        if p.parent.name == _ASSIGNMENTS and p.name not in names:
            tx.delete(f"{_ASSIGNMENTS}/{p.name}")


# -- helpers --------------------------------------------------------------------------------------
def _parts_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.parquet") if p.is_file() and not p.name.startswith((".", "_")))


def _read_arrow(files: list[Path], columns: list[str] | None):
    import pyarrow.parquet as pq

    tables = []
    for p in files:
        names = pq.read_schema(p).names
        cols = None if columns is None else [c for c in columns if c in names]
        tables.append(pq.read_table(p, columns=cols))
    return _concat(tables)


def _concat(tables):
    import pyarrow as pa

    return pa.concat_tables(tables, promote_options="permissive")


def _counts_current(ws: Workspace, layers: list[str]) -> bool:
    """The committed counts and assignments were made from the committed incidents and layers."""
    from data.pipeline import _inputs, _made_from

    done = _made_from(ws)
    if done is None or done.get("inputs") != _inputs(ws, layers):
        return False
    return is_partitioned(ws, _ASSIGNMENTS) if ws.backend == "folder" else ws.has_file(_ASSIGNMENTS)


def _append_rows(ws: Workspace, tx, new: pa.Table) -> str | None:
    """:func:`append_incidents` in PostGIS: the new rows go at the end of the incident and assignment
    tables and their cells into the counts cube (:mod:`data.pg_counts`), all at the commit.

    Falls back to staging the whole incident table (returns ``None``: the caller recounts) when the
    counts are not current, are not stored as a cube, or the new rows have other columns.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from data.ingest_write import write_incidents

    layers = ws.layers()
    scratch = write_incidents(new, tx.root / "new-incidents.parquet")  # sorted, with geometry
    rows = pq.read_table(scratch)
    scratch.unlink()
    axes = ws.cube_axes() if layers and _counts_current(ws, layers) else None
    fitted = _conform(rows, ws.table_schema(_INCIDENTS)) if axes is not None else None
    if fitted is None:
        old = ws.table(_INCIDENTS)
        old = old.drop_columns([c for c in ("geometry",) if c in old.column_names])
        write_incidents(_concat([old, rows.drop_columns(["geometry"])]), tx.path(_INCIDENTS))
        return None
    positions = _assign(ws, layers, rows)
    cols = {"incident_id": rows.column("incident_id").cast(pa.string())}
    for layer in layers:
        ids = positions[layer][1].take(positions[layer][0], allow_fill=True)
        cols[layer] = pa.array(ids.to_numpy(dtype=object, na_value=None), pa.string())
    assignments = _conform(pa.table(cols), ws.table_schema(_ASSIGNMENTS))
    if assignments is None:
        raise ValueError(f"{ws.location}: {_ASSIGNMENTS} does not have the columns of the layers; run refresh")
    tx.append(_INCIDENTS, fitted)
    tx.append(_ASSIGNMENTS, assignments)
    return _add_cells(ws, tx, layers, rows, positions, axes)


def _add_cells(ws: Workspace, tx, layers: list[str], rows: pa.Table, positions: dict, axes: dict) -> str:
    """Stage the new rows' cells of every layer and the cube's new axes (PostGIS, no recount)."""
    import pyarrow as pa

    from data.calendar import period_range, period_start
    from data.pg_counts import sparse_cells
    from data.pipeline import _MADE_FROM, _inputs

    t = pd.to_datetime(rows.column("occurred_at").to_pandas())
    cats = rows.column("category").cast(pa.string()).to_pandas()
    old = next(iter(axes.values()), None) if axes else None
    bounds = [x for x in (t.min(), t.max()) if not pd.isna(x)]
    if old is not None and len(old[1]):
        bounds += [old[1][0], old[1][-1]]
    periods = (period_range(period_start([min(bounds)], "W")[0], period_start([max(bounds)], "W")[0], "W")
               if bounds else pd.DatetimeIndex([], dtype="datetime64[ns]"))
    words = sorted({*(str(c) for c in (old[2] if old is not None else [])), *(str(c) for c in cats.dropna())})
    new_axes, cells, report = {}, [], []
    for layer in layers:
        pos, area_ids = positions[layer]
        areas = axes[layer][0] if layer in axes else pd.Index(area_ids.astype("str"), dtype="str")
        if len(areas) != len(area_ids) or (areas.to_numpy(dtype=object) != area_ids.to_numpy(dtype=object)).any():
            raise ValueError(f"{ws.location}: counts.parquet layer {layer!r} does not match its areas; run refresh")
        new_axes[layer] = (areas, periods, pd.Index(pd.array(words, dtype="str")))
        cells.append(sparse_cells(layer, pos, t, cats, areas=areas))
        inside = int((pos >= 0).sum())
        report.append(f"{layer}: {inside:,} of {len(pos):,} new incidents assigned, {len(pos) - inside:,} outside"
                      " (added to the counts; the history was not recounted)")
    touched = len(pd.unique(period_start(t.dropna(), "W")))
    report.append(f"counts: {len(layers)} layer(s) × {len(periods)} weeks × {len(words)} categories → "
                  f"counts.parquet ({touched} week(s) touched)")
    made = {"inputs": _inputs(ws, layers), "report": "\n".join(report)}
    schema = ws.table_schema("counts.parquet")
    schema = schema.with_metadata({**(schema.metadata or {}), _MADE_FROM: json.dumps(made).encode()})
    tx.add_cells("counts.parquet", _concat(cells), new_axes, schema)
    return "\n".join(report)


def _conform(table: pa.Table, stored: pa.Schema | None) -> pa.Table | None:
    """``table`` with the columns and types of ``stored`` (its missing columns null); ``None`` when it
    has a column ``stored`` lacks or a value does not cast."""
    import pyarrow as pa

    if stored is None or set(table.column_names) - set(stored.names):
        return None
    cols = []
    for field in stored:
        if field.name not in table.column_names:
            cols.append(pa.nulls(table.num_rows, field.type))
            continue
        col = table.column(field.name)
        try:
            cols.append(col if col.type == field.type else col.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
    return pa.Table.from_arrays(cols, schema=pa.schema(list(stored), metadata=table.schema.metadata))


def _assign(ws: Workspace, layers: list[str], new: pa.Table) -> dict:
    """Per layer: (area position of each new row, area ids as a str array)."""
    from data.pipeline import layer_index
    from layers.assign import project_lonlat

    lon, lat = new.column("lon").to_numpy(), new.column("lat").to_numpy()
    out, xy = {}, {}
    for layer in layers:
        areas = ws.areas(layer)
        key = areas.crs.to_string()
        if key not in xy:
            xy[key] = project_lonlat(lon, lat, areas.crs)
        pos = layer_index(ws, layer, areas).locate(*xy[key])
        out[layer] = (pos, pd.array(areas["area_id"].astype("str").to_numpy(dtype=object), dtype="str"))
    return out


def _add_counts(ws: Workspace, tx: Transaction, layers: list[str], new: pa.Table, positions: dict) -> str:
    """Add the new rows' weekly counts to the committed cube and stage it (no recount)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from data.calendar import period_range, period_start
    from data.cube import count_array
    from data.pipeline import _MADE_FROM, _inputs, write_cube

    old = pq.read_table(ws.read_path("counts.parquet")).unify_dictionaries()
    t = pd.to_datetime(new.column("occurred_at").to_pandas())
    new_cats = pd.unique(new.column("category").cast("string").to_pandas().dropna())
    old_cats = sorted(str(c) for c in _words(old.column("category"))) if old.num_rows else []
    cats = sorted(set(old_cats) | {str(c) for c in new_cats})
    span = pc.min_max(old.column("period")).as_py() if old.num_rows else {"min": None, "max": None}
    lo = min(x for x in (period_start([t.min()], "W")[0], span["min"]) if x is not None)
    hi = max(x for x in (period_start([t.max()], "W")[0], span["max"]) if x is not None)
    periods = period_range(lo, hi, "W")
    cat_index = pd.Index(cats, dtype="str")
    cat_codes = cat_index.get_indexer(new.column("category").cast("string").to_pandas()).astype(np.int64)
    report, writer, tmp = [], None, tx.path("counts.parquet")
    try:
        for layer in layers:
            pos, area_ids = positions[layer]
            ids, per, cidx, cube = count_array(pos, t, cat_codes, areas=list(area_ids), categories_index=cats,
                                               freq="W", start=periods[0], end=periods[-1])
            mine = old.filter(_eq(old.column("layer"), layer))
            if mine.num_rows:
                a = _codes(mine.column("area_id"), ids)
                p = per.get_indexer(pd.DatetimeIndex(mine.column("period").to_numpy().astype("datetime64[ns]")))
                c = _codes(mine.column("category"), cidx)
                if (a < 0).any() or (p < 0).any() or (c < 0).any():
                    raise ValueError(f"{ws.counts_path}: layer {layer!r} does not match its areas; run refresh")
                cube[a, p, c] += mine.column("count").to_numpy()  # each (a, p, c) once in the cube
            writer = write_cube(writer, tmp, layer, ids, per, cidx, cube)
            inside = int((pos >= 0).sum())
            report.append(f"{layer}: {inside:,} of {len(pos):,} new incidents assigned, {len(pos) - inside:,} outside"
                          " (added to the counts; the history was not recounted)")
        report.append(f"counts: {len(layers)} layer(s) × {len(periods)} weeks × {len(cats)} categories → "
                      f"counts.parquet ({len(pd.unique(period_start(t, 'W')))} week(s) touched)")
        made = {"inputs": _inputs(ws, layers), "report": "\n".join(report)}
        writer.add_key_value_metadata({_MADE_FROM: json.dumps(made).encode()})
    finally:
        if writer is not None:
            writer.close()
    return "\n".join(report)


def _words(column) -> list:
    """The distinct strings of a (dictionary-encoded) Arrow column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    col = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(col.type):
        used = np.unique(col.indices.to_numpy(zero_copy_only=False))
        return [col.dictionary[int(i)].as_py() for i in used]
    return pc.unique(col).to_pylist()


def _codes(column, index: pd.Index) -> np.ndarray:
    """Position in ``index`` of each value of a (dictionary-encoded) string column; -1 if absent."""
    import pyarrow as pa

    col = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_dictionary(col.type):
        col = col.dictionary_encode()
    words = index.get_indexer(pd.Index(pd.array(col.dictionary.to_pylist(), dtype="str")))
    return words[col.indices.to_numpy(zero_copy_only=False)]


def _eq(column, value: str):
    import pyarrow as pa
    import pyarrow.compute as pc

    col = column.cast(pa.string()) if pa.types.is_dictionary(column.type) else column
    return pc.equal(col, value)
