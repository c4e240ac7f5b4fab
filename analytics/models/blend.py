"""A blend of kernel-smoothed rate maps at several spatial and temporal scales.

The kernel-smoothed baselines (:mod:`analytics.models.kde`) each pick **one** bandwidth and
one half-life. Crime maps mix scales: a few sharp hot spots (one cell: a mall, a car park),
smoother hot areas (a few blocks), and recent flare-ups that fade. ``blend`` forecasts with a
non-negative linear pool of surfaces, every combination of a half-life and a bandwidth::

    m_j(hl)     = sum_t 2^(-(T-1-t)/hl) y_jt / sum_t 2^(-(T-1-t)/hl)   (hl = inf: the long-run mean)
    F_k         = W_h m(hl)                     (quartic kernel of radius h, as the KDE baselines)
    mu_i        = sum_k w_k F_ki,   w_k >= 0

The weights are learned **inside the training window** by rolling origin: each of the last
``validation`` training periods ``v`` is forecast by every surface from the periods before
``v``, and ``w`` maximises the Poisson log-likelihood of those counts under ``mu``
(identity link, L-BFGS-B with bounds ``w >= 0``; the weights are not forced to sum to one, so
the pool also corrects a level that every surface misses). Nothing after the origin is read.
The predictive is NB2 with ``alpha`` by the method of moments from the pool's out-of-sample
errors on the validation periods (:func:`analytics.models.base.mom_alpha`), as the baselines.
A ``uniform_share`` of the category's mean rate keeps every forecast above zero.

The default scales (bandwidths 0, 1.5, 3 spacings; half-lives 2, 4, 8, 26, 52 weeks and the
long-run mean: 18 surfaces) were chosen on St. Louis 2018 — a development year, never the 2019
test weeks of ``benchmarks/bench_forecast_target.py``. There, PAI@5 % against the best baseline:
burglary 4.64 vs 4.21 (recency KDE; 4.47 without the 2- and 4-week half-lives: the near-repeat
signal), motor vehicle theft 4.13 vs 4.05, larceny 6.91 vs 6.88, aggravated assault 5.22 vs 5.34
(the unsmoothed long-run mean: the likelihood favours smoothing that the top 5 % does not
need). Choosing the weights by the inner weeks' hit rate instead (the pool, each surface alone,
or half-half mixes) did worse on burglary (4.39) and larceny (6.87), better on assault (5.28).

``related`` (the other categories' counts in the same areas) adds their long-run map at every
bandwidth: a sparse category's own map is noisy, and most crime types share their places. On the
development years (St. Louis 2018, Toronto 2020) PAI@5 % went 4.63 -> 4.69 (burglary), 5.19 ->
5.56 (aggravated assault), 4.14 -> 4.31 (motor vehicle theft), 6.92 -> 6.87 (larceny), Toronto
auto theft 7.09 -> 7.24, break and enter 9.80 -> 9.88. Their maps at shorter half-lives, one
surface per other category, and same-season-last-year maps did not add more.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from analytics.models.base import mom_alpha
from analytics.models.kde import (
    _category_sums,
    _coords_frame,
    _KernelRate,
    _spacing,
    kernel_weights,
)

__all__ = ["KernelBlend", "pool_weights", "related_counts"]


def pool_weights(F: np.ndarray, y: np.ndarray, *, max_iter: int = 500) -> np.ndarray:
    """Non-negative weights maximising the Poisson log-likelihood of ``y`` under ``w @ F``.

    Parameters
    ----------
    F : (n_members, n_obs) array
        Each member's forecast mean of each observation (>= 0).
    y : (n_obs,) array
        Observed counts.

    Returns
    -------
    ndarray (n_members,)
        ``w >= 0`` maximising ``sum y log(w @ F) - w @ F`` (identity link; not normalised).
    """
    F = np.asarray(F, float)
    y = np.asarray(y, float)
    if F.ndim != 2 or F.shape[1] != len(y):
        raise ValueError(f"F: expected (n_members, {len(y)}) forecasts, got shape {F.shape}")
    K = len(F)
    if K == 0:
        raise ValueError("F: need at least one member")
    if len(y) == 0 or not (F > 0).any():
        return np.full(K, 1.0 / K)
    tot = F.sum(1)
    pos = y > 0
    Fp, yp = F[:, pos], y[pos]
    n = len(y)
    scale = y.sum() / max(tot.mean(), 1e-300)  # start: equal weights at the observed level

    def nll(w):
        lam = np.maximum(w @ Fp, 1e-300)
        value = (w @ tot - yp @ np.log(lam)) / n
        grad = (tot - Fp @ (yp / lam)) / n
        return value, grad

    res = minimize(nll, np.full(K, scale / K), jac=True, method="L-BFGS-B",
                   bounds=[(0.0, None)] * K,
                   options={"maxiter": max_iter, "ftol": 1e-13, "gtol": 1e-10})
    return np.maximum(res.x, 0.0)


def related_counts(areas, periods, counts: np.ndarray) -> pd.DataFrame:
    """``related`` for :class:`KernelBlend`: counts of the other categories per area and period.

    Parameters
    ----------
    areas : sequence of str
        Area ids (rows of ``counts``).
    periods : sequence of Timestamp
        Period starts (columns of ``counts``).
    counts : (len(areas), len(periods)) array
        The other categories' counts (NaN: missing, read as 0).
    """
    counts = np.asarray(counts, float)
    if counts.shape != (len(areas), len(periods)):
        raise ValueError(f"related counts: expected shape {(len(areas), len(periods))}, "
                         f"got {counts.shape}")
    return pd.DataFrame(counts, index=pd.Index([str(a) for a in areas], name="area_id"),
                        columns=pd.DatetimeIndex(pd.to_datetime(list(periods))))


class KernelBlend(_KernelRate):
    """Non-negative pool of kernel-smoothed rate maps at several bandwidths and half-lives.

    Parameters
    ----------
    coords : DataFrame or None
        ``area_id, x, y`` centroids in metres; ``None``: no smoothing (bandwidths act as 0).
    bandwidths : tuple of float
        Kernel radii of the surfaces, in median spacings between neighbouring centroids.
        Every bandwidth is combined with every half-life.
    halflives : tuple of float
        Half-lives of the surfaces' time weights, in periods (``inf``: the long-run mean).
    validation : int
        Last training periods forecast by every surface (each from the periods before it) to
        learn the weights and the dispersion.
    uniform_share, prior_weight
        As :class:`analytics.models.kde.KDELongRun`.
    related : DataFrame or None
        Counts of the **other** categories in each area: index ``area_id``, one column per
        period (:func:`related_counts`). Adds their long-run map at every bandwidth to the pool
        (``others/h…``), rescaled to this category's total; only the fit's own periods are read
        (by label), so nothing after the origin is seen. Areas or periods it lacks count 0.

    Attributes
    ----------
    weights_ : pandas.Series
        Weight of each surface, index ``"h{bandwidth}/hl{halflife}"``.
    rate_, alpha_ : ndarray
        Forecast mean and NB2 dispersion per series.
    """

    def __init__(self, *, coords: pd.DataFrame | None = None,
                 bandwidths: tuple[float, ...] = (0.0, 1.5, 3.0),
                 halflives: tuple[float, ...] = (2.0, 4.0, 8.0, 26.0, 52.0, np.inf),
                 validation: int = 26,
                 uniform_share: float = 0.01, prior_weight: float = 50.0,
                 related: pd.DataFrame | None = None) -> None:
        self.coords = coords
        self.related = related
        self.bandwidths = bandwidths
        self.halflives = halflives
        self.validation = validation
        self.uniform_share = uniform_share
        self.prior_weight = prior_weight

    def _fit_kernel(self, Y: np.ndarray) -> None:
        n, T = Y.shape
        keys = self.keys_
        hs = np.asarray(self.bandwidths, float)
        hls = np.asarray(self.halflives, float)
        if hs.ndim != 1 or len(hs) == 0 or (hs < 0).any():
            raise ValueError(f"bandwidths: expected non-negative multiples of the cell spacing, "
                             f"got {self.bandwidths!r}")
        if hls.ndim != 1 or len(hls) == 0 or not (hls > 0).all():
            raise ValueError(f"halflives: expected positive numbers of periods, got {self.halflives!r}")
        spacing = np.nan
        if self.coords is not None:
            spacing = _spacing(keys, self.coords, _coords_frame(self.coords))
        metres = hs * spacing if np.isfinite(spacing) else np.zeros_like(hs)
        mats = kernel_weights(keys, self.coords, metres)
        cat, _ = pd.factorize(keys["category"].astype(str).to_numpy())
        G = _category_sums(cat)
        labels = [f"h{h:g}/hl{hl:g}" for hl in hls for h in hs]
        Z = self._related_matrix(Y)
        if Z is not None:
            labels += [f"others/h{h:g}" for h in hs]

        def surfaces(ends):
            F = [self._floor(W @ self._base_rates(Y, ends, hl), cat, G) for hl in hls for W in mats]
            if Z is not None:
                F += [self._floor(W @ self._base_rates(Z, ends, np.inf), cat, G) for W in mats]
            return np.stack(F)

        V = int(min(self.validation, T - 1))
        if V >= 1:
            ends = np.arange(T - V, T)
            F = surfaces(ends)  # (K, n, V)
            Yv = Y[:, ends]
            w = pool_weights(F.reshape(len(F), -1), Yv.ravel())
            self.alpha_ = mom_alpha(Yv, np.tensordot(w, F, 1), prior_weight=self.prior_weight)
        else:  # one period only: the first surface, Poisson
            w = np.zeros(len(labels))
            w[0] = 1.0
            self.alpha_ = np.zeros(n)
        self.weights_ = pd.Series(w, index=labels, name="weight")
        self.spacing_ = float(spacing) if np.isfinite(spacing) else None
        rates = surfaces(np.array([T]))[:, :, 0]
        self.rate_ = np.maximum(w @ rates, 1e-9)

    def _related_matrix(self, Y: np.ndarray) -> np.ndarray | None:
        """The other categories' counts on the fit's rows and periods, scaled to ``Y``'s total
        (``None`` without ``related`` or when they are all zero)."""
        if self.related is None:
            return None
        rel = self.related
        if not isinstance(rel, pd.DataFrame):
            raise ValueError("related: expected a DataFrame (index area_id, a column per period)")
        cols = pd.DatetimeIndex(pd.to_datetime(rel.columns))
        Z = (rel.set_axis(cols, axis=1).set_axis(rel.index.astype(str), axis=0)
             .reindex(index=self.keys_["area_id"].astype(str), columns=self.periods_)
             .to_numpy(float))
        Z = np.where(np.isfinite(Z), np.maximum(Z, 0.0), 0.0)
        total, own = Z.sum(), np.nansum(Y)
        if total <= 0:
            return None
        return Z * (own / total if own > 0 else 1.0 / total)
