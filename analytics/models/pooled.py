"""One gradient-boosted Poisson regression pooled over all areas.

Features of (area, period t), all computed from periods before t: lags 1, 2 and one year
(52 weeks, 12 months or 364 days: :func:`data.calendar.season_length`); rolling means over 4,
13 periods and one year; the area's long-run mean; the neighbours' 4- and 13-period
means (spatial lag over the area adjacency); week-of-year sin/cos; the 春节 share of the
period. Target: the count at t. scikit-learn's ``HistGradientBoostingRegressor(loss="poisson")``
learns from the last ``train_periods`` periods of every area at once (rows beyond
``max_rows`` are subsampled uniformly).

Predictive distribution: NB2 with alpha estimated by the method of moments from held-out
residuals — the trees are fitted on targets before the last ``holdout`` periods and their errors
on those periods give alpha (one fit per origin; the forecast still uses the latest lags).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import sparse

from analytics.models.base import CountModel, calendar_features, mom_alpha
from analytics.neighbours import neighbour_lists
from data.calendar import next_periods, season_length

__all__ = ["PooledGBM", "neighbour_mapping"]

#: Queen neighbours of a GeoDataFrame with ``area_id`` (the one builder: analytics.neighbours).
neighbour_mapping = neighbour_lists


class PooledGBM(CountModel):
    """HistGradientBoostingRegressor(loss="poisson") over all areas.

    Parameters
    ----------
    neighbours : mapping area_id -> list of area_id, GeoDataFrame, or None
        Adjacency for the spatial-lag features (a GeoDataFrame is turned into Queen
        neighbours by :func:`neighbour_mapping`).
    train_periods : int
        Target periods per area used for training.
    holdout : int
        Last periods held out to estimate the dispersion honestly.
    max_rows : int
        Training rows above this are subsampled uniformly.
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf
        Passed to scikit-learn.
    n_threads : int
        OpenMP threads for scikit-learn (1 is fastest on a shared 2-core machine).
    random_state : int
    static : DataFrame or None
        Per-area features that do not change over time (``area_id`` + numeric columns, e.g. the
        risk-terrain distances and densities of :func:`analytics.rtm.risk_features`), appended to
        every row of the area; areas missing from it get NaN (the trees route them).
    """

    def __init__(self, *, neighbours=None, train_periods: int = 26, holdout: int = 4,
                 max_rows: int = 100_000, max_iter: int = 40, learning_rate: float = 0.15,
                 max_leaf_nodes: int = 15, min_samples_leaf: int = 200, n_threads: int = 1,
                 random_state: int = 0, static: pd.DataFrame | None = None) -> None:
        self.neighbours = neighbours
        self.train_periods = train_periods
        self.holdout = holdout
        self.max_rows = max_rows
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.n_threads = n_threads
        self.random_state = random_state
        self.static = static

    # -- features -----------------------------------------------------------------------------
    def _weights(self):
        keys = self.keys_
        nb = self.neighbours
        if nb is None:
            return None
        if not isinstance(nb, Mapping):
            nb = neighbour_lists(nb)
        # series i (area a, category c) -> series j (neighbour b, same c), by two merges
        links = pd.Series({str(a): list(bs) for a, bs in nb.items()}, dtype=object).explode().dropna()
        links = pd.DataFrame({"area_id": links.index, "nb": links.to_numpy(dtype=object).astype(str)})
        series = keys[["area_id", "category"]].astype(str).assign(row=np.arange(len(keys)))
        pairs = series.merge(links, on="area_id").merge(
            series.rename(columns={"area_id": "nb", "row": "col"}), on=["nb", "category"])
        rows, cols = pairs["row"].to_numpy(), pairs["col"].to_numpy()
        n = len(keys)
        W = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
        deg = np.asarray(W.sum(1)).ravel()
        return sparse.diags(np.divide(1.0, deg, out=np.zeros(n), where=deg > 0)) @ W

    def _static(self) -> np.ndarray:
        """``(n_series, n_static)`` values of :attr:`static` for each series' area."""
        if self.static is None:
            return np.zeros((len(self.keys_), 0))
        if "area_id" not in self.static.columns:
            raise ValueError("static: needs an area_id column")
        table = self.static.assign(area_id=self.static["area_id"].astype(str)).set_index("area_id")
        table = table.select_dtypes("number")
        return table.reindex(self.keys_["area_id"].astype(str)).to_numpy(float)

    def _features(self, Y: np.ndarray, targets: np.ndarray, periods) -> np.ndarray:
        """Feature rows for every series at each target index t (using columns < t)."""
        C = np.concatenate([np.zeros((len(Y), 1)), np.cumsum(Y, axis=1)], axis=1)

        def mean(k, t):
            lo = np.maximum(t - k, 0)
            return (C[:, t] - C[:, lo]) / np.maximum(t - lo, 1)

        def lag(k, t):
            ok = t - k >= 0
            out = np.full((len(Y), len(t)), np.nan)
            out[:, ok] = Y[:, t[ok] - k]
            return out

        t = targets
        m4, m13 = mean(4, t), mean(13, t)
        year = self.lags_[-1]
        cols = [*(lag(k, t) for k in self.lags_), m4, m13, mean(year, t), C[:, t] / np.maximum(t, 1)]
        if self.W_ is not None:
            cols += [self.W_ @ m4, self.W_ @ m13]
        for j in range(self.static_.shape[1]):  # a few static columns (risk terrain)
            cols.append(np.broadcast_to(self.static_[:, j][:, None], (len(Y), len(t))))
        cal = calendar_features(periods, self.freq_, fourier=1).to_numpy()
        for j in range(cal.shape[1]):
            cols.append(np.broadcast_to(cal[:, j], (len(Y), len(t))))
        F = np.stack(cols, axis=-1)  # (series, targets, features)
        return F.reshape(-1, F.shape[-1])

    def _train(self, Y, t_idx, periods):
        from sklearn.ensemble import HistGradientBoostingRegressor

        X = self._features(Y, t_idx, periods)
        # A feature with no value in the training rows (last year's count in a history shorter
        # than a year) is left out: scikit-learn cannot bin an all-missing column.
        self.columns_ = np.isfinite(X).any(axis=0)
        X = X[:, self.columns_]
        y = Y[:, t_idx].reshape(-1)
        # A uniform row subsample (no sample weights: weighted binning is ~10x slower in
        # scikit-learn) keeps the fit fast on many areas without biasing the mean.
        keep = np.ones(len(y), bool)
        if len(y) > self.max_rows:
            rng = np.random.default_rng(self.random_state)
            keep = rng.random(len(y)) < self.max_rows / len(y)
            if not y[keep].any():  # a subsample without a case cannot fit a Poisson loss
                keep[:] = True
        model = HistGradientBoostingRegressor(
            loss="poisson", max_iter=self.max_iter, learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=self.min_samples_leaf,
            early_stopping=False, random_state=self.random_state)
        from threadpoolctl import threadpool_limits

        # OpenMP spin-waiting on a busy 2-core machine costs 10x; one thread is predictable.
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            return model.fit(X[keep], y[keep])

    def _predict_rows(self, X):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            return self.estimator_.predict(X[:, self.columns_])

    # -- contract -----------------------------------------------------------------------------
    def _fit_matrix(self, Y):
        T = Y.shape[1]
        if T < 8:
            raise ValueError(f"PooledGBM needs at least 8 periods of counts, got {T}")
        self.W_ = self._weights()
        self.static_ = self._static()
        # the same period last year follows the frequency: 52 weeks, 12 months, 364 days
        self.lags_ = (1, 2, season_length(self.freq_))
        self.Y_ = Y
        hold = min(self.holdout, T - 6)
        t_fit = np.arange(max(1, T - hold - self.train_periods), T - hold)
        if not (Y[:, t_fit] > 0).any():
            # No case to learn from (scikit-learn's Poisson loss refuses all-zero targets):
            # forecast 0 — the service's floor lifts it — instead of raising.
            self.estimator_ = None
            self.alpha_ = np.zeros(len(Y))
            return
        # One fit, on the targets before the hold-out; its errors on the hold-out periods give
        # an honest dispersion. Prediction then uses features from the latest periods.
        self.estimator_ = self._train(Y, t_fit, self.periods_[t_fit])
        if hold > 0:
            t_h = np.arange(T - hold, T)
            pred = self._predict_rows(self._features(Y, t_h, self.periods_[t_h])).reshape(len(Y), hold)
            self.alpha_ = mom_alpha(Y[:, t_h], pred, prior_weight=200.0)
        else:
            self.alpha_ = np.zeros(len(Y))
        self.Y_ = Y

    def _predict_matrix(self, horizon):
        # Recursive multi-step: feed each step's mean back as the next step's "observed".
        Y = self.Y_
        if self.estimator_ is None:
            return np.zeros((len(Y), horizon)), self.alpha_
        ahead = next_periods(self.origin_, self.freq_, horizon)
        mu = np.empty((len(Y), horizon))
        for h in range(horizon):  # loop over the horizon only
            t = np.array([Y.shape[1]])
            ext = np.concatenate([Y, np.zeros((len(Y), 1))], axis=1)
            mu[:, h] = self._predict_rows(self._features(ext, t, ahead[h : h + 1]))
            Y = ext
            Y[:, -1] = mu[:, h]
        return mu, self.alpha_

