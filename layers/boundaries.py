"""Read admin boundary files (GeoJSON, GPKG, SHP, GeoParquet) into canonical area layers.

A file holds one level (``level=`` given, a level column, or a level word in the file name)
or several levels (a level column: 区/街道/社区/网格 or district/subdistrict/community/grid).
The id, name and parent columns are found by name (Chinese or English) unless given:

- id: ``area_id, id, code, 编码, 代码, 区划代码`` … then names ending in ``_id / 编码 / 代码 /
  code / _num``, then ``neighborhood`` / ``neighbourhood``; the column must be unique per level.
- name: ``name, 名称, area_name`` … then names ending in ``name / 名称``.
- parent: ``parent_id, parent, parent_code, 上级, 上级编码, 上级代码, 所属``.

Purely numeric ids (``1, 2, …``) would collide between levels, so they get the level's letter
(``D`` 区, ``S`` 街道, ``C`` 社区, ``G`` 网格): neighbourhood ``7`` becomes ``C7``; numeric
parent ids get the parent level's letter the same way. Files without ids get generated ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["read_boundaries", "normalise_level", "LEVEL_WORDS", "LEVEL_LETTERS"]

#: Admin levels (coarse → fine) and the words that name them in files and columns.
LEVEL_WORDS: dict[str, tuple[str, ...]] = {
    "district": ("district", "区", "县", "区县", "county", "borough"),
    "subdistrict": ("subdistrict", "街道", "街道办", "镇", "乡", "乡镇", "township", "street"),
    "community": ("community", "社区", "村", "居委会", "neighborhood", "neighbourhood", "nhood"),
    "grid": ("grid", "网格"),
}
LEVEL_LETTERS: dict[str, str] = {"district": "D", "subdistrict": "S", "community": "C", "grid": "G"}
_ORDER = tuple(LEVEL_WORDS)

_ID_EXACT = ("area_id", "id", "code", "编码", "代码", "区划代码", "行政区划代码", "fid_code")
_ID_SUFFIX = ("_id", "编码", "代码", "code", "_num", "_no")
_ID_WEAK = ("neighborhood", "neighbourhood", "nhd_num")
_NAME_EXACT = ("name", "名称", "area_name", "名字", "nhd_name")
_NAME_SUFFIX = ("name", "名称")
_PARENT = ("parent_id", "parent", "parent_code", "上级", "上级编码", "上级代码", "所属", "上级id")
_LEVEL_COLS = ("level", "层级", "级别", "类型", "admin_level", "type")


def read_boundaries(
    paths,
    *,
    level: str | None = None,
    id_column: str | None = None,
    name_column: str | None = None,
    parent_column: str | None = None,
    crs=None,
    levels=None,
):
    """Read boundary files into one GeoDataFrame of areas.

    Parameters
    ----------
    paths : str, Path or list of them
    level : str, optional
        Admin level of every row (district/subdistrict/community/grid or 区/街道/社区/网格);
        otherwise taken from a level column or the file name.
    id_column, name_column, parent_column : str, optional
        Column names; found automatically when not given.
    crs : CRS, optional
        Reproject to this (projected) CRS; default: keep the file's.
    levels : sequence of str, optional
        The named levels of another hierarchy, coarse → fine (e.g. 分局, 派出所, 警务区), used
        instead of the admin levels: ``level``, a level column and the file name must name one
        of them; numeric ids get the level's name as prefix (派出所 ``7`` → ``派出所7``).

    Returns
    -------
    GeoDataFrame
        ``area_id, name, level, parent_id, geometry`` (+ the files' other columns).

    Raises
    ------
    ValueError
        Unreadable file, file without CRS, unknown level, missing or non-unique id column
        (the message names the file and column).
    """
    import geopandas as gpd

    paths = [paths] if isinstance(paths, str | Path) else list(paths)
    if not paths:
        raise ValueError("--boundaries: no file given")
    frames = []
    for path in paths:
        frame = _read_one(Path(path), level, id_column, name_column, parent_column, _vocabulary(levels))
        if crs is not None:
            frame = frame.to_crs(crs)
        frames.append(frame)
    target = frames[0].crs
    frames = [f if f.crs == target else f.to_crs(target) for f in frames]
    out = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=target)
    dup = out["area_id"][out["area_id"].duplicated()]
    if len(dup):
        raise ValueError(f"{', '.join(map(str, paths))}: area id {dup.iloc[0]!r} occurs more than once")
    return out


def normalise_level(value: str, what: str = "level") -> str:
    """Canonical level name for a level word (区 → district …)."""
    v = str(value).strip().lower()
    for lvl, words in LEVEL_WORDS.items():
        if v == lvl or v in words:
            return lvl
    raise ValueError(f"{what} {value!r}: not an admin level; use one of {', '.join(_ORDER)} (区/街道/社区/网格)")


def _vocabulary(levels) -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """Level words and id prefixes: the admin ones, or those of named ``levels``."""
    if levels is None:
        return LEVEL_WORDS, LEVEL_LETTERS
    names = [str(v).strip() for v in levels]
    return {n: (n.lower(),) for n in names}, {n: n for n in names}


def _level_of(value, vocab, what: str) -> str:
    if vocab[0] is LEVEL_WORDS:
        return normalise_level(value, what)
    v = str(value).strip().lower()
    for lvl, words in vocab[0].items():
        if v in words:
            return lvl
    raise ValueError(f"{what} {value!r}: not one of the levels {', '.join(vocab[0])}")


def _read_one(path: Path, level, id_column, name_column, parent_column, vocab=(LEVEL_WORDS, LEVEL_LETTERS)):
    import geopandas as gpd

    if not path.exists():
        raise FileNotFoundError(f"{path}: boundary file not found")
    try:
        if path.suffix.lower() in (".parquet", ".geoparquet"):
            gdf = gpd.read_parquet(path)
        else:
            gdf = gpd.read_file(path, engine="pyogrio")
    except (OSError, ValueError) as exc:  # pyogrio DataSourceError subclasses OSError
        raise ValueError(f"{path}: cannot read boundaries ({str(exc).splitlines()[0]})") from exc
    if gdf.crs is None:
        raise ValueError(f"{path}: boundary file has no CRS; save it with one (e.g. EPSG:4326)")
    gdf = gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)].reset_index(drop=True)
    if gdf.empty:
        raise ValueError(f"{path}: no boundary geometries")
    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    # levels: argument > level column > file name
    if level is not None:
        levels = pd.Series([_level_of(level, vocab, "--level")] * len(gdf))
    else:
        lcol = _find(cols, _LEVEL_COLS, ())
        if lcol is not None:
            levels = gdf[lcol].map(lambda v: _level_of(v, vocab, f"{path}: column {lcol!r} value"))
        else:
            levels = pd.Series([_level_from_name(path, vocab[0])] * len(gdf))
    levels = levels.astype("str")
    idc = _given(id_column, cols, path, "--id-column") or _find_id(gdf, cols, levels)
    order, letters = tuple(vocab[0]), vocab[1]
    rest = [c for c in cols if c != idc]
    namec = _given(name_column, cols, path, "--name-column") or _find(rest, _NAME_EXACT, _NAME_SUFFIX)
    parc = _given(parent_column, cols, path, "--parent-column") or _find(
        [c for c in rest if c != namec], _PARENT, ()
    )
    if idc is not None:
        raw = gdf[idc]
        if raw.isna().any():
            raise ValueError(f"{path}: id column {idc!r} has empty values")
        ids = _prefixed(raw, levels, letters)
        if ids.duplicated().any():
            raise ValueError(f"{path}: id column {idc!r} is not unique ({ids[ids.duplicated()].iloc[0]!r} repeats)")
    else:
        ids = _generated(gdf, levels, letters)
    names = gdf[namec].astype("str") if namec is not None else ids
    names = names.where(names.notna() & (names != ""), ids)
    if parc is not None:
        plevel = levels.map(lambda lv: order[max(order.index(lv) - 1, 0)])
        parent = _prefixed(gdf[parc], plevel, letters).where(gdf[parc].notna() & (gdf[parc].astype("str") != ""), None)
    else:
        parent = pd.Series([None] * len(gdf), dtype="str")
    used = {c for c in (idc, namec, parc) if c}
    extra = gdf[[c for c in cols if c not in used and c not in ("area_id", "name", "level", "parent_id")]]
    out = gpd.GeoDataFrame(
        {
            "area_id": ids.astype("str").to_numpy(),
            "name": names.astype("str").to_numpy(),
            "level": levels.to_numpy(),
            "parent_id": pd.array(parent.to_numpy(dtype=object), dtype="str"),
        },
        geometry=gdf.geometry.values,
        crs=gdf.crs,
    )
    for c in extra.columns:
        out[c] = extra[c].to_numpy()
    return out


def _given(col, cols, path, arg):
    if col is None:
        return None
    if col not in cols:
        raise ValueError(f"{path}: {arg} {col!r} not found; columns: {', '.join(map(str, cols))}")
    return col


def _find(cols, exact, suffixes):
    low = {str(c).strip().lower(): c for c in cols}
    for name in exact:
        if name in low:
            return low[name]
    for suf in suffixes:
        for key, c in low.items():
            if key.endswith(suf):
                return c
    return None


def _find_id(gdf, cols, levels):
    low = [(str(c).strip().lower(), c) for c in cols]
    groups = [
        [c for k, c in low if k in _ID_EXACT],
        [c for k, c in low if any(k.endswith(s) for s in _ID_SUFFIX)],
        [c for k, c in low if k in _ID_WEAK],
    ]
    for group in groups:
        for c in group:
            col = gdf[c]
            if col.notna().all() and not pd.DataFrame({"l": levels, "v": col.astype("str")}).duplicated().any():
                return c
    return None


def _level_from_name(path: Path, words=LEVEL_WORDS) -> str:
    stem = path.stem.lower()
    found = [lvl for lvl in reversed(tuple(words)) if any(w in stem for w in words[lvl] if len(w) > 1 or not w.isascii())]
    # finest match wins: "subdistrict" contains "district", "社区" contains "区"
    if found:
        return found[0]
    raise ValueError(
        f"{path}: cannot tell its admin level; pass --level {'|'.join(words) if words is not LEVEL_WORDS else 'district|subdistrict|community|grid'} "
        "(or add a level column)"
    )


def _prefixed(values: pd.Series, levels: pd.Series, letters=LEVEL_LETTERS) -> pd.Series:
    """Ids as str; purely numeric ids get the level letter so levels cannot collide."""
    s = values.astype("str").str.strip()
    s = s.str.replace(r"\.0$", "", regex=True)  # 12.0 read from a float column
    numeric = s.str.fullmatch(r"\d+").fillna(False).astype(bool)
    return s.where(~numeric, levels.map(letters).astype("str") + s)


def _generated(gdf, levels: pd.Series, letters=LEVEL_LETTERS) -> pd.Series:
    """``C001``-style ids in a stable order (rows north → south, then west → east, by representative point)."""
    import shapely

    pts = shapely.point_on_surface(gdf.geometry.values)
    order = np.lexsort((shapely.get_x(pts), -np.round(shapely.get_y(pts), 6)))
    rank = np.empty(len(gdf), dtype=np.int64)
    rank[order] = np.arange(len(gdf))
    width = max(3, len(str(len(gdf))))
    return levels.map(letters).astype("str") + pd.Series(rank + 1).astype("str").str.zfill(width)

