"""The Dask engine: read → validate → assign → count over a dask.distributed cluster.

``pingan ingest FILE... --workspace W --engine dask [--scheduler tcp://HOST:8786] [--blocksize
BYTES]``:

1. **Read + validate on the workers** (:mod:`data.engine_dask_blocks`). A CSV file that the strict
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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

    from data.workspace import Workspace

__all__ = ["ENGINES", "BLOCK_BYTES", "engine", "cluster", "use_client", "current_client", "current_blocksize",
           "refresh_distributed"]

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


def current_blocksize() -> int:
    """Bytes per read + validate task set by :func:`use_client` in this thread (else :data:`BLOCK_BYTES`)."""
    return getattr(_STATE, "blocksize", None) or BLOCK_BYTES


def refresh_distributed(ws: Workspace, tx, layers: list[str], inputs: dict, client: Client) -> str:
    """:func:`data.pipeline._refresh` with assign + count on the cluster (see the module docstring)."""
    import pyarrow.parquet as pq

    from data.calendar import period_range
    from data.partitions import part_files, write_assignments
    from data.pipeline import _MADE_FROM, _arrow_cube, layer_index, write_cube

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
            writer = write_cube(writer, tmp, lv, pd.Index(ids_of[lv]), periods, cat_index,
                                flat.reshape(n_a, n_p, n_c))
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
