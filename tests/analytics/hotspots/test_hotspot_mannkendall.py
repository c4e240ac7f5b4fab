import numpy as np
import pytest

from analytics.hotspots.mannkendall import mann_kendall


def _brute(x):
    n = len(x)
    s = sum(np.sign(x[j] - x[i]) for i in range(n) for j in range(i + 1, n))
    _, counts = np.unique(x, return_counts=True)
    var = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in counts)) / 18
    z = (s - np.sign(s)) / np.sqrt(var) if s != 0 else 0.0
    return s, var, z


def test_matches_brute_force_with_ties():
    rng = np.random.default_rng(9)
    x = rng.integers(0, 5, size=(20, 15)).astype(float)  # many ties
    r = mann_kendall(x)
    for i in range(20):
        s, var, z = _brute(x[i])
        assert r["s"][i] == s
        assert r["var_s"][i] == pytest.approx(var)
        assert r["z"][i] == pytest.approx(z)


def test_hand_worked_monotone_series():
    r = mann_kendall(np.arange(5.0))
    # S = 10, Var = 5*4*15/18 = 16.67, Z = 9/4.082 = 2.2045, p = 0.0275
    assert r["s"][0] == 10 and r["tau"][0] == 1.0
    assert r["z"][0] == pytest.approx(9 / np.sqrt(50 / 3))
    assert r["p"][0] == pytest.approx(0.02749, abs=1e-4)
    flat = mann_kendall(np.ones(6))
    assert flat["z"][0] == 0 and flat["p"][0] == 1.0


def test_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        mann_kendall(np.array([1.0, np.nan, 2.0]))
