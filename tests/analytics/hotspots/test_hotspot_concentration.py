import numpy as np
import pytest

from analytics.hotspots.concentration import concentration_summary, gini, lorenz_curve


def test_hand_worked_shares_with_zero_cells():
    # 100 cells: one with 30, four with 10, five with 2, ninety with 0 → 80 incidents
    counts = np.zeros(100)
    counts[0] = 30
    counts[1:5] = 10
    counts[5:10] = 2
    c = concentration_summary(counts)
    assert c.n_cells == 100 and c.n_incidents == 80
    assert c.top_shares[0.01] == pytest.approx(30 / 80)
    assert c.top_shares[0.05] == pytest.approx(70 / 80)
    assert c.top_shares[0.10] == pytest.approx(1.0)
    assert c.cells_for_half == pytest.approx(0.02)  # 30 + 10 = 40 = half
    assert c.zero_cells == pytest.approx(0.9)
    assert c.to_frame()["n_cells"].tolist() == [1, 5, 10]


def test_gini_against_mean_absolute_difference():
    x = np.random.default_rng(3).poisson(1.5, 57).astype(float)
    n = len(x)
    mad = np.abs(x[:, None] - x[None, :]).sum() / (2 * n * n * x.mean())
    assert gini(x) == pytest.approx(mad)
    assert gini(np.full(9, 4.0)) == pytest.approx(0.0)


def test_lorenz_endpoints_and_monotone():
    lc = lorenz_curve([5, 0, 1, 4])
    assert lc.iloc[0].tolist() == [0.0, 0.0]
    assert lc.iloc[-1].tolist() == [1.0, 1.0]
    assert np.all(np.diff(lc["incident_share"]) >= 0)
    assert lc["incident_share"].tolist() == pytest.approx([0, 0, 0.1, 0.5, 1.0])


def test_rejects_bad_counts():
    with pytest.raises(ValueError, match="non-negative"):
        concentration_summary([1, -1])
    with pytest.raises(ValueError, match="empty"):
        concentration_summary([])
