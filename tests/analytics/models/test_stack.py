"""Stacked ensemble: EM weights recover the truth, moment matching, no look-ahead, contract."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.base import clone

from analytics.backtest import rolling_forecasts
from analytics.models import StackedEnsemble, make_model
from analytics.models.stack import mixture_weights, moment_match
from data.cube import CountMatrix


def _matrix(Y: np.ndarray) -> CountMatrix:
    keys = pd.DataFrame({"area_id": [f"a{i:03d}" for i in range(len(Y))], "category": "all"})
    return CountMatrix(keys, pd.date_range("2023-01-02", periods=Y.shape[1], freq="W-MON"), Y, "W")


def test_em_weights_recover_the_mixing_proportions():
    rng = np.random.default_rng(0)
    n = 20_000
    from_first = rng.random(n) < 0.3
    y = np.where(from_first, rng.poisson(1.0, n), rng.poisson(6.0, n))
    logp = np.stack([stats.poisson.logpmf(y, 1.0), stats.poisson.logpmf(y, 6.0),
                     stats.poisson.logpmf(y, 20.0)])
    w = mixture_weights(logp)
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all()
    np.testing.assert_allclose(w, [0.3, 0.7, 0.0], atol=0.02)
    # the objective at the EM weights beats nearby points of the simplex
    def obj(v):
        return np.mean(np.log(v @ np.exp(logp)))
    for d in ([0.02, -0.02, 0], [-0.02, 0.02, 0], [0, -0.01, 0.01]):
        v = np.clip(w + np.array(d), 0, None)
        assert obj(w) >= obj(v / v.sum()) - 1e-12


def test_stack_weights_pick_the_true_member():
    rng = np.random.default_rng(1)
    # constant rates per cell: the long-run mean is the true model, last week's count is noise
    lam = rng.gamma(1.0, 2.0, size=300)
    Y = rng.poisson(lam[:, None] * np.ones((1, 80))).astype(float)
    stack = StackedEnsemble(members=("longrun", "last"), validation=8).fit(_matrix(Y))
    assert stack.weights_["longrun"] > 0.9
    assert stack.member_scores_["longrun"] < stack.member_scores_["last"]
    # rates that jump every 10 weeks and stay: recent weeks (EWMA) beat the long-run mean
    levels = rng.gamma(1.0, 4.0, size=(300, 8)).repeat(10, axis=1)
    Y2 = rng.poisson(levels).astype(float)
    s2 = StackedEnsemble(members=("longrun", "ewma"), validation=8).fit(_matrix(Y2))
    assert s2.weights_["ewma"] > 0.8
    assert s2.weights_.sum() == pytest.approx(1.0) and (s2.weights_ >= 0).all()


def test_moment_matched_predictive_equals_the_mixture_moments():
    w = np.array([0.25, 0.75])
    mu = np.array([[2.0], [5.0]])
    alpha = np.array([[0.0], [0.4]])
    m, a = moment_match(w, mu, alpha)
    ks = np.arange(0, 400)
    pmf = 0.25 * stats.poisson.pmf(ks, 2.0) + 0.75 * stats.nbinom.pmf(ks, 1 / 0.4, 1 / (1 + 0.4 * 5.0))
    mean = (ks * pmf).sum()
    var = (ks**2 * pmf).sum() - mean**2
    np.testing.assert_allclose(m, [mean], rtol=1e-9)
    np.testing.assert_allclose(m + a * m**2, [var], rtol=1e-9)
    stack = StackedEnsemble(members=("longrun", "ewma"))
    rng = np.random.default_rng(2)
    stack.fit(_matrix(rng.poisson(2.0, size=(40, 30)).astype(float)))
    mu_s, al_s = stack.predict(1, as_arrays=True)
    parts = [stack.members_[n].predict(1, as_arrays=True) for n in stack.members_]
    exp_mu = sum(stack.weights_[n] * p[0] for n, p in zip(stack.members_, parts))
    np.testing.assert_allclose(mu_s, exp_mu, rtol=1e-12)


def test_no_look_ahead_with_a_poisoned_future():
    rng = np.random.default_rng(3)
    Y = rng.poisson(rng.gamma(1.0, 2.0, size=(50, 1)) * np.ones((1, 40)))
    periods = pd.date_range("2023-01-02", periods=40, freq="W-MON")
    tidy = pd.DataFrame({"area_id": np.repeat([f"a{i:03d}" for i in range(50)], 40),
                         "period": np.tile(periods, 50), "category": "all", "count": Y.ravel()})
    poisoned = tidy.assign(count=np.where(tidy["period"] > periods[30], 999, tidy["count"]))
    factory = lambda: StackedEnsemble(members=("longrun", "ewma", "eb"))  # noqa: E731
    a = rolling_forecasts(tidy, factory, periods[28:31])
    b = rolling_forecasts(poisoned, factory, periods[28:31])
    np.testing.assert_array_equal(a["mu"].to_numpy(), b["mu"].to_numpy())
    np.testing.assert_array_equal(a["alpha"].to_numpy(), b["alpha"].to_numpy())
    # the weights of a stack fitted up to period 30 do not move when later weeks change
    wa = StackedEnsemble(members=("longrun", "ewma")).fit(_matrix(Y[:, :31].astype(float))).weights_
    Z = Y.astype(float).copy()
    Z[:, 31:] = 999
    wb = StackedEnsemble(members=("longrun", "ewma")).fit(_matrix(Z[:, :31])).weights_
    pd.testing.assert_series_equal(wa, wb)


def test_registry_contract_and_errors():
    coords = pd.DataFrame({"area_id": ["a000"], "x": [0.0], "y": [0.0]})
    model = make_model("stack", coords=coords, parent={"a000": "p"})
    assert isinstance(model, StackedEnsemble) and model.parent == {"a000": "p"}
    assert clone(model).get_params()["members"] == model.members
    Y = np.ones((3, 10))
    with pytest.raises(ValueError, match="members"):
        StackedEnsemble(members=("longrun", "stack")).fit(_matrix(Y))
    with pytest.raises(ValueError, match="unknown"):
        StackedEnsemble(members=("nope",)).fit(_matrix(Y))
    # a member that needs more history than the window has gets weight 0, the others carry on
    short = StackedEnsemble(members=("longrun", "gbm"), validation=3).fit(_matrix(np.ones((3, 9))))
    assert short.weights_["gbm"] == 0 and short.weights_["longrun"] == pytest.approx(1.0)
