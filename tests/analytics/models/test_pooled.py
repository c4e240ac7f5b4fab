"""PooledGBM's static per-area features (risk terrain) reach the trees and help."""

import numpy as np
import pandas as pd
import pytest

from analytics.models import PooledGBM
from data.cube import CountMatrix


def test_static_features_are_appended_and_used():
    rng = np.random.default_rng(0)
    n, T = 400, 60
    near = rng.random(n) < 0.3  # within reach of a 网吧: four times the rate
    lam = np.where(near, 0.4, 0.1)  # sparse: an area's own history is noisy
    Y = rng.poisson(lam[:, None] * np.ones((1, T))).astype(float)
    ids = [f"a{i:03d}" for i in range(n)]
    m = CountMatrix(pd.DataFrame({"area_id": ids, "category": "all"}),
                    pd.date_range("2023-01-02", periods=T, freq="W-MON"), Y, "W")
    static = pd.DataFrame({"area_id": ids, "dist__网吧": np.where(near, 100.0, 900.0),
                           "note": "text is ignored"})
    plain = PooledGBM(max_iter=30, min_samples_leaf=20).fit(m)
    rich = PooledGBM(max_iter=30, min_samples_leaf=20, static=static).fit(m)
    assert rich.static_.shape == (n, 1)
    t = np.array([T - 1])
    assert rich._features(Y, t, m.periods[t]).shape[1] == plain._features(Y, t, m.periods[t]).shape[1] + 1
    truth = lam[:, None]
    err_plain = np.mean((plain.predict(1, as_arrays=True)[0] - truth) ** 2)
    err_rich = np.mean((rich.predict(1, as_arrays=True)[0] - truth) ** 2)
    assert err_rich < 0.8 * err_plain
    with pytest.raises(ValueError, match="static"):
        PooledGBM(static=pd.DataFrame({"id": ids})).fit(m)


def test_a_history_shorter_than_a_year_fits():
    """20 weeks: last year's count is missing in every training row — left out, not a crash
    (scikit-learn cannot bin an all-missing column)."""
    rng = np.random.default_rng(1)
    Y = rng.poisson(0.5, size=(50, 20)).astype(float)
    m = CountMatrix(pd.DataFrame({"area_id": [f"a{i}" for i in range(50)], "category": "all"}),
                    pd.date_range("2025-01-06", periods=20, freq="W-MON"), Y, "W")
    fitted = PooledGBM(max_iter=10, min_samples_leaf=20).fit(m)
    assert not fitted.columns_.all()  # the year lag and the year mean's twin are out
    mu, alpha = fitted.predict(2, as_arrays=True)
    assert np.isfinite(mu).all() and (mu > 0).all() and np.isfinite(alpha).all()


def test_make_model_hands_static_features_to_the_pooled_model_only():
    from analytics.models import make_model

    static = pd.DataFrame({"area_id": ["a"], "dist__网吧": [100.0]})
    assert make_model("gbm", static=static).static is static
    assert not hasattr(make_model("eb", static=static), "static")
