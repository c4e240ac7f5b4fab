"""The hotspot page's statistics obey its filters: the 密度 surface is the quartic KDE of exactly
the filtered incidents (checked by a direct sum), and Gi* / emerging count only the incidents at
the chosen hours and weekdays."""

import numpy as np
import pandas as pd
import pytest

from analytics.service import Service
from analytics.service.hotspots import count_cube, density_grid, run_hotspots, workspace_crs
from analytics.service.incidents import filter_incidents
from data.workspace import Workspace
from layers.assign import project_lonlat

START, END = "2025-09-01", "2025-12-28"


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    from data.demo import build_demo

    path = tmp_path_factory.mktemp("hotfilters") / "workspace"
    build_demo(str(path), seed=7, incidents=20_000, years=2, end="2025-12-28")
    return Workspace(path)


def test_density_is_the_quartic_kde_of_the_filtered_incidents(ws):
    svc = Service(ws)
    hours, weekdays = (18, 23), [4, 5, 6]
    grid = svc.density(None, START, END, hours, weekdays, bandwidth=300.0)
    frame = svc.incidents()
    keep = filter_incidents(frame, start=START, end=END, hours=hours, weekdays=weekdays).to_numpy()
    assert grid["n_events"] == keep.sum() > 100
    assert grid["cell_m"] == pytest.approx(75.0)
    px, py = project_lonlat(frame.loc[keep, "lon"], frame.loc[keep, "lat"], workspace_crs(ws))
    dens = grid["density"]
    rng = np.random.default_rng(0)
    hot = np.unravel_index(np.argmax(dens), dens.shape)
    picks = [hot] + [tuple(rng.integers(0, s) for s in dens.shape) for _ in range(4)]
    for r, c in picks:
        d2 = (px - grid["x"][r, c]) ** 2 + (py - grid["y"][r, c]) ** 2  # a direct sum over incidents
        u2 = d2 / 300.0**2
        brute = np.sum(np.where(u2 < 1, (1 - u2) ** 2, 0.0)) * 3 / (np.pi * 300.0**2) * 1e6
        assert dens[r, c] == pytest.approx(brute, rel=1e-9, abs=1e-9)
    # the nodes sit where the page draws them: node (r, c) is (lon[c], lat[r]) projected
    x, y = project_lonlat([grid["lon"][hot[1]]], [grid["lat"][hot[0]]], workspace_crs(ws))
    assert (x[0], y[0]) == pytest.approx((grid["x"][hot], grid["y"][hot]))
    # the kernel integrates to 1: total mass = number of incidents (the grid is padded by h)
    assert dens.sum() * grid["cell_km2"] == pytest.approx(grid["n_events"], rel=0.02)
    other = svc.density(None, START, END, (0, 5), weekdays, bandwidth=300.0)
    assert other["n_events"] != grid["n_events"] and not np.allclose(other["density"], dens)


def test_density_grid_single_point_mass_and_peak():
    crs = "EPSG:32650"
    grid = density_grid([116.4], [39.9], crs, (116.39, 39.89, 116.41, 39.91), 200.0)
    assert grid["density"].sum() * grid["cell_km2"] == pytest.approx(1.0, rel=0.02)
    assert grid["density"].max() <= 3 / (np.pi * 0.2**2) + 1e-9  # K(0) per km²
    with pytest.raises(ValueError, match="bandwidth"):
        density_grid([116.4], [39.9], crs, (116.39, 39.89, 116.41, 39.91), 0.0)
    big = density_grid([116.4], [39.9], crs, (116.0, 39.5, 117.0, 40.3), 100.0, max_side=200)
    assert max(big["density"].shape) <= 201 and big["cell_m"] > 25.0


def test_count_cube_hours_and_weekdays_split_the_counts(ws):
    areas, periods, full = count_cube(ws, "grid", None, START, END)
    _, p_all, same = count_cube(ws, "grid", None, START, END, hours=(0, 23), weekdays=range(7))
    assert (p_all == periods).all() and np.array_equal(same, full)
    _, p_am, am = count_cube(ws, "grid", None, START, END, hours=(0, 11))
    _, _, pm = count_cube(ws, "grid", None, START, END, hours=(12, 23))
    assert (p_am == periods).all() and np.array_equal(am + pm, full) and am.sum() > 0 and pm.sum() > 0
    _, _, wkend = count_cube(ws, "grid", None, START, END, weekdays=[5, 6])
    _, _, wk = count_cube(ws, "grid", None, START, END, weekdays=[0, 1, 2, 3, 4])
    assert np.array_equal(wkend + wk, full)
    # the same incidents the page filters
    frame = Service(ws).incidents()
    n = filter_incidents(frame, start=START, end=END, hours=(0, 11)).sum()
    assert am.sum() == n
    with pytest.raises(ValueError, match="hours"):
        count_cube(ws, "grid", None, START, END, hours=(5, 30))
    with pytest.raises(ValueError, match="weekdays"):
        count_cube(ws, "grid", None, START, END, weekdays=[7])


def test_gistar_and_emerging_take_the_filters_and_the_cache_keys_them(ws):
    svc = Service(ws)
    every = svc.hotspots("gistar", category=None, start=START, end=END, permutations=0)
    night = svc.hotspots("gistar", category=None, start=START, end=END, permutations=0, hours=(0, 5))
    _, _, x = count_cube(ws, "grid", None, START, END, hours=(0, 5))
    assert np.array_equal(night["value"].to_numpy(), x.sum(axis=1))
    assert night["value"].sum() < every["value"].sum()
    again = svc.hotspots("gistar", category=None, start=START, end=END, permutations=0)
    pd.testing.assert_series_equal(again["value"], every["value"])
    em = run_hotspots(ws, "emerging", layer="community", start=START, end=END, weekdays=[5, 6])
    assert em["total"].sum() == filter_incidents(svc.incidents(), start=START, end=END, weekdays=[5, 6]).sum()
    with pytest.raises(ValueError, match="gistar, moran, emerging and knox"):
        run_hotspots(ws, "kde", hours=(1, 3))
