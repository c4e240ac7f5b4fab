"""A tiny city whose every count, rate and rank is worked out by hand (tests of hierarchies,
population, rates and the monthly ranking).

A 4 km × 2 km rectangle in UTM 48N (EPSG:32648):

- admin: 区 D1 = all; 街道 S1 = x < 2 km (人口 20,000 in the file), S2 = x > 2 km (10,000);
  社区 C1 … C4 = 1 km strips west → east (C1, C2 in S1; C3, C4 in S2). The 社区 file has no
  population: ``population.csv`` gives C1 12,000, C2 8,000, C3 6,000 and nothing for C4.
- police: 分局 F1 = all; 派出所 P1 = south half (y < 1 km), P2 = north half (parents by
  containment); 警务区 J1 = P1 west, J2 = P1 east, J3 = P2 west, J4 = P2 east, linked by a
  parent-id column 所属派出所.

Cases (all 全部 categories 抢劫 / 入室盗窃 alternating):

========  ===========================  ===================
month      per 社区 C1 C2 C3 C4         south / north
========  ===========================  ===================
Jul–Oct   2 2 2 2 each month            all south (y = 700)
2025-11   1 3 2 4                       all south
2025-12   6 4 5 3                       C1 4/2, C2 1/3, C3 5/0, C4 0/3
========  ===========================  ===================

plus one case on 2026-01-05 in C1 (south), so that December is complete.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import box

from data.workspace import Config, Workspace

CRS = "EPSG:32648"
X0, Y0 = 570_000.0, 2_940_000.0

#: Hand-worked figures of December 2025.
DEC = {"C1": 6, "C2": 4, "C3": 5, "C4": 3}
NOV = {"C1": 1, "C2": 3, "C3": 2, "C4": 4}
POP = {"S1": 20_000, "S2": 10_000, "C1": 12_000, "C2": 8_000, "C3": 6_000}


def _b(x0, y0, x1, y1):
    return box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def write_boundaries(folder: Path) -> dict[str, Path]:
    """The admin and police boundary files (GeoJSON, EPSG:4326) and population.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}

    def save(name, frame):
        path = folder / f"{name}.geojson"
        gpd.GeoDataFrame(frame, crs=CRS).to_crs(4326).to_file(path, driver="GeoJSON", engine="pyogrio")
        files[name] = path

    save("district", {"area_id": ["D1"], "name": ["甲区"], "geometry": [_b(0, 0, 4000, 2000)]})
    save("subdistrict", {"area_id": ["S1", "S2"], "name": ["东风街道", "西湖街道"], "parent_id": ["D1", "D1"],
                         "人口": [20_000, 10_000], "户数": [7_000, 3_500],
                         "geometry": [_b(0, 0, 2000, 2000), _b(2000, 0, 4000, 2000)]})
    save("community", {"area_id": [f"C{i}" for i in range(1, 5)], "name": ["一社区", "二社区", "三社区", "四社区"],
                       "parent_id": ["S1", "S1", "S2", "S2"],
                       "geometry": [_b(1000 * i, 0, 1000 * (i + 1), 2000) for i in range(4)]})
    save("fenju", {"编码": ["F1"], "名称": ["城关分局"], "geometry": [_b(0, 0, 4000, 2000)]})
    save("paichusuo", {"编码": ["P1", "P2"], "名称": ["南门派出所", "北门派出所"],
                       "geometry": [_b(0, 0, 4000, 1000), _b(0, 1000, 4000, 2000)]})
    save("jingwuqu", {"编码": ["J1", "J2", "J3", "J4"], "名称": ["南一警务区", "南二警务区", "北一警务区", "北二警务区"],
                      "所属派出所": ["P1", "P1", "P2", "P2"],
                      "geometry": [_b(0, 0, 2000, 1000), _b(2000, 0, 4000, 1000), _b(0, 1000, 2000, 2000),
                                   _b(2000, 1000, 4000, 2000)]})
    pop = folder / "population.csv"
    pd.DataFrame({"社区编码": ["C1", "C2", "C3"], "常住人口": [12_000, 8_000, 6_000],
                  "户数": [4_000, 2_800, 2_000]}).to_csv(pop, index=False, encoding="utf-8-sig")
    files["population"] = pop
    return files


def _incidents() -> pd.DataFrame:
    rows = []  # (day, community index 0..3, north?)
    for month in (7, 8, 9, 10):
        for c in range(4):
            rows += [(pd.Timestamp(2025, month, 3 + 7 * k), c, False) for k in range(2)]
    for c, n in enumerate(NOV.values()):
        rows += [(pd.Timestamp(2025, 11, 2 + 3 * k), c, False) for k in range(n)]
    north = {0: 2, 1: 3, 2: 0, 3: 3}
    for c, n in enumerate(DEC.values()):
        rows += [(pd.Timestamp(2025, 12, 2 + 3 * k), c, k < north[c]) for k in range(n)]
    rows.append((pd.Timestamp(2026, 1, 5), 0, False))
    t, c, up = zip(*rows)
    c = np.asarray(c)
    x = X0 + 1000 * c + 300 + 40 * (np.arange(len(c)) % 10)
    y = Y0 + np.where(np.asarray(up), 1500.0, 700.0)
    pts = gpd.GeoSeries(gpd.points_from_xy(x, y), crs=CRS).to_crs(4326)
    n = len(c)
    return pd.DataFrame({
        "incident_id": pd.array([f"T{i:04d}" for i in range(n)], dtype="str"),
        "occurred_at": pd.DatetimeIndex(t) + pd.Timedelta(hours=10),
        "category": pd.array(np.where(np.arange(n) % 2 == 0, "抢劫", "入室盗窃"), dtype="str"),
        "lon": pts.x.to_numpy(), "lat": pts.y.to_numpy(),
    })


def tiny_city(root: Path, *, police: bool = True, population: bool = True) -> Workspace:
    """The tiny workspace with incidents, admin areas (and police areas, population.csv)."""
    from data.pipeline import build_areas

    ws = Workspace.create(root / "ws", Config(name="小城"))
    inc = _incidents()
    gpd.GeoDataFrame(inc, geometry=gpd.points_from_xy(inc["lon"], inc["lat"]), crs=4326).to_parquet(
        ws.incidents_path, index=False)
    files = write_boundaries(root / "boundaries")
    build_areas(ws, boundaries=[files["district"], files["subdistrict"], files["community"]],
                population=files["population"] if population else None)
    if police:
        build_areas(ws, boundaries=[files["fenju"], files["paichusuo"], files["jingwuqu"]], hierarchy="police",
                    levels=["分局", "派出所", "警务区"])
    return ws
