"""The counts cube: dense tidy counts ``area_id, period, category, count`` (design.md).

Pure functions on frames, no workspace: :func:`count_cube` bins incidents by integer codes
with one ``np.bincount``; :func:`rollup` sums a finer layer into a coarser one through
``parent_id``; :func:`group_counts` sums member categories into a group (两抢一盗, 全部 …).

Periods are period starts: ``"D"`` days, ``"W"`` weeks starting Monday, ``"M"`` months
starting on the 1st.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["FREQS", "period_start", "period_range", "count_cube", "count_array", "rollup", "group_counts", "COLUMNS"]

#: Period frequencies understood everywhere.
FREQS: tuple[str, ...] = ("D", "W", "M")

#: Columns of a counts frame, in order.
COLUMNS: tuple[str, ...] = ("area_id", "period", "category", "count")

_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


def period_start(times, freq: str = "W") -> pd.DatetimeIndex:
    """Start of the period holding each time (NaT stays NaT).

    Parameters
    ----------
    times : array_like of datetime64 / Timestamps
    freq : {"D", "W", "M"}
        Day, week starting Monday, month starting on the 1st.

    Returns
    -------
    pandas.DatetimeIndex (ns)

    Examples
    --------
    >>> period_start(["2024-05-09 13:00", "2024-05-12 23:59"], "W").strftime("%Y-%m-%d").tolist()
    ['2024-05-06', '2024-05-06']
    >>> period_start(["2024-02-29 08:00"], "M")[0]
    Timestamp('2024-02-01 00:00:00')
    """
    _check_freq(freq)
    t = pd.DatetimeIndex(pd.to_datetime(np.asarray(times) if not isinstance(times, pd.Series) else times))
    if t.tz is not None:
        raise ValueError("times must be naive local times (occurred_at); got a time-zone-aware column")
    days = t.to_numpy().astype("datetime64[D]")
    if freq == "M":
        out = days.astype("datetime64[M]").astype("datetime64[D]")
    elif freq == "W":
        nat = np.isnat(days)
        d = days.astype(np.int64)
        out = (d - (d + _EPOCH_WEEKDAY) % 7).astype("datetime64[D]")
        out[nat] = np.datetime64("NaT")
    else:
        out = days
    return pd.DatetimeIndex(out.astype("datetime64[ns]"))


def period_range(start, end, freq: str = "W") -> pd.DatetimeIndex:
    """Every period start from the period of ``start`` to the period of ``end`` (inclusive)."""
    _check_freq(freq)
    p0, p1 = period_start([start, end], freq)
    if pd.isna(p0) or pd.isna(p1) or p1 < p0:
        return pd.DatetimeIndex([], dtype="datetime64[ns]")
    step = {"D": "D", "W": "7D", "M": "MS"}[freq]
    return pd.date_range(p0, p1, freq=step).as_unit("ns")


def count_cube(
    area_ids,
    times,
    categories,
    *,
    areas: Sequence[str],
    categories_index: Sequence[str],
    freq: str = "W",
    start=None,
    end=None,
) -> pd.DataFrame:
    """Dense counts of incidents per area × period × category.

    Parameters
    ----------
    area_ids, times, categories : array_like, same length
        One row per incident: its area id (missing / unknown areas are not counted; an
        integer array is read as positions into ``areas``, -1 for none), its naive
        local time, its category (unknown categories are not counted; integers are
        positions into ``categories_index``).
    areas : sequence of str
        The areas of the layer, in output order (areas without incidents get zeros).
    categories_index : sequence of str
        The categories, in output order.
    freq : {"D", "W", "M"}
    start, end : time, optional
        First and last period (the periods holding them); default: the data's range.
        Incidents outside are not counted.

    Returns
    -------
    DataFrame
        ``area_id, period, category, count`` (int64), ``len(areas) * n_periods *
        len(categories_index)`` rows ordered by area, period, category. ``area_id`` and
        ``category`` are pandas Categoricals of str (compare, ``isin``, group and merge like
        str; ``.astype(str)`` when plain strings are needed).
    """
    area_index, periods, cat_index, count = count_array(
        area_ids, times, categories, areas=areas, categories_index=categories_index,
        freq=freq, start=start, end=end,
    )
    return _frame(area_index, periods, cat_index, count.ravel())


def count_array(
    area_ids,
    times,
    categories,
    *,
    areas: Sequence[str],
    categories_index: Sequence[str],
    freq: str = "W",
    start=None,
    end=None,
) -> tuple[pd.Index, pd.DatetimeIndex, pd.Index, np.ndarray]:
    """:func:`count_cube` before it becomes a frame: ``(areas, periods, categories, counts)``.

    ``counts`` has shape ``(n_areas, n_periods, n_categories)``; for writers that store the
    cube without building millions of Python-level rows (data.pipeline).
    """
    _check_freq(freq)
    area_index = pd.Index(pd.array(list(areas), dtype="str"))
    cat_index = pd.Index(pd.array(list(categories_index), dtype="str"))
    if not area_index.is_unique:
        raise ValueError("areas: area ids must be unique")
    if not cat_index.is_unique:
        raise ValueError("categories_index: categories must be unique")
    a = _positions(area_ids, area_index)
    c = _positions(categories, cat_index)
    p = period_start(times, freq)
    ok_time = ~np.isnat(p.to_numpy())
    if start is None or end is None:
        seen = p.to_numpy()[ok_time & (a >= 0) & (c >= 0)]
        lo = seen.min() if seen.size else None
        hi = seen.max() if seen.size else None
        start = lo if start is None else start
        end = hi if end is None else end
    periods = period_range(start, end, freq) if start is not None and end is not None else pd.DatetimeIndex([], dtype="datetime64[ns]")
    n_a, n_p, n_c = len(area_index), len(periods), len(cat_index)
    if n_p:
        k = _period_code(p.to_numpy(), periods[0], freq)
        ok = ok_time & (a >= 0) & (c >= 0) & (k >= 0) & (k < n_p)
        flat = (a[ok].astype(np.int64) * n_p + k[ok]) * n_c + c[ok]
        count = np.bincount(flat, minlength=n_a * n_p * n_c).astype(np.int64, copy=False)
    else:
        count = np.zeros(0, dtype=np.int64)
    return area_index, periods, cat_index, count.reshape(n_a, n_p, n_c)


def _positions(values, index: pd.Index) -> np.ndarray:
    """Positions of ``values`` in ``index``, -1 for unknown or missing.

    Integer input is already positions (e.g. from layers.assign; -1 = outside) and is only
    range-checked; anything else is looked up as str labels.
    """
    raw = np.asarray(values)
    if raw.dtype.kind in "iu":
        return np.where((raw >= 0) & (raw < len(index)), raw, -1).astype(np.int64)
    return index.get_indexer(pd.array(np.asarray(values, dtype=object), dtype="str"))


def rollup(counts: pd.DataFrame, areas_child: pd.DataFrame, parent_level_areas: pd.DataFrame) -> pd.DataFrame:
    """Sum counts of a finer layer into a coarser one through ``parent_id``.

    Parameters
    ----------
    counts : DataFrame
        Counts of the child layer.
    areas_child : DataFrame
        ``area_id, parent_id`` of the child layer — or of several layers stacked (e.g. grid
        + community + subdistrict) to roll up across levels: parents are followed until an
        area of ``parent_level_areas`` is reached.
    parent_level_areas : DataFrame
        The target layer's ``area_id`` (output order).

    Returns
    -------
    DataFrame
        Dense counts of the target layer over the same periods and categories. Child areas
        that reach no target area are not counted.
    """
    target = pd.Index(pd.array(parent_level_areas["area_id"].astype("str").to_numpy(dtype=object), dtype="str"))
    link = pd.Series(
        areas_child["parent_id"].astype("str").to_numpy(dtype=object),
        index=areas_child["area_id"].astype("str").to_numpy(dtype=object),
    )
    link = link[~link.index.duplicated()]
    child = pd.Index(pd.array(pd.unique(counts["area_id"].astype("str").to_numpy(dtype=object)), dtype="str"))
    # follow parent links (vectorised over areas, a few levels deep) until a target area
    cur = pd.Series(child.to_numpy(dtype=object), index=child, dtype=object)
    for _ in range(16):
        done = cur.isin(target) | cur.isna()
        if done.all():
            break
        nxt = link.reindex(cur[~done].to_numpy(dtype=object)).to_numpy(dtype=object)
        cur[~done] = nxt
    pos = target.get_indexer(pd.array(cur.to_numpy(dtype=object), dtype="str"))
    periods = pd.DatetimeIndex(pd.unique(counts["period"])).sort_values()
    cats = pd.Index(pd.unique(counts["category"].astype("str")))
    a = pos[child.get_indexer(counts["area_id"].astype("str"))]
    k = periods.get_indexer(counts["period"])
    c = cats.get_indexer(counts["category"].astype("str"))
    ok = a >= 0
    n_p, n_c = len(periods), len(cats)
    flat = (a[ok].astype(np.int64) * n_p + k[ok]) * n_c + c[ok]
    total = np.bincount(flat, weights=counts["count"].to_numpy()[ok], minlength=len(target) * n_p * n_c)
    return _frame(target, periods, cats, np.rint(total).astype(np.int64))


def group_counts(counts: pd.DataFrame, taxonomy, name: str) -> pd.DataFrame:
    """Counts of a group (or :data:`data.taxonomy.ALL`, or one category) as ``category=name``.

    Parameters
    ----------
    counts : DataFrame
        Dense counts with raw categories.
    taxonomy : data.taxonomy.Taxonomy
    name : str
        Group name, ``ALL`` (全部) or a single category.

    Returns
    -------
    DataFrame
        ``area_id, period, category (= name), count``: one row per area × period present in
        ``counts``, ordered by area then period.
    """
    cat_codes, cats = _codes(counts["category"])
    members = taxonomy.members(name, [str(c) for c in cats])
    wanted = np.isin(np.asarray(cats, dtype=object), np.asarray(members, dtype=object))
    a_codes, areas = _codes(counts["area_id"])
    p_codes, periods = pd.factorize(counts["period"], sort=True)
    n_p = len(periods)
    keep = wanted[cat_codes] if len(cats) else np.zeros(len(counts), dtype=bool)
    flat = a_codes.astype(np.int64) * n_p + p_codes
    # one bincount over (area, period): vectorised group-by; present pairs keep their order
    total = np.bincount(flat[keep], weights=counts["count"].to_numpy()[keep], minlength=len(areas) * n_p)
    seen = np.zeros(len(areas) * n_p, dtype=bool)
    seen[flat] = True
    key = np.flatnonzero(seen)
    return pd.DataFrame(
        {
            "area_id": pd.Categorical.from_codes(key // n_p, categories=areas),
            "period": pd.DatetimeIndex(periods).to_numpy()[key % n_p],
            "category": pd.Categorical.from_codes(np.zeros(key.size, dtype=np.int64), categories=[name]),
            "count": np.rint(total[key]).astype(np.int64),
        }
    )


def _codes(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes and their labels (Categoricals used as they are: no string hashing)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        if (codes < 0).any():
            raise ValueError("counts: missing area_id or category")
        return codes, column.cat.categories
    codes, labels = pd.factorize(column.astype("str"))
    if (codes < 0).any():
        raise ValueError("counts: missing area_id or category")
    return codes, pd.Index(labels)


def _period_code(p: np.ndarray, first: pd.Timestamp, freq: str) -> np.ndarray:
    """Integer period number relative to ``first`` (garbage for NaT; callers mask)."""
    with np.errstate(invalid="ignore"):
        if freq == "M":
            m = p.astype("datetime64[M]").astype(np.int64)
            return m - np.datetime64(first, "M").astype(np.int64)
        d = p.astype("datetime64[D]").astype(np.int64) - np.datetime64(first, "D").astype(np.int64)
        return d // 7 if freq == "W" else d


def _frame(areas: pd.Index, periods: pd.DatetimeIndex, cats: pd.Index, count: np.ndarray) -> pd.DataFrame:
    # area_id / category as Categorical of str: a city's dense cube has tens of millions of
    # rows, and materialising that many strings costs seconds and gigabytes
    n_a, n_p, n_c = len(areas), len(periods), len(cats)
    return pd.DataFrame(
        {
            "area_id": pd.Categorical.from_codes(np.repeat(np.arange(n_a), n_p * n_c), categories=areas),
            "period": np.tile(np.repeat(periods.to_numpy(), n_c), n_a),
            "category": pd.Categorical.from_codes(np.tile(np.arange(n_c), n_a * n_p), categories=cats),
            "count": count,
        }
    )


def _check_freq(freq: str) -> None:
    if freq not in FREQS:
        raise ValueError(f"freq {freq!r}: use one of {', '.join(FREQS)} (day, week from Monday, month)")
