"""Geography of the demo city 示范市: boundary, admin hierarchy 区 > 街道 > 社区 > 网格, hot places.

The 网格 (grid) layer is a clipped Voronoi tessellation of seeds on a jittered hexagonal lattice
that is warped radially, so grids are small in the dense centre and larger at the edge. Every
coarser level is a *dissolve* of whole grids (districts by compass sector, 街道 and 社区 by
k-means of grid centroids inside their parent), so children partition their parent exactly:
no gaps, no overlaps, and the union of children is the parent by construction.

Everything is in the projected CRS :data:`DEMO_CRS` (UTM 48N, metres).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from data.demo_names import (
    DISTRICT_NAMES,
    community_names,
    person_names,
    subdistrict_names,
)

__all__ = ["DEMO_CRS", "DEMO_CENTER", "DemoCity", "build_city", "PLACE_TYPES"]

#: Projected CRS of the demo city (WGS 84 / UTM zone 48N).
DEMO_CRS = "EPSG:32648"
#: (lon, lat) of the city centre — a plausible spot on the Yunnan–Guizhou plateau.
DEMO_CENTER = (106.63, 26.60)
#: Hot-place types and their spatial spread (Gaussian sigma, metres).
PLACE_TYPES: dict[str, float] = {"交通枢纽": 250.0, "商业中心": 400.0, "城中村": 450.0, "夜市/酒吧街": 200.0}

_RADIUS_M = 11_000.0


@dataclass
class DemoCity:
    """The generated geography.

    Attributes
    ----------
    boundary : shapely.Polygon
        City outline (projected metres).
    layers : dict of str to GeoDataFrame
        ``district``, ``subdistrict``, ``community``, ``grid`` with area_id, name, level,
        parent_id (+ households, population, grid_worker on ``grid``), CRS :data:`DEMO_CRS`.
    places : DataFrame
        Hot places: place_id, name, type, x, y, sigma, lon, lat.
    field : ndarray
        Smooth urban-intensity field at each grid centroid (mean 0, sd ~1), aligned with
        ``layers["grid"]``.
    """

    boundary: shapely.Polygon
    layers: dict[str, gpd.GeoDataFrame]
    places: pd.DataFrame
    field: np.ndarray
    crs: str = DEMO_CRS
    center: tuple[float, float] = DEMO_CENTER

    @property
    def grids(self) -> gpd.GeoDataFrame:
        return self.layers["grid"]


def build_city(rng: np.random.Generator, *, n_grids: int = 2500) -> DemoCity:
    """Generate the city geography with a seeded generator.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (the same seed gives the same city).
    n_grids : int
        Approximate number of 网格 (the lattice is tuned to land within ~5% of it).

    Returns
    -------
    DemoCity
    """
    to_utm = Transformer.from_crs(4326, DEMO_CRS, always_xy=True)
    cx, cy = to_utm.transform(*DEMO_CENTER)
    boundary = _boundary(rng, cx, cy)
    seeds = _seeds(rng, boundary, cx, cy, n_grids)
    cells = _voronoi(seeds, boundary)
    cent = shapely.centroid(cells)
    gx, gy = shapely.get_x(cent), shapely.get_y(cent)

    district = _district_codes(gx - cx, gy - cy, rng)
    sub = _split(gx, gy, district, rng, total=20)
    com = _split(gx, gy, sub, rng, total=120)
    layers = _layers(cells, gx, gy, district, sub, com, rng)
    grid = layers["grid"]  # sorted by area_id: recompute centroids in that order
    cent = shapely.centroid(grid.geometry.to_numpy())
    gx, gy = shapely.get_x(cent), shapely.get_y(cent)
    field = _field(rng, gx - cx, gy - cy)
    places = _places(rng, layers, gx, gy, cx, cy)
    # 城中村 grids are crowded: more households and more people per household.
    near_village = np.zeros(len(grid), bool)
    for _, p in places[places["type"] == "城中村"].iterrows():
        near_village |= np.hypot(gx - p["x"], gy - p["y"]) < 2 * p["sigma"]
    hh = rng.integers(200, 331, len(grid)) + near_village * rng.integers(40, 71, len(grid))
    per = np.round(rng.normal(2.7, 0.15, len(grid)) + 0.5 * near_village, 2)
    grid["households"] = hh.astype("int64")
    grid["population"] = np.round(hh * per).astype("int64")
    grid["grid_worker"] = person_names(len(grid), rng)
    for level, parent_layer in (("community", "grid"), ("subdistrict", "community"), ("district", "subdistrict")):
        child = layers[parent_layer]
        sums = child.groupby("parent_id")[["households", "population"]].sum()
        layers[level] = layers[level].join(sums, on="area_id")
    return DemoCity(boundary=boundary, layers=layers, places=places, field=field)


# -- construction helpers -------------------------------------------------------------------
def _boundary(rng: np.random.Generator, cx: float, cy: float) -> shapely.Polygon:
    """A blob: a circle whose radius wobbles with a few low harmonics."""
    t = np.linspace(0, 2 * np.pi, 361)[:-1]
    r = np.ones_like(t)
    for k, amp in ((2, 0.10), (3, 0.07), (5, 0.035)):
        r += amp * np.sin(k * t + rng.uniform(0, 2 * np.pi))
    return shapely.Polygon(np.c_[cx + _RADIUS_M * r * np.cos(t), cy + _RADIUS_M * r * np.sin(t)])


def _seeds(rng, boundary, cx, cy, n_target) -> np.ndarray:
    """Jittered hex lattice in a warped radial coordinate: denser towards the centre."""
    power = 1.6  # real radius = R * u**power: cells grow outward
    spacing = 0.03
    for _ in range(2):  # one correction step is enough to land near n_target
        pts = _warped_lattice(rng, spacing, power, cx, cy)
        inside = shapely.contains_xy(boundary, pts[:, 0], pts[:, 1])
        spacing *= np.sqrt(inside.sum() / n_target)
    pts = _warped_lattice(rng, spacing, power, cx, cy)
    return pts[shapely.contains_xy(boundary, pts[:, 0], pts[:, 1])]


def _warped_lattice(rng, spacing, power, cx, cy) -> np.ndarray:
    n = int(1.3 / spacing) + 2
    i, j = np.meshgrid(np.arange(-n, n + 1), np.arange(-n, n + 1))
    u = (i + 0.5 * (j % 2)) * spacing
    v = j * spacing * np.sqrt(3) / 2
    u = u + rng.uniform(-0.25, 0.25, u.shape) * spacing
    v = v + rng.uniform(-0.25, 0.25, v.shape) * spacing
    rad = np.hypot(u, v).ravel()
    ang = np.arctan2(v, u).ravel()
    keep = (rad < 1.3) & (rad > 0)
    real = _RADIUS_M * rad[keep] ** power
    return np.c_[cx + real * np.cos(ang[keep]), cy + real * np.sin(ang[keep])]


def _voronoi(seeds: np.ndarray, boundary: shapely.Polygon) -> np.ndarray:
    vor = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=boundary, ordered=True)
    cells = shapely.intersection(shapely.get_parts(vor), boundary)
    # A concave boundary can cut a cell in two; keep the largest piece and let the
    # neighbouring cell absorb nothing (the lost sliver is tiny and stays outside the city).
    parts, idx = shapely.get_parts(cells, return_index=True)
    if len(parts) != len(cells):
        area = shapely.area(parts)
        order = np.lexsort((-area, idx))
        first = order[np.r_[True, idx[order][1:] != idx[order][:-1]]]
        cells = parts[first]
    return shapely.make_valid(cells)


def _district_codes(dx: np.ndarray, dy: np.ndarray, rng) -> np.ndarray:
    """Four districts by compass sector; sector borders bend with distance so they look drawn."""
    ang = np.arctan2(dy, dx) + 0.25 * np.sin(np.hypot(dx, dy) / 2500 + rng.uniform(0, 6.28))
    sector = np.round(ang / (np.pi / 2)).astype(int) % 4  # 0 E, 1 N, 2 W, 3 S
    return np.array(["E", "N", "W", "S"])[sector]


def _split(gx, gy, parent: np.ndarray, rng, *, total: int) -> np.ndarray:
    """Split every parent into k-means clusters of its grids; ~``total`` children overall."""
    keys, inv, sizes = np.unique(parent, return_inverse=True, return_counts=True)
    k = np.maximum(1, np.round(sizes / sizes.sum() * total)).astype(int)
    out = np.empty(len(parent), dtype=object)
    for p, key in enumerate(keys):  # loop over a handful of parents, not over cells
        m = inv == p
        lab, ctr = _kmeans(np.c_[gx[m], gy[m]], int(k[p]), rng)
        # Number children north-west to south-east so ids read like a map.
        rank = np.argsort(np.argsort(-ctr[:, 1] + 0.3 * ctr[:, 0]))
        out[m] = [f"{key}|{r:02d}" for r in rank[lab]]
    return out


def _kmeans(pts: np.ndarray, k: int, rng, iters: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Plain Lloyd k-means with k-means++ seeding (a few hundred points: numpy, one thread)."""
    ctr = pts[[int(rng.integers(len(pts)))]]
    for _ in range(1, k):
        d2 = ((pts[:, None, :] - ctr[None]) ** 2).sum(-1).min(1)
        ctr = np.vstack([ctr, pts[rng.choice(len(pts), p=d2 / d2.sum())]])
    for _ in range(iters):
        lab = ((pts[:, None, :] - ctr[None]) ** 2).sum(-1).argmin(1)
        new = np.array([pts[lab == j].mean(0) if (lab == j).any() else ctr[j] for j in range(k)])
        if np.allclose(new, ctr):
            break
        ctr = new
    return ((pts[:, None, :] - ctr[None]) ** 2).sum(-1).argmin(1), ctr


def _layers(cells, gx, gy, district, sub, com, rng) -> dict[str, gpd.GeoDataFrame]:
    d_order = {"E": 1, "W": 2, "S": 3, "N": 4}
    d_id = np.array([f"D{d_order[d]:02d}" for d in district])
    s_id = np.char.add(d_id.astype(str), np.array([f"S{int(s.split('|')[-1]) + 1:02d}" for s in sub]))
    c_id = np.char.add(s_id, np.array([f"C{int(c.split('|')[-1]) + 1:02d}" for c in com]))
    g = pd.DataFrame({"c": c_id, "y": -gy, "x": gx, "i": np.arange(len(cells))})
    g = g.sort_values(["c", "y", "x"])
    g["n"] = g.groupby("c").cumcount() + 1
    g_id = np.empty(len(cells), dtype=object)
    g_id[g["i"].to_numpy()] = (g["c"] + "G" + g["n"].map("{:03d}".format)).to_numpy()

    sub_ids = np.unique(s_id)
    com_ids = np.unique(c_id)
    sub_names = dict(zip(sub_ids, subdistrict_names(len(sub_ids), rng)))
    com_names = dict(zip(com_ids, community_names(len(com_ids), rng)))
    dist_names = {f"D{v:02d}": DISTRICT_NAMES[k] for k, v in d_order.items()}
    order = np.argsort(g_id)
    grid = gpd.GeoDataFrame(
        {
            "area_id": g_id[order].astype(str),
            "name": [f"{com_names[c]}第{int(gid[-3:])}网格" for c, gid in zip(c_id[order], g_id[order])],
            "level": "grid",
            "parent_id": c_id[order].astype(str),
        },
        geometry=cells[order],
        crs=DEMO_CRS,
    )
    layers = {"grid": grid}
    for level, ids, parents, names in (
        ("community", c_id[order], s_id[order], com_names),
        ("subdistrict", s_id[order], d_id[order], sub_names),
        ("district", d_id[order], None, dist_names),
    ):
        keys, inv = np.unique(ids, return_inverse=True)
        geoms = [_dissolve(cells[order][inv == k]) for k in range(len(keys))]  # ~150 areas
        parent = None if parents is None else pd.Series(parents).groupby(inv).first().to_numpy()
        layers[level] = gpd.GeoDataFrame(
            {
                "area_id": keys.astype(str),
                "name": [names[k] for k in keys],
                "level": level,
                "parent_id": parent if parent is not None else pd.Series([None] * len(keys), dtype=object),
            },
            geometry=geoms,
            crs=DEMO_CRS,
        )
    return layers


def _dissolve(parts: np.ndarray):
    try:
        out = shapely.coverage_union_all(parts)
    except shapely.errors.GEOSException:  # not a clean coverage: fall back to overlay union
        out = shapely.union_all(parts)
    return out if out.is_valid else shapely.make_valid(out)


def _field(rng, dx, dy) -> np.ndarray:
    """Smooth urban intensity: a central bump, a few sub-centre bumps and low-frequency waves."""
    f = 1.2 * np.exp(-(dx**2 + dy**2) / (2 * 4000.0**2))
    for _ in range(5):
        bx, by = rng.normal(0, 4500, 2)
        f += rng.uniform(0.3, 0.7) * np.exp(-((dx - bx) ** 2 + (dy - by) ** 2) / (2 * rng.uniform(1200, 2500) ** 2))
    for _ in range(8):
        k = rng.uniform(2 * np.pi / 12000, 2 * np.pi / 4000)
        th = rng.uniform(0, np.pi)
        f += 0.15 * np.cos(k * (dx * np.cos(th) + dy * np.sin(th)) + rng.uniform(0, 6.28))
    return (f - f.mean()) / f.std()


def _places(rng, layers, gx, gy, cx, cy) -> pd.DataFrame:
    """Named hot places at plausible spots (hubs and markets central, 城中村 on the fringe)."""
    grid = layers["grid"]
    x, y = gx, gy
    r = np.hypot(x - cx, y - cy)
    sub_name = grid["parent_id"].str[:6].map(layers["subdistrict"].set_index("area_id")["name"])
    com_name = grid["parent_id"].map(layers["community"].set_index("area_id")["name"])
    spec = [  # type, count, (min, max) distance from centre in metres
        ("交通枢纽", 2, (1500, 6000)),
        ("商业中心", 3, (0, 4500)),
        ("城中村", 4, (4000, 8500)),
        ("夜市/酒吧街", 3, (500, 5000)),
    ]
    rows, used = [], np.zeros(len(grid), bool)
    for ptype, n, (lo, hi) in spec:
        for k in range(n):
            ok = (r >= lo) & (r <= hi) & ~used
            i = int(rng.choice(np.flatnonzero(ok)))
            used |= np.hypot(x - x[i], y - y[i]) < 2500  # keep places apart
            stem = sub_name.iloc[i].removesuffix("街道")
            village = com_name.iloc[i].removesuffix("社区")
            options = {
                "交通枢纽": ("示范火车站", f"{stem}客运站", f"{stem}枢纽站"),
                "商业中心": (f"{stem}商圈", f"{stem}广场", f"{stem}步行街"),
                "城中村": (village + "村", village + "新村", stem + "村"),
                "夜市/酒吧街": (f"{stem}夜市", f"{stem}酒吧街", f"{stem}美食街"),
            }[ptype]
            names = {row[1] for row in rows}
            name = next((o for o in options[k % 2:] + options if o not in names), f"{stem}{ptype}{k}")
            rows.append((f"P{len(rows) + 1:02d}", name, ptype, x[i], y[i], PLACE_TYPES[ptype], grid["area_id"].iloc[i]))
    places = pd.DataFrame(rows, columns=["place_id", "name", "type", "x", "y", "sigma", "grid_id"])
    lon, lat = Transformer.from_crs(DEMO_CRS, 4326, always_xy=True).transform(places["x"], places["y"])
    places["lon"], places["lat"] = np.round(lon, 6), np.round(lat, 6)
    return places
