"""Copy a workspace between stores: a folder into PostGIS (to share it), PostGIS into a folder
(a backup, an export), and whole-workspace builds (``pingan demo``, ``pingan fetch``) into PostGIS.

``pingan workspace copy SRC DST [--replace]`` and ``pingan demo|fetch --workspace postgresql://…``
(:func:`build_into`) call these. A copy is one transaction of the target (one version); the
counts' record of what they were made from is carried over, so the target's next ingest adds its
rows instead of recounting the history.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from data import pg_tables as pgt
from data.config import WorkspaceError
from data.transaction import StagedFiles
from data.workspace import Workspace
from data.workspace_pg import is_postgres_url

__all__ = ["build_into", "copy_workspace"]

#: Files of a workspace that are its data (the rest is per machine, per store or machinery).
_DATA_TOP = ("config.toml", "incidents.parquet", "quarantine.parquet", "ingested.parquet",
             "assignments.parquet", "counts.parquet", "areas", "extra")
#: Tables a folder may hold as monthly parts (data.partitions).
_PARTED = ("incidents.parquet", "assignments.parquet")


def copy_workspace(source: str | Path, target: str | Path, *, replace: bool = False) -> Workspace:
    """Copy a workspace's data into another store, as one transaction (one version of ``target``).

    A folder into PostGIS (to share it), PostGIS into a folder (a backup, an export for tools
    that read Parquet), or between two stores of one kind. Copies ``config.toml``, the incident,
    quarantine, ingest-log, assignment and count tables, every area layer and extra table; not
    the accounts, audit log or secret (per store). The result reads as the source does.

    Parameters
    ----------
    source, target : str or Path
        A folder or ``postgresql://…?schema=CITY``.
    replace : bool
        Overwrite a ``target`` that holds workspace data (its data files not in ``source`` are
        removed); without it such a target is refused.

    Raises
    ------
    ValueError
        ``source`` holds no workspace, ``target`` is ``source``, or ``target`` holds data and
        ``replace`` is false (each names the argument).
    """
    import pyarrow.parquet as pq

    from data.partitions import is_partitioned, read_table

    src = Workspace(source)
    if not src.exists():
        raise WorkspaceError(f"{src.location}: no workspace there (no incidents); nothing to copy")
    if not is_postgres_url(target) and Path(target).exists() and not Path(target).is_dir():
        raise ValueError(f"{target}: exists and is not a folder")
    dst = Workspace(target)
    if dst.location == src.location or (src.backend == dst.backend == "folder"
                                        and src.path.resolve() == dst.path.resolve()):
        raise ValueError(f"{dst.location}: the target is the source")
    with src.write_lock(), dst.transaction() as tx:  # the source does not change while it is read
        have = _data_files(dst)
        if have and not replace:
            raise ValueError(f"{dst.location}: holds a workspace already ({len(have)} files); "
                             "give --replace to overwrite it, or choose an empty target")
        names = _data_files(src)
        tables = sorted({n.split("/")[0] if n.split("/")[0] in _PARTED else n for n in names})
        for name in tables:
            if name in _PARTED and is_partitioned(src, name):  # monthly parts (data.partitions): one table
                pq.write_table(read_table(src, name), tx.path(name))
            else:
                shutil.copyfile(src.read_path(name), tx.path(name))
        for name in have:  # what the target held and the source does not
            if name not in tables and name.split("/")[0] not in tables:
                tx.delete(name)
        _keep_counts_current(src, dst, tx)
    return dst


def _keep_counts_current(src: Workspace, dst: Workspace, tx: StagedFiles) -> None:
    """Counts made from the source's incidents and layers are made from their copies too: the copy's
    record says so (else the target's first ingest would recount everything, not add its rows)."""
    import json

    import pyarrow.parquet as pq

    from data.pipeline import _MADE_FROM, _inputs, _made_from

    layers = src.layers()
    done = _made_from(src)
    staged = tx.staged.get("counts.parquet")
    if not layers or done is None or staged is None or done.get("inputs") != _inputs(src, layers):
        return
    made = {**done, "inputs": _inputs(dst, dst.layers())}
    pf = pq.ParquetFile(staged)
    schema = pgt.file_schema(staged)
    schema = schema.with_metadata({**(schema.metadata or {}), _MADE_FROM: json.dumps(made).encode()})
    tmp = staged.with_name(f".{staged.name}.made")
    with pq.ParquetWriter(tmp, schema, compression="snappy") as writer:  # row group by row group
        for i in range(pf.num_row_groups):
            writer.write_table(pf.read_row_group(i))
    os.replace(tmp, staged)


def build_into(url: str, build: Callable[[Path], Any], *, owned: Callable[[Any], bool], what: str) -> Any:
    """Run a whole-workspace build (``pingan demo``, ``pingan fetch``) for a PostGIS workspace.

    The build runs in a temporary local folder, which is then copied into the store as one
    version (:func:`copy_workspace`). As for a folder, the store must be empty or hold an earlier
    build of ``what`` (``owned(config)``); the build's result names the store, not the folder.

    Raises
    ------
    ValueError
        The store holds a workspace that is not a build of ``what``.
    """
    import tempfile

    dst = Workspace(url)
    with dst.transaction():  # the writer lock for the whole build: one writer, one version
        if _data_files(dst) and not owned(dst.config):
            raise ValueError(f"--workspace {dst.location}: holds a workspace that is not a {what} build; "
                             f"choose an empty schema (the {what} build never overwrites other data)")
        with tempfile.TemporaryDirectory(prefix=f"pingan-{what}-") as tmp:
            folder = Path(tmp) / "workspace"
            out = build(folder)
            _log_names_the_store(Workspace(folder), dst.location)
            copy_workspace(folder, url, replace=True)
    if isinstance(out, dict):
        return {k: dst.location if isinstance(v, str) and v == str(folder) else v for k, v in out.items()}
    return out.replace(str(folder), dst.location) if isinstance(out, str) else out


def _log_names_the_store(built: Workspace, location: str) -> None:
    """The ingest log of a build names its raw files inside the store (``raw/incidents/x.csv in
    postgresql://…``), not in the temporary build folder that is gone after the copy."""
    import pandas as pd

    log = built.read_path("ingested.parquet")
    if not log.exists():
        return
    table = pd.read_parquet(log)
    root = str(built.path.resolve())
    inside = table["file"].astype(str).str.startswith(root + os.sep)
    if not inside.any():
        return
    rel = table.loc[inside, "file"].astype(str).str[len(root) + 1:].str.replace(os.sep, "/")
    table.loc[inside, "file"] = rel + " in " + location
    with built.transaction() as tx:
        tx.write_parquet("ingested.parquet", table)


def _data_files(ws: Workspace) -> list[str]:
    """The data files of a workspace (committed), relative names; parts of a folder's tables one by one."""
    if ws.backend == "folder":
        if not ws.path.is_dir():
            return []
        ws._settle()
        found = (p.relative_to(ws.path).as_posix() for p in ws.path.rglob("*") if p.is_file())
    else:
        found = pgt.file_names(ws._conn(), ws.schema)
    return sorted(n for n in found if n.split("/")[0] in _DATA_TOP and not Path(n).name.startswith("."))
