"""``auto``: the candidate with the best log score on the last year's rolling origins."""

import numpy as np
import pandas as pd
import pytest

from analytics.models.auto import select_model
from data.cube import CountMatrix


def _matrix(Y: np.ndarray) -> CountMatrix:
    keys = pd.DataFrame({"area_id": [f"a{i:03d}" for i in range(len(Y))], "category": "all"})
    return CountMatrix(keys, pd.date_range("2022-01-03", periods=Y.shape[1], freq="W-MON"), Y, "W")


def test_auto_picks_the_model_that_forecasts_best():
    rng = np.random.default_rng(0)
    lam = rng.gamma(1.0, 2.0, size=200)
    Y = rng.poisson(lam[:, None] * np.ones((1, 80))).astype(float)
    res = select_model(_matrix(Y), candidates=("last", "longrun"), origins=5)
    assert res["model"] == "longrun" and res["origins"] == 5 and res["test_periods"] == 52
    assert res["scores"]["longrun"]["log_score"] < res["scores"]["last"]["log_score"]
    assert res["scores"]["longrun"]["pai_05"] > 1
    # rates that drift smoothly up and down by e^±1.5: the recent weeks (EWMA) win
    phase = rng.uniform(0, 2 * np.pi, size=(200, 1))
    levels = 3.0 * np.exp(1.5 * np.sin(2 * np.pi * np.arange(80)[None, :] / 40 + phase))
    res2 = select_model(_matrix(rng.poisson(levels).astype(float)), candidates=("longrun", "ewma"),
                        origins=8)
    assert res2["model"] == "ewma"


def test_auto_sees_only_the_past_of_each_origin_and_short_histories():
    rng = np.random.default_rng(1)
    Y = rng.poisson(2.0, size=(30, 70)).astype(float)
    a = select_model(_matrix(Y), candidates=("longrun", "ewma"), origins=4)
    # the test origins are the last year's periods: changing a period before them changes the
    # scores only through the fits, changing nothing changes nothing (deterministic)
    b = select_model(_matrix(Y.copy()), candidates=("longrun", "ewma"), origins=4)
    assert a == b
    short = select_model(_matrix(Y[:, :6]), candidates=("eb", "longrun"))
    assert short == {"model": "eb", "scores": {}, "test_periods": 0, "origins": 0}
    with pytest.raises(ValueError, match="candidates"):
        select_model(_matrix(Y), candidates=("nope",))
