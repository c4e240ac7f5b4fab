import numpy as np
import pandas as pd
import pytest

from analytics.hotspots.knox import KnoxTest, repeat_locations

D_EDGES = (100.0, 200.0, 300.0)
T_EDGES = (7, 14, 28)


def _band(v, edges):
    for k, hi in enumerate(edges):
        if v <= hi:
            return k
    return len(edges)


def _brute_table(xy, day, same_tol=0.5):
    """Double loop over all pairs, straight from the Near Repeat Calculator's definition."""
    nd, nt = len(D_EDGES) + 2, len(T_EDGES) + 1
    tab = np.zeros((nd, nt))
    n = len(day)
    for i in range(n):
        for j in range(i + 1, n):
            d = float(np.hypot(*(xy[i] - xy[j])))
            row = 0 if d <= same_tol else 1 + _band(d, D_EDGES)
            col = _band(abs(int(day[i]) - int(day[j])), T_EDGES)
            tab[row, col] += 1
    return tab


@pytest.fixture
def events():
    rng = np.random.default_rng(31)
    n = 70
    xy = rng.uniform(0, 600, (n, 2))
    day = rng.integers(0, 120, n)
    xy[50:60] = xy[:10] + rng.normal(0, 30, (10, 2))  # near repeats
    day[50:60] = day[:10] + rng.integers(0, 6, 10)
    xy[60:63] = xy[0]  # same location
    return xy, day


def test_observed_expected_p_match_brute_force(events):
    xy, day = events
    perms = 19
    kt = KnoxTest(distance_bands=D_EDGES, time_bands=T_EDGES, permutations=perms, seed=4).fit(xy, day)
    obs = _brute_table(xy, day)
    np.testing.assert_array_equal(kt.observed_, obs)
    ge = np.zeros_like(obs)
    total = np.zeros_like(obs)
    for k in range(perms):  # the documented permutation stream
        tab = _brute_table(xy, day[np.random.default_rng([4, k]).permutation(len(day))])
        ge += tab >= obs
        total += tab
    np.testing.assert_allclose(kt.expected_, total / perms)
    np.testing.assert_allclose(kt.p_, (1 + ge) / (1 + perms))
    assert kt.observed_.sum() == len(day) * (len(day) - 1) / 2
    assert kt.ratio_[1, 0] > 1  # near repeats: close in space and time


def test_threads_do_not_change_result(events):
    xy, day = events
    a = KnoxTest(distance_bands=D_EDGES, time_bands=T_EDGES, permutations=9, threads=1).fit(xy, day)
    b = KnoxTest(distance_bands=D_EDGES, time_bands=T_EDGES, permutations=9, threads=2).fit(xy, day)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())


def test_frame_labels_and_datetimes(events):
    xy, day = events
    when = pd.Timestamp("2025-01-01") + pd.to_timedelta(day, unit="D") + pd.Timedelta(hours=5)
    kt = KnoxTest(distance_bands=D_EDGES, time_bands=T_EDGES, permutations=5).fit(xy, when.to_numpy())
    f = kt.to_frame()
    assert f["distance_band"].unique().tolist() == ["same location", "1-100", "101-200", "201-300", ">300"]
    assert f["time_band"].unique().tolist() == ["0-7", "8-14", "15-28", ">28"]
    np.testing.assert_array_equal(kt.observed_, _brute_table(xy, day))


def test_bad_arguments(events):
    xy, day = events
    with pytest.raises(ValueError, match="distance_bands"):
        KnoxTest(distance_bands=(200, 100)).fit(xy, day)
    with pytest.raises(ValueError, match="rows"):
        KnoxTest().fit(xy, day[:-1])


def test_repeat_locations_counts():
    xy = np.array([[0, 0], [0.3, 0.2], [10, 10], [10, 10], [10, 10], [10, 10], [10, 10], [99, 1]])
    r = repeat_locations(xy)
    assert r["locations"].tolist() == [1, 1, 0, 1]
    assert r["incidents"].tolist() == [1, 2, 0, 5]
    r2 = repeat_locations(None, address=["a", "b", "a"])
    assert r2["locations"].tolist() == [1, 1, 0, 0]
