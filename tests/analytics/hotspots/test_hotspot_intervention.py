import numpy as np
import pandas as pd
import pytest

from analytics.hotspots.intervention import did_rate_ratio, weighted_displacement_quotient


def test_wdq_hand_worked():
    # A: 100 → 60, B: 80 → 70, C: 1000 → 1000
    # success = 60/1000 − 100/1000 = −0.04; buffer = 70/1000 − 80/1000 = −0.01; WDQ = 0.25
    r = weighted_displacement_quotient(100, 60, 80, 70, 1000, 1000)
    assert r["success_measure"] == pytest.approx(-0.04)
    assert r["buffer_measure"] == pytest.approx(-0.01)
    assert r["wdq"] == pytest.approx(0.25)
    assert r["reading"] == "diffusion"
    # control grows 1000 → 1250: success = 40/1250 − 50/1000 = −0.018,
    # buffer = 45/1250 − 30/1000 = 0.006 → WDQ = −1/3: displacement
    r = weighted_displacement_quotient(50, 40, 30, 45, 1000, 1250)
    assert r["wdq"] == pytest.approx(0.006 / -0.018)
    assert r["reading"] == "displacement"
    assert weighted_displacement_quotient(10, 12, 5, 5, 100, 100)["reading"] == "no_effect"
    with pytest.raises(ValueError, match="control"):
        weighted_displacement_quotient(1, 1, 1, 1, 0, 1)


def _simulate(effect, seed, n_areas=30, n_periods=40, n_treated=6, nb_alpha=0.0):
    rng = np.random.default_rng(seed)
    area_eff = rng.normal(1.5, 0.5, n_areas)
    period_eff = 0.3 * np.sin(np.arange(n_periods) / 4) + np.linspace(0, -0.2, n_periods)
    treated = np.arange(n_areas) < n_treated
    post = np.arange(n_periods) >= n_periods // 2
    mu = np.exp(area_eff[:, None] + period_eff[None, :]) * np.where(
        treated[:, None] & post[None, :], effect, 1.0
    )
    if nb_alpha > 0:
        mu = mu * rng.gamma(1 / nb_alpha, nb_alpha, mu.shape)
    y = rng.poisson(mu)
    a, t = np.meshgrid(np.arange(n_areas), np.arange(n_periods), indexing="ij")
    return pd.DataFrame(
        {
            "area_id": [f"a{i}" for i in a.ravel()],
            "period": pd.Timestamp("2025-01-06") + pd.to_timedelta(7 * t.ravel(), unit="D"),
            "count": y.ravel(),
            "treated": treated[a.ravel()],
            "post": post[t.ravel()],
        }
    )


@pytest.mark.parametrize("family,nb_alpha", [("poisson", 0.0), ("nb", 0.3)])
def test_did_recovers_known_effect(family, nb_alpha):
    panel = _simulate(0.6, seed=8, nb_alpha=nb_alpha)
    r = did_rate_ratio(panel, family=family)
    assert r.ci_low < 0.6 < r.ci_high
    assert r.ci_high < 1 and r.p < 0.01
    assert r.n_treated_areas == 6 and r.n_control_areas == 24


def test_did_null_effect_not_significant():
    r = did_rate_ratio(_simulate(1.0, seed=9))
    assert r.ci_low < 1 < r.ci_high


def test_did_matches_statsmodels_formula():
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    panel = _simulate(0.7, seed=2, n_areas=8, n_periods=10, n_treated=3)
    panel["tp"] = (panel["treated"] & panel["post"]).astype(float)
    ref = smf.glm("count ~ tp + C(area_id) + C(period)", data=panel,
                  family=sm.families.Poisson()).fit(scale="X2")
    r = did_rate_ratio(panel)
    assert r.beta == pytest.approx(ref.params["tp"], rel=1e-6)
    assert r.se_model == pytest.approx(ref.bse["tp"], rel=1e-6)
    # default: clustered by area, as statsmodels cov_type="cluster" (its default correction)
    groups = pd.factorize(panel["area_id"])[0]
    cl = smf.glm("count ~ tp + C(area_id) + C(period)", data=panel,
                 family=sm.families.Poisson()).fit(cov_type="cluster", cov_kwds={"groups": groups})
    assert r.cov == "cluster" and r.se == r.se_cluster
    assert r.se_cluster == pytest.approx(cl.bse["tp"], rel=1e-6)
    assert did_rate_ratio(panel, cov="model").se == pytest.approx(ref.bse["tp"], rel=1e-6)


def test_clustered_errors_widen_when_areas_drift():
    """Each area drifts on its own after the start (no real effect): weeks within an area are
    correlated, and only the clustered interval sees it."""
    rng = np.random.default_rng(12)
    panel = _simulate(1.0, seed=12, n_areas=40, n_periods=30, n_treated=10)
    drift = dict(zip([f"a{i}" for i in range(40)], rng.normal(0, 0.35, 40)))
    lam = np.exp(np.log(panel["count"] + 0.5) + panel["post"] * panel["area_id"].map(drift))
    panel["count"] = rng.poisson(lam)
    r = did_rate_ratio(panel)
    assert r.se_cluster > 1.5 * r.se_model
    assert r.ci_low < 1 < r.ci_high
    nb = did_rate_ratio(_simulate(0.6, seed=8, n_areas=12, n_periods=16, n_treated=3, nb_alpha=0.3),
                        family="nb")
    assert np.isfinite(nb.se_cluster) and nb.se == nb.se_cluster
    with pytest.raises(ValueError, match="cov must be"):
        did_rate_ratio(panel, cov="robust")


def test_placebo_permutation_exact_and_sampled():
    from analytics.hotspots.intervention import did_permutation

    strong = _simulate(0.3, seed=3, n_areas=8, n_periods=20, n_treated=1)
    res = did_permutation(strong)
    assert res["exact"] and res["n"] == 7  # every other single area as a placebo
    assert res["p"] == pytest.approx(1 / 8)  # the real effect is the most extreme
    assert res["beta"] == pytest.approx(did_rate_ratio(strong).beta, abs=1e-9)
    # no effect: the real area is an ordinary draw among 8, p spread over 1/8 … 1
    null = [did_permutation(_simulate(1.0, seed=k, n_areas=8, n_periods=20, n_treated=1))["p"]
            for k in range(20, 32)]
    assert 0.3 < np.mean(null) < 0.8 and max(null) == 1.0
    big = _simulate(0.6, seed=4, n_areas=20, n_periods=12, n_treated=5)
    a = did_permutation(big, n_permutations=39, seed=1)
    b = did_permutation(big, n_permutations=39, seed=1)
    assert not a["exact"] and a["n"] == 39 and np.array_equal(a["placebo_betas"], b["placebo_betas"])
    assert a["p"] <= 0.05


def test_did_needs_both_groups():
    panel = _simulate(0.6, seed=1, n_areas=5, n_periods=6, n_treated=2)
    panel["treated"] = True
    with pytest.raises(ValueError, match="treated and comparison"):
        did_rate_ratio(panel)
