"""Kernel-smoothed baselines: hand-worked smoothing, bandwidth chosen inside the window, no look-ahead."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from analytics.backtest import rolling_forecasts
from analytics.models import BASELINES, KDELongRun, RecencyKDE, make_model
from analytics.models.kde import kernel_weights, neighbour_spacing
from data.cube import CountMatrix


def _grid(side: int, spacing: float = 100.0) -> pd.DataFrame:
    i = np.arange(side * side)
    return pd.DataFrame({"area_id": [f"c{k:04d}" for k in i],
                         "x": spacing * (i % side), "y": spacing * (i // side)})


def _matrix(Y: np.ndarray, ids, cat: str = "all", start: str = "2023-01-02") -> CountMatrix:
    periods = pd.date_range(start, periods=Y.shape[1], freq="W-MON")
    keys = pd.DataFrame({"area_id": list(ids), "category": cat})
    return CountMatrix(keys, periods, Y, "W")


def _smooth_field(coords: pd.DataFrame, T: int, seed: int, shift_at: int | None = None):
    """Poisson counts whose rate is a smooth bump over the grid (and moves at ``shift_at``)."""
    rng = np.random.default_rng(seed)
    x, y = coords["x"].to_numpy(), coords["y"].to_numpy()
    lam0 = 0.05 + 1.5 * np.exp(-((x - 600) ** 2 + (y - 600) ** 2) / (2 * 300.0**2))
    lam1 = 0.05 + 1.5 * np.exp(-((x - 1500) ** 2 + (y - 1500) ** 2) / (2 * 300.0**2))
    lam = np.repeat(lam0[:, None], T, axis=1)
    if shift_at is not None:
        lam[:, shift_at:] = lam1[:, None]
    return rng.poisson(lam).astype(float)


def test_registered_as_baselines_and_contract():
    coords = _grid(3)
    for name, cls in (("kde_longrun", KDELongRun), ("recency_kde", RecencyKDE)):
        assert name in BASELINES
        model = make_model(name, coords=coords)
        assert type(model) is cls and model.coords is coords
        twin = clone(model)
        assert twin.get_params()["bandwidths"] == model.get_params()["bandwidths"]
        pd.testing.assert_frame_equal(twin.coords, coords)  # clone copies the context


def test_quartic_smoothing_by_hand_on_3x3_grid():
    # one case in the centre of a 3x3 grid at 100 m, h = 150 m: K(u) = (1 - u^2)^2 gives
    # self 1, edge neighbours (1 - 4/9)^2 = 25/81, corners (1 - 8/9)^2 = 1/81; the centre's
    # column sums to 185/81, so its case is spread 81/185, 25/185 (x4), 1/185 (x4)
    coords = _grid(3)
    keys = pd.DataFrame({"area_id": coords["area_id"], "category": "all"})
    W = kernel_weights(keys, coords, np.array([150.0]))[0].toarray()
    np.testing.assert_allclose(W.sum(0), 1.0)
    m = np.zeros(9)
    m[4] = 1.0
    expected = np.array([1, 25, 1, 25, 81, 25, 1, 25, 1]) / 185
    np.testing.assert_allclose(W @ m, expected, rtol=1e-12)
    # a corner cell reaches itself, two edge cells and the centre: 1 + 2*25/81 + 1/81 = 132/81
    np.testing.assert_allclose(W[[0, 1, 3, 4], 0], np.array([81, 25, 25, 1]) / 132, rtol=1e-12)
    # the model with that bandwidth forecasts the same (uniform_share 0, 2 periods: mean 1/2)
    Y = np.zeros((9, 2))
    Y[4] = [1.0, 1.0]
    model = KDELongRun(coords=coords, bandwidths=(1.5,), uniform_share=0.0).fit(_matrix(Y, coords["area_id"]))
    assert model.spacing_ == pytest.approx(100.0) and model.bandwidth_ == pytest.approx(150.0)
    mu, _ = model.predict(1, as_arrays=True)
    np.testing.assert_allclose(mu[:, 0], expected, rtol=1e-9)


def test_categories_are_smoothed_apart():
    coords = _grid(3)
    keys = pd.DataFrame({"area_id": list(coords["area_id"]) * 2, "category": ["a"] * 9 + ["b"] * 9})
    W = kernel_weights(keys, coords, np.array([250.0]))[0].toarray()
    assert not W[:9, 9:].any() and not W[9:, :9].any()
    np.testing.assert_allclose(W.sum(0), 1.0)


def test_bandwidth_chosen_by_validation_inside_the_window():
    coords = _grid(20)
    Y = _smooth_field(coords, 80, seed=1)
    m = _matrix(Y, coords["area_id"])
    fitted = KDELongRun(coords=coords).fit(m.head(60))
    assert fitted.bandwidth_cells_ > 0  # a smooth field: smoothing wins
    assert len(fitted.scores_) == 5 and fitted.scores_["loglik"].idxmax() == \
        fitted.scores_.index[fitted.scores_["bandwidth_cells"] == fitted.bandwidth_cells_][0]
    # white noise across cells: no smoothing helps
    rng = np.random.default_rng(2)
    noise = rng.poisson(rng.gamma(0.5, 2.0, size=(400, 1)) * np.ones((1, 60))).astype(float)
    assert KDELongRun(coords=coords).fit(_matrix(noise, coords["area_id"])).bandwidth_cells_ == 0
    # changing everything after the window changes nothing
    poisoned = Y.copy()
    poisoned[:, 60:] = 1000.0 * (np.arange(400) % 7 == 0)[:, None]
    for cls in (KDELongRun, RecencyKDE):
        a = cls(coords=coords).fit(m.head(60))
        b = cls(coords=coords).fit(_matrix(poisoned, coords["area_id"]).head(60))
        pd.testing.assert_frame_equal(a.scores_, b.scores_)
        np.testing.assert_array_equal(a.predict(1, as_arrays=True)[0], b.predict(1, as_arrays=True)[0])
        # while changing the validation periods inside the window does change the scores
        inside = Y[:, :60].copy()
        inside[:, 50:] = poisoned[:, 60:70]
        c = cls(coords=coords).fit(_matrix(inside, coords["area_id"]))
        assert not np.allclose(c.scores_["loglik"], a.scores_["loglik"])


def test_recency_follows_a_moved_hotspot():
    coords = _grid(20)
    Y = _smooth_field(coords, 104, seed=3, shift_at=80)
    m = _matrix(Y, coords["area_id"])
    rec = RecencyKDE(coords=coords).fit(m)
    lon = KDELongRun(coords=coords).fit(m)
    assert rec.halflife_ <= 16
    new_peak = np.argmin((coords["x"] - 1500) ** 2 + (coords["y"] - 1500) ** 2)
    assert rec.rate_[new_peak] > 1.5 * lon.rate_[new_peak]
    assert rec.scores_["loglik"].max() > lon.scores_["loglik"].max()


def test_no_look_ahead_with_a_poisoned_future():
    coords = _grid(8)
    Y = _smooth_field(coords, 40, seed=4)
    periods = pd.date_range("2023-01-02", periods=40, freq="W-MON")
    tidy = pd.DataFrame({"area_id": np.repeat(coords["area_id"].to_numpy(), 40),
                         "period": np.tile(periods, 64), "category": "all",
                         "count": Y.ravel().astype(int)})
    poisoned = tidy.copy()
    late = poisoned["period"] > periods[30]
    poisoned.loc[late, "count"] = 500
    for name in ("kde_longrun", "recency_kde"):
        a = rolling_forecasts(tidy, lambda name=name: make_model(name, coords=coords), periods[25:31])
        b = rolling_forecasts(poisoned, lambda name=name: make_model(name, coords=coords), periods[25:31])
        np.testing.assert_array_equal(a["mu"].to_numpy(), b["mu"].to_numpy())
        np.testing.assert_array_equal(a["alpha"].to_numpy(), b["alpha"].to_numpy())


def test_without_coords_it_is_the_plain_rate_and_bad_arguments_are_named():
    Y = np.array([[0.0, 2, 4, 2], [1, 1, 1, 1]])
    model = KDELongRun(bandwidths=(0.0, 2.0), uniform_share=0.0).fit(_matrix(Y, ["a", "b"]))
    np.testing.assert_allclose(model.rate_, [2.0, 1.0])
    assert neighbour_spacing(np.array([[0.0, 0.0], [0.0, 30.0], [40.0, 30.0]])) == 30.0
    with pytest.raises(ValueError, match="coords: missing column"):
        KDELongRun(coords=pd.DataFrame({"area_id": ["a"], "lon": [1.0]})).fit(_matrix(Y, ["a", "b"]))
    with pytest.raises(ValueError, match="halflives"):
        RecencyKDE(halflives=(0.0,)).fit(_matrix(Y, ["a", "b"]))
    with pytest.raises(ValueError, match="bandwidths"):
        KDELongRun(bandwidths=(-1.0,)).fit(_matrix(Y, ["a", "b"]))
