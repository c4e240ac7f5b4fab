"""The grid SEPP: its own contract points, no look-ahead, and recovery of known parameters.

The synthetic data are a discrete-time grid Hawkes process simulated here with a dense kernel
(an implementation independent of the model's sparse pair list): ``lambda_it = mu_i + theta
sum_j G_ij X_jt``, ``X`` the geometric filter of past counts, ``G`` a Gaussian of the centroid
distance truncated at ``radius`` and normalised over each parent's column.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from analytics.backtest import grid_counts, rolling_forecasts
from analytics.models import GridSEPP, make_model
from analytics.models.sepp import _Pairs, _Profile
from data.cube import CountMatrix

CELL = 150.0
RADIUS = 600.0


def _grid(nx: int, ny: int) -> pd.DataFrame:
    cx, cy = np.meshgrid(np.arange(nx) * CELL, np.arange(ny) * CELL)
    return pd.DataFrame({"area_id": [f"c{i:04d}" for i in range(nx * ny)],
                         "x": 400_000 + cx.ravel(), "y": 3_000_000 + cy.ravel()})


def simulate(coords: pd.DataFrame, T: int, *, theta: float, omega: float, sigma: float,
             bg: float = 0.3, seed: int = 0, freq: str = "D") -> CountMatrix:
    """A discrete-time grid Hawkes process (see the module docstring); backgrounds Gamma(1, bg)."""
    rng = np.random.default_rng(seed)
    xy = coords[["x", "y"]].to_numpy(float)
    n = len(xy)
    mu = bg * rng.gamma(1.0, 1.0, n)
    d2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    W = np.where(d2 <= RADIUS**2, np.exp(-d2 / (2 * sigma**2)), 0.0)
    G = W / W.sum(0, keepdims=True)
    Y = np.zeros((n, T))
    x = np.zeros(n)
    for t in range(T):  # the process is sequential in time; vectorised over cells
        Y[:, t] = rng.poisson(mu + theta * (G @ x))
        x = (1 - omega) * Y[:, t] + omega * x
    keys = pd.DataFrame({"area_id": coords["area_id"], "category": "x"})
    start = "2022-01-03"
    periods = pd.date_range(start, periods=T, freq="D" if freq == "D" else "W-MON")
    return CountMatrix(keys, periods, Y, freq)


def _tidy(m: CountMatrix) -> pd.DataFrame:
    n, T = m.Y.shape
    return pd.DataFrame({
        "area_id": np.repeat(m.keys["area_id"].to_numpy(), T),
        "category": np.repeat(m.keys["category"].to_numpy(), T),
        "period": np.tile(m.periods, n),
        "count": m.Y.ravel().astype("int64"),
    })


@pytest.fixture(scope="module")
def hawkes():
    coords = _grid(20, 20)
    m = simulate(coords, 730, theta=0.3, omega=0.3, sigma=200.0, seed=1)
    return coords, m, GridSEPP(coords=coords, radius=RADIUS).fit(m)


# -- recovery ------------------------------------------------------------------------------------
def test_recovers_branching_ratio_delay_and_bandwidth(hawkes):
    _, _, fit = hawkes
    # the per-cell backgrounds absorb a little of each cell's own excitation (an incidental-
    # parameter bias: theta -0.015 at 730 periods, -0.03 at 365, -0.045 at 156, 3 seeds each)
    assert fit.theta_[0] == pytest.approx(0.3, abs=0.05)
    assert fit.omega_[0] == pytest.approx(0.3, abs=0.08)
    assert fit.mean_delay_[0] == pytest.approx(1 / 0.7, rel=0.15)
    assert fit.bandwidth_[0] == pytest.approx(200.0, rel=0.15)
    assert 0.6 < fit.background_share_[0] < 0.8  # 1 - theta of the counts, edge losses aside


def test_no_excitation_estimates_zero():
    coords = _grid(20, 20)
    m = simulate(coords, 365, theta=0.0, omega=0.3, sigma=200.0, seed=2)
    fit = GridSEPP(coords=coords, radius=RADIUS).fit(m)
    assert fit.theta_[0] < 0.02
    # then the forecast is the (smoothed) long-run background: near each cell's mean
    mu, _ = fit.predict(1, as_arrays=True)
    assert np.corrcoef(mu[:, 0], m.Y.mean(1))[0, 1] > 0.95


def test_profile_gradient_matches_finite_differences(hawkes):
    coords, m, _ = hawkes
    prof = _Profile(m.Y[:, :120], _Pairs(coords[["x", "y"]].to_numpy(float), RADIUS))
    x = np.array([0.2, 0.45, np.log(170.0)])
    f, g = prof.objective(x, 170.0)
    num = [(prof.objective(x + e, 170.0)[0] - prof.objective(x - e, 170.0)[0]) / 2e-6
           for e in np.eye(3) * 1e-6]
    np.testing.assert_allclose(g, num, rtol=1e-4, atol=1e-9)


# -- the forecast ---------------------------------------------------------------------------------
def test_forecast_is_background_plus_excitation(hawkes):
    """Brute force: mu + theta * G X from the fitted parameters, two periods ahead."""
    coords, m, fit = hawkes
    xy = coords[["x", "y"]].to_numpy(float)
    d2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    s = fit.bandwidth_[0]
    W = np.where(d2 <= RADIUS**2, np.exp(-d2 / (2 * s**2)), 0.0)
    G = W / W.sum(0, keepdims=True)
    w, th = fit.omega_[0], fit.theta_[0]
    lags = np.arange(1, m.Y.shape[1] + 1)
    X = m.Y[:, ::-1] @ ((1 - w) * w ** (lags - 1))  # sum_k f(k) y_{T-k}
    shape = fit.shape_next_(2)[0]  # the background's annual profile and trend ahead
    first = fit.mu_ * shape[0] + th * (G @ X)
    second = fit.mu_ * shape[1] + th * (G @ ((1 - w) * first + w * X))  # expected counts feed on
    mu, alpha = fit.predict(2, as_arrays=True)
    np.testing.assert_allclose(mu[:, 0], first, rtol=1e-9)
    np.testing.assert_allclose(mu[:, 1], second, rtol=1e-9)
    assert (alpha >= 0).all()


def test_no_look_ahead_with_a_poisoned_future():
    coords = _grid(8, 8)
    m = simulate(coords, 60, theta=0.3, omega=0.4, sigma=200.0, seed=3, freq="W")
    counts = _tidy(m)
    test = m.periods[40:43]
    clean = rolling_forecasts(counts, "sepp", test, coords=coords)
    poisoned = counts.copy()
    later = poisoned["period"] > test[-1]
    poisoned.loc[later, "count"] = 10_000
    dirty = rolling_forecasts(poisoned, "sepp", test, coords=coords)
    pd.testing.assert_frame_equal(clean.drop(columns="observed"), dirty.drop(columns="observed"))
    # and the poison does reach a forecast made after it
    after = m.periods[[50]]
    assert (rolling_forecasts(poisoned, "sepp", after, coords=coords)["mu"]
            > 10 * rolling_forecasts(counts, "sepp", after, coords=coords)["mu"]).all()


def test_categories_do_not_excite_each_other():
    coords = _grid(6, 6)
    a = simulate(coords, 80, theta=0.3, omega=0.4, sigma=200.0, seed=4, freq="W")
    b = simulate(coords, 80, theta=0.3, omega=0.4, sigma=200.0, seed=5, freq="W")
    both = pd.concat([_tidy(a), _tidy(b).assign(category="y")], ignore_index=True)
    surge = both.copy()
    surge.loc[(surge["category"] == "y") & (surge["period"] == a.periods[-1]), "count"] += 50
    one = make_model("sepp", coords=coords).fit(both).predict(1)
    two = make_model("sepp", coords=coords).fit(surge).predict(1)
    xa, xb = one[one["category"] == "x"], two[two["category"] == "x"]
    np.testing.assert_allclose(xa["mu"], xb["mu"])
    assert (two.loc[two["category"] == "y", "mu"].to_numpy()
            > one.loc[one["category"] == "y", "mu"].to_numpy()).all()
    only_x = make_model("sepp", coords=coords).fit(_tidy(a))
    np.testing.assert_allclose(only_x.predict(1)["mu"], xa["mu"])


# -- the contract with coords, and without -------------------------------------------------------
def test_contract_points_with_coords():
    coords = _grid(5, 5)
    m = simulate(coords, 70, theta=0.2, omega=0.4, sigma=200.0, seed=6, freq="W")
    model = make_model("sepp", coords=coords)
    assert isinstance(model, GridSEPP) and model.get_params()["coords"] is coords
    twin = clone(model)
    assert twin.get_params()["radius"] is None and twin.coords.equals(coords)
    fit = model.fit(m)
    assert np.isfinite(fit.bandwidth_).all() and fit.radius_ == 500.0
    # coords in another order, with extra areas: the same fit
    shuffled = pd.concat([coords.iloc[::-1], pd.DataFrame({"area_id": ["zz"], "x": [0.0], "y": [0.0]})])
    np.testing.assert_allclose(GridSEPP(coords=shuffled).fit(m).predict(3, as_arrays=True)[0],
                               fit.predict(3, as_arrays=True)[0])
    # no coords: each cell excites only itself, and the bandwidth is not defined
    alone = GridSEPP().fit(m)
    assert np.isnan(alone.bandwidth_).all() and alone.kernel_.nnz == len(coords)
    with pytest.raises(ValueError, match="coords: missing column"):
        GridSEPP(coords=coords.rename(columns={"x": "east"})).fit(m)
    with pytest.raises(ValueError, match="radius"):
        GridSEPP(coords=coords, radius=-1.0).fit(m)


def test_grid_counts_gives_cell_centres():
    rng = np.random.default_rng(0)
    n = 3000
    inc = pd.DataFrame({"occurred_at": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.uniform(0, 200, n), unit="D"),
                        "lon": 106.6 + rng.normal(0, 0.01, n), "lat": 26.6 + rng.normal(0, 0.01, n)})
    counts, info = grid_counts(inc, 250.0, freq="W")
    c = info["coords"]
    assert list(c.columns) == ["area_id", "x", "y"] and list(c["area_id"]) == info["cells"]
    # each centre is its cell's middle (the grid's origin is 0, 0 in the CRS), one per cell
    assert ((c["x"] % 250.0 == 125.0) & (c["y"] % 250.0 == 125.0)).all()
    assert not c[["x", "y"]].duplicated().any() and set(c["area_id"]) == set(counts["area_id"])
