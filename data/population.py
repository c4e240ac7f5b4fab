"""Population and households of areas, and the 万人发案率 (cases per 10,000 residents).

Areas carry two optional columns, stored with the area layers (``areas/<layer>.parquet``):
``population`` (residents) and ``households`` (户数), float, NaN when unknown. They come from

- the boundary files' own attributes: a column named like 人口 / 常住人口 / population / pop, and
  户数 / households (:func:`population_columns`, applied by :func:`data.pipeline.build_areas`);
- or a table joined by area id (``pingan areas --workspace W --population pop.csv``,
  :func:`read_population`): columns ``area_id`` (or id / 编码 / 代码 / 区划代码), a population
  column and optionally a households column.

An area without a population (missing, or 0) has no rate: :func:`rate_per_10k` gives NaN there,
never 0 and never infinity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["POPULATION", "HOUSEHOLDS", "PER", "population_columns", "read_population", "join_population",
           "join_population_file", "population_note", "rate_per_10k"]

#: Canonical column names.
POPULATION = "population"
HOUSEHOLDS = "households"
#: Residents per rate unit (万人: 10,000).
PER = 10_000.0

_POP_WORDS = ("population", "pop", "人口", "常住人口", "户籍人口", "人口数", "总人口", "常住人口数", "实有人口")
_HH_WORDS = ("households", "household", "户数", "住户数", "总户数", "实有户数", "hh")
_ID_WORDS = ("area_id", "id", "code", "编码", "代码", "区划代码", "行政区划代码", "区域编码")
_ID_SUFFIXES = ("_id", "编码", "代码", "code")


def population_columns(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """``frame`` with its population / households columns (if any) renamed and checked.

    Parameters
    ----------
    frame : DataFrame
        Areas or a population table.
    source : str
        File name for error messages.

    Returns
    -------
    DataFrame
        ``population`` and ``households`` as float (NaN where empty), each present only when
        the frame had such a column.

    Raises
    ------
    ValueError
        A value that is not a number, or is negative (names the file, column and area).
    """
    out = frame
    for canon, words in ((POPULATION, _POP_WORDS), (HOUSEHOLDS, _HH_WORDS)):
        col = _find(out.columns, words)
        if col is None:
            continue
        raw = out[col]
        values = pd.to_numeric(raw.astype("string").str.replace(",", "", regex=False).str.strip()
                               .replace("", pd.NA), errors="coerce").astype(float)
        bad = values.isna().to_numpy() & raw.notna().to_numpy() & (raw.astype("string").str.strip() != "").to_numpy()
        neg = values.to_numpy() < 0
        for mask, what in ((bad, "is not a number"), (neg, "is negative")):
            if mask.any():
                i = int(np.flatnonzero(mask)[0])
                where = f"area {out['area_id'].iloc[i]!r}" if "area_id" in out else f"row {i + 2}"
                raise ValueError(f"{source}: column {col!r}: {raw.iloc[i]!r} at {where} {what}")
        out = (out.drop(columns=[col]) if col != canon else out).assign(**{canon: values.to_numpy()})
    return out


def read_population(path: str | Path, *, id_column: str | None = None) -> pd.DataFrame:
    """A population table (CSV or Excel) as ``area_id, population[, households]``.

    Raises
    ------
    ValueError
        No id column, no population column, repeated ids (names the file and column).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: population file not found")
    if path.suffix.lower() in (".xlsx", ".xls"):
        raw = pd.read_excel(path, dtype=str)
    else:
        raw = None
        for enc in ("utf-8-sig", "gb18030"):
            try:
                raw = pd.read_csv(path, dtype=str, encoding=enc)
                break
            except UnicodeDecodeError:
                continue
        if raw is None:
            raise ValueError(f"{path}: not UTF-8 or GB18030 text")
    raw.columns = [str(c).strip() for c in raw.columns]
    idc = id_column if id_column is not None else (
        _find(raw.columns, _ID_WORDS) or _find(raw.columns, _ID_SUFFIXES, suffix=True))
    if idc is None or idc not in raw.columns:
        raise ValueError(f"{path}: no area id column (area_id, id, 编码, 代码 …); columns: {', '.join(raw.columns)}")
    table = population_columns(raw.rename(columns={idc: "area_id"}), str(path))
    if POPULATION not in table:
        raise ValueError(f"{path}: no population column (人口, 常住人口, population …); "
                         f"columns: {', '.join(raw.columns)}")
    table["area_id"] = table["area_id"].astype("string").str.strip()
    dup = table["area_id"][table["area_id"].duplicated()]
    if len(dup):
        raise ValueError(f"{path}: column {idc!r}: area id {dup.iloc[0]!r} occurs more than once")
    keep = ["area_id", POPULATION] + ([HOUSEHOLDS] if HOUSEHOLDS in table else [])
    return table[keep].reset_index(drop=True)


def join_population(areas, table: pd.DataFrame):
    """``areas`` with ``population`` / ``households`` from ``table`` where its ids match.

    Areas not in ``table`` keep the values they had (NaN if none). Returns ``(areas, matched)``.
    """
    ids = areas["area_id"].astype(str)
    lookup = table.set_index(table["area_id"].astype(str))
    hit = ids.isin(lookup.index).to_numpy()
    out = areas.copy()
    for col in (POPULATION, HOUSEHOLDS):
        if col not in lookup:
            continue
        old = out[col].to_numpy(float) if col in out else np.full(len(out), np.nan)
        new = ids.map(lookup[col]).to_numpy(float)
        out[col] = np.where(hit, new, old)
    return out, int(hit.sum())


def rate_per_10k(observed, population) -> np.ndarray:
    """Cases per 10,000 residents; NaN where the population is unknown or not positive.

    Examples
    --------
    >>> rate_per_10k([3, 5, 1], [20_000, float("nan"), 0]).tolist()
    [1.5, nan, nan]
    """
    obs = np.asarray(observed, dtype=float)
    pop = np.asarray(population, dtype=float)
    ok = np.isfinite(pop) & (pop > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, obs * PER / np.where(ok, pop, 1.0), np.nan)


def join_population_file(ws, tx, path) -> str:
    """Join a population table (:func:`read_population`) to every area layer by id, writing the
    layers it changed in the open transaction ``tx``; returns the report line.

    Raises ValueError naming the file when no id of it matches an area."""

    table = read_population(path)
    matched, notes = set(), []
    for lv in ws.layers():
        areas = ws.areas(lv)
        out, n = join_population(areas, table)
        if n:
            tx.write_parquet(f"areas/{lv}.parquet", out)
            matched |= set(areas["area_id"].astype(str)) & set(table["area_id"].astype(str))
            notes.append(f"{lv} {n:,} of {len(areas):,}")
    if not matched:
        raise ValueError(f"{path}: no area id matches an area of the workspace "
                         f"(first id in the file: {table['area_id'].iloc[0] if len(table) else 'none'!r})")
    unknown = [a for a in table["area_id"].astype(str) if a not in matched]
    tail = f"; {len(unknown):,} id(s) match no area (first: {unknown[0]!r})" if unknown else ""
    return f"population: from {Path(path).name} — {', '.join(notes)} areas{tail}"


def population_note(areas) -> str:
    """", population for 118 of 120 areas" (or nothing when the layer has none)."""
    if "population" not in areas:
        return ""
    pop = areas["population"].to_numpy(float)
    n = int((np.isfinite(pop) & (pop > 0)).sum())
    return f", population for {n:,} of {len(areas):,} areas" + ("" if n == len(areas) else " (others: no rate)")


def _find(columns, words, *, suffix: bool = False) -> str | None:
    low = {str(c).strip().lower(): c for c in columns}
    for w in words:
        for key, col in low.items():
            if key == w or (suffix and key.endswith(w)):
                return col
    return None
