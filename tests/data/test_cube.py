"""Counts cube (data/cube.py): periods, dense shape and totals, roll-ups equal direct counting, groups."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from data.calendar import period_start
from data.cube import CountMatrix, area_matrix, count_cube, group_counts, rollup, to_matrix
from data.taxonomy import ALL, Taxonomy
from layers.assign import assign_points
from layers.grids import GridSpec, make_grid

CRS = "EPSG:32648"
X0, Y0 = 400_000.0, 2_950_000.0


def test_period_start_hand_worked():
    t = pd.to_datetime(pd.Series(["2024-05-05 23:59", "2024-05-06 00:00", "2024-05-12 12:00", None]))
    assert period_start(t, "W").strftime("%Y-%m-%d").tolist()[:3] == ["2024-04-29", "2024-05-06", "2024-05-06"]
    assert period_start(t, "W").isna()[3]
    assert period_start(t, "M").strftime("%Y-%m-%d").tolist()[:3] == ["2024-05-01"] * 3
    assert period_start(t, "D").strftime("%Y-%m-%d").tolist()[:3] == ["2024-05-05", "2024-05-06", "2024-05-12"]
    with pytest.raises(ValueError, match="freq 'Q'"):
        period_start(t, "Q")


def test_count_cube_dense_and_matches_groupby():
    rng = np.random.default_rng(0)
    n = 5000
    areas = ["A", "B", "C", "D"]
    cats = ["抢劫", "入室盗窃", "诈骗"]
    area = rng.choice(areas + [None, "ZZ"], n)  # missing and unknown areas are not counted
    cat = rng.choice(cats, n)
    t = pd.Timestamp("2024-01-03") + pd.to_timedelta(rng.uniform(0, 70, n), unit="D")
    cube = count_cube(area, t, cat, areas=areas + ["E"], categories_index=cats, freq="W")
    n_weeks = len(pd.date_range("2024-01-01", period_start([t.max()], "W")[0], freq="7D"))
    assert len(cube) == 5 * n_weeks * 3
    assert cube["count"].dtype == np.int64
    ok = np.isin(area, areas)
    assert cube["count"].sum() == ok.sum()
    ref = pd.DataFrame({"a": area[ok], "p": period_start(t[ok], "W"), "c": cat[ok]}).value_counts()
    got = cube.set_index(["area_id", "period", "category"])["count"]
    for (a, p, c), v in ref.items():
        assert got[(a, p, c)] == v
    assert (cube[cube.area_id == "E"]["count"] == 0).all()
    # explicit window: only incidents inside it count
    part = count_cube(area, t, cat, areas=areas, categories_index=cats, freq="M", start="2024-02-01", end="2024-02-29")
    assert part["period"].nunique() == 1
    assert part["count"].sum() == (ok & (t.month == 2)).sum()


def _nested_layers():
    """district (2) > subdistrict (4) > community (16) > 网格 (128) boxes, hierarchical ids.

    Ids sort like the hierarchy, so the lowest-position rule sends a border point to children
    and parents that agree, and roll-ups equal direct counts even for points on borders.
    """
    rows = []
    for d in range(2):
        dx = X0 + 4000 * d
        rows.append((f"D{d}", "district", None, shapely.box(dx, Y0, dx + 4000, Y0 + 4000)))
        for s in range(2):
            sid, sy = f"D{d}S{s}", Y0 + 2000 * s
            rows.append((sid, "subdistrict", f"D{d}", shapely.box(dx, sy, dx + 4000, sy + 2000)))
            for c in range(4):
                cx = dx + 1000 * c
                cid = f"{sid}C{c}"
                rows.append((cid, "community", sid, shapely.box(cx, sy, cx + 1000, sy + 2000)))
                for k in range(8):
                    gx, gy = cx + 500 * (k % 2), sy + 500 * (k // 2)
                    rows.append((f"{cid}G{k}", "grid", cid, shapely.box(gx, gy, gx + 500, gy + 500)))
    g = gpd.GeoDataFrame(pd.DataFrame(rows, columns=["area_id", "level", "parent_id", "geometry"]), crs=CRS)
    return {lv: g[g.level == lv].reset_index(drop=True) for lv in ("district", "subdistrict", "community", "grid")}


def test_rollups_equal_direct_counts_at_every_level():
    layers = _nested_layers()
    rng = np.random.default_rng(1)
    n = 20_000
    x = rng.uniform(X0 - 200, X0 + 8200, n)
    y = rng.uniform(Y0 - 200, Y0 + 4200, n)
    # points exactly on shared borders and corners (every 500 m)
    x[:1000] = X0 + 500 * rng.integers(0, 17, 1000)
    y[500:1500] = Y0 + 500 * rng.integers(0, 9, 1000)
    t = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.uniform(0, 365, n), unit="D")
    cats = np.array(["a", "b"])
    cat = rng.choice(cats, n)
    direct = {}
    for lv, areas in layers.items():
        ids = assign_points(areas, x, y)
        direct[lv] = count_cube(ids.to_numpy(dtype=object), t, cat, areas=areas["area_id"].tolist(),
                                categories_index=cats, freq="W", start=t.min(), end=t.max())
    inside = shapely.covers(shapely.union_all(layers["district"].geometry.values), shapely.points(x, y))
    stacked = pd.concat([layers[lv][["area_id", "parent_id"]] for lv in ("grid", "community", "subdistrict")])
    for lv in ("community", "subdistrict", "district"):
        up = rollup(direct["grid"], stacked, layers[lv])
        assert up["count"].tolist() == direct[lv]["count"].tolist(), lv
        assert up["area_id"].astype(str).tolist() == direct[lv]["area_id"].astype(str).tolist()
        assert direct[lv]["count"].sum() == inside.sum()
    step = rollup(rollup(direct["grid"], layers["grid"], layers["community"]), layers["community"], layers["subdistrict"])
    assert step["count"].tolist() == direct["subdistrict"]["count"].tolist()
    n_periods = direct["grid"]["period"].nunique()
    assert len(direct["grid"]) == len(layers["grid"]) * n_periods * 2


def test_generated_grid_rolls_up_without_border_points():
    layers = _nested_layers()
    spec = GridSpec(0.0, 0.0, 250.0, "square", CRS)
    cells = make_grid(spec, shapely.union_all(layers["district"].geometry.values))
    cells["parent_id"] = assign_points(layers["community"], *spec.centres(cells["col"], cells["row"])).to_numpy()
    rng = np.random.default_rng(2)
    x, y = rng.uniform(X0, X0 + 8000, 5000), rng.uniform(Y0, Y0 + 4000, 5000)
    t = pd.Timestamp("2024-03-01") + pd.to_timedelta(rng.uniform(0, 60, 5000), unit="D")
    cat = np.array(["a"] * 5000)
    fine = count_cube(assign_points(cells, x, y, spec=spec).to_numpy(dtype=object), t, cat,
                      areas=cells["area_id"].tolist(), categories_index=["a"], freq="M")
    direct = count_cube(assign_points(layers["district"], x, y).to_numpy(dtype=object), t, cat,
                        areas=layers["district"]["area_id"].tolist(), categories_index=["a"], freq="M")
    stacked = pd.concat([cells[["area_id", "parent_id"]], layers["community"], layers["subdistrict"]])
    assert rollup(fine, stacked, layers["district"])["count"].tolist() == direct["count"].tolist()


def test_group_counts_sum_members():
    cube = count_cube(["A", "A", "B", "B"], pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-09", "2024-01-09"]),
                      ["抢劫", "扒窃", "诈骗", "抢劫"], areas=["A", "B"], categories_index=["抢劫", "扒窃", "诈骗"], freq="W")
    tax = Taxonomy({"两抢一盗": ("抢劫", "抢夺", "扒窃")})
    g = group_counts(cube, tax, "两抢一盗")
    assert g["count"].tolist() == [2, 0, 0, 1] and (g["category"] == "两抢一盗").all()
    a = group_counts(cube, tax, ALL)
    assert a["count"].tolist() == [2, 0, 0, 2]
    assert group_counts(cube, tax, "诈骗")["count"].tolist() == [0, 0, 0, 1]
    with pytest.raises(ValueError, match="unknown category"):
        group_counts(cube, tax, "没有")


# -- the matrix form -----------------------------------------------------------------------------
def _tidy(seed=0):
    rng = np.random.default_rng(seed)
    periods = pd.date_range("2024-01-01", periods=6, freq="MS")
    rows = [(a, p, c, int(rng.poisson(3))) for a in ("B", "A", "C") for p in periods for c in ("y", "x")]
    return pd.DataFrame(rows, columns=["area_id", "period", "category", "count"]).sample(frac=1, random_state=1)


def test_to_matrix_round_trip_and_brute_force():
    counts = _tidy()
    m = to_matrix(counts)
    assert m.freq == "M" and m.Y.shape == (6, 6)
    assert m.keys.values.tolist() == [[a, c] for a in "ABC" for c in "xy"]  # sorted keys
    for i, (a, c) in enumerate(m.keys.itertuples(index=False)):  # brute force, cell by cell
        for j, p in enumerate(m.periods):
            sel = (counts["area_id"] == a) & (counts["category"] == c) & (counts["period"] == p)
            assert m.Y[i, j] == counts.loc[sel, "count"].item()
    back = m.to_frame().sort_values(["area_id", "category", "period"]).reset_index(drop=True)
    want = counts.sort_values(["area_id", "category", "period"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(back, want, check_dtype=False)


def test_count_matrix_head_and_errors():
    m = to_matrix(_tidy())
    h = m.head(4)
    assert list(h.periods) == list(m.periods[:4]) and h.freq == "M"
    np.testing.assert_array_equal(h.Y, m.Y[:, :4])
    with pytest.raises(ValueError, match="n: need 1 <= n <= 6"):
        m.head(0)
    with pytest.raises(ValueError, match="Y: shape"):
        CountMatrix(m.keys, m.periods[:3], m.Y, "M")
    with pytest.raises(ValueError, match="freq 'Q'"):
        CountMatrix(m.keys, m.periods, m.Y, "Q")
    with pytest.raises(ValueError, match="missing column"):
        to_matrix(_tidy().drop(columns="count"))


def test_area_matrix_in_layer_order_sums_categories():
    counts = _tidy()
    periods, X = area_matrix(counts, ["C", "A", "Z"])  # Z: an area without counts
    assert X.shape == (3, 6) and (X[2] == 0).all()
    ref = counts.groupby(["area_id", "period"])["count"].sum()
    for i, a in enumerate(["C", "A"]):
        np.testing.assert_array_equal(X[i], ref.loc[a].reindex(periods).to_numpy())
