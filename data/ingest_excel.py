"""Read an office workbook (``.xls``, ``.xlsx``, ``.xlsm``) as exported: the right sheet, a
title row above the header skipped, blank rows dropped.

``.xls`` is read with python-calamine (fast, in Rust), xlrd as the fallback when calamine
cannot open a file. ``.xlsx`` stays with openpyxl: it reads through :mod:`zipfile`, which stops
every member at its declared size, and :func:`data.ingest_limits.check_xlsx` refuses a zip
bomb from those declared sizes before anything inflates. Cells keep their types (text, numbers,
``datetime``/``date``/``time``), so the quarantine shows values as the office sees them.

Which sheet: ``sheet`` (a name, or a 0-based index when no sheet has that name); by default
the first sheet whose header (within the first :data:`HEADER_SCAN` rows) names a time and a
category column, else the first sheet with data. When several sheets look like incident
tables, the note says which was taken and how to pick another.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import pandas as pd

from data.columns import map_columns
from data.ingest_read import Note

__all__ = ["read_workbook", "sheet_names", "HEADER_SCAN"]

#: Rows searched for the header (title rows of an office report sit above it).
HEADER_SCAN = 10


def sheet_names(path: str | Path) -> list[str]:
    """Names of the workbook's sheets, in order.

    Raises
    ------
    ValueError
        The file is not a readable workbook.
    """
    return _Book(Path(path)).names


def read_workbook(path: str | Path, *, sheet: str | int | None = None, max_rows: int | None = None
                  ) -> tuple[pd.DataFrame, list[str]]:
    """One sheet of ``path`` as a frame of object columns, and notes for the ingest log.

    Parameters
    ----------
    path : path
        ``.xls``, ``.xlsx`` or ``.xlsm``.
    sheet : str or int, optional
        Sheet name, or 0-based index (``"1"`` is the second sheet unless a sheet is named
        ``"1"``). Default: see the module docstring.
    max_rows : int, optional
        Refuse a sheet with more rows than this before converting its cells.

    Returns
    -------
    frame : DataFrame
        Header row as column names; rows below it that are not entirely blank; empty cells
        missing. Column names are strings; an empty header cell becomes ``列N``.
    notes : list of str
        Which sheet was taken (when the workbook has several), a skipped title.

    Raises
    ------
    ValueError
        Unreadable workbook, no such sheet, no data, or over ``max_rows``.
    """
    path = Path(path)
    book = _Book(path)
    notes: list[str] = []
    name = _choose(book, sheet, notes)
    rows = book.rows(name, max_rows=max_rows)
    head = _header_row(rows)
    if head:
        title = " ".join(str(v) for r in rows[:head] for v in r if _filled(v))[:80]
        notes.append(Note(f"{path.name} [{name}]: header on row {head + 1}; rows above it skipped (title: {title})",
                          "header_row", file=path.name, sheet=name, row=head + 1, title=title))
    header = [str(v).strip() if _filled(v) else f"列{i + 1}" for i, v in enumerate(rows[head] if rows else [])]
    width = len(header)
    body = rows[head + 1:]
    frame = pd.DataFrame(body, dtype=object) if body else pd.DataFrame(columns=range(width), dtype=object)
    frame = frame.reindex(columns=range(width))  # a ragged fallback row; cells right of the header
    if len(frame):
        frame = frame.replace(r"^\s*$", None, regex=True)  # an empty cell is missing, as in a CSV
        keep = frame.notna().any(axis=1)
        if not keep.all():
            n_blank = f"{int((~keep).sum()):,}"
            notes.append(Note(f"{path.name} [{name}]: {n_blank} blank rows skipped (not records)", "blank_rows",
                              file=path.name, sheet=name, n=n_blank))
            frame = frame[keep]  # a blank row is not a record, as a blank line of a CSV
    frame.columns = _unique(header)
    return frame.reset_index(drop=True).astype(object), notes


# -- sheets --------------------------------------------------------------------------------
class _OpenpyxlFirst(Exception):
    """Internal: skip calamine for an .xlsx."""


class _Book:
    """A workbook opened with calamine, else xlrd/openpyxl."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.xls = path.suffix.lower() == ".xls"
        first: Exception | None = None
        try:
            if not self.xls:  # .xlsx through zipfile only: it stops every member at its declared
                raise _OpenpyxlFirst  # size, which the zip-bomb check (check_xlsx) relies on
            import python_calamine as pc

            self._cal = pc.CalamineWorkbook.from_path(str(path))
            self.names = list(self._cal.sheet_names)
            return
        except _OpenpyxlFirst:
            pass
        except Exception as exc:  # noqa: BLE001 - calamine raises its own types and panics; fall back
            first = exc
        self._cal = None
        try:
            if self.xls:
                import xlrd

                self._fb = xlrd.open_workbook(str(path), on_demand=True)
                self.names = list(self._fb.sheet_names())
            else:
                import openpyxl

                self._fb = openpyxl.load_workbook(path, read_only=True, data_only=True)
                self.names = list(self._fb.sheetnames)
        except Exception as exc:  # noqa: BLE001 - every reader's own error types: one message
            why = f"{first}; {exc}" if first is not None else str(exc)
            raise ValueError(f"{path}: not a readable Excel workbook ({why})") from exc

    def rows(self, name: str, *, max_rows: int | None = None, nrows: int | None = None) -> list[list]:
        if self._cal is not None:
            sh = self._cal.get_sheet_by_name(name)
            if max_rows is not None and nrows is None and sh.height > max_rows + 1:
                raise ValueError(f"{self.path} [{name}]: {sh.height - 1:,} rows, over the limit of "
                                 f"{max_rows:,} (config.toml [limits] max_xlsx_rows)")
            return [list(r) for r in sh.to_python(skip_empty_area=False, nrows=nrows)]
        if self.xls:
            import xlrd

            sh = self._fb.sheet_by_name(name)
            n = sh.nrows if nrows is None else min(nrows, sh.nrows)
            if max_rows is not None and nrows is None and n > max_rows + 1:
                raise ValueError(f"{self.path} [{name}]: {n - 1:,} rows, over the limit of {max_rows:,} "
                                 "(config.toml [limits] max_xlsx_rows)")
            out = []
            for i in range(n):
                row = []
                for c in sh.row(i):
                    if c.ctype == xlrd.XL_CELL_DATE:
                        row.append(xlrd.xldate.xldate_as_datetime(c.value, self._fb.datemode))
                    elif c.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
                        row.append(None)
                    else:
                        row.append(c.value)
                out.append(row)
            return out
        sh = self._fb[name]
        out = []
        for i, r in enumerate(sh.iter_rows(values_only=True)):
            if nrows is not None and i >= nrows:
                break
            out.append(list(r))
        return out


def _choose(book: _Book, sheet: str | int | None, notes: list[str]) -> str:
    names = book.names
    if not names:
        raise ValueError(f"{book.path}: the workbook has no sheets")
    if sheet is not None and str(sheet).strip() != "":
        s = str(sheet).strip()
        if s in names:
            return s
        if s.lstrip("-").isdigit() and -len(names) <= int(s) < len(names):
            return names[int(s)]
        raise ValueError(f"{book.path}: --sheet {s!r}: no such sheet; sheets are: "
                         + ", ".join(f"{i} {n}" for i, n in enumerate(names)))
    looks, filled = [], []
    for n in names:
        head = book.rows(n, nrows=HEADER_SCAN)
        if any(_filled(v) for r in head for v in r):
            filled.append(n)
            if _incident_header(head) is not None:
                looks.append(n)
    if not filled:
        raise ValueError(f"{book.path}: every sheet is empty")
    chosen = (looks or filled)[0]
    if len(looks) > 1:
        notes.append(Note(f"{book.path.name}: {len(looks)} sheets look like incident tables ({', '.join(looks)}); "
                          f"took {chosen!r} — pick another with --sheet NAME or --sheet INDEX (0 = first)",
                          "several_sheets", file=book.path.name, n=len(looks), sheets=", ".join(looks), chosen=chosen))
    elif len(names) > 1:
        notes.append(Note(f"{book.path.name}: took sheet {chosen!r} of {', '.join(names)} (--sheet to pick another)",
                          "sheet_taken", file=book.path.name, chosen=chosen, sheets=", ".join(names)))
    return chosen


def _incident_header(rows: list[list]) -> int | None:
    """Index of the first row that names a time and a category column, else None."""
    for i, r in enumerate(rows[:HEADER_SCAN]):
        cols = [str(v).strip() for v in r if _filled(v)]
        found = map_columns(cols)
        if "occurred_at" in found and "category" in found:
            return i
    return None


def _header_row(rows: list[list]) -> int:
    """The header: the first row naming a time and a category column; else the first non-blank
    row with at least two filled cells (a title is one merged cell)."""
    hit = _incident_header(rows)
    if hit is not None:
        return hit
    for i, r in enumerate(rows[:HEADER_SCAN]):
        if sum(_filled(v) for v in r) >= 2:
            return i
    return 0


def _filled(v: object) -> bool:
    if v is None:
        return False
    if isinstance(v, str):
        return bool(v.strip())
    if isinstance(v, float):
        return v == v
    return isinstance(v, (int, _dt.date, _dt.time, _dt.timedelta)) or bool(str(v).strip())


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        out.append(n if k == 0 else f"{n}.{k}")
        seen[n] = k + 1
    return out
