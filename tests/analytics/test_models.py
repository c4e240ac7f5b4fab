"""The model contract (one parametrized test over every model) and each model's own maths."""

import inspect

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.base import clone

from analytics.distributions import quantile
from analytics.models import (
    MODELS,
    PREDICTIVE_COLUMNS,
    CountGLM,
    EarsC2,
    EmpiricalBayes,
    Farrington,
    LastPeriod,
    MeanLastK,
    PoissonCUSUM,
    PooledGBM,
    SameLastYear,
    make_model,
    neighbour_mapping,
)
from analytics.models.base import calendar_features, mom_alpha
from analytics.models.glm import glm_design
from data.calendar import spring_festival
from data.cube import CountMatrix, to_matrix


def synth_counts(n_areas=12, n_periods=160, seed=0, cats=("a", "b"), start="2021-01-04"):
    rng = np.random.default_rng(seed)
    periods = pd.date_range(start, periods=n_periods, freq="W-MON")
    season = 1 + 0.3 * np.sin(2 * np.pi * periods.day_of_year.to_numpy() / 365.25)
    frames = []
    for c in cats:
        base = rng.gamma(0.8, 2.5, size=n_areas)
        lam = base[:, None] * season[None, :] * rng.gamma(5, 1 / 5, size=(n_areas, n_periods))
        frames.append(pd.DataFrame({
            "area_id": np.repeat([f"A{i:03d}" for i in range(n_areas)], n_periods),
            "period": np.tile(periods, n_areas),
            "category": c,
            "count": rng.poisson(lam).ravel().astype("int64"),
        }))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def counts():
    return synth_counts()


def _neighbours(n=12):
    ids = [f"A{i:03d}" for i in range(n)]
    return {a: [ids[(i - 1) % n], ids[(i + 1) % n]] for i, a in enumerate(ids)}


# -- the contract, for every model -------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_contract(name, counts):
    model = make_model(name, neighbours=_neighbours(), parent={f"A{i:03d}": f"P{i % 3}" for i in range(12)})
    # keyword-only __init__ that only stores parameters
    params = [p for p in inspect.signature(type(model).__init__).parameters.values() if p.name != "self"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params)
    assert not [k for k in vars(model) if k.endswith("_")]
    # scikit-learn parameters: get_params names the __init__ arguments, clone and set_params work
    assert set(model.get_params(deep=True)) == {p.name for p in params}
    twin = clone(model)
    assert type(twin) is type(model) and twin is not model
    assert twin.get_params().keys() == model.get_params().keys()
    first = params[0].name
    assert twin.set_params(**{first: model.get_params()[first]}) is twin
    with pytest.raises(ValueError, match="not fitted"):
        model.predict(1)
    assert model.fit(counts) is model
    learned = [k for k in vars(model) if k.endswith("_")]
    assert "origin_" in learned and len(learned) > 3
    origin = counts["period"].max()
    before = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in vars(model).items()}
    table = model.predict(3)
    assert list(table.columns) == list(PREDICTIVE_COLUMNS)
    assert len(table) == 12 * 2 * 3
    assert sorted(table["period"].unique()) == list(pd.date_range(origin + pd.Timedelta(weeks=1), periods=3, freq="7D"))
    assert table[["area_id", "category"]].drop_duplicates().shape[0] == 24
    assert (table["expected"] >= 0).all() and np.isfinite(table["expected"]).all()
    assert (table["alpha"] >= 0).all()
    assert set(table["dist"]) <= {"poisson", "nbinom"}
    assert ((table["dist"] == "poisson") == (table["alpha"] <= 1e-8)).all()
    qs = table[["q50", "q80", "q90", "q95", "q99"]].to_numpy()
    assert (np.diff(qs, axis=1) >= 0).all()
    np.testing.assert_array_equal(table["q95"], quantile(0.95, table["mu"], table["alpha"]))
    # predict never refits: state unchanged, repeat calls identical
    after = vars(model)
    for k, v in before.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(after[k], v)
    pd.testing.assert_frame_equal(model.predict(3), table)
    # periods= selects the same rows as horizon
    second = origin + pd.Timedelta(weeks=2)
    sub = model.predict(periods=[second])
    pd.testing.assert_frame_equal(sub, table[table["period"] == second].reset_index(drop=True))
    with pytest.raises(ValueError, match="not a period after the origin"):
        model.predict(periods=[origin])
    # one production path: the arrays are the table's mu/alpha, fit(CountMatrix) == fit(tidy)
    mu, alpha = model.predict(3, as_arrays=True)
    assert mu.shape == alpha.shape == (24, 3)
    np.testing.assert_array_equal(mu.T.ravel(), table["mu"].to_numpy())
    np.testing.assert_array_equal(alpha.T.ravel(), table["alpha"].to_numpy())
    again = clone(model).fit(to_matrix(counts))
    pd.testing.assert_frame_equal(again.predict(3), table)
    # one-step table and alarm statistic
    obs = counts[counts["period"] == origin].assign(period=origin + pd.Timedelta(weeks=1))
    stat = model.alarm_statistic(obs)
    assert list(stat.columns) == ["area_id", "category", "statistic"] and len(stat) == 24
    assert np.isfinite(stat["statistic"]).all()


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown; choose from"):
        make_model("prophet")


def test_missing_column_named():
    with pytest.raises(ValueError, match="count"):
        LastPeriod().fit(pd.DataFrame({"area_id": ["a"], "period": [pd.Timestamp("2024-01-01")], "category": ["x"]}))


# -- baselines ---------------------------------------------------------------------------------
def _tiny(values, start="2024-01-01"):
    periods = pd.date_range(start, periods=len(values), freq="W-MON")
    return pd.DataFrame({"area_id": "A", "period": periods, "category": "c", "count": values})


def test_baselines_hand_worked():
    c = _tiny([1, 2, 3, 4, 5, 6, 7, 8])
    assert LastPeriod().fit(c).predict(1)["expected"].item() == 8
    assert MeanLastK(k=4).fit(c).predict(1)["expected"].item() == pytest.approx(6.5)
    vals = list(range(60))
    # same period last year: next period is index 60; 52 weeks earlier is index 8
    assert SameLastYear().fit(_tiny(vals)).predict(1)["expected"].item() == 8
    assert SameLastYear().fit(_tiny(vals)).predict(2)["expected"].tolist() == [8, 9]


def test_mom_alpha_recovers_nb_dispersion():
    rng = np.random.default_rng(3)
    mu = rng.gamma(3, 2, size=(400, 52))
    alpha = 0.4
    y = rng.negative_binomial(1 / alpha, 1 / (1 + alpha * mu))
    est = mom_alpha(y.astype(float), mu)
    assert np.median(est) == pytest.approx(alpha, abs=0.05)
    # a thin series borrows the pooled value
    y2 = np.full((1, 52), np.nan)
    f2 = np.full((1, 52), np.nan)
    y2[0, :2], f2[0, :2] = [0.0, 5.0], [0.1, 0.1]  # two periods of history only
    own_thin = ((5 - 0.1) ** 2 - 0.1 + 0.1**2 - 0.1) / (2 * 0.1**2)
    thin = mom_alpha(np.vstack([y2, y]).astype(float), np.vstack([f2, mu]))
    assert thin[0] < 2 < own_thin


# -- GLM ---------------------------------------------------------------------------------------
def test_glm_pooled_equals_statsmodels_fixed_effects(counts):
    c = counts[counts["category"] == "a"]
    m = CountGLM(family="poisson", per_area_min_mean=None, level_periods=None).fit(c)
    periods = pd.DatetimeIndex(sorted(c["period"].unique()))
    X = glm_design(periods, "W", np.arange(len(periods)))[:, m.columns_]
    wide = c.pivot(index="area_id", columns="period", values="count").to_numpy(float)
    A, T = wide.shape
    # full design: area dummies (no global intercept) + the time covariates
    D = np.kron(np.eye(A), np.ones((T, 1)))
    full = np.column_stack([D, np.tile(X[:, 1:], (A, 1))])
    res = sm.GLM(wide.ravel(), full, family=sm.families.Poisson()).fit(tol=1e-12)
    np.testing.assert_allclose(m.coef_[0, 1:], res.params[A:], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(m.coef_[:, 0], res.params[:A], rtol=1e-5, atol=1e-6)


def test_glm_per_area_equals_statsmodels(counts):
    c = counts[counts["category"] == "b"]
    m = CountGLM(family="poisson", per_area_min_mean=0.0, ridge=0.0).fit(c)
    periods = pd.DatetimeIndex(sorted(c["period"].unique()))
    X = glm_design(periods, "W", np.arange(len(periods)))[:, m.columns_]
    busiest = c.groupby("area_id")["count"].sum().sort_values().index[-2:]
    for area in busiest:
        i = int(area[1:])
        y = c[c["area_id"] == area].sort_values("period")["count"].to_numpy(float)
        res = sm.GLM(y, X, family=sm.families.Poisson()).fit(tol=1e-12)
        np.testing.assert_allclose(m.coef_[i], res.params, rtol=1e-5, atol=1e-6)
    # the ridge pulls a per-area fit toward the pooled coefficients
    shrunk = CountGLM(family="poisson", per_area_min_mean=0.0, ridge=50.0).fit(c)
    d_mle = np.abs(m.coef_[:, 1:] - m.beta_[1:]).sum()
    d_ridge = np.abs(shrunk.coef_[:, 1:] - shrunk.beta_[1:]).sum()
    assert d_ridge < 0.5 * d_mle


def test_spring_festival_feature():
    assert spring_festival(2024) == pd.Timestamp("2024-02-10")
    cal = calendar_features(pd.date_range("2024-01-29", periods=4, freq="W-MON"), "W")
    # holiday 2024-02-09 .. 2024-02-16: 3 days of the week of 02-05, 4 of the week of 02-12
    np.testing.assert_allclose(cal["spring"], [0, 3 / 7, 5 / 7, 0])


# -- detectors ---------------------------------------------------------------------------------
def _farrington_reference(y, idx, t0, weights_threshold=2.58):
    """farringtonFlexible steps for one series with statsmodels (intercept-only)."""
    X = np.ones((len(idx), 1))
    yy = y[idx]
    r = sm.GLM(yy, X, family=sm.families.Poisson()).fit()
    phi = max(r.pearson_chi2 / r.df_resid, 1)
    mu = r.fittedvalues
    h = r.get_influence().hat_matrix_diag
    s = 1.5 * (yy ** (2 / 3) * mu ** (-1 / 6) - mu ** 0.5) / np.sqrt(phi * (1 - h))
    inv = np.where(s > weights_threshold, s ** -2.0, 1.0)
    omega = len(yy) / inv.sum() * inv
    r2 = sm.GLM(yy, X, family=sm.families.Poisson(), var_weights=omega).fit()
    phi2 = max(np.sum(omega * (yy - r2.fittedvalues) ** 2 / r2.fittedvalues) / r2.df_resid, 1)
    return float(np.exp(r2.params[0])), phi2


def test_farrington_matches_statsmodels_reweighting():
    rng = np.random.default_rng(5)
    T = 4 * 52 + 10
    y = rng.poisson(4, size=T).astype(float)
    t0 = T  # predicting the period after the origin
    y[t0 - 52 - 1] = 30  # a past outbreak inside a baseline window
    c = _tiny(y.astype(int).tolist(), start="2019-01-07")
    m = Farrington(trend=False, b=3, w=3).fit(c)
    idx = m.baseline_index_
    expect_idx = np.concatenate([np.arange(t0 - j * 52 - 3, t0 - j * 52 + 4) for j in (3, 2, 1)])
    np.testing.assert_array_equal(idx, expect_idx)
    mu_ref, phi_ref = _farrington_reference(y, idx, t0)
    assert m.mu0_[0] == pytest.approx(mu_ref, rel=1e-6)
    # R (and we) stop IRLS on the deviance criterion and take the dispersion from the last
    # iteration's weights: equal to the fully converged statsmodels value to ~1e-5
    assert m.phi_[0] == pytest.approx(phi_ref, rel=1e-5)
    # the outbreak is down-weighted: the reweighted mean is below the raw mean
    unweighted = Farrington(trend=False, reweight=False).fit(c).mu0_[0]
    assert unweighted == pytest.approx(y[idx].mean()) and m.mu0_[0] < unweighted


def test_ears_c2_hand_worked():
    vals = [9, 9, 2, 4, 6, 4, 2, 4, 6, 50, 50]  # baseline t-3..t-9 = periods 2..8
    m = EarsC2().fit(_tiny(vals))
    base = np.array([2, 4, 6, 4, 2, 4, 6], float)
    assert m.mean_[0] == pytest.approx(base.mean())
    obs = _tiny([12]).assign(period=m.origin_ + pd.Timedelta(weeks=1))
    stat = m.alarm_statistic(obs)["statistic"].item()
    assert stat == pytest.approx((12 - base.mean()) / base.std(ddof=1))


def test_cusum_hand_worked():
    vals = [2] * 20 + [2, 2, 2, 2, 6, 6, 2, 2]  # run window = last 8
    m = PoissonCUSUM(ratio=2.0, h=100.0, baseline=20, run=8).fit(_tiny(vals))
    assert m.mu0_[0] == pytest.approx(2.0)
    inc = lambda y: y * np.log(2) - 2.0  # noqa: E731
    S = 0.0
    for y in vals[-8:]:
        S = max(0.0, S + inc(y))
    assert m.S_[0] == pytest.approx(S)


# -- empirical Bayes ---------------------------------------------------------------------------
def test_eb_shrinks_sparse_area_toward_parent():
    rng = np.random.default_rng(7)
    T, n = 104, 40
    periods = pd.date_range("2022-01-03", periods=T, freq="W-MON")
    lam = np.full(n, 2.0)
    Y = rng.poisson(lam[:, None], size=(n, T))
    Y[0] = 0
    Y[0, -1] = 1  # a 网格 with one case in two years, this week
    c = pd.DataFrame({"area_id": np.repeat([f"G{i:02d}" for i in range(n)], T),
                      "period": np.tile(periods, n), "category": "x", "count": Y.ravel()})
    m = EmpiricalBayes(parent={f"G{i:02d}": "C1" for i in range(n)}, seasonal=False,
                       trend=False).fit(c)
    own_recent = 1 / 52  # one case in the 52-week window
    assert m.weight_[1] > m.weight_[0]
    # prior = parent's recent rate per area x the area's smoothed relative risk before the window
    g = Y[:, :-52].sum() / (n * 52)
    R = (Y[1:, -52:].sum() + 0.5) / ((n - 1) * 52)  # the siblings' rate (leave-one-out)
    assert m.prior_[0] == pytest.approx(R * 1 / (g * 52 + 1))  # one pseudo-case (prior_count)
    assert m.prior_[0] <= m.rate_[0] <= own_recent * 1.05  # (benchmarked to the parent: ~1 %)
    # one case does not turn the sparse 网格 red (min_count), however surprising
    from analytics.warning import classify

    assert classify([1], m.predict(1).iloc[[0]])[0] != "red"
    # the predictive distribution of the sparse area is wide: alpha >= 1/(kappa + y)
    assert m.predict(1)["alpha"].iloc[0] >= 1 / (m.kappa_ + 1) - 1e-12
    # between-area variance is small (all areas alike) so kappa is large
    assert m.kappa_ > 20


def test_neighbour_mapping_queen_on_3x3():
    import geopandas as gpd
    from shapely.geometry import box

    cells = [box(i, j, i + 1, j + 1) for j in range(3) for i in range(3)]
    g = gpd.GeoDataFrame({"area_id": [f"c{k}" for k in range(9)]}, geometry=cells, crs=32650)
    nb = neighbour_mapping(g)
    assert len(nb["c4"]) == 8 and len(nb["c0"]) == 3 and sorted(nb["c0"]) == ["c1", "c3", "c4"]


def test_pooled_gbm_uses_neighbours(counts):
    a = PooledGBM(neighbours=_neighbours(), max_iter=20).fit(counts)
    b = PooledGBM(neighbours=None, max_iter=20).fit(counts)
    assert a.estimator_.n_features_in_ == b.estimator_.n_features_in_ + 2


def test_pooled_gbm_lags_follow_the_frequency():
    # monthly counts: "same period last year" is 12 months back, not 52
    rng = np.random.default_rng(5)
    months = pd.date_range("2016-01-01", periods=60, freq="MS")
    Y = rng.poisson(rng.gamma(2.0, 2.0, size=(6, 1)) * np.ones((1, 60))).astype(float)
    m = CountMatrix(pd.DataFrame({"area_id": [f"A{i}" for i in range(6)], "category": "c"}),
                    months, Y, "M")
    model = PooledGBM(max_iter=5, min_samples_leaf=5).fit(m)
    assert model.lags_ == (1, 2, 12)
    t = np.array([30, 45, 59])
    F = model._features(Y, t, months[t]).reshape(6, len(t), -1)
    np.testing.assert_array_equal(F[:, :, 2], Y[:, t - 12])  # third feature: the 12-month lag
    np.testing.assert_allclose(F[:, :, 5], np.stack([Y[:, k - 12:k].mean(1) for k in t], 1))
    weekly = PooledGBM(max_iter=5).fit(synth_counts(n_areas=3, n_periods=60, cats=("a",)))
    assert weekly.lags_ == (1, 2, 52)


def test_no_side_doors():
    # production fits through fit(X) and predicts through predict(): the old side doors are gone
    for name in MODELS:
        model = make_model(name)
        assert not hasattr(model, "fit_arrays") and not hasattr(model, "predict_params")
    with pytest.raises(ValueError, match="as_arrays"):
        LastPeriod().fit(_tiny([1, 2, 3])).predict(periods=["2024-01-22"], as_arrays=True)
