"""The counts cube in PostGIS: only its non-zero cells, the dense cube rebuilt exactly on read.

``counts.parquet`` is dense (every area × week × category, zeros included, design.md "counts"):
Parquet compresses the zeros away, PostgreSQL does not (St. Louis: 7.4 M rows, 700 MB). The
PostGIS store (:mod:`data.pg_tables`) therefore keeps

==================  ===============================================================================
``counts``          the non-zero cells: ``layer, area_id, period, category, count`` (primary key on
                    the first four), an ordinary table for SQL users
``counts_axes``     per layer (in file order): its ``areas``, ``periods`` and ``categories`` in the
                    dense cube's order — what is needed to rebuild it cell for cell
==================  ===============================================================================

and the catalogue keeps the dense table's Arrow schema with its metadata (what the counts were
made from). Reading rebuilds the dense table in row groups (:func:`read_cube`), equal to the
folder's ``counts.parquet`` as read by pyarrow. A weekly ingest adds its cells to the stored ones
(:func:`add_cells`), in the commit's database transaction, without reading the cube.

A table that is not a dense cube in the writers' order (:func:`data.pipeline._arrow_cube`: per
layer, area-major, then period, then category) is refused by :func:`write_cube` and stored row
for row by the caller.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
from psycopg import Connection, sql

__all__ = ["AXES_SUFFIX", "Axes", "add_cells", "read_axes", "read_cube", "sparse_cells", "write_cube"]

#: The axes table of a cube table ``t`` is ``t`` + this.
AXES_SUFFIX = "_axes"
_COLUMNS = ["layer", "area_id", "period", "category", "count"]

#: Per layer, in file order: ``(area ids, periods, categories)`` in the dense cube's order.
Axes = dict[str, tuple[pd.Index, pd.DatetimeIndex, pd.Index]]


def write_cube(conn: Connection, schema: str, tbl: str, batches) -> Axes | None:
    """Store the non-zero cells of a dense cube (batches of ``layer, area_id, period, category,
    count``) in ``tbl`` and its axes in ``tbl_axes``; inside the caller's transaction.

    Returns
    -------
    Axes or None
        ``None`` (nothing created) when the rows are not a dense cube in the writers' order.
    """
    layers: dict[str, dict] = {}
    cells: list[pa.Table] = []
    for batch in batches:
        if sorted(batch.schema.names) != sorted(_COLUMNS):
            return None
        if batch.num_rows == 0:
            continue
        table = pa.Table.from_batches([batch]).select(_COLUMNS)
        cols = {c: _strings(table.column(c)) for c in ("layer", "area_id", "category")}
        period = table.column("period").to_numpy().astype("datetime64[ns]")
        count = table.column("count").to_numpy().astype(np.int64)
        for name in pd.unique(cols["layer"]):
            at = np.flatnonzero(cols["layer"] == name)
            if at[-1] - at[0] + 1 != len(at):  # a layer in one run of rows
                return None
            state = layers.setdefault(str(name), {"areas": [], "periods": None, "cats": None, "rows": 0,
                                                  "order": len(layers)})
            if state["order"] != len(layers) - 1:  # a layer seen again after another
                return None
            if not _extend(state, cols["area_id"][at], period[at], cols["category"][at]):
                return None
        nz = count != 0
        if nz.any():
            cells.append(pa.table({"layer": cols["layer"][nz], "area_id": cols["area_id"][nz],
                                   "period": pa.array(period[nz], pa.timestamp("us")),
                                   "category": cols["category"][nz], "count": count[nz]}))
    axes: Axes = {}
    for name, st in layers.items():
        if st.get("pending") is not None and not _extend(st, *(np.empty(0, dtype=x.dtype) for x in st["pending"]),
                                                         last=True):
            return None
        areas = pd.Index(pd.array(np.concatenate(st["areas"]) if st["areas"] else [], dtype="str"))
        periods = st["periods"] if st["periods"] is not None else pd.DatetimeIndex([], dtype="datetime64[ns]")
        cats = st["cats"] if st["cats"] is not None else pd.Index([], dtype="str")
        if st["rows"] != len(areas) * len(periods) * len(cats) or not areas.is_unique:
            return None
        axes[name] = (areas, periods, cats)
    _create(conn, schema, tbl)
    _store_axes(conn, schema, tbl, axes)
    if cells:
        _copy_cells(conn, schema, tbl, pa.concat_tables(cells))
    return axes


def read_axes(conn: Connection, schema: str, tbl: str) -> Axes:
    """The stored axes of the cube table ``tbl``, layers in file order."""
    rows = conn.execute(sql.SQL("SELECT layer, areas, periods, categories FROM {}.{} ORDER BY pos").format(
        sql.Identifier(schema), sql.Identifier(tbl + AXES_SUFFIX))).fetchall()
    return {str(layer): (pd.Index(pd.array(list(a), dtype="str")),
                         pd.DatetimeIndex(pd.to_datetime(list(p))).astype("datetime64[ns]"),
                         pd.Index(pd.array(list(c), dtype="str")))
            for layer, a, p, c in rows}


def read_cube(conn: Connection, schema: str, tbl: str, arrow_schema: pa.Schema, *, add: pa.Table | None = None,
              axes: Axes | None = None) -> Iterator[pa.Table]:
    """The dense cube rebuilt from its cells and axes, in the row groups the folder's writers make
    (:func:`data.pipeline.cube_tables`; schema and metadata as stored; at least one table, empty
    when the cube is).

    ``add`` (cells as :func:`sparse_cells`) and ``axes``: the cube as it will be once
    :func:`add_cells` has added them (a reader inside the adding transaction).
    """
    from data.partitions import _codes
    from data.pipeline import cube_tables

    axes = read_axes(conn, schema, tbl) if axes is None else axes
    layers = pd.Index(list(axes), dtype="str")
    sources = [(cells, _codes(cells.column("layer"), layers))
               for cells in (_read_cells(conn, schema, tbl), *([] if add is None else [add]))]
    out = 0
    for k, (name, (areas, periods, cats)) in enumerate(axes.items()):
        cube = np.zeros((len(areas), len(periods), len(cats)), dtype=np.int64)
        for cells, layer in sources:  # the cells of one source are unique: += adds each once
            mine = layer == k
            if not mine.any():
                continue
            sub = cells.filter(pa.array(mine))
            a, c = _codes(sub.column("area_id"), areas), _codes(sub.column("category"), cats)
            p = periods.get_indexer(pd.DatetimeIndex(sub.column("period").to_numpy().astype("datetime64[ns]")))
            if (a < 0).any() or (p < 0).any() or (c < 0).any():
                raise ValueError(f"{schema}.{tbl}: a cell of layer {name!r} outside its axes ({schema}.{tbl}"
                                 f"{AXES_SUFFIX})")
            cube[a, p, c] += sub.column("count").to_numpy()
        for part in cube_tables(name, areas, periods, cats, cube):
            yield _as_stored(part, arrow_schema)
            out += 1
    if out == 0:
        yield arrow_schema.empty_table()


def sparse_cells(layer: str, positions: np.ndarray, times, categories, *, areas: pd.Index,
                 freq: str = "W") -> pa.Table:
    """The non-zero cells the incidents ``(area position, time, category)`` add to one layer.

    Counted as :func:`data.cube.count_array` counts: no area (position < 0), no time or no
    category (``None``/NaN) is counted nowhere.
    """
    from data.calendar import period_start

    p = period_start(times, freq).to_numpy().astype("datetime64[ns]")
    cat = pd.Series(categories, dtype="str")
    ok = (np.asarray(positions) >= 0) & ~np.isnat(p) & cat.notna().to_numpy()
    frame = pd.DataFrame({"a": np.asarray(positions)[ok], "p": p[ok], "c": cat[ok].to_numpy()})
    grouped = frame.groupby(["a", "p", "c"], sort=True, observed=True).size()
    idx = grouped.index
    return pa.table({
        "layer": pa.array([layer] * len(grouped), pa.string()),
        "area_id": pa.array(areas.to_numpy(dtype=object)[idx.get_level_values("a").to_numpy()], pa.string()),
        "period": pa.array(idx.get_level_values("p").to_numpy().astype("datetime64[us]"), pa.timestamp("us")),
        "category": pa.array(idx.get_level_values("c").to_numpy(dtype=object), pa.string()),
        "count": pa.array(grouped.to_numpy(), pa.int64()),
    })


def add_cells(conn: Connection, schema: str, tbl: str, cells: pa.Table, axes: Axes) -> None:
    """Add ``cells`` (as :func:`sparse_cells`) to the stored ones and replace the axes by ``axes``
    (which must cover every stored and added cell); inside the caller's transaction."""
    s = sql.Identifier(schema)
    if cells.num_rows:
        conn.execute("CREATE TEMPORARY TABLE _pingan_cells (layer text, area_id text, period timestamp, "
                     "category text, count bigint) ON COMMIT DROP")
        _copy(conn, sql.SQL("_pingan_cells"), cells)
        conn.execute(sql.SQL(
            "INSERT INTO {}.{} AS t SELECT layer, area_id, period, category, sum(count) FROM _pingan_cells "
            "GROUP BY 1, 2, 3, 4 ON CONFLICT (layer, area_id, period, category) "
            "DO UPDATE SET count = t.count + excluded.count").format(s, sql.Identifier(tbl)))
        conn.execute("DROP TABLE _pingan_cells")
    conn.execute(sql.SQL("DELETE FROM {}.{}").format(s, sql.Identifier(tbl + AXES_SUFFIX)))
    _store_axes(conn, schema, tbl, axes)


# -- helpers ----------------------------------------------------------------------------------------
def _create(conn: Connection, schema: str, tbl: str) -> None:
    s = sql.Identifier(schema)
    conn.execute(sql.SQL(
        "CREATE TABLE {}.{} (layer text NOT NULL, area_id text NOT NULL, period timestamp NOT NULL, "
        "category text NOT NULL, count bigint NOT NULL, PRIMARY KEY (layer, area_id, period, category))"
    ).format(s, sql.Identifier(tbl)))
    conn.execute(sql.SQL(
        "CREATE TABLE {}.{} (layer text PRIMARY KEY, pos int NOT NULL, areas text[] NOT NULL, "
        "periods timestamp[] NOT NULL, categories text[] NOT NULL)").format(s, sql.Identifier(tbl + AXES_SUFFIX)))


def _store_axes(conn: Connection, schema: str, tbl: str, axes: Axes) -> None:
    query = sql.SQL("INSERT INTO {}.{} (layer, pos, areas, periods, categories) VALUES (%s, %s, %s, %s, %s)").format(
        sql.Identifier(schema), sql.Identifier(tbl + AXES_SUFFIX))
    for pos, (name, (areas, periods, cats)) in enumerate(axes.items()):
        conn.execute(query, (name, pos, [str(a) for a in areas], list(pd.DatetimeIndex(periods).to_pydatetime()),
                             [str(c) for c in cats]))


def _extend(state: dict, areas: np.ndarray, periods: np.ndarray, cats: np.ndarray, *, last: bool = False) -> bool:
    """Add a run of one layer's rows; False when they are not the next rows of a dense cube.

    The first area's rows give the period and category axes; until a second area (or the layer's
    end, ``last``) is seen they wait in ``state["pending"]``.
    """
    if state["periods"] is None:
        if state.get("pending") is not None:
            pa_, pp, pc_ = state.pop("pending")
            areas, periods, cats = (np.concatenate([pa_, areas]), np.concatenate([pp, periods]),
                                    np.concatenate([pc_, cats]))
        if len(areas) == 0:
            return True
        first = areas == areas[0]
        if first.all() and not last:
            state["pending"] = (areas, periods, cats)
            return True
        n = len(areas) if first.all() else int(np.argmin(first))
        state["periods"] = pd.DatetimeIndex(pd.unique(periods[:n]))
        state["cats"] = pd.Index(pd.array(pd.unique(cats[:n]), dtype="str"))
    n_p, n_c = len(state["periods"]), len(state["cats"])
    block = n_p * n_c
    i = state["rows"] + np.arange(len(areas))
    p = state["periods"].get_indexer(pd.DatetimeIndex(periods))
    c = state["cats"].get_indexer(pd.Index(pd.array(cats, dtype="str")))
    if (p != (i // n_c) % n_p).any() or (c != i % n_c).any():
        return False
    new = areas[i % block == 0]  # each area's first row
    names = new if state["rows"] % block == 0 else np.concatenate([[state["last"]], new])
    if (names[i // block - state["rows"] // block] != areas).any():
        return False
    state["last"] = names[-1]
    state["areas"].append(new)
    state["rows"] += len(areas)
    return True


def _strings(column) -> np.ndarray:
    """A (dictionary-encoded) string column as a NumPy object array of str."""
    col = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(col.type):
        words = np.asarray(col.dictionary.to_pylist(), dtype=object)
        return words[col.indices.to_numpy(zero_copy_only=False)]
    return np.asarray(col.to_pylist(), dtype=object)


def _as_stored(table: pa.Table, arrow_schema: pa.Schema) -> pa.Table:
    """The rebuilt table with the stored schema's types and metadata."""
    cols = [table.column(f.name).cast(f.type) if table.column(f.name).type != f.type else table.column(f.name)
            for f in arrow_schema]
    return pa.Table.from_arrays(cols, schema=arrow_schema)


def _copy_cells(conn: Connection, schema: str, tbl: str, cells: pa.Table) -> None:
    _copy(conn, sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(tbl)), cells)


def _copy(conn: Connection, target: sql.Composable, cells: pa.Table) -> None:
    from data.pg_tables import _csv_bytes

    query = sql.SQL("COPY {} (layer, area_id, period, category, count) FROM STDIN (FORMAT csv)").format(target)
    with conn.cursor().copy(query) as cp:
        for batch in cells.to_batches(max_chunksize=250_000):
            cp.write(_csv_bytes(batch, None))


def _read_cells(conn: Connection, schema: str, tbl: str) -> pa.Table:
    """Every stored cell (CSV made by the server in one chunk per layer and week)."""
    from data.pg_tables import _parse_csv, _quoted

    text = [_quoted(sql.Identifier(c)) for c in ("layer", "area_id", "category")]
    line = sql.SQL(" || ',' || ").join([text[0], text[1], sql.SQL("period::text"), text[2], sql.SQL("count::text")])
    query = sql.SQL("SELECT string_agg({}, E'\\n') FROM {}.{} GROUP BY layer, period").format(
        line, sql.Identifier(schema), sql.Identifier(tbl))
    data = "\n".join(r[0] for r in conn.execute(query)).encode()
    names = ["layer", "area_id", "period", "category", "count"]
    types = {"layer": pa.string(), "area_id": pa.string(), "period": pa.timestamp("us"),
             "category": pa.string(), "count": pa.int64()}
    return _parse_csv(data + b"\n" if data else b"", names, types)
