"""Value helpers for ingest: text and numbers from any column, row-hash ids, Arrow id sets,
and assembling the incident table in Arrow with little copying."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.columns import CANONICAL

__all__ = [
    "as_id", "as_number", "as_text", "concat_frames", "id_set", "isin", "release_memory",
    "row_hash_ids", "source_column", "to_arrow", "strip_controls", "text_lengths", "CONTROL_CHARS",
]

#: C0 control characters except tab (NUL, line breaks, escape …): never part of an id or name.
CONTROL_CHARS = "[\x00-\x08\x0a-\x1f]"


def to_arrow(parts: list[pd.DataFrame]):
    """One Arrow table from frames whose source columns may differ (conflicts become str).

    Frames are converted (mostly zero-copy) and removed from ``parts`` one by one, and the
    tables are concatenated without copying, so the data exist once until the sort gathers it.
    """
    import pyarrow as pa

    dtypes: dict[str, set] = {}
    for p in parts:
        for c, t in p.dtypes.items():
            dtypes.setdefault(c, set()).add(str(t))
    mixed = {c for c, ts in dtypes.items() if len(ts) > 1 and c not in ("occurred_at", "lon", "lat")}
    tables = []
    while parts:
        p = parts.pop(0)
        conv = {c: as_text(p[c]).astype("str") for c in mixed if c in p.columns}
        if conv:
            p = p.assign(**conv)
        tables.append(pa.Table.from_pandas(p, preserve_index=False).replace_schema_metadata(None))
        del p
    table = pa.concat_tables(tables, promote_options="permissive")
    order = [c for c in CANONICAL if c in table.column_names]
    return table.select(order + [c for c in table.column_names if c not in order])


def concat_frames(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate frames whose source columns may differ in type: conflicting ones become str."""
    parts = [p for p in parts if p is not None]
    if len(parts) == 1:
        return parts[0]
    dtypes: dict[str, set] = {}
    for p in parts:
        for c, t in p.dtypes.items():
            dtypes.setdefault(c, set()).add(str(t))
    mixed = [c for c, ts in dtypes.items() if len(ts) > 1 and c not in ("occurred_at", "lon", "lat", "source_row")]
    fixed = []
    for p in parts:
        conv = {c: as_text(p[c]).astype("str") for c in mixed if c in p.columns}
        fixed.append(p.assign(**conv) if conv else p)
    return pd.concat(fixed, ignore_index=True)


def as_text(s: pd.Series) -> pd.Series:
    """Values as strings (missing stays missing); integral floats lose their '.0'."""
    if pd.api.types.is_string_dtype(s.dtype) and s.dtype != object:
        return s
    if pd.api.types.is_float_dtype(s.dtype):
        v = s.to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            integral = np.isfinite(v) & (np.floor(v) == v) & (np.abs(v) < 2**53)
        text = s.astype(str)
        if integral.any():
            text[integral] = pd.Series(v[integral].astype(np.int64), index=s.index[integral]).astype(str)
        return text.where(s.notna())
    return s.astype(str).where(s.notna())


def as_number(s: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy(dtype=float, na_value=np.nan)
    txt = as_text(s).str.strip()
    return pd.to_numeric(txt, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def as_id(s: pd.Series) -> pd.Series:
    return as_text(s).str.strip().astype("str")


def source_column(s: pd.Series) -> pd.Series:
    """Source columns are kept as-is, except object columns of mixed types, which become str."""
    if s.dtype == object:
        return as_text(s).astype("str")
    return s.reset_index(drop=True)


def row_hash_ids(raw: pd.DataFrame, x, y) -> pd.Series:
    """Deterministic ids from the row's values: 'h' + 16 hex digits of a 64-bit hash.

    Identical rows get identical ids, so a verbatim repeat is quarantined as ``duplicate_id``
    (visible, not silently merged) and re-ingesting the same rows adds nothing.
    """
    import binascii

    frame = raw.copy()
    frame["__x"], frame["__y"] = x, y
    frame = frame.astype({c: str for c in frame.columns if frame[c].dtype == object})
    h = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    hexed = np.frombuffer(binascii.hexlify(h.astype(">u8").tobytes()), dtype="S16").astype(str)
    return pd.Series(np.char.add("h", hexed), index=raw.index, dtype="str")


def release_memory() -> None:
    """Hand Arrow's freed pages back to the OS, so the refresh that follows starts lean."""
    import pyarrow as pa

    pool = pa.default_memory_pool()
    if hasattr(pool, "release_unused"):
        pool.release_unused()


def id_set(ids: pd.Series):
    """Ids as one Arrow string array, the value set for :func:`_isin`."""
    import pyarrow as pa

    arr = pa.array(ids.astype("str"))
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    return arr.cast(pa.large_string())


def isin(ids: pd.Series, known) -> np.ndarray:
    """``ids.isin(known)`` in Arrow: pandas' isin on Arrow strings loops in Python over ``known``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(ids.astype("str")).cast(pa.large_string())
    if len(known) > 4 * len(arr):  # a big workspace: hash the few new ids, probe the many known ones
        known = known.filter(pc.is_in(known, value_set=pc.unique(arr)).fill_null(False))
    hit = pc.is_in(arr, value_set=known).fill_null(False)
    return np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool)


def strip_controls(s: pd.Series) -> tuple[pd.Series, int]:
    """``s`` with :data:`CONTROL_CHARS` removed, and how many were removed.

    Text columns only (others are returned as they are); a clean column is checked once
    (Arrow regex) and not copied.

    Examples
    --------
    >>> out, n = strip_controls(pd.Series(["JQ\\x0001", "盗窃\\r\\n", None], dtype="str"))
    >>> out.tolist()[:2], n
    (['JQ01', '盗窃'], 3)
    """
    if not (pd.api.types.is_string_dtype(s.dtype) or s.dtype == object) or s.empty:
        return s, 0
    import pyarrow as pa
    import pyarrow.compute as pc

    chunks = _arrow_chunks(s)
    if chunks is not None and not any(_has_control_bytes(c) for c in chunks):
        return s, 0  # one numpy pass over the bytes: the common, clean case
    text = as_text(s) if s.dtype == object else s
    arr = pa.array(text.astype("str"), from_pandas=True)
    n = pc.sum(pc.count_substring_regex(arr, CONTROL_CHARS)).as_py() or 0
    if not n:
        return s, 0
    clean = pc.replace_substring_regex(arr, CONTROL_CHARS, "")
    out = pd.Series(clean.to_numpy(zero_copy_only=False), index=s.index, dtype="str")
    return out.where(s.notna()), int(n)


def text_lengths(s: pd.Series, over: int | None = None) -> np.ndarray | None:
    """Characters per value of a text column (0 where missing); None for other columns, and,
    with ``over``, None when no value can be longer than ``over`` characters (judged from the
    Arrow byte offsets without touching the text: a character is at least one byte)."""
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_datetime64_any_dtype(s.dtype) \
            or pd.api.types.is_bool_dtype(s.dtype):
        return None
    if over is not None:
        chunks = _arrow_chunks(s)
        if chunks is not None and max((_max_bytes(c) for c in chunks), default=0) <= over:
            return None
    text = as_text(s) if s.dtype == object else s
    return text.str.len().fillna(0).to_numpy(dtype=np.int64)


def _arrow_chunks(s: pd.Series) -> list | None:
    """The Arrow string chunks behind an Arrow-backed text column (no copy), else None."""
    import pyarrow as pa

    if s.dtype == object or not pd.api.types.is_string_dtype(s.dtype):
        return None
    try:
        arr = pa.array(s.array)
    except (TypeError, pa.ArrowInvalid):
        return None
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    if not all(pa.types.is_string(c.type) or pa.types.is_large_string(c.type) for c in chunks):
        return None
    return chunks


def _offsets(c) -> np.ndarray:
    import pyarrow as pa

    dtype = np.int64 if pa.types.is_large_string(c.type) else np.int32
    return np.frombuffer(c.buffers()[1], dtype=dtype)[c.offset:c.offset + len(c) + 1]


def _max_bytes(c) -> int:
    return int(np.diff(_offsets(c)).max()) if len(c) else 0


def _has_control_bytes(c) -> bool:
    """Any byte of ``c``'s values in :data:`CONTROL_CHARS` (UTF-8 never uses them in a
    multi-byte sequence, so bytes are enough)."""
    if not len(c) or c.buffers()[2] is None:
        return False
    off = _offsets(c)
    data = np.frombuffer(c.buffers()[2], dtype=np.uint8)[off[0]:off[-1]]
    return bool(((data < 0x20) & (data != 0x09)).any())
