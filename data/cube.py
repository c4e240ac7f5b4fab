"""The counts cube: dense tidy counts ``area_id, period, category, count`` and its matrix form.

Pure functions on arrays and frames, no workspace (design.md "counts"):

- :func:`count_cube` / :func:`count_array` bin incidents (or grid cells: integer positions) by
  integer codes with one ``np.bincount``;
- :func:`rollup` sums a finer layer into a coarser one through ``parent_id``;
- :func:`group_counts` sums member categories into a group (两抢一盗, 全部 …);
- :class:`CountMatrix` is the series × period matrix the models fit (:func:`to_matrix` from
  tidy counts, :meth:`CountMatrix.to_frame` back); :func:`area_matrix` is the areas × periods
  matrix of one (summed) category in a layer's row order, for the hot-spot statistics.

Periods are period starts (:mod:`data.calendar`): ``"D"`` days, ``"W"`` weeks starting Monday,
``"M"`` months starting on the 1st.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.calendar import check_freq, infer_freq, period_range, period_start
from data.taxonomy import Taxonomy, canonical_name

__all__ = [
    "COLUMNS",
    "CountMatrix",
    "area_matrix",
    "count_array",
    "count_cube",
    "group_counts",
    "rollup",
    "to_matrix",
]

#: Columns of a counts frame, in order.
COLUMNS: tuple[str, ...] = ("area_id", "period", "category", "count")


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
    check_freq(freq)
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


def group_counts(counts: pd.DataFrame, taxonomy: Taxonomy, name: str | None) -> pd.DataFrame:
    """Counts of a group (or :data:`data.taxonomy.ALL`, or one category) as ``category=name``.

    ``name`` is resolved by :meth:`data.taxonomy.Taxonomy.resolve` (None/""/ALL = 全部).

    Parameters
    ----------
    counts : DataFrame
        Dense counts with raw categories.
    taxonomy : data.taxonomy.Taxonomy
    name : str or None
        Group name, ``ALL`` (全部) or a single category.

    Returns
    -------
    DataFrame
        ``area_id, period, category (= name), count``: one row per area × period present in
        ``counts``, ordered by area then period.
    """
    cat_codes, cats = _codes(counts["category"])
    members = taxonomy.resolve(name, [str(c) for c in cats])
    name = canonical_name(name)
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


@dataclass(frozen=True, eq=False)
class CountMatrix:
    """Dense counts as a series × period matrix: what the models fit.

    Parameters
    ----------
    keys : DataFrame
        ``area_id, category`` of each series (row of ``Y``), as str.
    periods : DatetimeIndex
        Sorted period starts (columns of ``Y``).
    Y : ndarray
        Counts, shape ``(len(keys), len(periods))``.
    freq : {"D", "W", "M"}

    Examples
    --------
    >>> counts = pd.DataFrame({"area_id": ["a", "a", "b", "b"], "category": "x",
    ...                        "period": pd.to_datetime(["2024-01-01", "2024-01-08"] * 2),
    ...                        "count": [1, 2, 3, 4]})
    >>> m = to_matrix(counts)
    >>> m.Y.tolist(), m.freq
    ([[1.0, 2.0], [3.0, 4.0]], 'W')
    >>> m.head(1).Y.tolist()
    [[1.0], [3.0]]
    """

    keys: pd.DataFrame
    periods: pd.DatetimeIndex
    Y: np.ndarray
    freq: str

    def __post_init__(self) -> None:
        check_freq(self.freq)
        periods = pd.DatetimeIndex(self.periods)
        Y = np.asarray(self.Y, dtype=float)
        missing = {"area_id", "category"} - set(self.keys.columns)
        if missing:
            raise ValueError(f"keys: missing column(s) {', '.join(sorted(missing))}")
        if Y.shape != (len(self.keys), len(periods)):
            raise ValueError(f"Y: shape {Y.shape} does not match {len(self.keys)} series x "
                             f"{len(periods)} periods")
        object.__setattr__(self, "periods", periods)
        object.__setattr__(self, "Y", Y)
        object.__setattr__(self, "keys", self.keys.reset_index(drop=True))

    def head(self, n: int) -> CountMatrix:
        """The first ``n`` periods (a rolling origin: nothing after period ``n - 1`` is kept)."""
        if not 1 <= n <= len(self.periods):
            raise ValueError(f"n: need 1 <= n <= {len(self.periods)} periods, got {n}")
        return CountMatrix(self.keys, self.periods[:n], self.Y[:, :n], self.freq)

    def to_frame(self) -> pd.DataFrame:
        """Tidy counts ``area_id, period, category, count`` (area, category, then period order)."""
        n, t = self.Y.shape
        return pd.DataFrame({
            "area_id": np.repeat(self.keys["area_id"].to_numpy(), t),
            "period": np.tile(self.periods.to_numpy(), n),
            "category": np.repeat(self.keys["category"].to_numpy(), t),
            "count": np.rint(self.Y.ravel()).astype(np.int64),
        })


def to_matrix(counts: pd.DataFrame, freq: str | None = None) -> CountMatrix:
    """Series keys (area_id, category) sorted, sorted periods and the dense count matrix.

    Parameters
    ----------
    counts : DataFrame
        Dense tidy counts (every area × period × category once).
    freq : {"D", "W", "M"}, optional
        Default: inferred from the spacing of the periods (:func:`data.calendar.infer_freq`).
    """
    missing = set(COLUMNS) - set(counts.columns)
    if missing:
        raise ValueError(f"counts: missing column(s) {', '.join(sorted(missing))}")
    if len(counts) == 0:
        raise ValueError("counts: empty table")
    periods = pd.DatetimeIndex(np.sort(pd.unique(pd.to_datetime(counts["period"]).to_numpy())))
    p_idx = periods.get_indexer(pd.to_datetime(counts["period"]))
    # Factorize the two key columns separately (much faster than a MultiIndex of strings).
    a_codes, a_uniq = pd.factorize(counts["area_id"].astype(str), sort=True)
    c_codes, c_uniq = pd.factorize(counts["category"].astype(str), sort=True)
    combo = a_codes.astype(np.int64) * len(c_uniq) + c_codes
    present, k_idx = np.unique(combo, return_inverse=True)
    Y = np.zeros((len(present), len(periods)))
    Y[k_idx, p_idx] = counts["count"].to_numpy(float)  # dense and unique by contract
    keys = pd.DataFrame({
        "area_id": pd.Series(np.asarray(a_uniq, dtype=object)[present // len(c_uniq)], dtype=str),
        "category": pd.Series(np.asarray(c_uniq, dtype=object)[present % len(c_uniq)], dtype=str),
    })
    return CountMatrix(keys, periods, Y, freq or infer_freq(periods))


def area_matrix(counts: pd.DataFrame, area_ids: Sequence[str]) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Sorted periods and the areas × periods matrix of ``counts`` summed over categories.

    Rows follow ``area_ids`` (a layer's row order); areas absent from ``counts`` get zeros and
    rows of ``counts`` whose area is not in ``area_ids`` are not counted.
    """
    periods = pd.DatetimeIndex(np.sort(pd.unique(pd.to_datetime(counts["period"]).to_numpy())))
    index = pd.Index(pd.array([str(a) for a in area_ids], dtype="str"))
    a = _positions(counts["area_id"].astype(str).to_numpy(dtype=object), index)
    k = periods.get_indexer(pd.to_datetime(counts["period"]))
    ok = a >= 0
    flat = a[ok].astype(np.int64) * len(periods) + k[ok]
    total = np.bincount(flat, weights=counts["count"].to_numpy(float)[ok],
                        minlength=len(index) * len(periods))
    return periods, total.reshape(len(index), len(periods))
