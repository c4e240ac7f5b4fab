"""Risk terrain: features by hand, RRs equal to statsmodels' Poisson GLM, planted risk recovered."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from analytics.rtm import risk_features, rtm_table


def _cells(side=30, spacing=100.0):
    i = np.arange(side * side)
    return pd.DataFrame({"area_id": [f"c{k:04d}" for k in i], "x": spacing * (i % side),
                         "y": spacing * (i // side)})


def _factors(seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"type": ["网吧"] * 8 + ["KTV"] * 6 + ["公交站"] * 10,
                         "x": rng.uniform(0, 2900, 24), "y": rng.uniform(0, 2900, 24)})


def test_features_by_hand():
    cells = pd.DataFrame({"area_id": ["a", "b"], "x": [0.0, 300.0], "y": [0.0, 400.0]})
    factors = pd.DataFrame({"type": ["网吧", "网吧", "KTV"], "x": [0.0, 300.0, 0.0], "y": [100.0, 0.0, 0.0]})
    f = risk_features(cells, factors, bandwidth=200.0)
    assert list(f.columns) == ["area_id", "dist__网吧", "dens__网吧", "dist__KTV", "dens__KTV"]
    np.testing.assert_allclose(f["dist__网吧"], [100.0, 400.0])
    np.testing.assert_allclose(f["dist__KTV"], [0.0, 500.0])
    # quartic: 3/(pi h^2) (1 - (d/h)^2)^2 per m², x 1e6 per km²; cell a: one point at 100 m
    k = 3 / (np.pi * 200.0**2) * (1 - 0.25) ** 2 * 1e6
    np.testing.assert_allclose(f["dens__网吧"], [k, 0.0])
    with pytest.raises(ValueError, match="factors: missing column"):
        risk_features(cells, factors.drop(columns="type"))


def test_rr_table_equals_statsmodels_and_recovers_planted_risk():
    cells, factors = _cells(), _factors()
    feats = risk_features(cells, factors)
    rng = np.random.default_rng(1)
    near_bar = feats["dist__网吧"].to_numpy() <= 300
    near_ktv = feats["dist__KTV"].to_numpy() <= 150
    lam = 0.4 * np.where(near_bar, 3.0, 1.0) * np.where(near_ktv, 1.8, 1.0)
    y = rng.poisson(lam)
    table = rtm_table(y, feats, distances=(150.0, 300.0, 450.0)).set_index("factor")
    assert table.loc["网吧", "influence_m"] == 300.0 and table.loc["KTV", "influence_m"] == 150.0
    assert table.loc["网吧", "rr_low"] < 3.0 < table.loc["网吧", "rr_high"]
    assert table.loc["公交站", "rr_low"] < 1.0 < table.loc["公交站", "rr_high"]  # no planted risk
    # the same regression in statsmodels, with the chosen indicators
    order = list(table.index)
    X = np.column_stack([np.ones(len(y))] + [
        (feats[f"dist__{f}"].to_numpy() <= table.loc[f, "influence_m"]).astype(float) for f in order])
    ref = sm.GLM(y, X, family=sm.families.Poisson()).fit(tol=1e-14)
    np.testing.assert_allclose(table["coef"].to_numpy(), ref.params[1:], atol=1e-6)
    np.testing.assert_allclose(table["rr"].to_numpy(), np.exp(ref.params[1:]), rtol=1e-6)
    np.testing.assert_allclose(table["se"].to_numpy(), ref.bse[1:], rtol=1e-6)
    np.testing.assert_allclose(table["p"].to_numpy(), ref.pvalues[1:], rtol=1e-5, atol=1e-12)
    assert table.attrs["intercept"] == pytest.approx(ref.params[0], abs=1e-6)


def test_a_factor_without_contrast_is_dropped_and_inputs_are_checked():
    cells = _cells(side=5)
    factors = pd.DataFrame({"type": ["城中村", "KTV"], "x": [200.0, 1e6], "y": [200.0, 1e6]})
    feats = risk_features(cells, factors)
    table = rtm_table(np.arange(25) % 3, feats, distances=(150.0,))
    assert list(table["factor"]) == ["城中村"] and table.attrs["dropped"] == ["KTV"]
    with pytest.raises(ValueError, match="counts"):
        rtm_table([1, 2], feats)
    with pytest.raises(ValueError, match="distances"):
        rtm_table(np.ones(25), feats, distances=(0.0,))
