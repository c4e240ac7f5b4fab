"""Workspace tables in PostgreSQL + PostGIS: an Arrow table goes in, the same Arrow table comes out.

A PostGIS workspace (:mod:`data.workspace_pg`) keeps each workspace file as one table in the
workspace's schema, so SQL and QGIS users see ordinary tables:

==========================  ===========================  ======================================
workspace file              table                        geometry
==========================  ===========================  ======================================
``incidents.parquet``       ``incidents``                ``geometry`` Point 4326 generated from
                                                         ``lon``/``lat`` (GIST index)
``areas/<layer>.parquet``   ``areas_<layer>``            ``geometry`` in the layer's CRS +
                                                         ``geom_4326`` (both GIST)
``extra/<name>.parquet``    ``extra_<name>``             as areas, when it has geometry
other ``*.parquet``         ``quarantine``, ``counts`` …
text files (config.toml)    rows of ``_pingan_files``
==========================  ===========================  ======================================

``_pingan_tables`` is the catalogue: per file its table, the Arrow schema (types, pandas and
GeoParquet metadata, key-value metadata such as what the counts were made from) and the workspace
version that wrote it. Rows keep their order (``_row``). Data moves by ``COPY … (FORMAT csv)``
written and parsed by Arrow's C++ CSV code, so a million rows take seconds, not minutes. Times
keep microseconds (PostgreSQL's resolution); everything else round-trips exactly.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import Connection, sql

from data import pg_counts
from data.config import WorkspaceError

__all__ = [
    "AUDIT", "CATALOG", "CUBE", "FILES", "META", "add_cube_cells", "append_arrow", "bootstrap", "drop_file",
    "file_names", "file_schema", "read_arrow", "read_text", "set_metadata", "table_name", "table_schema", "write_arrow", "write_parquet", "write_text", "written_version",
]

#: Catalogue of the stored tables (name → table, Arrow schema, version that wrote it).
CATALOG = "_pingan_tables"
#: Small text files of the workspace (config.toml, users.json …).
FILES = "_pingan_files"
#: The audit log: one row per login, upload, export, briefing, user change (:mod:`data.audit`).
AUDIT = "audit"
#: Key → value: ``version`` (the committed workspace version), ``uuid`` (identity of the store).
META = "_pingan_meta"
#: The workspace file stored as a sparse cube (:mod:`data.pg_counts`) when it is a dense cube.
CUBE = "counts.parquet"

_BATCH = 250_000
_RESERVED = {"_row", "geom_4326"}


def bootstrap(conn: Connection, schema: str) -> str:
    """Create the schema and its catalogue if missing; returns the store's uuid.

    Serialised by a transaction-level advisory lock, so two first connections cannot race.
    """
    s = sql.Identifier(schema)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('pingan-bootstrap'))")
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s))
        conn.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {}.{} (key text PRIMARY KEY, value text NOT NULL)"
        ).format(s, sql.Identifier(META)))
        conn.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {}.{} (name text PRIMARY KEY, tbl text NOT NULL UNIQUE, "
            "arrow_schema bytea NOT NULL, columns jsonb NOT NULL, geometry jsonb, dictionaries jsonb, written bigint NOT NULL, "
            "tag text NOT NULL DEFAULT md5(random()::text || clock_timestamp()::text))"
        ).format(s, sql.Identifier(CATALOG)))
        conn.execute(sql.SQL(  # 'rows': the table row for row; 'cube': non-zero cells (data.pg_counts)
            "ALTER TABLE {}.{} ADD COLUMN IF NOT EXISTS layout text NOT NULL DEFAULT 'rows'"
        ).format(s, sql.Identifier(CATALOG)))
        conn.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {}.{} (name text PRIMARY KEY, body text NOT NULL, written bigint NOT NULL, "
            "tag text NOT NULL DEFAULT md5(random()::text || clock_timestamp()::text))"
        ).format(s, sql.Identifier(FILES)))
        conn.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {}.{} (id bigserial PRIMARY KEY, time timestamptz NOT NULL, "
            "\"user\" text NOT NULL, remote text NOT NULL, action text NOT NULL, detail text NOT NULL)"
        ).format(s, sql.Identifier(AUDIT)))
        conn.execute(sql.SQL(
            "INSERT INTO {}.{} VALUES ('version', '0'), ('uuid', md5(random()::text || clock_timestamp()::text)) "
            "ON CONFLICT (key) DO NOTHING").format(s, sql.Identifier(META)))
        row = conn.execute(sql.SQL("SELECT value FROM {}.{} WHERE key = 'uuid'").format(
            s, sql.Identifier(META))).fetchone()
    return str(row[0])


def table_name(name: str) -> str:
    """The SQL table of the workspace file ``name``: ``areas/grid.parquet`` → ``areas_grid``."""
    stem = name[: -len(".parquet")] if name.endswith(".parquet") else name
    base = re.sub(r"[^a-z0-9_]", "_", stem.lower().replace("/", "_"))
    if base != stem.replace("/", "_") or len(base) > 50 or not base or base[0].isdigit() or base.startswith("_"):
        import hashlib  # names that do not map one to one get a short digest, never a clash

        base = f"t_{base[:40]}_{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return base


def written_version(conn: Connection, schema: str, name: str) -> str | None:
    """Which write of ``name`` is stored: ``v<version>-<random tag>``; ``None``: absent.

    The key changes with every write, also between copies of one store (a restored dump), so a
    local copy keyed by it is never stale.
    """
    row = conn.execute(sql.SQL(
        "SELECT written, tag FROM {s}.{c} WHERE name = %s UNION ALL SELECT written, tag FROM {s}.{f} WHERE name = %s"
    ).format(s=sql.Identifier(schema), c=sql.Identifier(CATALOG), f=sql.Identifier(FILES)),
        (name, name)).fetchone()
    return None if row is None else f"v{int(row[0])}-{row[1][:12]}"


def file_names(conn: Connection, schema: str, prefix: str = "") -> list[str]:
    """Names of the stored files (tables and texts) starting with ``prefix``, sorted."""
    rows = conn.execute(sql.SQL(
        "SELECT name FROM {s}.{c} WHERE starts_with(name, %s) "
        "UNION SELECT name FROM {s}.{f} WHERE starts_with(name, %s) ORDER BY 1"
    ).format(s=sql.Identifier(schema), c=sql.Identifier(CATALOG), f=sql.Identifier(FILES)),
        (prefix, prefix)).fetchall()
    return [r[0] for r in rows]


# -- text files -------------------------------------------------------------------------------------
def write_text(conn: Connection, schema: str, name: str, body: str, version: int) -> str:
    """Store a text file (inside the caller's transaction); returns its key (:func:`written_version`)."""
    drop_file(conn, schema, name)
    tag = conn.execute(sql.SQL("INSERT INTO {}.{} (name, body, written) VALUES (%s, %s, %s) RETURNING tag").format(
        sql.Identifier(schema), sql.Identifier(FILES)), (name, body, version)).fetchone()[0]
    return f"v{version}-{tag[:12]}"


def read_text(conn: Connection, schema: str, name: str) -> str | None:
    row = conn.execute(sql.SQL("SELECT body FROM {}.{} WHERE name = %s").format(
        sql.Identifier(schema), sql.Identifier(FILES)), (name,)).fetchone()
    return None if row is None else str(row[0])


def drop_file(conn: Connection, schema: str, name: str) -> None:
    """Remove the table or text stored as ``name`` (nothing if absent)."""
    s = sql.Identifier(schema)
    row = conn.execute(sql.SQL("DELETE FROM {}.{} WHERE name = %s RETURNING tbl, layout").format(
        s, sql.Identifier(CATALOG)), (name,)).fetchone()
    if row is not None:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(s, sql.Identifier(row[0])))
    if row is not None and row[1] == "cube":
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(s, sql.Identifier(row[0] + pg_counts.AXES_SUFFIX)))
    conn.execute(sql.SQL("DELETE FROM {}.{} WHERE name = %s").format(s, sql.Identifier(FILES)), (name,))


# -- tables -----------------------------------------------------------------------------------------
def write_arrow(conn: Connection, schema: str, name: str, table: pa.Table | str, version: int) -> str:
    """Replace the table of ``name`` by ``table`` (inside the caller's transaction); returns its key.

    The key is what :func:`written_version` will return for this write.

    A GeoParquet geometry column becomes a PostGIS geometry with a GIST index: generated from
    ``lon``/``lat`` for EPSG:4326 points beside such columns (the incidents), else loaded from
    EWKB, with a ``geom_4326`` copy for projected layers.
    """
    drop_file(conn, schema, name)
    tbl = table_name(name)
    if isinstance(table, pa.Table):
        arrow_schema, batches = table.schema, table.to_batches(max_chunksize=_BATCH)
    else:  # a Parquet file, streamed batch by batch (a staged incident table can be large)
        arrow_schema, batches = _parquet_batches(table)
    if name == CUBE and pg_counts.write_cube(conn, schema, tbl, batches) is not None:
        return _catalogue(conn, schema, name, tbl, arrow_schema, _pg_columns(arrow_schema), None, {}, version,
                          "cube")
    if name == CUBE:  # not a dense cube in the writers' order: row for row, read again from the start
        batches = table.to_batches(max_chunksize=_BATCH) if isinstance(table, pa.Table) else _parquet_batches(table)[1]
    geo = _geo_column(arrow_schema, lonlat=name == "incidents.parquet")
    columns = _pg_columns(arrow_schema)
    s, t = sql.Identifier(schema), sql.Identifier(tbl)
    defs = [sql.SQL("_row bigint GENERATED ALWAYS AS IDENTITY")]
    load: list[str] = []
    for field, col in zip(arrow_schema, columns, strict=True):
        if geo is not None and field.name == geo["column"]:
            if geo["from_lonlat"]:
                lon, lat = (sql.Identifier(columns[arrow_schema.get_field_index(c)]) for c in ("lon", "lat"))
                defs.append(sql.SQL("{} geometry(Point, 4326) GENERATED ALWAYS AS "
                                    "(ST_SetSRID(ST_MakePoint({}, {}), 4326)) STORED").format(
                    sql.Identifier(col), lon, lat))
                continue
            defs.append(sql.SQL("{} geometry(Geometry, {})").format(sql.Identifier(col), sql.Literal(geo["srid"])))
        else:
            defs.append(sql.SQL("{} {}").format(sql.Identifier(col), sql.SQL(_pg_type(field, name))))
        load.append(col)
    if geo is not None and geo["srid"] not in (0, 4326):
        defs.append(sql.SQL("geom_4326 geometry(Geometry, 4326) GENERATED ALWAYS AS (ST_Transform({}, 4326)) STORED")
                    .format(sql.Identifier(geo["column"])))
    conn.execute(sql.SQL("CREATE TABLE {}.{} ({})").format(s, t, sql.SQL(", ").join(defs)))
    dictionaries: dict[str, dict] = {f.name: {} for f in arrow_schema if pa.types.is_dictionary(f.type)}
    _load(conn, schema, tbl, load, batches, geo, dictionaries)
    if geo is not None:
        conn.execute(sql.SQL("CREATE INDEX ON {}.{} USING gist ({})").format(s, t, sql.Identifier(geo["column"])))
        if geo["srid"] not in (0, 4326):
            conn.execute(sql.SQL("CREATE INDEX ON {}.{} USING gist (geom_4326)").format(s, t))
    if "incident_id" in arrow_schema.names and name == "incidents.parquet":  # no doubles, by the store itself
        conn.execute(sql.SQL("CREATE UNIQUE INDEX ON {}.{} (incident_id)").format(s, t))
    return _catalogue(conn, schema, name, tbl, arrow_schema, columns, geo, dictionaries, version, "rows")


def _catalogue(conn: Connection, schema: str, name: str, tbl: str, arrow_schema: pa.Schema, columns: list[str],
               geo: dict | None, dictionaries: dict, version: int, layout: str) -> str:
    """Enter a stored table in the catalogue; returns its key (:func:`written_version`)."""
    tag = conn.execute(sql.SQL(
        "INSERT INTO {}.{} (name, tbl, arrow_schema, columns, geometry, dictionaries, written, layout) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING tag").format(sql.Identifier(schema), sql.Identifier(CATALOG)), (
        name, tbl, arrow_schema.serialize().to_pybytes(), json.dumps(columns), json.dumps(geo),
        json.dumps({c: list(v) for c, v in dictionaries.items()}, ensure_ascii=False), version, layout)).fetchone()[0]
    return f"v{version}-{tag[:12]}"


def append_arrow(conn: Connection, schema: str, name: str, paths: list[str], version: int) -> str:
    """Add the rows of Parquet files at the end of the stored table ``name`` (inside the caller's
    transaction; the unique ``incident_id`` of the incidents refuses doubles); returns its key.

    Raises
    ------
    WorkspaceError
        ``name`` is not stored row for row, or a file's columns are not the table's.
    """
    row = conn.execute(sql.SQL(
        "SELECT tbl, arrow_schema, columns, geometry, dictionaries, layout FROM {}.{} WHERE name = %s").format(
        sql.Identifier(schema), sql.Identifier(CATALOG)), (name,)).fetchone()
    if row is None or row[5] != "rows":
        raise WorkspaceError(f"{name}: no table in {schema} to append rows to")
    tbl, stored, columns, geo = row[0], pa.ipc.read_schema(pa.py_buffer(bytes(row[1]))), row[2], row[3]
    dictionaries = {c: dict.fromkeys(v) for c, v in (row[4] or {}).items()}
    load = [col for field, col in zip(stored, columns, strict=True)
            if not (geo is not None and field.name == geo["column"] and geo["from_lonlat"])]
    bbox = []
    for path in paths:
        have, batches = _parquet_batches(path)
        if [(f.name, f.type) for f in have] != [(f.name, f.type) for f in stored]:
            raise WorkspaceError(f"{name}: the rows to append have other columns than {schema}.{tbl}")
        bbox.append(_bbox(have))
        _load(conn, schema, tbl, load, batches, geo, dictionaries)
    meta = dict(stored.metadata or {})
    if b"geo" in meta and all(bbox) and _bbox(stored):  # the new rows' extent joins the table's
        info = json.loads(meta[b"geo"])
        boxes = np.array([_bbox(stored), *bbox], dtype=float)
        info["columns"][info.get("primary_column", "geometry")]["bbox"] = [
            *boxes[:, :2].min(axis=0).tolist(), *boxes[:, 2:].max(axis=0).tolist()]
        meta[b"geo"] = json.dumps(info).encode()
    return _rewritten(conn, schema, name, stored.with_metadata(meta), version, dictionaries)


def add_cube_cells(conn: Connection, schema: str, name: str, cells: pa.Table, axes, arrow_schema: pa.Schema,
                   version: int) -> str:
    """Add non-zero cells to the stored cube ``name`` (:func:`data.pg_counts.add_cells`) with its new
    axes and Arrow schema (inside the caller's transaction); returns its key."""
    row = conn.execute(sql.SQL("SELECT tbl, layout FROM {}.{} WHERE name = %s").format(
        sql.Identifier(schema), sql.Identifier(CATALOG)), (name,)).fetchone()
    if row is None or row[1] != "cube":
        raise WorkspaceError(f"{name}: no counts cube in {schema} to add cells to")
    pg_counts.add_cells(conn, schema, row[0], cells, axes)
    return _rewritten(conn, schema, name, arrow_schema, version, None)


def table_schema(conn: Connection, schema: str, name: str) -> pa.Schema | None:
    """The Arrow schema (with its metadata) of the stored table ``name``; ``None``: absent."""
    row = conn.execute(sql.SQL("SELECT arrow_schema FROM {}.{} WHERE name = %s").format(
        sql.Identifier(schema), sql.Identifier(CATALOG)), (name,)).fetchone()
    return None if row is None else pa.ipc.read_schema(pa.py_buffer(bytes(row[0])))


def set_metadata(conn: Connection, schema: str, name: str, metadata: dict[bytes, bytes]) -> None:
    """Replace the key-value metadata of the stored table ``name`` (inside the caller's transaction)."""
    stored = table_schema(conn, schema, name)
    if stored is None:
        raise WorkspaceError(f"{name}: not in the store {schema}")
    conn.execute(sql.SQL("UPDATE {}.{} SET arrow_schema = %s WHERE name = %s").format(
        sql.Identifier(schema), sql.Identifier(CATALOG)), (stored.with_metadata(metadata).serialize().to_pybytes(), name))


def _rewritten(conn: Connection, schema: str, name: str, arrow_schema: pa.Schema, version: int,
               dictionaries: dict | None) -> str:
    """A stored table changed in place: its schema, dictionaries, version and a new tag."""
    sets = [sql.SQL("arrow_schema = %s"), sql.SQL("written = %s"),
            sql.SQL("tag = md5(random()::text || clock_timestamp()::text)")]
    args: list[Any] = [arrow_schema.serialize().to_pybytes(), version]
    if dictionaries is not None:
        sets.append(sql.SQL("dictionaries = %s"))
        args.append(json.dumps({c: list(v) for c, v in dictionaries.items()}, ensure_ascii=False))
    tag = conn.execute(sql.SQL("UPDATE {}.{} SET {} WHERE name = %s RETURNING tag").format(
        sql.Identifier(schema), sql.Identifier(CATALOG), sql.SQL(", ").join(sets)), (*args, name)).fetchone()[0]
    return f"v{version}-{tag[:12]}"


def _load(conn: Connection, schema: str, tbl: str, load: list[str], batches, geo: dict | None,
          dictionaries: dict[str, dict]) -> None:
    """COPY batches into the columns ``load`` of a table; collects the dictionaries' words in order."""
    copy = sql.SQL("COPY {}.{} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(schema), sql.Identifier(tbl), sql.SQL(", ").join(sql.Identifier(c) for c in load))
    with conn.cursor().copy(copy) as cp:
        for batch in batches:
            for col, values in dictionaries.items():  # the categories' order, as pandas unifies them
                values.update(dict.fromkeys(batch.column(col).dictionary.to_pylist()))
            cp.write(_csv_bytes(batch, geo))


def _bbox(arrow_schema: pa.Schema) -> list[float]:
    """The GeoParquet bbox of a schema's primary geometry (``[]``: none recorded)."""
    meta = (arrow_schema.metadata or {}).get(b"geo")
    if meta is None:
        return []
    info = json.loads(meta)
    return list(info.get("columns", {}).get(info.get("primary_column", "geometry"), {}).get("bbox") or [])


def file_schema(path) -> pa.Schema:
    """The Arrow schema of a Parquet file with all of the file's key-value metadata (also what a
    writer added with ``add_key_value_metadata``, e.g. what the counts were made from)."""
    import pyarrow.parquet as pq

    return _file_schema(pq.ParquetFile(path))


def _file_schema(pf) -> pa.Schema:
    meta = {k: v for k, v in (pf.metadata.metadata or {}).items() if k != b"ARROW:schema"}
    meta.update(pf.schema_arrow.metadata or {})
    return pf.schema_arrow.with_metadata(meta)


def _parquet_batches(path: str):
    """The Arrow schema of a Parquet file (with the file's key-value metadata) and its batches."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    schema = _file_schema(pf)

    def batches():
        for batch in pf.iter_batches(batch_size=_BATCH):
            yield batch.replace_schema_metadata(None)
    return schema, batches()


def read_arrow(conn: Connection, schema: str, name: str, columns: list[str] | None = None) -> pa.Table | None:
    """The Arrow table stored as ``name`` (``None`` if absent), optionally only ``columns``.

    Raises
    ------
    WorkspaceError
        A requested column is not in the table.
    """
    row = conn.execute(sql.SQL(
        "SELECT tbl, arrow_schema, columns, geometry, dictionaries, layout FROM {}.{} WHERE name = %s").format(
        sql.Identifier(schema), sql.Identifier(CATALOG)), (name,)).fetchone()
    if row is None:
        return None
    tbl, raw, pg_cols, geo, dictionaries = row[0], row[1], row[2], row[3], row[4] or {}
    stored = pa.ipc.read_schema(pa.py_buffer(bytes(raw)))
    wanted = stored.names if columns is None else list(dict.fromkeys(columns))
    missing = [c for c in wanted if c not in stored.names]
    if missing:
        raise WorkspaceError(f"{name}: no column {missing[0]!r} (table {schema}.{tbl})")
    if row[5] == "cube":
        return pa.concat_tables(pg_counts.read_cube(conn, schema, tbl, stored)).unify_dictionaries().select(wanted)
    from_lonlat = geo is not None and geo["from_lonlat"] and geo["column"] in wanted
    need = list(wanted)
    if from_lonlat:
        need = [c for c in need if c != geo["column"]]
        need += [c for c in ("lon", "lat") if c not in need]
    exprs, types = [], {}
    for c in need:
        i = stored.get_field_index(c)
        field, col = stored.field(i), sql.Identifier(pg_cols[i])
        if geo is not None and c == geo["column"]:
            exprs.append(_quoted(sql.SQL("encode(ST_AsBinary({}), 'hex')").format(col)))
            types[c] = pa.string()
        elif pa.types.is_timestamp(field.type) and field.type.tz is not None:
            exprs.append(sql.SQL("coalesce(({} AT TIME ZONE 'UTC')::text, '')").format(col))
            types[c] = pa.timestamp("us")
        else:
            types[c] = _csv_type(field.type)
            text = pa.types.is_string(types[c]) or pa.types.is_large_string(types[c])
            exprs.append(_quoted(sql.SQL("{}::text").format(col)) if text
                         else sql.SQL("coalesce({}::text, '')").format(col))
    # CSV lines made by the server and sent in chunks of many rows: a COPY sends one message per
    # row, and reading millions of messages in Python costs more than everything else
    line = sql.SQL(" || ',' || ").join(exprs) if exprs else sql.SQL("''")
    query = sql.SQL("SELECT string_agg(line, E'\\n' ORDER BY _row) FROM (SELECT _row, {} AS line FROM {}.{}) s "
                    "GROUP BY _row / {} ORDER BY min(_row)").format(
        line, sql.Identifier(schema), sql.Identifier(tbl), sql.Literal(_BATCH))
    if not conn.autocommit or conn.info.transaction_status != 0:  # in a transaction: sort in memory
        conn.execute("SET LOCAL work_mem = '256MB'")
    chunks = [r[0] for r in conn.execute(query)]
    data = ("\n".join(chunks) + "\n").encode() if chunks else b""
    del chunks
    parsed = _parse_csv(data, need, types)
    del data
    arrays, fields = [], []
    for c in wanted:
        field = stored.field(stored.get_field_index(c))
        if geo is not None and c == geo["column"]:
            arr = _lonlat_wkb(parsed) if from_lonlat else _hex_wkb(parsed.column(c))
        else:
            arr = parsed.column(c)
            if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
                arr = pa.array([None if v is None else bytes.fromhex(v[2:]) for v in arr.to_pylist()], field.type)
            elif _nested(field.type):
                arr = pa.array([None if v is None else json.loads(v) for v in arr.to_pylist()], field.type)
            elif pa.types.is_timestamp(field.type) and field.type.tz is not None:
                arr = arr.cast(pa.timestamp("us", tz="UTC"))
            elif c in dictionaries:  # the stored categories, in their order
                arr = _dictionary(arr, dictionaries[c], field.type)
        arrays.append(arr.cast(field.type) if arr.type != field.type else arr)
        fields.append(field)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=stored.metadata))


def write_parquet(conn: Connection, schema: str, name: str, path) -> None:
    """Write the stored table ``name`` to the Parquet file ``path`` (a cube in row groups, never whole)."""
    import pyarrow.parquet as pq

    row = conn.execute(sql.SQL("SELECT tbl, arrow_schema, layout FROM {}.{} WHERE name = %s").format(
        sql.Identifier(schema), sql.Identifier(CATALOG)), (name,)).fetchone()
    if row is None:
        raise WorkspaceError(f"{name}: not in the store {schema}")
    if row[2] != "cube":
        pq.write_table(read_arrow(conn, schema, name), path, compression="snappy")
        return
    stored = pa.ipc.read_schema(pa.py_buffer(bytes(row[1])))
    with pq.ParquetWriter(path, stored, compression="snappy") as writer:
        for part in pg_counts.read_cube(conn, schema, row[0], stored):
            writer.write_table(part)


# -- helpers ----------------------------------------------------------------------------------------
def _geo_column(schema: pa.Schema, *, lonlat: bool) -> dict[str, Any] | None:
    """The GeoParquet primary geometry of ``schema``: its column, SRID and whether it is lon/lat.

    ``lonlat``: the table is the incidents, whose points are made from ``lon``/``lat`` by
    construction (:func:`data.ingest_write.write_incidents`), so the store generates them too.
    """
    meta = (schema.metadata or {}).get(b"geo")
    if meta is None:
        return None
    geo = json.loads(meta)
    column = geo.get("primary_column", "geometry")
    info = geo.get("columns", {}).get(column, {})
    if column not in schema.names or info.get("encoding", "WKB").upper() != "WKB":
        return None
    crs = info.get("crs", "OGC:CRS84")
    srid = 4326
    if crs is not None and crs != "OGC:CRS84":
        from pyproj import CRS

        parsed = CRS.from_user_input(crs)
        srid = 4326 if parsed.equals(CRS.from_epsg(4326), ignore_axis_order=True) else (parsed.to_epsg() or 0)
    points = info.get("geometry_types") == ["Point"]
    from_lonlat = bool(lonlat and points and srid == 4326 and {"lon", "lat"} <= set(schema.names)
                       and all(pa.types.is_floating(schema.field(c).type) for c in ("lon", "lat")))
    return {"column": column, "srid": int(srid), "from_lonlat": from_lonlat}


def _pg_columns(schema: pa.Schema) -> list[str]:
    """SQL column names: the Arrow name where it is a usable identifier, else ``c<i>``."""
    out, seen = [], set()
    for i, name in enumerate(schema.names):
        ok = (0 < len(name.encode()) <= 63 and name not in _RESERVED and name.lower() not in seen
              and "\x00" not in name)
        col = name if ok else f"c{i}_"
        seen.add(col.lower())
        out.append(col)
    return out


def _pg_type(field: pa.Field, name: str) -> str:
    t = field.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t):
        return "text"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t):
        return "numeric" if t == pa.uint64() else "bigint"
    if pa.types.is_floating(t):
        return "double precision"
    if pa.types.is_timestamp(t):
        return "timestamptz" if t.tz is not None else "timestamp"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "bytea"
    if _nested(t):
        return "jsonb"
    raise WorkspaceError(f"{name}: column {field.name!r} has type {field.type}, which the PostGIS store cannot hold")


def _nested(t: pa.DataType) -> bool:
    """Lists and structs: stored as JSON (e.g. the area ids of a recorded 整治)."""
    return (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
            or pa.types.is_struct(t))


def _csv_type(t: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_null(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t) or _nested(t):
        return pa.string()
    if pa.types.is_large_string(t):
        return pa.large_string()
    if pa.types.is_integer(t):
        return pa.int64() if t != pa.uint64() else pa.uint64()
    if pa.types.is_floating(t):
        return pa.float64()
    if pa.types.is_timestamp(t):
        return pa.timestamp("us")
    return t


def _csv_bytes(batch: pa.RecordBatch, geo: dict | None) -> bytes:
    """One batch as CSV for COPY: strings quoted (empty string ≠ NULL), geometry as hex EWKB."""
    arrays, names = [], []
    for field, arr in zip(batch.schema, batch.columns, strict=True):
        if geo is not None and field.name == geo["column"]:
            if geo["from_lonlat"]:
                continue
            arr = _ewkb_hex(arr, geo["srid"])
        elif pa.types.is_dictionary(field.type):
            arr = arr.cast(field.type.value_type)
        elif pa.types.is_null(field.type):
            arr = pa.nulls(len(arr), pa.string())
        elif pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            arr = pa.array([None if v is None else "\\x" + v.hex() for v in arr.to_pylist()], pa.string())
        elif _nested(field.type):
            arr = pa.array([None if v is None else json.dumps(v, ensure_ascii=False) for v in arr.to_pylist()],
                           pa.string())
        arrays.append(arr)
        names.append(field.name)
    out = io.BytesIO()
    pacsv.write_csv(pa.RecordBatch.from_arrays(arrays, names=names), out,
                    pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return out.getvalue()


def _ewkb_hex(arr: pa.Array, srid: int) -> pa.Array:
    import shapely

    geoms = shapely.from_wkb(np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object))
    geoms = shapely.set_srid(geoms, srid)
    return pa.array(shapely.to_wkb(geoms, hex=True, include_srid=True), pa.string())


def _hex_wkb(arr: pa.ChunkedArray) -> pa.Array:
    import shapely

    geoms = shapely.from_wkb(np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object))
    return pa.array(shapely.to_wkb(geoms), pa.binary())


def _lonlat_wkb(parsed: pa.Table) -> pa.Array:
    from data.ingest_write import point_wkb

    lon = parsed.column("lon").to_numpy(zero_copy_only=False)
    lat = parsed.column("lat").to_numpy(zero_copy_only=False)
    return point_wkb(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))


def _dictionary(values: pa.ChunkedArray, categories: list, kind: pa.DictionaryType) -> pa.Array:
    import pyarrow.compute as pc

    dictionary = pa.array(categories, kind.value_type)
    values = values.combine_chunks()
    indices = pc.index_in(values, value_set=dictionary).cast(kind.index_type)
    return pa.DictionaryArray.from_arrays(indices, dictionary)


def _quoted(expr: sql.Composable) -> sql.Composable:
    """A text expression as one CSV field: quoted (so "" is the empty string), NULL as nothing."""
    return sql.SQL("CASE WHEN {e} IS NULL THEN '' ELSE '\"' || replace({e}, '\"', '\"\"') || '\"' END").format(e=expr)


def _parse_csv(data: bytes, names: list[str], types: dict[str, pa.DataType]) -> pa.Table:
    if not names:
        return pa.table({})
    if not data:
        return pa.table({c: pa.array([], t) for c, t in types.items()})
    return pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 26),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False,
            true_values=["t", "true"], false_values=["f", "false"], null_values=[""]),
    )
