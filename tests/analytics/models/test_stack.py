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


def _reference_em(logp: np.ndarray, max_iter: int = 300, tol: float = 1e-9) -> np.ndarray:
    """The EM of the first stack, written out (the fast one must give the same iterates)."""
    w = np.full(len(logp), 1.0 / len(logp))
    top = logp.max(0)
    ok = np.isfinite(top)
    P = np.exp(logp[:, ok] - top[ok])
    prev = -np.inf
    for _ in range(max_iter):
        mix = w @ P
        obj = float(np.mean(np.log(mix)))
        w = w * (P / mix).mean(1)
        w = w / w.sum()
        if obj - prev < tol:
            break
        prev = obj
    return w


def test_fast_em_gives_the_reference_iterates():
    rng = np.random.default_rng(4)
    for K, n in ((2, 500), (5, 12_000), (6, 3000)):
        y = rng.poisson(0.3, n)
        mus = rng.gamma(1.0, 0.3, size=(K, n))
        logp = stats.poisson.logpmf(y, mus)
        logp[0, :5] = -np.inf  # a member calling some observations impossible
        np.testing.assert_allclose(mixture_weights(logp), _reference_em(logp), atol=1e-12)


def test_prefix_keys_are_the_heads_content_keys():
    from analytics.models.stack import _matrix_key, _prefix_keys

    rng = np.random.default_rng(5)
    m = _matrix(rng.poisson(1.0, size=(30, 12)).astype(float))
    keys = _prefix_keys(m.keys, m.periods, m.Y, m.freq, range(1, 13))
    assert keys == [_matrix_key(m.head(v)) for v in range(1, 13)]
    assert len(set(keys)) == 12
    Z = m.Y.copy()
    Z[7, 5] += 1  # changes the heads that hold column 5, and only those
    z = _prefix_keys(m.keys, m.periods, Z, m.freq, range(1, 13))
    assert z[:5] == keys[:5] and all(a != b for a, b in zip(z[5:], keys[5:]))
    # a fresh copy of the same keys (every CountMatrix makes one) gives the same key
    again = CountMatrix(m.keys.copy(), m.periods, m.Y.copy(), m.freq)
    assert _matrix_key(again) == keys[-1]
    other = CountMatrix(m.keys.assign(category="other"), m.periods, m.Y, m.freq)
    assert _matrix_key(other) != keys[-1]


def test_rolling_stacks_through_the_memo_equal_cold_fits():
    from analytics.models import stack as stack_module

    rng = np.random.default_rng(6)
    n = 64
    coords = pd.DataFrame({"area_id": [f"a{i:03d}" for i in range(n)],
                           "x": 150.0 * (np.arange(n) % 8), "y": 150.0 * (np.arange(n) // 8)})
    Y = rng.poisson(rng.gamma(1.0, 1.0, size=(n, 1)) * np.ones((1, 60))).astype(float)
    Y[:4, :10] = np.nan  # areas that start later
    m = _matrix(Y)
    stack_module._MEMO.clear()
    warm = [StackedEnsemble(coords=coords).fit(m.head(j)).predict(2, as_arrays=True)
            for j in range(50, 60)]
    for j, (mu, al) in zip(range(50, 60), warm):
        stack_module._MEMO.clear()
        mu_c, al_c = StackedEnsemble(coords=coords).fit(m.head(j)).predict(2, as_arrays=True)
        np.testing.assert_allclose(mu, mu_c, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(al, al_c, rtol=1e-12, atol=1e-15)
