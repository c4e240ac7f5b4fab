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


# -- the other categories' counts (`related`) ------------------------------------------------------
def _sparse_category(seed: int = 3, side: int = 20, weeks: int = 150):
    """A category too sparse to map its own risk, and busier categories sharing that risk."""
    coords = _grid(side)
    rng = np.random.default_rng(seed)
    risk = rng.gamma(0.6, 1.0, len(coords))  # the places where crime of every kind happens
    Y = rng.poisson(0.01 * risk[:, None] * np.ones((1, weeks))).astype(float)
    Z = rng.poisson(1.5 * risk[:, None] * np.ones((1, weeks))).astype(float)
    noise = rng.poisson(1.5 * rng.gamma(0.6, 1.0, (len(coords), 1)) * np.ones((1, weeks)))
    periods = pd.date_range("2023-01-02", periods=weeks, freq="W-MON")
    return coords, risk, Y, Z, noise.astype(float), periods


def _top_share(rate, risk, share=0.05):
    """Share of the true risk inside the forecast's top ``share`` of cells."""
    top = np.argsort(-rate)[: int(share * len(rate))]
    return risk[top].sum() / risk.sum()


def test_related_counts_show_the_risk_a_sparse_category_cannot():
    from analytics.models.blend import related_counts

    coords, risk, Y, Z, noise, periods = _sparse_category()
    ids = coords["area_id"]
    own = KernelBlend(coords=coords).fit(_matrix(Y, ids))
    rel = KernelBlend(coords=coords, related=related_counts(ids, periods, Z)).fit(_matrix(Y, ids))
    others = rel.weights_[[k for k in rel.weights_.index if k.startswith("others/")]]
    assert list(others.index) == ["others/h0", "others/h1.5", "others/h3"]
    assert others.sum() / rel.weights_.sum() > 0.5
    # the forecast's hot spots hold more of the true risk, and its level stays the category's
    assert _top_share(rel.rate_, risk) > _top_share(own.rate_, risk) + 0.03
    assert np.corrcoef(rel.rate_, risk)[0, 1] > np.corrcoef(own.rate_, risk)[0, 1] + 0.15
    assert rel.rate_.sum() == pytest.approx(Y.sum() / Y.shape[1], rel=0.2)
    # other categories with a different geography get little weight
    bad = KernelBlend(coords=coords, related=related_counts(ids, periods, noise)).fit(_matrix(Y, ids))
    assert bad.weights_[[k.startswith("others/") for k in bad.weights_.index]].sum() \
        / bad.weights_.sum() < 0.25


def test_related_counts_no_look_ahead_and_alignment():
    from analytics.models.blend import related_counts

    coords, _, Y, Z, _, periods = _sparse_category(seed=4, side=8, weeks=60)
    ids = coords["area_id"]
    tidy = pd.DataFrame({"area_id": np.repeat(ids.to_numpy(), 60), "period": np.tile(periods, 64),
                         "category": "all", "count": Y.ravel()})
    poisoned = np.where(np.arange(60)[None, :] > 50, 999.0, Z)
    runs = [rolling_forecasts(tidy, lambda z=z: KernelBlend(coords=coords,
                                                            related=related_counts(ids, periods, z)),
                              periods[48:51])
            for z in (Z, poisoned)]
    np.testing.assert_array_equal(runs[0]["mu"].to_numpy(), runs[1]["mu"].to_numpy())
    # rows and periods are matched by label: shuffled rows, extra areas and periods change nothing
    order = np.random.default_rng(0).permutation(len(ids))
    shuffled = related_counts(ids.to_numpy()[order], periods, Z[order])
    extra = pd.concat([shuffled, pd.DataFrame(7.0, index=["elsewhere"], columns=shuffled.columns)])
    extra[pd.Timestamp("2030-01-07")] = 5.0
    a = KernelBlend(coords=coords, related=related_counts(ids, periods, Z)).fit(_matrix(Y, ids))
    b = KernelBlend(coords=coords, related=extra).fit(_matrix(Y, ids))
    np.testing.assert_allclose(a.rate_, b.rate_, rtol=1e-12)
    # no related counts at all (a category alone in its workspace): the plain blend
    empty = related_counts(ids, periods, np.zeros_like(Z))
    c = KernelBlend(coords=coords, related=empty).fit(_matrix(Y, ids))
    np.testing.assert_array_equal(c.rate_, KernelBlend(coords=coords).fit(_matrix(Y, ids)).rate_)
    with pytest.raises(ValueError, match="related"):
        KernelBlend(coords=coords, related=Z).fit(_matrix(Y, ids))
    with pytest.raises(ValueError, match="related counts"):
        related_counts(ids, periods[:3], Z)
    assert make_model("blend", coords=coords, related=empty).related is empty
