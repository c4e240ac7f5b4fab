"""pingan export (data/export.py): one file of incidents, quarantine or counts from a workspace
whose incidents are a folder of monthly parts, from a folder and from a PostGIS store.

The workspace: two ingests with different source columns (so the monthly parts' schemas
differ), a low ``partition_rows`` so the incidents are parts, a 500 m grid (counts), and
quarantined rows. Exports are read back and compared with the workspace's own read functions.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app import main
from data import export as ex
from data.export import export_table
from data.ingest import ingest_files
from data.partitions import is_partitioned, read_frame
from data.pipeline import build_areas
from data.workspace import Workspace


def _csv(path: Path, n: int, seed: int, prefix: str, extra: str | None) -> Path:
    rng = np.random.default_rng(seed)
    t = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 60 * 24 * 300, n), unit="min")
    frame = pd.DataFrame({
        "incident_id": [f"{prefix}{i:05d}" for i in range(n)],
        "occurred_at": t.strftime("%Y-%m-%d %H:%M"),
        "category": rng.choice(["入室盗窃", "扒窃", "诈骗"], n),
        "lon": rng.uniform(106.60, 106.80, n).round(6).astype(str),
        "lat": rng.uniform(26.50, 26.70, n).round(6).astype(str),
    })
    if extra:
        frame[extra] = [f"=云岩区{i}号" if i % 50 == 0 else f"云岩区{i}号" for i in range(n)]  # a formula-like text
    frame.loc[rng.random(n) < 0.05, "lon"] = ""
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("export")
    ws = Workspace.create(root / "w")
    ws.update_config(extra={"partition_rows": 500})
    ingest_files([_csv(root / "a.csv", 1_500, 1, "A", "地址")], ws)
    ingest_files([_csv(root / "b.csv", 800, 2, "B", None)], ws)
    build_areas(ws, cell=500)
    assert is_partitioned(ws) and len(list(ws.incidents_path.glob("*.parquet"))) > 3
    return root / "w"


def _parts(ws: Workspace) -> pd.DataFrame:
    return read_frame(ws, "incidents.parquet").drop(columns="geometry")


def test_incidents_parquet_is_one_geoparquet_equal_to_the_parts(folder, tmp_path):
    import geopandas as gpd

    ws = Workspace(folder)
    out = tmp_path / "incidents.parquet"
    assert export_table(ws, "incidents", out, batch_rows=97) == len(_parts(ws))  # many batches
    assert out.is_file()
    got = pd.read_parquet(out)
    pd.testing.assert_frame_equal(got.drop(columns="geometry"), _parts(ws))
    assert got["地址"].isna().sum() == len(ws.incidents_frame()[lambda f: f["incident_id"].str.startswith("B")])
    geo = gpd.read_parquet(out)
    assert geo.crs.to_epsg() == 4326 and np.allclose(geo.geometry.x, got["lon"])


def test_incidents_csv_times_text_and_formulas_as_the_other_exports(folder, tmp_path):
    ws = Workspace(folder)
    out = tmp_path / "incidents.csv"
    n = export_table(ws, "incidents", out, batch_rows=128)
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    got = pd.read_csv(out, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    want = _parts(ws)
    assert len(got) == n == len(want) and "geometry" not in got.columns
    assert got["incident_id"].tolist() == want["incident_id"].tolist()
    assert got["occurred_at"].tolist() == want["occurred_at"].dt.strftime("%Y-%m-%d %H:%M:%S").tolist()
    np.testing.assert_allclose(got["lon"].astype(float), want["lon"])
    formula = want["地址"].fillna("").str.startswith("=")
    assert formula.sum() > 10 and (got.loc[formula.to_numpy(), "地址"].str[:2] == "'=").all()


@pytest.mark.slow
def test_counts_and_quarantine_csv_and_xlsx(folder, tmp_path):
    from openpyxl import load_workbook

    from data.pipeline import counts

    ws = Workspace(folder)
    out = tmp_path / "counts.csv"
    export_table(ws, "counts", out, batch_rows=1000)
    got = pd.read_csv(out, encoding="utf-8-sig", dtype={"area_id": str})
    assert list(got.columns) == ["layer", "area_id", "period", "category", "count"]
    layer = ws.layers()[0]
    mine = got[got["layer"] == layer]
    want = counts(ws, layer)
    assert len(mine) == len(want) and int(mine["count"].sum()) == int(want["count"].sum()) > 2_000
    q = ws.quarantine()
    assert len(q) > 50
    xlsx = tmp_path / "quarantine.xlsx"
    assert export_table(ws, "quarantine", xlsx, batch_rows=13) == len(q)
    rows = list(load_workbook(xlsx, read_only=True)["data"].values)
    assert list(rows[0]) == list(q.columns) and len(rows) == len(q) + 1
    assert [r[list(q.columns).index("source_row")] for r in rows[1:]] == q["source_row"].tolist()
    assert [r[list(q.columns).index("reason")] for r in rows[1:]] == q["reason"].tolist()


def test_xlsx_over_excels_rows_is_refused_naming_csv_and_nothing_written(folder, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ex, "EXCEL_ROWS", 1_000)  # the real limit, 1,048,576, scaled down
    out = tmp_path / "incidents.xlsx"
    code = main(["export", "--workspace", str(folder), "incidents", str(out)])
    err = capsys.readouterr().err
    n = len(Workspace(folder).incidents_frame())
    assert code == 2 and f"{n:,} rows" in err and "999 rows per sheet" in err and ".csv" in err, err
    assert "Traceback" not in err and not out.exists() and not list(tmp_path.iterdir())


def test_cli_writes_the_file_and_the_audit_log_records_it(folder, tmp_path, capsys):
    from data.audit import read_audit

    path = tmp_path / "w"
    shutil.copytree(folder, path)
    out = tmp_path / "out" / "q.parquet"
    assert main(["export", "--workspace", str(path), "quarantine", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_parquet(out), Workspace(path).quarantine())
    log = read_audit(Workspace(path))
    assert ((log["action"] == "export") & (log["detail"] == f"quarantine {out}")).any()
    with pytest.raises(SystemExit, match="2"):  # argparse: an unknown table
        main(["export", "--workspace", str(path), "nope", str(out)])
    code = main(["export", "--workspace", str(path), "counts", str(tmp_path / "c.json")])
    assert code == 2 and ".json" in capsys.readouterr().err


@pytest.mark.slow
def test_postgis_workspace_exports_the_same_files(folder, tmp_path, postgres_database, monkeypatch):
    from data.workspace_pg import copy_folder

    monkeypatch.setenv("PINGAN_CACHE", str(tmp_path / "cache"))
    pg = copy_folder(folder, postgres_database + "?schema=export")
    assert pg.backend != "folder"
    for table in ("incidents", "quarantine", "counts"):
        a, b = tmp_path / f"{table}-folder.parquet", tmp_path / f"{table}-pg.parquet"
        export_table(Workspace(folder), table, a, batch_rows=500)
        export_table(pg, table, b, batch_rows=500)
        fa, fb = pd.read_parquet(a), pd.read_parquet(b)
        assert len(fa) == len(fb) > 0, table
        pd.testing.assert_frame_equal(fa.drop(columns="geometry", errors="ignore").astype(str),
                                      fb.drop(columns="geometry", errors="ignore").astype(str), obj=table)
    csv = tmp_path / "incidents-pg.csv"
    assert main(["export", "--workspace", pg.location, "incidents", str(csv)]) == 0
    assert len(pd.read_csv(csv, encoding="utf-8-sig")) == len(Workspace(folder).incidents_frame())
