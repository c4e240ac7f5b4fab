import esda
import libpysal
import numpy as np
import pytest

from analytics.hotspots.gistar import GiStar, gistar_z, star_matrix
from analytics.hotspots.inference import fdr_bh, hot_cold_class


def _brute_gistar_z(y, adj):
    """Gi* z straight from Ord & Getis (1995), binary weights with self, double loop."""
    n = len(y)
    xbar = sum(y) / n
    s = (sum(v * v for v in y) / n - xbar**2) ** 0.5
    out = []
    for i in range(n):
        wi = [1.0 if (i == j or adj[i][j]) else 0.0 for j in range(n)]
        swx = sum(wi[j] * y[j] for j in range(n))
        sw = sum(wi)
        s1 = sum(v * v for v in wi)
        out.append((swx - xbar * sw) / (s * ((n * s1 - sw**2) / (n - 1)) ** 0.5))
    return np.array(out)


@pytest.fixture
def lattice():
    w = libpysal.weights.lat2W(7, 7, rook=False)
    rng = np.random.default_rng(7)
    y = rng.poisson(2.0, 49).astype(float)
    y[[0, 1, 7, 8]] += 8  # a hot corner
    y[[40, 41, 47, 48]] = 0
    return w, y


def test_z_matches_brute_force_and_esda(lattice):
    w, y = lattice
    adj = w.sparse.toarray() > 0
    g = GiStar(permutations=0).fit(y, w)
    np.testing.assert_allclose(g.z_, _brute_gistar_z(list(y), adj), rtol=1e-10)
    e = esda.G_Local(y, w, transform="B", star=True, permutations=0)
    np.testing.assert_allclose(g.z_, e.Zs, rtol=1e-10)
    assert g.class_[0].startswith("hot")


def test_permutation_p_agrees_with_esda_within_monte_carlo_error():
    w = libpysal.weights.lat2W(8, 8)
    rng = np.random.default_rng(3)
    y = rng.gamma(2.0, size=64)  # continuous: no ties, so esda's p_sim is comparable
    y[:10] += 3
    g = GiStar(permutations=4999, seed=11).fit(y, w)
    e = esda.G_Local(y, w, transform="B", star=True, permutations=4999, seed=11)
    assert np.abs(g.p_sim_ - e.p_sim).max() < 0.035
    np.testing.assert_allclose(g.p_perm_, np.minimum(1, 2 * g.p_sim_))
    # p is the analytic two-sided normal p: twice esda's one-sided p_norm
    np.testing.assert_allclose(g.p_, 2 * e.p_norm, rtol=1e-10)
    np.testing.assert_allclose(g.to_frame()["p_sim"], g.p_perm_)


def test_planted_cluster_survives_fdr_on_analytic_p():
    """A strong planted cluster: p_fdr ~ 0 (BH over permutation p would floor near 0.002+)."""
    w = libpysal.weights.lat2W(50, 50, rook=False)
    rng = np.random.default_rng(14)
    y = rng.poisson(1.0, 2500).astype(float)
    centre = 25 * 50 + 25
    block = [centre + dr * 50 + dc for dr in (-1, 0, 1) for dc in (-1, 0, 1)]
    y[block] += 12
    g = GiStar(permutations=199, seed=2, fdr=True).fit(y, w)
    e = esda.G_Local(y, w, transform="B", star=True, permutations=0)
    np.testing.assert_allclose(g.z_, e.Zs, rtol=1e-10)
    assert g.z_[centre] > 20
    np.testing.assert_allclose(g.p_, 2 * e.p_norm, rtol=1e-10, atol=1e-300)
    assert g.p_fdr_[centre] < 1e-50
    assert g.class_[centre] == "hot_99"
    assert g.p_perm_[centre] >= 2 / 200  # the permutation floor the old FDR ran into
    assert fdr_bh(g.p_perm_)[centre] > 1e-3
    # every FDR class agrees with the p_fdr beside it
    sig99 = np.isin(g.class_.astype(str), ["hot_99", "cold_99"])
    assert (g.p_fdr_[sig99] <= 0.01).all() and (g.p_fdr_[~sig99] > 0.01).all()
    assert sig99.sum() >= 9


def test_seed_reproducible_and_fdr_columns(lattice):
    w, y = lattice
    a = GiStar(permutations=199, seed=5).fit(y, w).to_frame(area_id=[f"a{i}" for i in range(49)])
    b = GiStar(permutations=199, seed=5).fit(y, w).to_frame(area_id=[f"a{i}" for i in range(49)])
    assert a.equals(b)
    assert {"area_id", "value", "z", "p", "p_fdr", "class"} <= set(a.columns)
    assert (a["p_fdr"] >= a["p"] - 1e-12).all()
    assert a.loc[0, "class"] in {"hot_99", "hot_95", "hot_90"}


def test_cube_z_equals_per_period_fit(lattice):
    w, y = lattice
    rng = np.random.default_rng(1)
    x = np.column_stack([y, rng.poisson(3, 49), np.zeros(49)])
    z = gistar_z(x, star_matrix(w))
    for t in range(2):
        np.testing.assert_allclose(z[:, t], GiStar(permutations=0).fit(x[:, t], w).z_)
    assert (z[:, 2] == 0).all()  # no variation: z = 0, not NaN


def test_fdr_against_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(0).uniform(size=40) ** 2
    np.testing.assert_allclose(fdr_bh(p), multipletests(p, method="fdr_bh")[1])


def test_classes_at_each_level():
    z = np.array([3.0, 2.0, 1.7, -3.0, -2.0, -1.7, 0.1])
    p = np.array([0.005, 0.03, 0.08, 0.005, 0.03, 0.08, 0.9])
    assert hot_cold_class(z, p).tolist() == [
        "hot_99", "hot_95", "hot_90", "cold_99", "cold_95", "cold_90", "not_significant",
    ]


def test_bad_inputs():
    w = libpysal.weights.lat2W(3, 3)
    with pytest.raises(ValueError, match="weights"):
        GiStar().fit(np.ones(8), w)
    with pytest.raises(ValueError, match="NaN"):
        GiStar().fit(np.r_[np.ones(8), np.nan], w)
    with pytest.raises(TypeError, match="libpysal W"):
        GiStar().fit(np.ones(9), np.eye(9))
