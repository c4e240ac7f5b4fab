"""Floors and new areas (analytics.floors): hand-worked floors, valid_from, every model's fallback."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from analytics.distributions import quantile
from analytics.floors import (
    apply_floor,
    exposure,
    first_valid,
    mask_before,
    series_floors,
    valid_from_index,
)
from analytics.models import MODELS, EmpiricalBayes, make_model
from data.cube import CountMatrix

PERIODS = pd.date_range("2023-01-02", periods=110, freq="W-MON")


def _areas(households=True, crs="EPSG:32649"):
    g = gpd.GeoDataFrame({"area_id": ["a", "b", "c"],
                          "geometry": [box(0, 0, 100, 100), box(0, 0, 200, 100), box(0, 0, 50, 50)]},
                         crs=crs)
    if households:
        g["households"] = [10, 30, 0]
        g["population"] = [25, 80, 5]
    return g


def test_exposure_prefers_households_then_population_then_area():
    x = exposure(_areas())
    assert x.name == "households" and x.to_dict() == {"a": 10.0, "b": 30.0, "c": 0.0}
    no_hh = _areas().drop(columns="households")
    assert exposure(no_hh).name == "population"
    bad = _areas().assign(households=[10, np.nan, 3])  # an incomplete column is not used
    assert exposure(bad).name == "population"
    m2 = exposure(_areas(households=False))
    assert m2.name == "area_m2" and m2.to_dict() == pytest.approx({"a": 1e4, "b": 2e4, "c": 2500.0})
    with pytest.raises(ValueError, match="area_id"):
        exposure(pd.DataFrame({"x": [1]}))


def test_first_valid_new_area_versus_late_quiet_area():
    Y = np.zeros((4, 60))
    Y[0, 52:] = [1, 0, 1, 0, 1, 0, 1, 0]  # drawn in week 52: 0.5 a week since
    Y[1, 40] = 1  # a quiet area: its first case in week 40 is no evidence it is new
    Y[1, 55] = 1
    Y[2] = 1  # busy from the start
    # row 3: never a case -> valid throughout
    np.testing.assert_array_equal(first_valid(Y), [52, 0, 0, 0])
    # hand check of the rule for row 1: rate since = 2/20, P(40 empty weeks) = exp(-4) > 1e-3
    assert np.exp(-2 / 20 * 40) > 1e-3
    # NaN periods (no data) are neither cases nor empty periods
    Y2 = Y.copy()
    Y2[0, :50] = np.nan
    assert first_valid(Y2)[0] == 0  # two empty weeks before it: plausible under 0.5 a week
    masked = mask_before(Y, first_valid(Y))
    assert np.isnan(masked[0, :52]).all() and not np.isnan(masked[0, 52:]).any()
    assert not np.isnan(masked[1:]).any()


def test_valid_from_column_wins():
    Y = np.zeros((2, len(PERIODS)))
    Y[0, 70:] = 1
    areas = pd.DataFrame({"area_id": ["x", "y"],
                          "valid_from": [pd.NaT, pd.Timestamp("2023-03-08")]})  # a Wednesday
    got = valid_from_index(["x", "y"], PERIODS, "W", areas, Y)
    assert got.tolist() == [70, 9]  # x from its counts; y from the file, its week's start


def test_series_floors_hand_worked():
    # two parents of two areas each, one category; the last 2 periods are the window
    Y = np.array([[9, 2, 2], [9, 0, 0], [0, 1, 0], [0, 0, np.nan]], dtype=float)
    group = ["P", "P", "Q", "Q"]
    x = np.array([1.0, 3.0, 2.0, np.nan])
    f = series_floors(Y, group, x, window=2, fraction=0.1)
    r_p = (4 + 0.5) / 2  # cases of P's series in the window / periods with data
    r_q = (1 + 0.5) / 2
    assert f == pytest.approx([0.1 * r_p * 1 / 4, 0.1 * r_p * 3 / 4, 0.1 * r_q * 1.0, 0.0])
    # a parent without exposure spreads its rate evenly; a category never seen gets 0.5 a window
    f0 = series_floors(np.zeros((2, 5)), ["P", "P"], [np.nan, np.nan], window=5, fraction=0.5)
    assert f0 == pytest.approx([0.5 * 0.5 / 5 / 2] * 2)
    with pytest.raises(ValueError, match="fraction"):
        series_floors(Y, group, x, fraction=2.0)


def test_apply_floor_raises_only_lower_rows_and_recomputes_quantiles():
    keys = pd.DataFrame({"area_id": ["a", "b"], "category": "x"})
    m = make_model("mean4").fit(CountMatrix(keys, PERIODS[:20], np.r_[np.zeros((1, 20)), np.full((1, 20), 3.0)], "W"))
    pred = m.predict(1)
    out = apply_floor(pred, keys.assign(floor=[0.25, 0.5]))
    assert out["mu"].tolist() == [0.25, 3.0] and out["expected"].tolist() == [0.25, 3.0]
    assert out.attrs["floored"] == 1
    assert out["q95"].iloc[0] == quantile(0.95, 0.25, out["alpha"].iloc[0])
    pd.testing.assert_series_equal(out.iloc[1], pred.iloc[1], check_names=False)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_falls_back_to_the_floor_on_a_category_without_cases(name):
    keys = pd.DataFrame({"area_id": [f"g{i}" for i in range(6)], "category": "故意伤害"})
    Y = np.zeros((6, len(PERIODS)))
    nb = {f"g{i}": [f"g{(i + 1) % 6}"] for i in range(6)}
    model = make_model(name, neighbours=nb, parent={f"g{i}": "c" for i in range(6)})
    model.fit(CountMatrix(keys, PERIODS, Y, "W"))  # must not raise
    mu, alpha = model.predict(1, as_arrays=True)
    assert np.isfinite(mu).all() and np.isfinite(alpha).all() and (mu >= 0).all()
    floor = series_floors(Y, ["c"] * 6, np.arange(1.0, 7.0))
    out = apply_floor(model.predict(1), keys.assign(floor=floor))
    assert (out["mu"].to_numpy() >= floor - 1e-15).all() and (out["mu"] > 0).all()
    assert np.isfinite(out[["q50", "q99"]].to_numpy(float)).all()


def test_all_zero_history_area_gets_exactly_the_floor():
    rng = np.random.default_rng(3)
    keys = pd.DataFrame({"area_id": [f"g{i}" for i in range(5)], "category": "x"})
    Y = rng.poisson(2.0, (5, 60)).astype(float)
    Y[4] = 0
    for name in ("last", "mean4", "longrun", "ewma", "farrington"):
        pred = make_model(name).fit(CountMatrix(keys, PERIODS[:60], Y, "W")).predict(1)
        x = np.array([1.0, 1, 1, 1, 2])
        floor = series_floors(Y, ["p"] * 5, x)
        out = apply_floor(pred, keys.assign(floor=floor))
        expect = 0.1 * (Y[:, -52:].sum() + 0.5) / 52 * 2 / 6
        assert out["mu"].iloc[4] == pytest.approx(expect, rel=1e-12), name


def test_new_area_is_forecast_its_own_rate_not_diluted_by_the_weeks_before_it_existed():
    rng = np.random.default_rng(11)
    n, T = 12, 110
    keys = pd.DataFrame({"area_id": [f"g{i:02d}" for i in range(n)], "category": "x"})
    Y = rng.poisson(0.5, (n, T)).astype(float)
    Y[0] = 0
    Y[0, -6:] = [1, 0, 1, 0, 0, 1]  # drawn 6 weeks ago: 0.5 a week
    parent = {k: "c" for k in keys["area_id"]}
    start = first_valid(Y)
    assert start[0] == T - 6 and (start[1:] == 0).all()
    new = EmpiricalBayes(parent=parent).fit(CountMatrix(keys, PERIODS, mask_before(Y, start), "W"))
    mu = new.predict(1, as_arrays=True)[0][0, 0]
    assert 0.3 < mu < 0.7
    assert new.exposure_[0] == pytest.approx(new.season_[0, -6:].sum())  # only its 6 weeks
    # the 104 zero weeks before it existed would have pulled it far down
    old = EmpiricalBayes(parent=parent).fit(CountMatrix(keys, PERIODS, Y, "W"))
    assert old.predict(1, as_arrays=True)[0][0, 0] < 0.6 * mu
    # a model that does not read NaN is fitted on the area's own mean instead of zeros
    m4 = make_model("longrun").fit(CountMatrix(keys, PERIODS, mask_before(Y, start), "W"))
    assert m4.predict(1, as_arrays=True)[0][0, 0] == pytest.approx(0.5)
