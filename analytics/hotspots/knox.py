"""Near-repeat (Knox) analysis as the Near Repeat Calculator reports it, and repeat locations.

Every pair of events is placed in a distance band × time band cell; the observed pair counts
are compared with counts after shuffling the event dates among the events (Monte Carlo,
locations held fixed), as in Ratcliffe's Near Repeat Calculator (Ratcliffe 2009; Johnson et
al. 2007). For each cell::

    expected = mean of the permuted counts
    ratio    = observed / expected          (the calculator's "Knox ratio")
    p        = (1 + #{permutations with count >= observed}) / (1 + permutations)

Bands follow the calculator: a "same location" row (distance <= ``same_location_tol``), then
distance bands ``(lo, hi]`` in metres ("1–100", "101–200" …), and a last row for pairs
beyond the largest distance; time bands over whole-day differences, the first ``[0, e1]`` and
then ``(lo, hi]`` ("0–7", "8–14" …), and a last column beyond the largest time.

Spatial pairs within the largest distance come from one ``cKDTree.query_pairs`` call; each
permutation only recomputes the day differences on that fixed pair list (a gather, a lookup
table and a ``bincount``). The "beyond distance" row needs no pairs: shuffling dates leaves the
multiset of all pairwise day differences unchanged, so that row is the fixed all-pairs total
per time band minus the rows above it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

__all__ = ["KnoxTest", "repeat_locations"]


class KnoxTest:
    """Knox space-time interaction table with Monte Carlo inference.

    Parameters
    ----------
    distance_bands : sequence of float
        Upper edges of the distance bands in metres, increasing (e.g. 100, 200, …, 500).
    time_bands : sequence of int
        Upper edges of the time bands in whole days, increasing (e.g. 7, 14, 21, 28).
    permutations : int
        Monte Carlo shuffles of the dates.
    seed : int
        Seed; permutation ``k`` uses ``default_rng([seed, k])``, so results do not depend on
        the number of threads.
    same_location_tol : float or None
        Pairs at most this many metres apart form the "same location" row; ``None`` drops
        that row (they join the first band).
    threads : int
        Worker threads for the permutations (NumPy releases the GIL in the gathers).

    Attributes
    ----------
    observed_, expected_, ratio_, p_ : ndarray (n_distance_rows, n_time_cols)
        The table; rows/cols include the "beyond" row/column.
    n_ge_ : ndarray
        Permutations with a count >= observed.
    n_pairs_ : int
        Pairs within the largest distance.
    distance_labels_, time_labels_ : list of str
    """

    def __init__(
        self,
        *,
        distance_bands=(100, 200, 300, 400, 500),
        time_bands=(7, 14, 21, 28),
        permutations: int = 99,
        seed: int = 12345,
        same_location_tol: float | None = 0.5,
        threads: int = 2,
    ) -> None:
        self.distance_bands = distance_bands
        self.time_bands = time_bands
        self.permutations = permutations
        self.seed = seed
        self.same_location_tol = same_location_tol
        self.threads = threads

    def fit(self, xy: np.ndarray, days: np.ndarray) -> KnoxTest:
        """Fit on coordinates ``xy`` (n, 2) in metres and event days (integer day numbers or
        datetimes)."""
        xy = np.asarray(xy, dtype=float)
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise ValueError(f"xy must be an (n, 2) array of metres, got shape {xy.shape}")
        day = _day_numbers(days)
        if len(day) != len(xy):
            raise ValueError(f"xy has {len(xy)} rows but days has {len(day)}")
        if not np.isfinite(xy).all():
            raise ValueError("xy has NaN coordinates; drop events without a location first")
        d_edges = np.asarray(self.distance_bands, dtype=float)
        t_edges = np.asarray(self.time_bands, dtype=np.int64)
        if len(d_edges) == 0 or np.any(np.diff(d_edges) <= 0) or d_edges[0] <= 0:
            raise ValueError(f"distance_bands must be positive and increasing: {self.distance_bands}")
        if len(t_edges) == 0 or np.any(np.diff(t_edges) <= 0) or t_edges[0] < 0:
            raise ValueError(f"time_bands must be non-negative and increasing: {self.time_bands}")
        if self.permutations < 1:
            raise ValueError("permutations must be >= 1")

        same = self.same_location_tol is not None
        n_drow = len(d_edges) + int(same) + 1  # (+ same location) + bands + beyond
        n_tcol = len(t_edges) + 1  # bands + beyond
        pairs = cKDTree(xy).query_pairs(float(d_edges[-1]), output_type="ndarray")
        dist = np.hypot(*(xy[pairs[:, 0]] - xy[pairs[:, 1]]).T)
        dbin = np.searchsorted(d_edges, dist, side="left") + int(same)
        if same:
            dbin[dist <= self.same_location_tol] = 0
        # pairs in the "beyond" row never enter the pair list. One lookup table maps
        # (distance row, capped day difference) to the table cell, so a permutation costs two
        # gathers, a subtraction, a clip, one lookup and a bincount.
        cap = int(t_edges[-1] + 1)
        span = int(day.max() - day.min()) if len(day) else 0
        small = span < 32_000 and n_drow * (cap + 1) < 32_000
        dtype = np.int16 if small else np.int32  # half the memory traffic when days fit
        day = (day - (day.min() if len(day) else 0)).astype(dtype)
        offset = (dbin * (cap + 1)).astype(dtype)
        i_idx = pairs[:, 0].astype(np.int32)
        j_idx = pairs[:, 1].astype(np.int32)
        tcol = np.searchsorted(t_edges, np.arange(cap + 1), side="left")
        lut = (np.arange(n_drow)[:, None] * n_tcol + tcol[None, :]).ravel().astype(np.intp)
        size = n_drow * n_tcol

        def table(d: np.ndarray) -> np.ndarray:
            dd = d[i_idx] - d[j_idx]
            np.abs(dd, out=dd)
            np.minimum(dd, cap, out=dd)
            dd += offset
            return np.bincount(lut[dd], minlength=size)[:size].reshape(n_drow, n_tcol)

        all_pairs = _all_pairs_by_time(day, t_edges)
        observed = table(day).astype(float)
        observed[-1] = all_pairs - observed[:-1].sum(axis=0)
        n = len(day)

        def run(ks: range) -> tuple[np.ndarray, np.ndarray]:
            ge = np.zeros((n_drow, n_tcol))
            total = np.zeros((n_drow, n_tcol))
            for k in ks:
                perm = day[np.random.default_rng([self.seed, k]).permutation(n)]
                tab = table(perm).astype(float)
                tab[-1] = all_pairs - tab[:-1].sum(axis=0)
                ge += tab >= observed
                total += tab
            return ge, total

        blocks = np.array_split(np.arange(self.permutations), max(1, self.threads))
        with ThreadPoolExecutor(max_workers=max(1, self.threads)) as pool:
            results = list(pool.map(lambda b: run(range(b[0], b[-1] + 1) if len(b) else range(0)), blocks))
        ge = sum(r[0] for r in results)
        total = sum(r[1] for r in results)

        self.observed_ = observed
        self.expected_ = total / self.permutations
        with np.errstate(invalid="ignore", divide="ignore"):
            self.ratio_ = np.where(self.expected_ > 0, observed / np.where(self.expected_ > 0, self.expected_, 1), np.nan)
        self.n_ge_ = ge
        self.p_ = (1.0 + ge) / (1.0 + self.permutations)
        self.n_pairs_ = len(pairs)
        self.n_events_ = n
        self.distance_labels_ = _distance_labels(d_edges, same)
        self.time_labels_ = _time_labels(t_edges)
        return self

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: distance_band, time_band, observed, expected, ratio, p, significant
        (p <= 0.05 and ratio > 1)."""
        nd, nt = self.observed_.shape
        frame = pd.DataFrame(
            {
                "distance_band": np.repeat(self.distance_labels_, nt),
                "time_band": np.tile(self.time_labels_, nd),
                "observed": self.observed_.ravel().astype(np.int64),
                "expected": self.expected_.ravel(),
                "ratio": self.ratio_.ravel(),
                "p": self.p_.ravel(),
            }
        )
        frame["significant"] = (frame["p"] <= 0.05) & (frame["ratio"] > 1)
        return frame


def repeat_locations(xy: np.ndarray, *, tol: float = 1.0, address=None) -> pd.DataFrame:
    """How many locations had 1, 2, 3 and 4+ incidents (repeat victimisation of places).

    Parameters
    ----------
    xy : ndarray (n, 2)
        Coordinates in metres; points within the same ``tol``-metre square are one location.
    tol : float
        Snapping size in metres.
    address : array-like of str, optional
        When given, locations are addresses instead of snapped coordinates.

    Returns
    -------
    DataFrame
        ``incidents_at_location`` ("1", "2", "3", "4+"), ``locations``, ``incidents``,
        ``share_of_incidents``.

    Examples
    --------
    >>> xy = np.array([[0, 0], [0.2, 0.1], [50, 50], [50, 50], [50, 50], [9, 9.0]])
    >>> repeat_locations(xy)["locations"].tolist()
    [1, 1, 1, 0]
    """
    if address is not None:
        _, counts = np.unique(np.asarray(address, dtype=str), return_counts=True)
    else:
        xy = np.asarray(xy, dtype=float)
        keys = np.floor(xy / tol).astype(np.int64)
        _, counts = np.unique(keys, axis=0, return_counts=True)
    capped = np.minimum(counts, 4)
    locations = np.bincount(capped, minlength=5)[1:5]
    incidents = np.bincount(capped, weights=counts, minlength=5)[1:5].astype(np.int64)
    total = max(int(counts.sum()), 1)
    return pd.DataFrame(
        {
            "incidents_at_location": ["1", "2", "3", "4+"],
            "locations": locations.astype(np.int64),
            "incidents": incidents,
            "share_of_incidents": incidents / total,
        }
    )


def _day_numbers(days) -> np.ndarray:
    arr = np.asarray(days)
    if np.issubdtype(arr.dtype, np.datetime64):
        return arr.astype("datetime64[D]").astype(np.int64).astype(np.int32)
    if isinstance(days, pd.Series) and pd.api.types.is_datetime64_any_dtype(days):
        return days.to_numpy().astype("datetime64[D]").astype(np.int64).astype(np.int32)
    arr = np.asarray(arr, dtype=float)
    if not np.isfinite(arr).all():
        raise ValueError("days has NaN/NaT values")
    return np.floor(arr).astype(np.int32)


def _all_pairs_by_time(day: np.ndarray, t_edges: np.ndarray) -> np.ndarray:
    """Number of all event pairs per time band (+ beyond), from sorted days: O(n log n)."""
    d = np.sort(day.astype(np.int64))
    n = len(d)
    # pairs with difference <= e: for each i, events j > i with d[j] <= d[i] + e
    le = np.array([(np.searchsorted(d, d + e, side="right") - np.arange(1, n + 1)).sum() for e in t_edges])
    total = n * (n - 1) // 2
    return np.diff(np.concatenate([[0], le, [total]])).astype(float)


def _distance_labels(edges: np.ndarray, same: bool) -> list[str]:
    labels = ["same location"] if same else []
    lo = 0.0
    for hi in edges:
        labels.append(f"{_fmt(lo + 1 if lo or same else 0)}-{_fmt(hi)}")
        lo = hi
    labels.append(f">{_fmt(edges[-1])}")
    return labels


def _time_labels(edges: np.ndarray) -> list[str]:
    labels, lo = [], None
    for hi in edges:
        labels.append(f"{0 if lo is None else lo + 1}-{int(hi)}")
        lo = int(hi)
    labels.append(f">{int(edges[-1])}")
    return labels


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"
