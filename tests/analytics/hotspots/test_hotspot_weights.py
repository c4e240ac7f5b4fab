import numpy as np
import pytest

from analytics.hotspots.weights import contiguity_weights, distance_weights, padded_neighbours


def test_queen_and_rook_on_lattice(make_grid):
    g = make_grid(4, 4)
    q = contiguity_weights(g, kind="queen")
    r = contiguity_weights(g, kind="rook")
    card_q = np.asarray(q.sparse.sum(axis=1)).ravel()
    card_r = np.asarray(r.sparse.sum(axis=1)).ravel()
    assert card_q[0] == 3 and card_q[5] == 8
    assert card_r[0] == 2 and card_r[5] == 4


def test_distance_band_in_metres_and_refuses_degrees(make_grid):
    g = make_grid(4, 4, size=100.0)
    w = distance_weights(g, 101.0)  # centroids 100 m apart: rook-like
    assert np.asarray(w.sparse.sum(axis=1)).ravel()[5] == 4
    w2 = distance_weights(g, 150.0)  # diagonals at 141 m
    assert np.asarray(w2.sparse.sum(axis=1)).ravel()[5] == 8
    with pytest.raises(ValueError, match="geographic"):
        distance_weights(g.set_crs("EPSG:4326", allow_override=True), 100.0)
    with pytest.raises(ValueError, match="threshold"):
        distance_weights(g, 0)


def test_padded_neighbours_drops_diagonal(make_grid):
    g = make_grid(3, 3)
    w = contiguity_weights(g)
    mat = w.sparse.tolil()
    mat.setdiag(1)
    pad, counts = padded_neighbours(mat.tocsr())
    assert counts.tolist() == [3, 5, 3, 5, 8, 5, 3, 5, 3]
    assert pad.shape == (9, 8) and pad[0].sum() == 3


def test_distance_band_keeps_islands(make_grid):
    g = make_grid(3, 1, size=100.0).drop(index=1).reset_index(drop=True)  # 200 m gap
    w = distance_weights(g, 150.0)
    assert w.n == 2 and w.sparse.shape == (2, 2) and w.islands == [0, 1]
    from analytics.hotspots import GiStar

    g = make_grid(5, 1, size=100.0).drop(index=2).reset_index(drop=True)
    w = distance_weights(g, 150.0)  # two pairs, no islands
    gi = GiStar(permutations=19, seed=1).fit([5.0, 4.0, 0.0, 1.0], w)
    assert np.isfinite(gi.z_).all() and gi.z_[0] > 0 > gi.z_[3]
