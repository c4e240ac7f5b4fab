"""Blend of kernel-smoothed maps: pool weights recover a known mix, scales chosen inside the
window, no look-ahead, estimator contract."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from analytics.backtest import rolling_forecasts
from analytics.models import BASELINES, KernelBlend, make_model
from analytics.models.blend import pool_weights
from data.cube import CountMatrix


def _grid(side: int, spacing: float = 150.0) -> pd.DataFrame:
    i = np.arange(side * side)
    return pd.DataFrame({"area_id": [f"c{k:04d}" for k in i],
                         "x": spacing * (i % side), "y": spacing * (i // side)})


def _matrix(Y: np.ndarray, ids) -> CountMatrix:
    periods = pd.date_range("2023-01-02", periods=Y.shape[1], freq="W-MON")
    return CountMatrix(pd.DataFrame({"area_id": list(ids), "category": "all"}), periods, Y, "W")


def test_pool_weights_recover_a_known_mix():
    rng = np.random.default_rng(0)
    n = 60_000
    F = np.stack([rng.gamma(1.0, 0.5, n), rng.gamma(2.0, 0.3, n), rng.gamma(1.0, 0.4, n)])
    y = rng.poisson(0.3 * F[0] + 0.7 * F[1])
    w = pool_weights(F, y)
    assert (w >= 0).all()
    np.testing.assert_allclose(w, [0.3, 0.7, 0.0], atol=0.03)
    # the optimum: no feasible direction raises the Poisson log-likelihood
    def ll(v):
        lam = v @ F
        return float(y @ np.log(lam) - lam.sum())
    for d in ([0.01, 0, 0], [0, -0.01, 0], [0, 0, 0.01], [0.01, -0.01, 0]):
        assert ll(w) >= ll(np.maximum(w + np.array(d), 0)) - 1e-6
    with pytest.raises(ValueError, match="F"):
        pool_weights(F[:, :10], y)


def test_weights_follow_the_data_scale():
    coords = _grid(12)
    rng = np.random.default_rng(1)
    # constant, spatially independent rates: the unsmoothed long-run mean is the truth
    lam = rng.gamma(0.8, 1.0, len(coords))
    Y = rng.poisson(lam[:, None] * np.ones((1, 120))).astype(float)
    fit = KernelBlend(coords=coords).fit(_matrix(Y, coords["area_id"]))
    assert fit.weights_["h0/hlinf"] / fit.weights_.sum() > 0.6
    # rates that jump every 8 weeks and stay: the short half-lives (<= 8 weeks) carry most of the pool
    levels = rng.gamma(0.8, 1.5, size=(len(coords), 15)).repeat(8, axis=1)
    Y2 = rng.poisson(levels).astype(float)
    fit2 = KernelBlend(coords=coords).fit(_matrix(Y2, coords["area_id"]))
    hl = np.array([float(k.split("/hl")[1]) for k in fit2.weights_.index])
    assert fit2.weights_[hl <= 8].sum() / fit2.weights_.sum() > 0.7
    assert fit.weights_[hl <= 8].sum() / fit.weights_.sum() < 0.2
    # the pool is calibrated: the forecast total is near the recent weekly total
    assert fit2.rate_.sum() == pytest.approx(Y2[:, -8:].sum(0).mean(), rel=0.25)


def test_no_look_ahead_with_a_poisoned_future():
    coords = _grid(6)
    rng = np.random.default_rng(2)
    Y = rng.poisson(rng.gamma(1.0, 1.0, (36, 1)) * np.ones((1, 50)))
    periods = pd.date_range("2023-01-02", periods=50, freq="W-MON")
    tidy = pd.DataFrame({"area_id": np.repeat(coords["area_id"].to_numpy(), 50),
                         "period": np.tile(periods, 36), "category": "all", "count": Y.ravel()})
    poisoned = tidy.assign(count=np.where(tidy["period"] > periods[40], 999, tidy["count"]))
    a = rolling_forecasts(tidy, "blend", periods[38:41], coords=coords)
    b = rolling_forecasts(poisoned, "blend", periods[38:41], coords=coords)
    np.testing.assert_array_equal(a["mu"].to_numpy(), b["mu"].to_numpy())
    np.testing.assert_array_equal(a["alpha"].to_numpy(), b["alpha"].to_numpy())


def test_registry_contract_and_errors():
    coords = _grid(3)
    model = make_model("blend", coords=coords)
    assert isinstance(model, KernelBlend) and model.coords is coords
    assert "blend" not in BASELINES  # a candidate, measured against the baselines
    assert clone(model).get_params()["halflives"] == model.halflives
    Y = np.ones((9, 6))
    with pytest.raises(ValueError, match="halflives"):
        KernelBlend(coords=coords, halflives=(0.0,)).fit(_matrix(Y, coords["area_id"]))
    with pytest.raises(ValueError, match="bandwidths"):
        KernelBlend(coords=coords, bandwidths=(-1.0,)).fit(_matrix(Y, coords["area_id"]))
    # one period: no validation, the first surface, Poisson
    one = KernelBlend(coords=coords).fit(_matrix(np.arange(9.0)[:, None], coords["area_id"]))
    mu, alpha = one.predict(1, as_arrays=True)
    assert (alpha == 0).all() and mu[8, 0] > mu[0, 0]
