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
