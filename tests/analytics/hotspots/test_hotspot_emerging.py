import libpysal
import numpy as np
import pytest

from analytics.hotspots.emerging import (
    CATEGORIES,
    EmergingHotSpots,
    classify_emerging,
    spacetime_gistar_z,
)
from analytics.hotspots.gistar import GiStar, gistar_z, star_matrix

H, C, N = "H", "C", "."
UP, DOWN, FLAT = (3.0, 0.001), (-3.0, 0.001), (0.2, 0.8)

# (pattern over 10 periods, trend, expected category): one hand-built series per class
CASES = [
    ("........." + H, FLAT, "new_hot_spot"),
    (".......HHH", FLAT, "consecutive_hot_spot"),
    ("HHHHHHHHHH", UP, "intensifying_hot_spot"),
    ("HHHHHHHHHH", FLAT, "persistent_hot_spot"),
    (".HHHHHHHHH", FLAT, "persistent_hot_spot"),  # 90 % exactly
    ("HHHHHHHHHH", DOWN, "diminishing_hot_spot"),
    ("..H..H...H", FLAT, "sporadic_hot_spot"),
    ("H.HHHHHHH.", FLAT, "no_pattern"),  # 80 % hot, not final
    ("HHHHHHHHH.", FLAT, "historical_hot_spot"),
    ("C.....H..H", FLAT, "oscillating_hot_spot"),
    ("C........H", FLAT, "oscillating_hot_spot"),  # earlier cold: not new
    ("........." + C, FLAT, "new_cold_spot"),
    ("........CC", FLAT, "consecutive_cold_spot"),
    ("CCCCCCCCCC", DOWN, "intensifying_cold_spot"),
    ("CCCCCCCCCC", FLAT, "persistent_cold_spot"),
    ("CCCCCCCCCC", UP, "diminishing_cold_spot"),
    ("C..C.....C", FLAT, "sporadic_cold_spot"),
    ("..H....C.C", FLAT, "oscillating_cold_spot"),
    ("CCCCCCCCC.", FLAT, "historical_cold_spot"),
    ("..........", FLAT, "no_pattern"),
    ("...H......", FLAT, "no_pattern"),
    ("H.......HH", FLAT, "sporadic_hot_spot"),  # a final run but hot before it
]


def test_one_hand_built_series_per_category():
    hot = np.array([[c == H for c in pat] for pat, _, _ in CASES])
    cold = np.array([[c == C for c in pat] for pat, _, _ in CASES])
    tz = np.array([t[0] for _, t, _ in CASES])
    tp = np.array([t[1] for _, t, _ in CASES])
    got = classify_emerging(hot, cold, tz, tp)
    assert got.tolist() == [exp for _, _, exp in CASES]
    assert set(CATEGORIES) == set(got)  # every category is exercised


def test_fit_finds_intensifying_and_cold_on_a_lattice():
    w = libpysal.weights.lat2W(12, 12)
    rng = np.random.default_rng(5)
    t = 30
    lam = np.full((144, t), 3.0)
    block = [0, 1, 12, 13]  # a corner block whose counts grow every period
    lam[block] = 12 + np.arange(t) * 1.5
    x = rng.poisson(lam)
    e = EmergingHotSpots().fit(x, w)
    assert set(e.category_[block]) <= {"intensifying_hot_spot", "persistent_hot_spot"}
    assert "intensifying_hot_spot" in set(e.category_[block])
    assert (e.trend_z_[block] > 0).all()
    f = e.to_frame(area_id=[f"a{i}" for i in range(144)])
    assert set(f["category"]) <= set(CATEGORIES)
    assert f.loc[0, "n_hot"] >= 27


def test_cube_z_is_per_period_gistar():
    w = libpysal.weights.lat2W(5, 5)
    x = np.random.default_rng(1).poisson(2, (25, 4)).astype(float)
    z = gistar_z(x, star_matrix(w))
    np.testing.assert_allclose(z[:, 3], GiStar(permutations=0).fit(x[:, 3], w).z_)


def test_spacetime_window_brute_force():
    w = libpysal.weights.lat2W(4, 4)
    x = np.random.default_rng(2).poisson(2, (16, 5)).astype(float)
    z = spacetime_gistar_z(x, star_matrix(w), 1)
    adj = w.sparse.toarray() + np.eye(16)
    big_n = x.size
    xbar, s = x.mean(), x.std()
    for i in (0, 5):
        for t in (0, 3):
            lags = [t] if t == 0 else [t - 1, t]
            wts = np.zeros_like(x)
            for lag in lags:
                wts[:, lag] = adj[i]
            sw, s1 = wts.sum(), (wts**2).sum()
            exp = ((wts * x).sum() - xbar * sw) / (s * np.sqrt((big_n * s1 - sw**2) / (big_n - 1)))
            assert z[i, t] == pytest.approx(exp)


def test_bad_shapes():
    w = libpysal.weights.lat2W(3, 3)
    with pytest.raises(ValueError, match="2-D"):
        EmergingHotSpots().fit(np.ones(9), w)
    with pytest.raises(ValueError, match="at least 2 periods"):
        EmergingHotSpots().fit(np.ones((9, 1)), w)
