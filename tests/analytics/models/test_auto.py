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


def test_auto_scores_blend_with_the_other_categories_as_the_board_fits_it():
    """``related``: blend is scored as the board runs it (with the other categories' counts), by
    the same rolling origins a hand-made loop gives; other candidates are unchanged."""
    from analytics.backtest import hit_rates
    from analytics.distributions import logpmf
    from analytics.models import KernelBlend
    from analytics.models.blend import related_counts

    rng = np.random.default_rng(2)
    side = 8
    i = np.arange(side * side)
    coords = pd.DataFrame({"area_id": [f"a{k:03d}" for k in i], "x": 150.0 * (i % side),
                           "y": 150.0 * (i // side)})
    risk = rng.gamma(0.6, 1.0, len(i))
    Y = rng.poisson(0.05 * risk[:, None] * np.ones((1, 70))).astype(float)
    Z = rng.poisson(2.0 * risk[:, None] * np.ones((1, 70))).astype(float)
    m = _matrix(Y)
    rel = related_counts(coords["area_id"], m.periods, Z)
    kw = {"candidates": ("blend", "longrun"), "origins": 4, "coords": coords}
    plain, with_rel = select_model(m, **kw), select_model(m, **kw, related=rel)
    assert with_rel["scores"]["longrun"] == plain["scores"]["longrun"]
    assert with_rel["scores"]["blend"] != plain["scores"]["blend"]
    js = np.unique(np.round(np.linspace(70 - 52, 69, 4)).astype(int))
    mu = np.stack([KernelBlend(coords=coords, related=rel).fit(m.head(int(j))).predict(
        1, as_arrays=True)[0][:, 0] for j in js], axis=1)
    al = np.stack([KernelBlend(coords=coords, related=rel).fit(m.head(int(j))).predict(
        1, as_arrays=True)[1][:, 0] for j in js], axis=1)
    y = Y[:, js]
    assert with_rel["scores"]["blend"]["log_score"] == pytest.approx(float(np.mean(-logpmf(y, mu, al))))
    assert with_rel["scores"]["blend"]["pai_05"] == pytest.approx(
        hit_rates(mu.T, y.T, shares=(0.05,))["pai"]["0.05"])
