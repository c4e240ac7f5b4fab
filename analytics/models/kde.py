"""Kernel-smoothed baselines on the cell grid: a smoothed long-run rate and a recency-weighted KDE.

Both forecast a cell's next-period count as a spatial (quartic) kernel smoothing of a per-cell
rate over the areas' centroids (``coords``: ``area_id, x, y`` in metres):

    long-run    m_j = mean of cell j's counts over every training period
    recency     m_j = sum_t w_t y_jt / sum_t w_t,  w_t = 2^(-(T-1-t) / halflife)
    smoothing   mu_i = sum_j W_ij m_j,  W_ij = K(d_ij / h) / sum_k K(d_kj / h)
                K(u) = (1 - u^2)^2 for u < 1 (the quartic kernel of
                :func:`analytics.hotspots.kde.quartic_density`), d the centroid distance

``W`` spreads each cell's mass over the cells within ``h`` of it (columns sum to 1), so the
smoothing keeps the city total; ``h = 0`` is no smoothing (the plain long-run mean or EWMA).
Series are smoothed only within their category. All pairs within the largest bandwidth come
from one ``cKDTree.sparse_distance_matrix`` call (sparse neighbour lists, no loop over cells).

The bandwidth (and the recency model's half-life) is chosen by rolling validation **inside the
training window**: each of the last ``validation`` training periods is forecast from the
periods before it with every candidate, and the candidate with the best Poisson
log-likelihood wins. Nothing after the origin is read. The predictive is NB2, its ``alpha`` by
the method of moments (:func:`analytics.models.base.mom_alpha`) from the winning candidate's
errors on those validation periods — out-of-sample errors, as for the counting baselines.

Without ``coords`` (or for areas missing from it) a series is not smoothed.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.spatial import cKDTree

from analytics.models.base import CountModel, mom_alpha

__all__ = ["KDELongRun", "RecencyKDE", "kernel_weights", "keys_digest", "neighbour_spacing"]


def neighbour_spacing(xy: np.ndarray) -> float:
    """Median distance from each point to its nearest other point (1 for fewer than 2 points)."""
    xy = np.asarray(xy, float).reshape(-1, 2)
    if len(xy) < 2:
        return 1.0
    d, _ = cKDTree(xy).query(xy, k=2)
    d = d[:, 1][np.isfinite(d[:, 1]) & (d[:, 1] > 0)]
    return float(np.median(d)) if len(d) else 1.0


def kernel_weights(keys: pd.DataFrame, coords: pd.DataFrame | None,
                   bandwidths: np.ndarray) -> list[sparse.csr_matrix]:
    """Column-normalised quartic smoothing matrices over series, one per bandwidth (metres).

    Parameters
    ----------
    keys : DataFrame
        ``area_id, category`` of each series (the rows of the count matrix).
    coords : DataFrame or None
        ``area_id, x, y`` (metres). Series whose area is missing are left unsmoothed.
    bandwidths : array of float
        Kernel radii in metres; ``0`` gives the identity.

    Returns
    -------
    list of scipy.sparse.csr_matrix
        ``W`` with ``W[i, j]`` the share of series j's mass given to series i (same category,
        centroids closer than the bandwidth); every column sums to 1.
    """
    bandwidths = np.asarray(bandwidths, float)
    if coords is None or len(keys) == 0 or not (bandwidths > 0).any():
        return _kernel_weights(keys, coords, bandwidths)
    # A rolling origin refits on the same cells hundreds of times: build the matrices once.
    key = (keys_digest(keys), _coords_digest(coords),
           tuple(np.round(bandwidths, 9)))
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return list(hit)
    mats = _kernel_weights(keys, coords, bandwidths)
    with _LOCK:
        _CACHE[key] = tuple(mats)
        while len(_CACHE) > 16:
            _CACHE.popitem(last=False)
    return mats


_CACHE: OrderedDict = OrderedDict()
_LOCK = threading.Lock()


def _digest(frame: pd.DataFrame) -> str:
    """A content hash of a small frame (ids as str), for the weights cache."""
    frame = frame.astype({c: str for c in ("area_id", "category") if c in frame.columns})
    h = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.blake2b(h.tobytes(), digest_size=16).hexdigest()


def keys_digest(keys: pd.DataFrame) -> str:
    """Content digest of the series keys (``area_id``, ``category`` as str), cheap enough to take
    on every fit of a rolling origin (every ``CountMatrix`` holds a fresh copy of its keys)."""
    h = hashlib.blake2b(digest_size=16)
    for col in ("area_id", "category"):
        h.update("\x1f".join(keys[col].astype(str).tolist()).encode())
        h.update(b"\x1e")
    return h.hexdigest()


def _kernel_weights(keys: pd.DataFrame, coords: pd.DataFrame | None,
                    bandwidths: np.ndarray) -> list[sparse.csr_matrix]:
    n = len(keys)
    eye = sparse.identity(n, format="csr")
    if coords is None or n == 0 or not (bandwidths > 0).any():
        return [eye for _ in bandwidths]
    xy_by_area = _coords_frame(coords)
    area = keys["area_id"].astype(str).to_numpy()
    pos = xy_by_area.index.get_indexer(area)  # -1: no coordinates
    cat, _ = pd.factorize(keys["category"].astype(str).to_numpy())
    xy = xy_by_area[["x", "y"]].to_numpy(float)
    # series row of (category c, area a), -1 where absent
    lookup = np.full((cat.max() + 1, len(xy)), -1, dtype=np.int64)
    has = pos >= 0
    lookup[cat[has], pos[has]] = np.flatnonzero(has)
    tree = cKDTree(xy)
    pairs = tree.sparse_distance_matrix(tree, float(bandwidths.max()), output_type="ndarray")
    pa, pb, d = pairs["i"], pairs["j"], pairs["v"]
    off = pa != pb  # the self pair is added below for every series
    pa, pb, d = pa[off], pb[off], d[off]
    rows, cols, dist = [], [], []
    for c in range(lookup.shape[0]):  # a handful of categories; pairs vectorised
        ri, rj = lookup[c, pa], lookup[c, pb]
        ok = (ri >= 0) & (rj >= 0)
        rows.append(ri[ok])
        cols.append(rj[ok])
        dist.append(d[ok])
    rows_a = np.concatenate([np.arange(n), *rows])
    cols_a = np.concatenate([np.arange(n), *cols])
    dist_a = np.concatenate([np.zeros(n), *dist])
    out = []
    for h in bandwidths:
        if h <= 0:
            out.append(eye)
            continue
        u2 = (dist_a / h) ** 2
        k = np.where(u2 < 1.0, (1.0 - u2) ** 2, 0.0)
        W = sparse.csc_matrix((k, (rows_a, cols_a)), shape=(n, n))
        W.eliminate_zeros()
        colsum = np.asarray(W.sum(axis=0)).ravel()
        out.append((W @ sparse.diags(1.0 / colsum)).tocsr())
    return out


def _coords_frame(coords: pd.DataFrame) -> pd.DataFrame:
    """``coords`` checked and indexed by ``area_id`` (memoised per frame object: a backtest
    refits with the same coords hundreds of times)."""
    hit = _FRAMES.get(id(coords))
    if hit is not None and hit[0]() is coords:
        return hit[1]
    frame = _check_coords(coords)
    if len(_FRAMES) > 32:
        _FRAMES.clear()
    _FRAMES[id(coords)] = (weakref.ref(coords), frame, _digest(frame.reset_index()))
    return frame


def _coords_digest(coords: pd.DataFrame) -> str:
    _coords_frame(coords)
    return _FRAMES[id(coords)][2]


_FRAMES: dict = {}


def _spacing(keys: pd.DataFrame, coords: pd.DataFrame, frame: pd.DataFrame) -> float:
    """:func:`neighbour_spacing` of the areas of ``keys`` found in ``frame`` (checked
    ``coords``), memoised by content (a rolling origin asks hundreds of times)."""
    key = (keys_digest(keys), _coords_digest(coords))
    hit = _SPACINGS.get(key)
    if hit is not None:
        return hit
    present = frame.index.intersection(pd.Index(keys["area_id"].astype(str).unique()))
    spacing = neighbour_spacing(frame.loc[present].to_numpy())
    with _LOCK:
        if len(_SPACINGS) > 32:
            _SPACINGS.clear()
        _SPACINGS[key] = spacing
    return spacing


_SPACINGS: dict = {}


def _check_coords(coords: pd.DataFrame) -> pd.DataFrame:
    missing = {"area_id", "x", "y"} - set(coords.columns)
    if missing:
        raise ValueError(f"coords: missing column(s) {', '.join(sorted(missing))} "
                         "(expected area_id, x, y in metres)")
    frame = coords.assign(area_id=coords["area_id"].astype(str)).drop_duplicates("area_id")
    frame = frame.set_index("area_id")[["x", "y"]].astype(float)
    return frame[np.isfinite(frame.to_numpy()).all(1)]


def _category_sums(cat: np.ndarray) -> sparse.csr_matrix:
    """``(n_categories, n_series)`` indicator matrix: ``G @ F`` sums ``F``'s rows per category."""
    n_cat = int(cat.max()) + 1 if len(cat) else 0
    return sparse.csr_matrix((np.ones(len(cat)), (cat, np.arange(len(cat)))), shape=(n_cat, len(cat)))


def _blas():
    """One threadpoolctl controller (finding the libraries costs ~20 ms a time)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


_CONTROLLER = None


class _KernelRate(CountModel):
    """Shared fit of the kernel-smoothed models: candidates × validation periods, then refit."""

    def _base_rates(self, Y: np.ndarray, ends: np.ndarray, halflife: float) -> np.ndarray:
        """Per-series rate from periods ``< end`` for each ``end`` in ``ends``: ``(n, len(ends))``."""
        T = Y.shape[1]
        t = np.arange(T)[:, None]
        ends = np.asarray(ends)[None, :]
        age = ends - 1 - t  # 0 for the last period before the end
        if np.isinf(halflife):
            D = (age >= 0).astype(float)
        else:
            D = np.where(age >= 0, 0.5 ** (np.maximum(age, 0) / halflife), 0.0)
        norm = D.sum(0)
        return (Y @ D) / np.where(norm > 0, norm, 1.0)

    def _halflives(self) -> tuple[float, ...]:
        return (np.inf,)

    def _fit_matrix(self, Y: np.ndarray) -> None:
        # small products: BLAS threads only spin on a shared 2-core machine (10x slower)
        with _blas().limit(limits=1, user_api="blas"):
            self._fit_kernel(Y)

    def _fit_kernel(self, Y: np.ndarray) -> None:
        n, T = Y.shape
        keys = self.keys_
        spacing = np.nan
        if self.coords is not None:
            frame = _coords_frame(self.coords)
            spacing = _spacing(keys, self.coords, frame)
        hs = np.asarray(self.bandwidths, float)
        if hs.ndim != 1 or len(hs) == 0 or (hs < 0).any():
            raise ValueError(f"bandwidths: expected non-negative multiples of the cell spacing, "
                             f"got {self.bandwidths!r}")
        metres = hs * spacing if np.isfinite(spacing) else np.zeros_like(hs)
        mats = kernel_weights(keys, self.coords, metres)
        halflives = self._halflives()
        cat, _ = pd.factorize(keys["category"].astype(str).to_numpy())
        G = _category_sums(cat)
        V = int(min(self.validation, T - 1))
        rows = []
        best = None
        if V >= 1:
            ends = np.arange(T - V, T)
            Yv = Y[:, ends]
            for hl in halflives:
                M = self._base_rates(Y, ends, hl)
                for h_cells, h_m, W in zip(hs, metres, mats):
                    F = self._floor(W @ M, cat, G)
                    ll = float((Yv * np.log(F) - F).sum() / Yv.size)
                    rows.append({"bandwidth_cells": float(h_cells), "bandwidth_m": float(h_m),
                                 "halflife": float(hl), "loglik": ll})
                    if best is None or ll > best[0] + 1e-12:
                        best = (ll, h_cells, h_m, hl, W, F)
        if best is None:  # one period only: no validation possible, take the first candidate
            best = (np.nan, hs[0], metres[0], halflives[0], mats[0], None)
        _, self.bandwidth_cells_, self.bandwidth_, self.halflife_, W, F = best
        self.spacing_ = float(spacing) if np.isfinite(spacing) else None
        self.scores_ = pd.DataFrame(rows, columns=["bandwidth_cells", "bandwidth_m", "halflife",
                                                   "loglik"])
        self.alpha_ = (mom_alpha(Y[:, T - V:], F, prior_weight=self.prior_weight) if F is not None
                       else np.zeros(n))
        rate = self._base_rates(Y, np.array([T]), self.halflife_)
        self.rate_ = self._floor(W @ rate, cat, G)[:, 0]

    def _floor(self, F: np.ndarray, cat: np.ndarray, G: sparse.csr_matrix | None = None) -> np.ndarray:
        """Mix in ``uniform_share`` of the category's mean rate: no cell is forecast exactly 0.

        ``G``: :func:`_category_sums` of ``cat`` when the caller has it (built once per fit).
        """
        F = np.asarray(F)
        if G is None:
            G = _category_sums(cat)
        n_cat = G.shape[0]
        counts = np.bincount(cat, minlength=n_cat)
        cat_mean = (G @ F) / np.maximum(counts, 1)[:, None]
        s = float(self.uniform_share)
        return np.maximum((1 - s) * F + s * cat_mean[cat], 1e-9)

    def _predict_matrix(self, horizon):
        return self.rate_, self.alpha_


class KDELongRun(_KernelRate):
    """Smoothed long-run rate: the quartic-kernel smoothing of each cell's mean count.

    Parameters
    ----------
    coords : DataFrame or None
        ``area_id, x, y`` centroids in metres (projected CRS); ``None``: no smoothing.
    bandwidths : tuple of float
        Candidate kernel radii, in units of the median spacing between neighbouring centroids
        (0 = no smoothing); the best by rolling validation is used.
    validation : int
        Last training periods forecast (each from the periods before it) to choose the
        bandwidth and estimate the dispersion.
    uniform_share : float
        Share of the category's mean rate mixed into every cell (keeps log scores finite).
    prior_weight : float
        Shrinkage of each series' dispersion toward the pooled one (see ``mom_alpha``).

    Attributes
    ----------
    bandwidth_ : float
        Chosen radius in metres (``bandwidth_cells_`` in spacings; ``spacing_`` the spacing).
    scores_ : DataFrame
        ``bandwidth_cells, bandwidth_m, halflife, loglik`` of every candidate (mean Poisson
        log-likelihood per cell-period over the validation periods).
    rate_, alpha_ : ndarray
        Forecast mean and NB2 dispersion per series.
    """

    def __init__(self, *, coords: pd.DataFrame | None = None,
                 bandwidths: tuple[float, ...] = (0.0, 1.5, 2.0, 3.0, 4.0), validation: int = 13,
                 uniform_share: float = 0.01, prior_weight: float = 50.0) -> None:
        self.coords = coords
        self.bandwidths = bandwidths
        self.validation = validation
        self.uniform_share = uniform_share
        self.prior_weight = prior_weight


class RecencyKDE(_KernelRate):
    """Recency-weighted KDE: kernel smoothing of exponentially time-weighted cell rates.

    Parameters
    ----------
    coords, bandwidths, validation, uniform_share, prior_weight
        As :class:`KDELongRun`.
    halflives : tuple of float
        Candidate half-lives of the time weights, in periods (``inf`` = the long-run mean);
        chosen jointly with the bandwidth by rolling validation inside the training window.

    Attributes
    ----------
    halflife_ : float
        Chosen half-life (periods); the other attributes as :class:`KDELongRun`.
    """

    def __init__(self, *, coords: pd.DataFrame | None = None,
                 bandwidths: tuple[float, ...] = (0.0, 1.5, 2.0, 3.0, 4.0),
                 halflives: tuple[float, ...] = (4.0, 8.0, 16.0, 32.0, 64.0), validation: int = 13,
                 uniform_share: float = 0.01, prior_weight: float = 50.0) -> None:
        self.coords = coords
        self.bandwidths = bandwidths
        self.halflives = halflives
        self.validation = validation
        self.uniform_share = uniform_share
        self.prior_weight = prior_weight

    def _halflives(self) -> tuple[float, ...]:
        hl = tuple(float(h) for h in self.halflives)
        if not hl or any(not h > 0 for h in hl):
            raise ValueError(f"halflives: expected positive numbers of periods, got {self.halflives!r}")
        return hl
