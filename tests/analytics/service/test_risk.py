"""Risk terrain of a workspace: pingan areas --risk-factors, pingan risk, the planted risk found."""

import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from analytics.service import Service
from analytics.service.risk import import_risk_factors, risk_features_of
from data.workspace import Config, Workspace

pytestmark = pytest.mark.slow  # three CLI subprocesses and a 400-cell workspace

CRS = "EPSG:32649"
ROOT = Path(__file__).resolve().parents[3]
X0, Y0 = 500_000.0, 2_900_000.0


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import sys; from app import main; sys.exit(main(sys.argv[1:]))",
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """3 km x 3 km, 40 weeks of cases: three times the background within 300 m of a 网吧."""
    from data.pipeline import build_areas

    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("risk")
    ws = Workspace.create(path, Config(name="测试市", crs=CRS))
    bars = np.array([[700.0, 800.0], [2200.0, 600.0], [1500.0, 2300.0]])
    stops = rng.uniform(100, 2900, size=(8, 2))
    n = 6000
    x, y = rng.uniform(0, 3000, n), rng.uniform(0, 3000, n)
    d = np.min(np.hypot(x[:, None] - bars[:, 0], y[:, None] - bars[:, 1]), axis=1)
    keep = rng.random(n) < np.where(d <= 300, 1.0, 1 / 3)
    x, y = x[keep], y[keep]
    t = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.uniform(0, 40 * 7 * 86400, len(x)), unit="s")
    lon, lat = Transformer.from_crs(CRS, 4326, always_xy=True).transform(X0 + x, Y0 + y)
    inc = gpd.GeoDataFrame({"incident_id": [f"i{i}" for i in range(len(x))], "occurred_at": t,
                            "category": "盗窃", "lon": lon, "lat": lat},
                           geometry=gpd.points_from_xy(lon, lat), crs=4326)
    inc.to_parquet(ws.incidents_path)
    build_areas(ws, cell=150.0)
    to_wgs = Transformer.from_crs(CRS, 4326, always_xy=True)
    pts = np.vstack([bars, stops])
    plon, plat = to_wgs.transform(X0 + pts[:, 0], Y0 + pts[:, 1])
    factors = pd.DataFrame({"type": ["网吧"] * 3 + ["公交站"] * 8, "lon": plon, "lat": plat})
    factors.to_csv(path / "pois.csv", index=False, encoding="utf-8-sig")
    return ws


def test_pingan_areas_risk_factors_and_pingan_risk(ws):
    done = _cli("areas", "--workspace", str(ws.path), "--cell", "150", "--risk-factors",
                str(ws.path / "pois.csv"))
    assert done.returncode == 0, done.stderr
    assert "11 points" in done.stdout
    feats = risk_features_of(Workspace(ws.path), "cell")
    assert {"dist__网吧", "dens__网吧", "dist__公交站", "dens__公交站"} <= set(feats.columns)
    table = Service(ws.path).risk_table(level="cell").set_index("factor")
    # the planted reach is 300 m = 2 cells; the RR of the 网吧 is about 3, the 公交站 about 1
    assert table.loc["网吧", "influence_m"] == pytest.approx(300.0)
    assert 2.4 < table.loc["网吧", "rr"] < 3.6
    assert table.loc["公交站", "rr_low"] < 1.15 and table.loc["公交站", "rr"] < 1.3
    out = _cli("risk", "--workspace", str(ws.path), "--level", "cell", "--lang", "en")
    assert out.returncode == 0, out.stderr
    line = next(s for s in out.stdout.splitlines() if s.startswith("网吧"))
    assert f"{table.loc['网吧', 'rr']:.2f}" in line
    # p as the rest of the product writes it: never a 0 from underflow, never 1e-300
    assert line.split()[-1] == ("<0.001" if table.loc["网吧", "p"] < 0.001 else f"{table.loc['网吧', 'p']:.3f}")
    assert all(not s.rstrip().endswith((" 0", "e-300")) for s in out.stdout.splitlines())
    zh = _cli("risk", "--workspace", str(ws.path), "--level", "cell")
    assert "风险地形" in zh.stdout and "相对风险" in zh.stdout


def test_bad_risk_factor_files_are_named(ws, tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"kind": ["网吧"], "lon": [106.0], "lat": [26.0]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="no 'type' column"):
        import_risk_factors(ws, bad)
    done = _cli("areas", "--workspace", str(ws.path), "--cell", "150", "--risk-factors", str(bad))
    assert done.returncode == 2 and "type" in done.stderr and "Traceback" not in done.stderr
    holes = tmp_path / "holes.csv"
    pd.DataFrame({"type": ["网吧", "KTV"], "lon": [106.0, None], "lat": [26.0, 26.1]}).to_csv(holes, index=False)
    with pytest.raises(ValueError, match="line 3"):
        import_risk_factors(ws, holes)


def test_the_boards_pooled_model_gets_the_layers_risk_features(ws):
    from analytics.service import board

    import_risk_factors(ws, ws.path / "pois.csv")
    ws = Workspace(ws.path)
    static = board._static(ws, "cell", "gbm")
    assert {"dist__网吧", "dens__网吧"} <= set(static.columns)
    assert set(static["area_id"]) == set(ws.areas("cell")["area_id"].astype(str))
    assert board._static(ws, "cell", "eb") is None  # only the pooled model learns from them
    table = board.warning_table(ws, level="cell", model="gbm")
    assert table.attrs["model"] == "gbm" and np.isfinite(table["expected"]).all()
    near = static.set_index("area_id")["dist__网吧"].reindex(table["area_id"].astype(str)) <= 300
    # the planted risk: three times the rate within 300 m of a 网吧, and the forecast says so
    assert table.loc[near.to_numpy(), "expected"].mean() > 2 * table.loc[~near.to_numpy(), "expected"].mean()
