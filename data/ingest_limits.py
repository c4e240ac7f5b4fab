"""Bounds that keep one poisoned file from taking the workspace or the server down.

A row dated 0001 stretches the weekly cube over two thousand years; a 10 MB category travels
with every board page; a 500 KB xlsx can inflate to gigabytes. :class:`IngestLimits` holds the
bounds (the ``[limits]`` table of the workspace ``config.toml`` overrides the defaults), and the
checks here run *before* the expensive step: :func:`check_upload_size` before an upload is
decoded, :func:`check_xlsx` before a workbook is inflated.

Rows beyond a bound are quarantined by ingest (``too_old_time``, ``field_too_long``); whole
files beyond a bound are refused with a :class:`ValueError` naming the file.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["IngestLimits", "limits_of", "check_upload_size", "check_xlsx", "overlong_columns"]

_MB = 1 << 20


@dataclass(frozen=True)
class IngestLimits:
    """Ingest bounds; every one is a key of the ``[limits]`` table in ``config.toml``.

    Parameters
    ----------
    min_time : str
        Rows dated before this day are quarantined as ``too_old_time``.
    max_field_chars : int
        Longest id, category or name value (characters); longer rows are quarantined as
        ``field_too_long``, naming the column.
    max_text_chars : int
        Longest value of any other text column (addresses, case summaries), same reason.
    max_upload_bytes : int
        Largest file the app accepts for upload.
    max_xlsx_bytes : int
        Largest declared uncompressed size of an ``.xlsx`` (all members together).
    max_xlsx_ratio : float
        Largest compression ratio of an ``.xlsx`` whose uncompressed size exceeds
        ``xlsx_ratio_min_bytes`` (a zip bomb compresses far better than any spreadsheet).
    xlsx_ratio_min_bytes : int
        Below this uncompressed size the ratio is not checked.
    max_xlsx_rows : int
        Most rows in one worksheet (from its declared dimension, else the row tags).

    Examples
    --------
    >>> IngestLimits.from_dict({"min_time": "2010-01-01"}).min_time
    '2010-01-01'
    """

    min_time: str = "2000-01-01"
    max_field_chars: int = 200
    max_text_chars: int = 10_000
    max_upload_bytes: int = 100 * _MB
    max_xlsx_bytes: int = 500 * _MB
    max_xlsx_ratio: float = 100.0
    xlsx_ratio_min_bytes: int = 50 * _MB
    max_xlsx_rows: int = 5_000_000

    def __post_init__(self) -> None:
        try:
            pd.Timestamp(self.min_time)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"config.toml [limits] min_time = {self.min_time!r}: not a date (e.g. 2000-01-01)") from exc
        for f in fields(self):
            if f.name != "min_time":
                v = getattr(self, f.name)
                if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                    raise ValueError(f"config.toml [limits] {f.name} = {v!r}: expected a positive number")

    @property
    def min_timestamp(self) -> pd.Timestamp:
        """:attr:`min_time` as a naive timestamp."""
        ts = pd.Timestamp(self.min_time)
        return ts.tz_localize(None) if ts.tzinfo else ts

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> IngestLimits:
        """Defaults overridden by ``d`` (the ``[limits]`` table).

        Raises
        ------
        ValueError
            An unknown key or a value that is not a positive number / a date.
        """
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(
                f"config.toml [limits]: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
            )
        if "min_time" in d:
            d["min_time"] = str(d["min_time"])  # TOML dates arrive as datetime.date
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        """All bounds, as the ``[limits]`` table holds them."""
        return asdict(self)


def limits_of(source: object = None) -> IngestLimits:
    """The limits of a workspace, a :class:`~data.workspace.Config`, a ``[limits]`` dict, or
    the defaults (``None``); an :class:`IngestLimits` is returned as is."""
    if isinstance(source, IngestLimits):
        return source
    if source is None:
        return IngestLimits()
    if isinstance(source, Mapping):
        return IngestLimits.from_dict(source)
    cfg = getattr(source, "config", source)  # a Workspace, or a Config
    return IngestLimits.from_dict(getattr(cfg, "limits", None))


def check_upload_size(n_bytes: int, limits: object = None, *, name: str = "upload") -> None:
    """Refuse an upload larger than ``max_upload_bytes`` before decoding it.

    Parameters
    ----------
    n_bytes : int
        Size of the file (for a base64 data URL: ``len(payload) * 3 // 4``).
    limits : IngestLimits, Config, Workspace, dict or None
        Where the bound comes from (see :func:`limits_of`).
    name : str
        File name for the message.

    Raises
    ------
    ValueError
        The file is too large; the message names it, its size and the limit.

    Examples
    --------
    >>> check_upload_size(1_000, name="week.csv")
    >>> check_upload_size(200 * 2**20, name="big.csv")
    Traceback (most recent call last):
    ...
    ValueError: big.csv: 200.0 MB is over the upload limit of 100.0 MB (config.toml [limits] max_upload_bytes)
    """
    lim = limits_of(limits)
    if n_bytes > lim.max_upload_bytes:
        raise ValueError(
            f"{name}: {n_bytes / _MB:.1f} MB is over the upload limit of {lim.max_upload_bytes / _MB:.1f} MB "
            "(config.toml [limits] max_upload_bytes)"
        )


def check_xlsx(path: str | Path, limits: object = None) -> None:
    """Refuse a workbook that would inflate beyond the limits, reading only zip metadata.

    The zip's central directory declares every member's uncompressed size; the sheet's
    ``<dimension ref="A1:F2000"/>`` (or, without one, its count of ``<row`` tags, read as a
    stream with the inflated bytes capped) gives the rows. Nothing is inflated beyond that cap.
    A zip that understates its sizes gains nothing: :mod:`zipfile`, which openpyxl reads
    through, stops every member at its declared size.

    Raises
    ------
    ValueError
        Not a zip file, or over a limit; the message names the file and the limit's key.
    """
    import re

    path = Path(path)
    lim = limits_of(limits)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"{path}: not a readable Excel workbook ({exc})") from exc
    with zf:
        infos = zf.infolist()
        total = sum(i.file_size for i in infos)
        packed = max(1, sum(i.compress_size for i in infos))
        if total > lim.max_xlsx_bytes:
            raise ValueError(
                f"{path}: refused, the workbook would inflate to {total / _MB:,.0f} MB "
                f"(limit {lim.max_xlsx_bytes / _MB:,.0f} MB, config.toml [limits] max_xlsx_bytes)"
            )
        if total > lim.xlsx_ratio_min_bytes and total / packed > lim.max_xlsx_ratio:
            raise ValueError(
                f"{path}: refused, {packed / _MB:.1f} MB that inflate to {total / _MB:,.0f} MB "
                f"(ratio {total / packed:,.0f} > {lim.max_xlsx_ratio:g}, config.toml [limits] max_xlsx_ratio): "
                "a zip bomb, not a spreadsheet"
            )
        for info in infos:
            if not re.fullmatch(r"xl/worksheets/[^/]+\.xml", info.filename):
                continue
            rows = _sheet_rows(zf, info, lim.max_xlsx_rows)
            if rows > lim.max_xlsx_rows:
                raise ValueError(
                    f"{path}: refused, sheet {info.filename.rsplit('/', 1)[-1]} has over {lim.max_xlsx_rows:,} rows "
                    f"({rows:,}; config.toml [limits] max_xlsx_rows)"
                )


def _sheet_rows(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> int:
    """Rows of a worksheet: its declared dimension, else ``<row`` tags counted up to ``cap``."""
    import re

    head = b""
    with zf.open(info) as fh:
        head = fh.read(4096)
        m = re.search(rb'<(?:\w+:)?dimension\s+ref="[A-Z]*(\d*)(?::[A-Z]*(\d+))?"', head)
        if m and (m.group(2) or m.group(1)):
            return int(m.group(2) or m.group(1))
        # no dimension: count rows as the stream inflates, stop past the cap
        n = head.count(b"<row ") + head.count(b"<x:row ")
        tail = head[-8:]
        while n <= cap and (block := fh.read(1 << 20)):
            buf = tail + block
            n += buf.count(b"<row ") + buf.count(b"<x:row ") - tail.count(b"<row ") - tail.count(b"<x:row ")
            tail = buf[-8:]
    return n


def overlong_columns(frame: pd.DataFrame, short: list[object], limits: object = None):
    """Text columns of ``frame`` with values over their length limit.

    Parameters
    ----------
    frame : DataFrame
        Source columns as read.
    short : list
        Columns held to ``max_field_chars`` (id, category, names); every other text column is
        held to ``max_text_chars``.
    limits : IngestLimits, Config, Workspace, dict or None

    Returns
    -------
    list of (column, lengths, limit, key)
        Only columns where some value is over; ``lengths`` in characters per row, ``key`` the
        ``[limits]`` key of the bound.
    """
    from data.ingest_values import text_lengths

    lim = limits_of(limits)
    out = []
    for c in frame.columns:
        cap, key = (lim.max_field_chars, "max_field_chars") if c in short else (lim.max_text_chars, "max_text_chars")
        length = text_lengths(frame[c], over=cap)
        if length is not None and (length > cap).any():
            out.append((c, length, cap, key))
    return out
