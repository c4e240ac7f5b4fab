import esda
import libpysal
import numpy as np

from analytics.hotspots.moran import LocalMoran


def _brute_local_moran(y, adj):
    n = len(y)
    mean = sum(y) / n
    z = [v - mean for v in y]
    m2 = sum(v * v for v in z) / (n - 1)
    out, quad = [], []
    for i in range(n):
        nb = [j for j in range(n) if adj[i][j] and j != i]
        lag = sum(z[j] for j in nb) / len(nb)
        out.append(z[i] / m2 * lag)
        quad.append(("H" if z[i] >= 0 else "L") + ("H" if lag >= 0 else "L"))
    return np.array(out), quad


def test_matches_brute_force_and_esda_quadrants():
    w = libpysal.weights.lat2W(7, 7)
    rng = np.random.default_rng(2)
    y = rng.poisson(3, 49).astype(float)
    y[:9] += 6
    m = LocalMoran(permutations=99, seed=1).fit(y, w)
    bf, quad = _brute_local_moran(list(y), w.sparse.toarray() > 0)
    np.testing.assert_allclose(m.Is_, bf, rtol=1e-10)
    assert m.quadrant_.tolist() == quad
    e = esda.Moran_Local(y, w, permutations=0)
    np.testing.assert_allclose(m.Is_, e.Is, rtol=1e-10)
    assert (m.q_ == e.q).all()


def test_p_agrees_with_esda_and_classes():
    w = libpysal.weights.lat2W(8, 8)
    rng = np.random.default_rng(4)
    y = rng.gamma(2.0, size=64)
    y[:12] += 4
    m = LocalMoran(permutations=4999, seed=3).fit(y, w)
    e = esda.Moran_Local(y, w, permutations=4999, seed=3)
    assert np.abs(m.p_sim_ - e.p_sim).max() < 0.035
    f = m.to_frame()
    assert set(f["class"]) <= {"HH", "LL", "HL", "LH", "not_significant"}
    assert f.loc[0, "class"] == "HH"
    sig = f["class"] != "not_significant"
    assert (f.loc[sig, "p"] <= 0.05).all()
