"""One file of a workspace table, for tools that cannot read a folder of monthly parts.

``pingan export --workspace W incidents|quarantine|counts OUT.parquet|OUT.csv|OUT.xlsx``

From ``[extra] partition_rows`` incidents (:mod:`data.partitions`) a workspace keeps
``incidents.parquet`` as a folder of monthly parts; pandas, pyarrow and DuckDB read it as one
table, but a tool that wants a single file (an older GIS, a spreadsheet, an upload form) does
not. :func:`export_table` writes the table as one file, streamed: the parts (or the one file)
are read in batches of :data:`BATCH_ROWS` rows through the workspace's own read functions
(:func:`data.partitions.part_files`: the folder's parts, or a PostGIS workspace's table), and
each batch is appended to the output, so no full copy of the table is held in memory for
Parquet and CSV.

- ``.parquet``: the stored columns (incidents keep their geometry and GeoParquet metadata);
  parts whose source columns differ are unified (missing values null).
- ``.csv``: UTF-8 with BOM and CRLF, times as ``YYYY-MM-DD HH:MM:SS``, no geometry, formulas
  neutralised (:func:`data.io.neutralise_formulas`), as the other exports.
- ``.xlsx``: the same cells in one sheet (written row by row, openpyxl's write-only mode); a
  table over Excel's :data:`EXCEL_ROWS` rows is refused before anything is written.

The export reads one workspace version (:meth:`data.workspace.Workspace.read_snapshot`: a
commit that lands meanwhile makes it start again) and writes ``OUT`` atomically (a temporary
file beside it, renamed at the end).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from data.workspace import Workspace

__all__ = ["TABLES", "SUFFIXES", "EXCEL_ROWS", "BATCH_ROWS", "export_table"]

#: Tables ``pingan export`` writes, with the workspace file each is read from.
TABLES: dict[str, str] = {"incidents": "incidents.parquet", "quarantine": "quarantine.parquet",
                          "counts": "counts.parquet"}
#: Output formats, by extension.
SUFFIXES: tuple[str, ...] = (".parquet", ".csv", ".xlsx")
#: Rows of one Excel worksheet, the header row included.
EXCEL_ROWS = 1_048_576
#: Rows read and written at a time.
BATCH_ROWS = 65_536


def export_table(ws: Workspace, table: str, out: str | Path, *, batch_rows: int = BATCH_ROWS) -> int:
    """Write the workspace table ``table`` to the single file ``out`` (format by extension).

    Parameters
    ----------
    ws : Workspace
        A folder or PostGIS workspace.
    table : {'incidents', 'quarantine', 'counts'}
        ``counts`` is the weekly cube as stored: ``layer, area_id, period, category, count``.
    out : path
        ``.parquet``, ``.csv`` or ``.xlsx``.
    batch_rows : int
        Rows per read/write step (bounds the memory).

    Returns
    -------
    int
        Rows written.

    Raises
    ------
    ValueError
        Unknown table or extension, a table the workspace does not have, or an ``.xlsx`` over
        :data:`EXCEL_ROWS` rows (the message gives the count and names ``.csv``/``.parquet``).

    Examples
    --------
    >>> export_table(Workspace("workspace"), "incidents", "incidents.csv")  # doctest: +SKIP
    1204311
    """
    if table not in TABLES:
        raise ValueError(f"export: unknown table {table!r}; use one of {', '.join(TABLES)}")
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"export {out}: unknown extension {suffix or '(none)'!r}; use one of {', '.join(SUFFIXES)}")
    if batch_rows < 1:
        raise ValueError(f"batch_rows {batch_rows}: give at least 1")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        rows = ws.read_snapshot(lambda w: _export(w, table, out, tmp, batch_rows))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return rows


def _export(ws: Workspace, table: str, out: Path, tmp: Path, batch_rows: int) -> int:
    """One attempt of :func:`export_table`, into ``tmp`` (started again by ``read_snapshot``
    after a commit)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from data.partitions import part_files

    files = part_files(ws, TABLES[table])
    if not files:
        raise ValueError(f"export {table}: {ws.location} has no {TABLES[table]} yet"
                         + (" (run pingan areas first)" if table == "counts" else ""))
    metas = [pq.ParquetFile(p) for p in files]
    n = sum(m.metadata.num_rows for m in metas)
    suffix = out.suffix.lower()
    if suffix == ".xlsx" and n + 1 > EXCEL_ROWS:
        raise ValueError(f"export {table} → {out}: {n:,} rows, over Excel's limit of {EXCEL_ROWS - 1:,} rows per "
                         "sheet; export to .csv or .parquet instead")
    schema = pa.unify_schemas([m.schema_arrow for m in metas], promote_options="permissive")
    schema = schema.with_metadata(metas[0].schema_arrow.metadata)
    batches = (_conform(b, schema) for m in metas for b in m.iter_batches(batch_size=batch_rows, use_threads=False))
    if suffix == ".parquet":
        with pq.ParquetWriter(tmp, schema, compression="snappy") as writer:
            for b in batches:
                writer.write_batch(b)
    elif suffix == ".csv":
        _write_csv(batches, schema, tmp)
    else:
        _write_xlsx(batches, schema, tmp)
    return n


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with ``schema``'s columns in its order (absent ones null, types cast)."""
    import pyarrow as pa

    cols = []
    for f in schema:
        i = batch.schema.get_field_index(f.name)
        col = batch.column(i) if i >= 0 else pa.nulls(batch.num_rows, f.type)
        cols.append(col if col.type == f.type else col.cast(f.type))
    return pa.RecordBatch.from_arrays(cols, schema=schema)


def _frame(batch: pa.RecordBatch) -> pd.DataFrame:
    """A batch as spreadsheet cells: no geometry, text as given, formulas neutralised."""
    from data.io import neutralise_formulas

    names = [c for c in batch.schema.names if c != "geometry"]
    frame = batch.select(names).to_pandas()
    for c in frame.columns:
        if isinstance(frame[c].dtype, pd.CategoricalDtype):
            frame[c] = frame[c].astype(object)
        elif isinstance(frame[c].dtype, pd.DatetimeTZDtype):
            frame[c] = frame[c].dt.tz_localize(None)
    return neutralise_formulas(frame)


def _write_csv(batches, schema: pa.Schema, path: Path) -> None:
    # BOM: Excel opens Chinese correctly; CRLF as data.io.write_table (a lone CR gets quoted)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        header = True
        for b in batches:
            _frame(b).to_csv(fh, header=header, index=False, lineterminator="\r\n",
                             date_format="%Y-%m-%d %H:%M:%S")
            header = False
        if header:  # no rows: the header alone
            fh.write(",".join(c for c in schema.names if c != "geometry") + "\r\n")


def _write_xlsx(batches, schema: pa.Schema, path: Path) -> None:
    from openpyxl import Workbook

    from data.io import _cell  # text cells typed as text, never formulas

    wb = Workbook(write_only=True)
    sheet = wb.create_sheet("data")
    sheet.append([_cell(sheet, c) for c in schema.names if c != "geometry"])
    for b in batches:
        frame = _frame(b)
        cols = [frame[c].astype(object).where(frame[c].notna(), None).to_numpy() for c in frame.columns]
        for row in zip(*cols):
            sheet.append([_cell(sheet, v) for v in row])
    wb.save(path)
