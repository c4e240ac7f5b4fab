"""The Dask engine's reading and validation: input files in blocks, validated on the workers.

:func:`validated_blocks` is what :func:`data.ingest.ingest_files` reads a file through under
``pingan ingest --engine dask`` (:mod:`data.engine_dask`). A CSV that the strict reader
(:mod:`data.ingest_csv`) takes as it is — one record per line, so no quoted line breaks — is cut
into byte ranges of about ``--blocksize`` at line breaks, a plain Parquet file into runs of row
groups; each worker parses its block with the local reader's options and runs the local
validation (:func:`data.ingest_validate.validate`) on it. Record numbers (``source_row``) are
counted from the start of the file (each block counts its records; blank lines are not records),
and duplicate ids across blocks, files and the workspace are decided on the client from the
blocks' ids in the local engine's order (the blocks holding such rows are validated again), so
incidents, quarantine (reasons, details, rows, files) and ``rows in = used + quarantined`` equal the
local engine's (tested). Excel, vector formats, GeoParquet and CSV files needing the line-by-line
repair are read and validated on the client, with a note. The input files must be on a file system
the workers share. The validated rows come back to the client, which writes them in the ingest's
one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from data.engine_dask import current_blocksize

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

__all__ = ["ValidatedBlock", "validated_blocks"]


@dataclass
class ValidatedBlock:
    """One block of an input file, read and validated on a worker (what :func:`ingest_files`
    gets in place of a :class:`data.ingest_read.Source` chunk from :func:`validated_blocks`).

    Attributes
    ----------
    n_rows : int
        Records of the block (``len(good) + len(bad)``).
    frame : DataFrame
        No rows, the file's columns as the local reader names them.
    good, bad : DataFrame
        The block's incidents and quarantine rows, exactly as :func:`data.ingest_validate.validate`
        makes them locally (``source_row`` counted from the start of the file).
    mapped : dict
        {canonical: source column}.
    encoding : str or None
        The file's text encoding (CSV).
    control_chars : int
        Control characters removed while validating.
    notes : list of str
        What the engine decided for the file (on its first block).
    """

    n_rows: int
    frame: pd.DataFrame
    good: pd.DataFrame
    bad: pd.DataFrame
    mapped: dict
    encoding: str | None = None
    control_chars: int = 0
    notes: list = field(default_factory=list)


def validated_blocks(client: Client, path: Path, *, encoding: str, limits: Any, read_opts: dict,
                     existing_ids: list[tuple[Any, str]], blocksize: int | None = None,
                     **validate_kw: Any) -> Iterator[Any]:
    """Read and validate ``path`` in blocks on ``client``'s workers; yield them in file order.

    A clean CSV (what :func:`data.ingest_csv.plan_csv` reads as it is: one record per line, so
    no quoted line breaks) is cut into byte ranges of about ``blocksize`` at line breaks, a plain
    Parquet file into runs of row groups. Each worker parses its range with the local reader's
    options, counts its records (blank lines are not records) and runs
    :func:`data.ingest_validate.validate` on it. Then the client, from the ids of each block's
    usable rows, decides which rows are duplicates — of an earlier block of the same file, of the
    workspace (``existing_ids``), of an earlier file — in the order the local engine checks them,
    and the blocks holding such rows are validated again with those ids, so quarantine reasons,
    details and ``source_row`` equal the local engine's. Blocks without such rows keep their
    first result (it stays on the worker until then).

    Other files — Excel, vector formats, GeoParquet, and CSV files that need the line-by-line
    repair (quoted line breaks, malformed or undecodable lines, a title above the header,
    UTF-16) — are read on the client as the local engine does: then plain
    :class:`~data.ingest_read.Source` chunks are yielded (validated by the caller), with a note.

    ``validate_kw``: ``mapping``, ``coords``, ``epsg``, ``source_tz``, ``target_tz``, ``area``,
    ``now_limit`` as :func:`data.ingest_validate.validate` takes them.

    Raises
    ------
    ValueError
        As the local reader and validator; or a worker cannot read ``path`` (input files must be
        on a file system the workers share).
    """
    from data.ingest_read import iter_source

    blocksize = blocksize or current_blocksize()
    known = list(existing_ids)  # the caller appends this file's ids as it takes the blocks
    plan, why = _plan_blocks(path, encoding, blocksize)
    if plan is None:
        first = True
        for src in iter_source(path, encoding=encoding, limits=limits, **read_opts):
            if first and why:
                src.notes = [*src.notes, f"{path.name}: read and validated on the client ({why})"]
            first = False
            yield src
        return
    from data.ingest_read import Source
    from data.ingest_validate import validate

    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in plan["columns"]})
    # the header's columns checked here: a missing time/category/coordinate column is one
    # message from the client, not a failed task logged by every worker
    validate(Source(frame=empty.copy()), path, existing_ids=[], limits=limits, **validate_kw)
    ctx = client.scatter([{"path": path, "limits": limits, **validate_kw}], broadcast=True)[0]
    first_pass = client.map(_validate_block, plan["blocks"], ctx=ctx, pure=False)
    summaries = client.gather(client.map(_summary, first_pass, pure=False))
    n = np.array([s["n"] for s in summaries], dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum(n)[:-1])) if len(n) else n
    dups = _duplicates([s["ids"] for s in summaries], known)
    final = client.map(_finish_block, first_pass, plan["blocks"], offsets.tolist(), dups, ctx=ctx, pure=False)
    del first_pass
    workers = len(client.scheduler_info().get("workers", {}))
    notes = [*plan["notes"], f"{path.name}: read and validated on the Dask cluster "
                             f"({len(plan['blocks'])} block(s), {workers} worker(s))"]
    yielded = False
    for k, fut in enumerate(final):
        r = fut.result()
        final[k] = None  # the worker frees the block once the client has it
        if r["n"] == 0 and (yielded or k < len(final) - 1):
            continue  # a block of blank lines
        yielded = True
        yield ValidatedBlock(n_rows=r["n"], frame=empty, good=r["good"], bad=r["bad"], mapped=r["mapped"],
                             encoding=plan["encoding"], control_chars=r["control_chars"], notes=notes)
        notes = []


def _plan_blocks(path: Path, encoding: str, blocksize: int) -> tuple[dict | None, str]:
    """The blocks of ``path`` (``(None, why)`` when it is read on the client)."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        return _plan_csv(path, encoding, blocksize)
    if suffix in (".parquet", ".geoparquet"):
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except (OSError, ValueError):
            return None, ""  # the local reader says what is wrong
        if b"geo" in (pf.schema_arrow.metadata or {}):
            return None, "GeoParquet is read whole"
        meta = pf.metadata
        if meta.num_rows == 0:
            return None, ""
        blocks, run, size = [], [], 0
        for i in range(meta.num_row_groups):
            run.append(i)
            size += meta.row_group(i).total_byte_size
            if size >= blocksize or i == meta.num_row_groups - 1:
                blocks.append({"kind": "parquet", "file": str(path.resolve()), "groups": run})
                run, size = [], 0
        columns = [str(c) for c in pf.schema_arrow.empty_table().to_pandas().columns]
        return {"blocks": blocks, "columns": columns, "encoding": None, "notes": []}, ""
    return None, "the dask engine splits CSV and Parquet files only"


def _plan_csv(path: Path, encoding: str, blocksize: int) -> tuple[dict | None, str]:
    from data.ingest_csv import plan_csv
    from data.ingest_read import _csv_options

    try:
        plan = plan_csv(path, encoding=encoding, sep="\t" if path.suffix.lower() == ".tsv" else None)
    except ValueError:
        return None, ""  # the local reader raises the same error
    try:
        if plan.path != path or plan.rows is not None or len(plan.rejected):
            return None, ("some lines need the line-by-line repair: quoted line breaks, malformed or "
                          "undecodable lines, a title above the header or UTF-16")
        opts = _csv_options(plan.read_encoding, plan.sep)
        columns = [str(c) for c in pd.read_csv(path, nrows=0, **opts).columns]
        size = path.stat().st_size
        blocks = []
        with path.open("rb") as fh:
            start = len(fh.readline())  # the header
            while start < size:
                fh.seek(min(size, start + blocksize))
                end = min(size, fh.tell() + len(fh.readline()))
                blocks.append({"kind": "csv", "file": str(path.resolve()), "start": start, "end": end,
                               "columns": columns, "opts": opts})
                start = end
        if not blocks:
            return None, ""  # a header only: the local reader checks its columns
        return {"blocks": blocks, "columns": columns, "encoding": plan.encoding, "notes": list(plan.notes)}, ""
    except pd.errors.ParserError:
        return None, ""
    finally:
        plan.cleanup()


def _duplicates(ids: list, known: list[tuple[Any, str]]) -> list[list[tuple[Any, str]] | None]:
    """Per block, the ``existing_ids`` for its second validation (None: no duplicate in it).

    ``ids``: per block, the ids of the rows its first validation kept (so no id twice in a
    block). Checked as the local engine does for one chunk: a later occurrence in the file
    first, then each of ``known`` in order, each only for rows not flagged yet.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not ids:
        return []
    block = np.repeat(np.arange(len(ids)), [len(a) for a in ids])
    arr = pa.chunked_array([a.cast(pa.large_string()) for a in ids], type=pa.large_string()).combine_chunks()
    codes = np.asarray(pc.dictionary_encode(arr).indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    later = np.ones(len(codes), dtype=bool)
    later[np.unique(codes, return_index=True)[1]] = False  # the first occurrence in the file
    flags = [(later, "appears earlier in this file")]
    free = ~later
    for values, where in known:
        if len(values) > 4 * len(arr):  # a big workspace: probe its ids with the few new ones (as ingest_values.isin)
            values = values.filter(pc.is_in(values, value_set=pc.unique(arr)).fill_null(False))
        hit = free & np.asarray(pc.is_in(arr, value_set=values).fill_null(False).to_numpy(zero_copy_only=False),
                                dtype=bool)
        flags.append((hit, where))
        free &= ~hit
    out: list[list[tuple[Any, str]] | None] = []
    for k in range(len(ids)):
        mine = block == k
        if not any((m & mine).any() for m, _ in flags):
            out.append(None)
            continue
        out.append([(arr.filter(pa.array(m & mine)), where) for m, where in flags if (m & mine).any()])
    return out


# -- worker side: read + validate -----------------------------------------------------------------
def _read_block(block: dict):
    """The block as a :class:`data.ingest_read.Source` (record numbers from 1); runs on a worker."""
    import io
    import socket

    from data.ingest_read import Source

    try:
        if block["kind"] == "parquet":
            import pyarrow.parquet as pq

            return Source(frame=pq.ParquetFile(block["file"]).read_row_groups(block["groups"]).to_pandas())
        with open(block["file"], "rb") as fh:
            fh.seek(block["start"])
            data = fh.read(block["end"] - block["start"])
    except OSError as exc:
        raise ValueError(f"{block['file']}: the Dask worker on {socket.gethostname()} cannot read it ({exc}); "
                         "the input files must be on a file system the workers share") from exc
    arr = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(arr == 10)
    if len(arr) and arr[-1] != 10:
        ends = np.append(ends, len(arr))
    starts = np.concatenate(([0], ends[:-1] + 1)) if len(ends) else ends
    length = ends - starts
    blank = (length == 0) | ((length == 1) & (arr[np.minimum(starts, max(len(arr) - 1, 0))] == 13))
    n = int((~blank).sum())
    if n == 0:
        return Source(frame=pd.DataFrame({c: pd.Series(dtype=object) for c in block["columns"]}))
    frame = pd.read_csv(io.BytesIO(data), header=None, names=block["columns"], **block["opts"])
    if len(frame) != n:
        raise ValueError(f"{block['file']}: bytes {block['start']}–{block['end']} hold {n} records but parse "
                         f"as {len(frame)} rows; ingest it with --engine local")
    return Source(frame=frame)


def _validate_block(block: dict, ctx: dict) -> dict:
    """First pass: read and validate the block, checking duplicates inside it only."""
    from data.ingest_validate import validate

    src = _read_block(block)
    n = src.n_rows
    kw = {k: v for k, v in ctx.items() if k != "path"}
    good, bad, mapped = validate(src, ctx["path"], existing_ids=[], **kw)
    return {"n": n, "good": good, "bad": bad, "mapped": mapped, "control_chars": src.control_chars}


def _summary(result: dict) -> dict:
    """The block's record count and the ids of its usable rows (for the client)."""
    from data.ingest_values import id_set

    return {"n": result["n"], "ids": id_set(result["good"]["incident_id"])}


def _finish_block(result: dict, block: dict, offset: int, dups: list | None, ctx: dict) -> dict:
    """Second pass: the first result with record numbers from the file's start, or — when rows
    of the block are duplicates of earlier blocks, files or the workspace — validated again."""
    if dups is None:
        bad = result["bad"]
        bad["source_row"] = (bad["source_row"].to_numpy(dtype=np.int64) + offset).astype(np.int64)
        return result
    from data.ingest_validate import validate

    src = _read_block(block)
    src.offset = offset
    n = src.n_rows
    kw = {k: v for k, v in ctx.items() if k != "path"}
    good, bad, mapped = validate(src, ctx["path"], existing_ids=dups, **kw)
    return {"n": n, "good": good, "bad": bad, "mapped": mapped, "control_chars": src.control_chars}
