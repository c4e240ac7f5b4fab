"""The Dask engine: read → validate → assign → count over a dask.distributed cluster.

``pingan ingest FILE... --workspace W --engine dask [--scheduler tcp://HOST:8786] [--blocksize
BYTES]``:

1. **Read + validate on the workers** (:func:`validated_blocks`). A CSV file that the strict
   reader (:mod:`data.ingest_csv`) takes as it is — one record per line, so no quoted line
   breaks — is cut into byte ranges of about ``--blocksize`` at line breaks, a plain Parquet file
   into runs of row groups; each worker parses its block with the local reader's options and
   runs the local validation (:func:`data.ingest_validate.validate`) on it. Record numbers
   (``source_row``) are counted from the start of the file (each block counts its records;
   blank lines are not records), and duplicate ids across blocks, files and the workspace are
   decided on the client from the blocks' ids in the local engine's order, so incidents,
   quarantine (reasons, details, rows, files) and ``rows in = used + quarantined`` equal the
   local engine's (tested). Excel, vector formats, GeoParquet and CSV files needing the
   line-by-line repair are read and validated on the client, with a note. The input files must
   be on a file system the workers share. The validated rows come back to the client, which
   writes them in the ingest's one transaction.
2. **Store**: the incidents in monthly parts (:mod:`data.partitions`).
3. **Assign + count** when the counts must be made from the whole history (first ingest, new
   layers, a single-file workspace migrating): the client builds each layer's point-location
   index once (:func:`data.pipeline.layer_index`) and scatters them; one task per part (a month;
   read by the workers from the workspace folder, so remote workers need it on a shared file
   system) projects, locates and counts ``(area, week, category) → n``; the client adds the
   sparse counts into the dense cube and stages assignments and ``counts.parquet`` exactly as the
   local engine writes them (identical counts, tested).

A weekly update into a partitioned workspace assigns and counts in place on the client (O(new
rows), no cluster round trip needed). Without ``--scheduler`` a :class:`distributed.LocalCluster`
(2 worker processes, 1 thread each) is started for the command and closed after it.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

    from data.workspace import Workspace

__all__ = ["ENGINES", "BLOCK_BYTES", "engine", "cluster", "use_client", "current_client", "refresh_distributed",
           "ValidatedBlock", "validated_blocks"]

#: Values of ``pingan ingest --engine``.
ENGINES = ("local", "dask")
#: Bytes of input per read + validate task (``pingan ingest --blocksize``): a CSV byte range cut at
#: a line break, or consecutive Parquet row groups of about this compressed size.
BLOCK_BYTES = 64 << 20

_STATE = threading.local()


@contextlib.contextmanager
def engine(name: str = "local", scheduler: str | None = None, *,
           blocksize: int | None = None) -> Iterator[Client | None]:
    """Run the block's ingest with the engine ``name`` (``pingan ingest --engine/--scheduler/--blocksize``).

    ``blocksize`` (bytes, default :data:`BLOCK_BYTES`) is the input each read + validate task takes.

    Raises
    ------
    ValueError
        Unknown engine, ``--scheduler`` or ``--blocksize`` without ``--engine dask``, or a
        ``--blocksize`` under 1 KiB.
    """
    if name not in ENGINES:
        raise ValueError(f"--engine {name!r}: use one of {', '.join(ENGINES)}")
    if name == "local":
        if scheduler is not None:
            raise ValueError("--scheduler: needs --engine dask")
        if blocksize is not None:
            raise ValueError("--blocksize: needs --engine dask")
        yield None
        return
    if blocksize is not None and blocksize < 1024:
        raise ValueError(f"--blocksize {blocksize}: give at least 1024 bytes")
    with cluster(scheduler) as client, use_client(client, blocksize=blocksize):
        yield client


@contextlib.contextmanager
def cluster(scheduler: str | None = None, *, workers: int = 2) -> Iterator[Client]:
    """A client of the cluster at ``scheduler`` (``tcp://HOST:PORT``), else of a new LocalCluster.

    Raises
    ------
    ValueError
        ``scheduler`` is not a ``tcp://`` address or does not answer within 10 s.
    """
    from distributed import Client, LocalCluster

    if scheduler is None:
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          host="127.0.0.1") as local, Client(local) as client:
            yield client
        return
    if not str(scheduler).startswith("tcp://"):
        raise ValueError(f"--scheduler {scheduler!r}: give the scheduler's address, e.g. tcp://10.0.0.5:8786")
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"--scheduler {scheduler}: no Dask scheduler answers there ({exc})") from exc
    try:
        yield client
    finally:
        client.close()


@contextlib.contextmanager
def use_client(client: Client, *, blocksize: int | None = None) -> Iterator[None]:
    """Within the block, ingests (read + validate, full refreshes) of this thread run on
    ``client``'s cluster, in blocks of ``blocksize`` bytes (default :data:`BLOCK_BYTES`)."""
    before = getattr(_STATE, "client", None), getattr(_STATE, "blocksize", None)
    _STATE.client, _STATE.blocksize = client, blocksize or BLOCK_BYTES
    try:
        yield
    finally:
        _STATE.client, _STATE.blocksize = before


def current_client() -> Client | None:
    """The client set by :func:`use_client` in this thread, if any."""
    return getattr(_STATE, "client", None)


def refresh_distributed(ws: Workspace, tx, layers: list[str], inputs: dict, client: Client) -> str:
    """:func:`data.pipeline._refresh` with assign + count on the cluster (see the module docstring)."""
    import pyarrow.parquet as pq

    from data.calendar import period_range
    from data.partitions import part_files, write_assignments
    from data.pipeline import _MADE_FROM, _arrow_cube, layer_index

    files = part_files(ws, "incidents.parquet")
    areas = {lv: ws.areas(lv) for lv in layers}
    indexes = {lv: (layer_index(ws, lv, areas[lv]), areas[lv].crs.to_string(), len(areas[lv])) for lv in layers}
    ids_of = {lv: pd.array(areas[lv]["area_id"].astype("str").to_numpy(dtype=object), dtype="str") for lv in layers}
    shared = client.scatter([indexes], broadcast=True)[0]
    # monthly parts of a folder: each task writes its part's assignments into the transaction's
    # staging folder itself (a shared file system, as for reading the parts), so the client never
    # holds every incident's area ids
    parted = ws.backend == "folder" and bool(files) and files[0].parent.name == "incidents.parquet"
    targets = [str(tx.path(f"assignments.parquet/{p.name}")) if parted else None for p in files]
    area_ids = client.scatter([ids_of], broadcast=True)[0] if parted else None
    futures = client.map(_part_task, [str(p) for p in files], targets, indexes=shared, area_ids=area_ids, pure=False)
    results = client.gather(futures)  # in part order
    n = sum(r["n"] for r in results)
    cats = sorted({c for r in results for c in r["categories"]})
    lo = min((r["lo"] for r in results if r["lo"] is not None), default=None)
    hi = max((r["hi"] for r in results if r["hi"] is not None), default=None)
    periods = period_range(lo, hi, "W") if lo is not None else pd.DatetimeIndex([], dtype="datetime64[ns]")
    cat_index = pd.Index(cats, dtype="str")
    report = []
    for lv in layers:
        inside = sum(r["inside"][lv] for r in results)
        report.append(f"{lv}: {inside:,} of {n:,} incidents assigned to {len(ids_of[lv]):,} areas, "
                      f"{n - inside:,} outside")
    if parted:
        names = {p.name for p in files}
        for p in part_files(ws, "assignments.parquet"):  # parts of months no longer there
            if p.parent.name == "assignments.parquet" and p.name not in names:
                tx.delete(f"assignments.parquet/{p.name}")
    else:
        table = {"incident_id": pd.array(np.concatenate([r["incident_id"] for r in results]) if results else [],
                                         dtype="str")}
        for lv in layers:
            pos = np.concatenate([r["positions"][lv] for r in results]) if results else np.zeros(0, np.int64)
            table[lv] = pd.Series(ids_of[lv].take(pos, allow_fill=True))
        write_assignments(ws, tx, pd.DataFrame(table))
        del table
    tmp, writer = tx.path("counts.parquet"), None
    n_p, n_c = len(periods), len(cats)
    try:
        for lv in layers:
            n_a = len(ids_of[lv])
            flat = np.zeros(n_a * n_p * n_c, dtype=np.int64)
            for r in results:
                a, week, cat, k = r["counts"][lv]
                if len(a):
                    p = ((week - periods[0].to_datetime64().astype("datetime64[D]")).astype(np.int64) // 7)
                    c = cat_index.get_indexer(pd.Index(cat, dtype="str"))
                    np.add.at(flat, (a * n_p + p) * n_c + c, k)
            cube = flat.reshape(n_a, n_p, n_c)
            ids = pd.Index(ids_of[lv])
            step = max(1, 4_000_000 // max(1, n_p * n_c))
            for i in range(0, n_a, step):
                part = _arrow_cube(lv, ids[i:i + step], periods, cat_index, cube[i:i + step])
                if writer is None:
                    writer = pq.ParquetWriter(tmp, part.schema)
                writer.write_table(part)
        if writer is None:
            empty = _arrow_cube(layers[0], pd.Index([], dtype="str"), pd.DatetimeIndex([]), cat_index,
                                np.zeros((0, 0, n_c), dtype=np.int64))
            writer = pq.ParquetWriter(tmp, empty.schema)
            writer.write_table(empty)
        workers = len(client.scheduler_info().get("workers", {}))
        report.append(f"counts: {len(layers)} layer(s) × {n_p} weeks × {n_c} categories → counts.parquet "
                      f"(dask: {len(files)} part(s) on {workers} worker(s))")
        writer.add_key_value_metadata({_MADE_FROM: json.dumps({"inputs": inputs, "report": "\n".join(report)}).encode()})
    finally:
        if writer is not None:
            writer.close()
    return "\n".join(report)


# -- worker side ----------------------------------------------------------------------------------
def _part_task(path: str, target: str | None, indexes: dict[str, tuple[Any, str, int]],
               area_ids: dict[str, Any] | None) -> dict:
    """Assign one part to every layer and count it by (area, week, category); runs on a worker.

    With ``target``, the part's assignments are written there (as
    :func:`data.partitions.write_assignments` writes them) and not returned."""
    import pyarrow.parquet as pq

    from data.calendar import period_start
    from layers.assign import project_lonlat

    table = pq.read_table(Path(path), columns=["incident_id", "occurred_at", "category", "lon", "lat"])
    t = pd.to_datetime(table.column("occurred_at").to_pandas())
    cat = table.column("category").cast("string").to_pandas()
    lon, lat = table.column("lon").to_numpy(), table.column("lat").to_numpy()
    week = period_start(t, "W").to_numpy().astype("datetime64[D]")
    codes, words = pd.factorize(cat, sort=True)
    ids = table.column("incident_id").cast("string").to_numpy(zero_copy_only=False)
    out = {"n": table.num_rows, "categories": [str(w) for w in words], "lo": t.min() if len(t) else None,
           "hi": t.max() if len(t) else None, "positions": {}, "counts": {}, "inside": {}}
    if target is None:
        out["incident_id"] = ids
    xy: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    assigned: dict[str, pd.Series] = {}
    for lv, (index, crs, _n_areas) in indexes.items():
        if crs not in xy:
            xy[crs] = project_lonlat(lon, lat, crs)
        pos = index.locate(*xy[crs])
        out["inside"][lv] = int((pos >= 0).sum())
        if target is None:
            out["positions"][lv] = pos
        ok = (pos >= 0) & (codes >= 0) & ~np.isnat(week)
        frame = pd.DataFrame({"a": pos[ok], "w": week[ok], "c": codes[ok]})
        g = frame.groupby(["a", "w", "c"], sort=False).size()
        a, w, c = (g.index.get_level_values(i).to_numpy() for i in range(3))
        out["counts"][lv] = (a.astype(np.int64), w.astype("datetime64[D]"),
                             words.to_numpy(dtype=object)[c] if len(c) else np.array([], dtype=object),
                             g.to_numpy().astype(np.int64))
        if target is not None:
            assigned[lv] = pd.Series(area_ids[lv].take(pos, allow_fill=True))
    if target is not None:
        pd.DataFrame({"incident_id": pd.array(ids, dtype="str"), **assigned}).to_parquet(target, index=False)
    return out


# -- read + validate on the workers ---------------------------------------------------------------
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

    blocksize = blocksize or getattr(_STATE, "blocksize", None) or BLOCK_BYTES
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
    notes = list(plan["notes"])
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
