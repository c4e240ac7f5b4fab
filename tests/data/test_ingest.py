"""ingest_files: planted bad rows land in the quarantine with the right reason, rows are never
lost, weekly files append, re-ingesting adds nothing, and user mistakes are one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from app import main
from data.ingest import REASONS, ingest_files
from data.workspace import Config, Workspace

ROOT = Path(__file__).resolve().parents[2]


def _csv(frame: pd.DataFrame, path: Path, encoding: str) -> Path:
    frame.to_csv(path, index=False, encoding=encoding)
    return path


def _reasons_by_row(ws: Workspace, name: str) -> dict[int, str]:
    q = ws.quarantine()
    q = q[q["source_file"] == name]
    return dict(zip(q["source_row"].astype(int), q["reason"]))


def _expected_by_row(expected: list[str]) -> dict[int, str]:
    return {i + 1: r for i, r in enumerate(expected) if r}


def test_gbk_csv_every_planted_row_has_its_reason(tmp_path, messy):
    frame, expected = messy(1)
    path = _csv(frame, tmp_path / "警情.csv", "gbk")
    ws = Workspace.create(tmp_path / "w")
    rep = ingest_files([path], ws)

    assert rep.encodings[str(path)] == "gb18030"
    assert rep.mapped[str(path)] == {"incident_id": "警情编号", "occurred_at": "报警时间",
                                     "category": "警情类别", "lon": "经度", "lat": "纬度"}
    assert _reasons_by_row(ws, path.name) == _expected_by_row(expected)
    assert rep.rows_in == len(frame) == rep.rows_used + rep.rows_quarantined
    assert rep.rows_quarantined == sum(1 for e in expected if e)
    assert rep.by_reason["unparseable_time"] == 2 and rep.by_reason["missing_coordinates"] == 2
    assert rep.by_reason["swapped_lat_lon"] == 1 and rep.by_reason["duplicate_id"] == 1

    inc = ws.incidents()
    assert inc.crs.to_epsg() == 4326 and len(inc) == rep.rows_used
    assert list(inc.columns[:5]) == ["incident_id", "occurred_at", "category", "lon", "lat"]
    assert "地址" in inc.columns and "报警时间" not in inc.columns
    assert inc["incident_id"].is_unique
    np.testing.assert_allclose(inc.geometry.x, inc["lon"])
    # every good row's time parsed to the true time, whatever format it was written in
    truth = {frame.loc[i, "警情编号"]: t for i, (t, e) in enumerate(zip(frame.attrs["times"], expected))
             if not e}
    got = dict(zip(inc["incident_id"], inc["occurred_at"]))
    assert got == truth
    # sorted by time, then id
    assert inc["occurred_at"].is_monotonic_increasing

    q = ws.quarantine()
    bad_lat = q[q["reason"] == "missing_coordinates"]["纬度"].tolist()
    assert "abc" in bad_lat  # the original text, not NaN
    assert {"source_file", "source_row", "reason", "reason_detail"} <= set(q.columns)
    assert (q["reason_detail"].str.len() > 5).all()
    swapped = q[q["reason"] == "swapped_lat_lon"].iloc[0]
    assert float(swapped["经度"]) < 90 < float(swapped["纬度"])  # kept as given, not fixed

    cfg = ws.config
    assert cfg.crs == "EPSG:32648"  # Guiyang is in UTM zone 48N
    assert cfg.center[0] == pytest.approx(inc["lon"].median(), abs=1e-5)
    assert "wgs84" in cfg.extra["ingest_coords"]
    text = rep.summary()
    assert "读入 rows in: " in text and f"隔离 quarantined: {rep.rows_quarantined}" in text


def test_utf8_bom_english_headers_without_ids_get_stable_hash_ids(tmp_path, messy):
    frame, expected = messy(2, 30)
    eng = frame.drop(columns=["警情编号"]).rename(columns={
        "报警时间": "Occurred_At", "警情类别": " Offense ", "经度": "Longitude", "纬度": "LATITUDE"})
    path = _csv(eng, tmp_path / "week.csv", "utf-8-sig")
    ws = Workspace.create(tmp_path / "w")
    rep = ingest_files(path, ws)
    assert rep.encodings[str(path)] == "utf-8-sig"
    assert rep.mapped[str(path)]["incident_id"].startswith("generated")
    assert rep.mapped[str(path)]["category"] == " Offense "
    # the verbatim duplicate row gets the same hash id, so it is still a duplicate
    exp = _expected_by_row(expected)
    assert _reasons_by_row(ws, path.name) == exp
    ids = ws.incidents_frame()["incident_id"]
    assert ids.str.fullmatch(r"h[0-9a-f]{16}(-\d+)?").all()

    # the same rows in a new file (one more row, so different bytes): old rows are duplicates
    extra = eng.iloc[[0]].assign(Occurred_At="2024-12-30 10:00")
    path2 = _csv(pd.concat([eng, extra]), tmp_path / "week2.csv", "utf-8-sig")
    rep2 = ingest_files(path2, ws)
    assert rep2.rows_used == 1
    assert rep2.by_reason["duplicate_id"] == rep.rows_used + 1
    assert set(ws.incidents_frame()["incident_id"]) >= set(ids)


def test_weekly_update_appends_and_same_file_twice_adds_nothing(tmp_path, messy):
    ws = Workspace.create(tmp_path / "w")
    w1, e1 = messy(3, 30, id_prefix="A")
    w2, e2 = messy(4, 25, id_prefix="B")
    p1 = _csv(w1, tmp_path / "w1.csv", "utf-8")
    p2 = _csv(w2, tmp_path / "w2.csv", "gb18030")
    r1 = ingest_files([p1], ws)
    n1 = len(ws.incidents_frame())
    r2 = ingest_files([p2], ws)
    inc = ws.incidents_frame()
    assert len(inc) == n1 + r2.rows_used == r1.rows_used + r2.rows_used
    assert len(ws.quarantine()) == r1.rows_quarantined + r2.rows_quarantined
    assert inc["occurred_at"].is_monotonic_increasing

    before = (ws.incidents_path.read_bytes(), ws.quarantine_path.read_bytes())
    r3 = ingest_files([p1, p2], ws)
    assert r3.already_ingested == [str(p1), str(p2)]
    assert r3.rows_in == r3.rows_used == r3.rows_quarantined == 0
    assert "already ingested" in r3.summary()
    assert (ws.incidents_path.read_bytes(), ws.quarantine_path.read_bytes()) == before
    log = pd.read_parquet(ws.ingested_path)
    assert list(log["name"]) == ["w1.csv", "w2.csv"] and log["sha256"].str.len().eq(64).all()

    # a re-export of week 1 with one changed byte: a new file, but every id is a duplicate
    p1b = _csv(w1.assign(地址=w1["地址"] + " "), tmp_path / "w1-again.csv", "utf-8")
    r4 = ingest_files([p1b], ws)
    assert r4.rows_used == 0 and r4.rows_in == len(w1)
    assert r4.by_reason["duplicate_id"] == r1.rows_used + 1  # + the in-file duplicate
    assert len(ws.incidents_frame()) == len(inc)


def test_boundary_file_and_workspace_admin_layer(tmp_path, messy, study_box):
    frame, expected = messy(5, 40)
    # a valid point just outside the study box (east of it)
    frame.loc[3, "经度"] = f"{study_box[2] + 0.05:.6f}"
    path = _csv(frame, tmp_path / "x.csv", "utf-8")
    exp = _expected_by_row(expected)
    if not expected[3]:
        exp[4] = "outside_study_area"
    # no boundary: only lon/lat validity, so the eastern point is kept
    ws0 = Workspace.create(tmp_path / "w0")
    ingest_files([path], ws0)
    assert _reasons_by_row(ws0, "x.csv").get(4) == (expected[3] or None)

    bfile = tmp_path / "boundary.geojson"
    gpd.GeoDataFrame({"name": ["study"]}, geometry=[box(*study_box)], crs=4326).to_file(bfile)
    ws1 = Workspace.create(tmp_path / "w1")
    rep = ingest_files([path], ws1, boundary=bfile)
    assert _reasons_by_row(ws1, "x.csv") == exp
    assert "boundary.geojson" in rep.summary()

    # a district layer (projected, as areas are stored) acts as the boundary when none is given
    ws2 = Workspace.create(tmp_path / "w2", Config(crs="EPSG:32648"))
    district = gpd.GeoDataFrame(
        {"area_id": ["D01"], "name": ["云岩区"], "level": ["district"], "parent_id": [None]},
        geometry=[box(*study_box)], crs=4326).to_crs(32648)
    district.to_parquet(ws2.area_path("district"))
    ingest_files([path], ws2)
    assert _reasons_by_row(ws2, "x.csv") == exp


def test_timezones_aware_and_naive(tmp_path):
    frame = pd.DataFrame({
        "id": ["a", "b", "c"],
        "datetime": ["2024-03-05T06:20:00Z", "2024-03-05T14:20:00+08:00", "2024-03-05 14:20"],
        "type": ["扒窃"] * 3, "lng": ["106.7"] * 3, "lat": ["26.6"] * 3,
    })
    p = _csv(frame, tmp_path / "t.csv", "utf-8")
    ws = Workspace.create(tmp_path / "w")  # Asia/Shanghai
    ingest_files([p], ws)
    got = ws.incidents_frame().set_index("incident_id")["occurred_at"]
    assert (got == pd.Timestamp("2024-03-05 14:20")).all()
    # naive times said to be UTC go into the (Shanghai) workspace 8 hours later
    ws2 = Workspace.create(tmp_path / "w2", Config(timezone="Asia/Shanghai"))
    ingest_files([_csv(frame.iloc[[2]], tmp_path / "t2.csv", "utf-8")], ws2)
    ws3 = Workspace.create(tmp_path / "w3")
    ingest_files([_csv(frame.iloc[[2]], tmp_path / "t3.csv", "utf-8")], ws3, timezone="UTC")
    # on a fresh workspace the given zone becomes the workspace's: times stay as written
    assert ws3.config.timezone == "UTC"
    assert ws3.incidents_frame()["occurred_at"].iloc[0] == pd.Timestamp("2024-03-05 14:20")
    ws2_again = ingest_files([_csv(frame.iloc[[0]].assign(datetime="2024-03-06 00:00", id="d"),
                                   tmp_path / "t4.csv", "utf-8")], ws2, timezone="UTC")
    assert ws2_again.rows_used == 1
    got2 = ws2.incidents_frame().set_index("incident_id")["occurred_at"]
    assert got2["d"] == pd.Timestamp("2024-03-06 08:00")
    assert ws2.config.timezone == "Asia/Shanghai"


@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15, 16])
def test_rows_in_equals_used_plus_quarantined_on_random_messy_frames(tmp_path, seed, messy):
    rng = np.random.default_rng(seed)
    frame, _ = messy(seed, int(rng.integers(5, 60)))
    # extra random damage anywhere: blanks, garbage, duplicated rows, swapped columns
    for _ in range(int(rng.integers(3, 15))):
        i = int(rng.integers(len(frame)))
        col = frame.columns[int(rng.integers(5))]
        frame.loc[i, col] = [None, "", "??", "0", "1e400", "2024-13-45"][int(rng.integers(6))]
    frame = pd.concat([frame, frame.sample(int(rng.integers(0, 5)), random_state=seed)], ignore_index=True)
    path = _csv(frame, tmp_path / "m.csv", ["utf-8", "utf-8-sig", "gb18030"][seed % 3])
    ws = Workspace.create(tmp_path / "w")
    rep = ingest_files([path], ws, coords=["wgs84", "gcj02", "bd09"][seed % 3])
    inc, q = ws.incidents_frame(), ws.quarantine()
    assert rep.rows_in == len(frame) == len(inc) + len(q) == rep.rows_used + rep.rows_quarantined
    assert sorted(q["source_row"]) == sorted(set(q["source_row"]))  # each row at most once
    assert set(q["reason"]) <= set(REASONS)
    assert inc["incident_id"].is_unique
    assert sum(rep.by_reason.values()) == len(q)


# -- user mistakes -------------------------------------------------------------------------
def test_user_mistakes_raise_naming_file_and_column(tmp_path, messy):
    ws = Workspace.create(tmp_path / "w")
    frame, _ = messy(6, 10)
    gbk = _csv(frame, tmp_path / "gbk.csv", "gbk")
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        ingest_files([tmp_path / "missing.csv"], ws)
    odd = tmp_path / "data.dbf"
    odd.write_bytes(b"x")
    with pytest.raises(ValueError, match=r"data\.dbf.*unknown file type"):
        ingest_files([odd], ws)
    no_time = _csv(frame.drop(columns=["报警时间"]), tmp_path / "notime.csv", "utf-8")
    with pytest.raises(ValueError, match=r"notime\.csv: no time column.*警情编号.*纬度"):
        ingest_files([no_time], ws)
    with pytest.raises(ValueError, match=r"gbk\.csv: cannot decode"):
        ingest_files([gbk], ws, encoding="utf-8")
    with pytest.raises(ValueError, match=r"gbk\.csv: --map occurred_at=发生时间: no column"):
        ingest_files([gbk], ws, mapping={"occurred_at": "发生时间"})
    with pytest.raises(ValueError, match="unknown canonical column"):
        ingest_files([gbk], ws, mapping={"when": "报警时间"})
    assert not ws.incidents_path.exists() and not ws.quarantine_path.exists()
    # the mapping works when the column exists
    rep = ingest_files([no_time], ws, mapping={"occurred_at": "地址"})
    assert rep.by_reason["unparseable_time"] == rep.rows_in  # an address is not a time


def test_cli_exit_2_and_no_traceback(tmp_path, capsys, messy):
    assert main(["ingest", str(tmp_path / "missing.csv"), "--workspace", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert "missing.csv" in err and len(err.strip().splitlines()) == 1
    frame, _ = messy(7, 5)
    p = _csv(frame.drop(columns=["报警时间"]), tmp_path / "nt.csv", "utf-8")
    assert main(["ingest", str(p), "--workspace", str(tmp_path / "w")]) == 2
    assert "no time column" in capsys.readouterr().err
    exe = ROOT / ".venv" / "bin" / "pingan"
    cmd = [str(exe)] if exe.exists() else [sys.executable, str(Path(__file__).resolve().parents[2] / "app.py")]
    res = subprocess.run([*cmd, "ingest", "missing.csv", "--workspace", "w"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr + res.stdout and "missing.csv" in res.stderr


def test_report_summary_text():
    from data.ingest import IngestReport

    rep = IngestReport(files=["/x/a.csv"], rows_in=1000, rows_used=990, rows_quarantined=10,
                       by_reason={"duplicate_id": 4, "missing_coordinates": 6},
                       mapped={"/x/a.csv": {"occurred_at": "报警时间"}}, coords="gcj02 → wgs84")
    lines = rep.summary().splitlines()
    assert lines[0] == "文件 files: a.csv"
    assert lines[1] == ("读入 rows in: 1000  入库 used: 990  隔离 quarantined: 10 "
                        "(missing_coordinates 6, duplicate_id 4)")
    assert lines[2] == "字段 mapped [a.csv]: occurred_at←报警时间"
    assert lines[3] == "坐标 coords: gcj02 → wgs84"


def test_two_files_in_one_call_second_repeats_ids(tmp_path, messy):
    a, ea = messy(21, 20)
    good_rows = [i for i, e in enumerate(ea) if not e][:8]
    b = a.iloc[good_rows].assign(报警时间="2024-06-01 10:00")  # same ids, new times
    pa_, pb = _csv(a, tmp_path / "a.csv", "utf-8"), _csv(b, tmp_path / "b.csv", "utf-8")
    ws = Workspace.create(tmp_path / "w")
    rep = ingest_files([pa_, pb], ws)
    assert _reasons_by_row(ws, "b.csv") == {k: "duplicate_id" for k in range(1, 9)}
    used_a = sum(1 for e in ea if not e)
    assert rep.rows_used == used_a and rep.rows_in == len(a) + len(b)
    assert ws.incidents_frame()["incident_id"].is_unique


def test_progress_by_file_size_then_write(tmp_path, messy):
    a, _ = messy(41, 30)
    b, _ = messy(42, 60)
    files = [_csv(a, tmp_path / "a.csv", "utf-8"), _csv(b, tmp_path / "b.csv", "utf-8")]
    calls: list[tuple[float, str]] = []
    ingest_files(files, Workspace.create(tmp_path / "w"), progress=lambda f, s: calls.append((f, s)))
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-2:] == [0.9, 1.0]
    share_a = files[0].stat().st_size / (files[0].stat().st_size + files[1].stat().st_size)
    assert calls[0] == (0.0, f"a.csv: {len(a):,} rows")
    assert calls[1] == (pytest.approx(0.9 * share_a), f"b.csv: {len(b):,} rows")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_chunked_reading_gives_the_same_result(tmp_path, messy, monkeypatch, fmt):
    import data.ingest_read

    frame, expected = messy(31, 40)
    path = tmp_path / f"big.{fmt}"
    if fmt == "csv":
        _csv(frame, path, "gb18030")
    else:
        plain = frame.astype(str).where(frame.notna())
        plain.attrs = {}  # the true times are test metadata, not for the file
        plain.to_parquet(path, row_group_size=5)
    whole = Workspace.create(tmp_path / "whole")
    ingest_files([path], whole)
    monkeypatch.setattr(data.ingest_read, "CHUNK_ROWS", 7)  # the duplicate spans chunks
    parts = Workspace.create(tmp_path / "parts")
    rep = ingest_files([path], parts)
    assert rep.rows_in == len(frame)
    assert _reasons_by_row(parts, path.name) == _expected_by_row(expected)
    pd.testing.assert_frame_equal(parts.incidents_frame(), whole.incidents_frame())
    cols = ["source_row", "reason"]
    pd.testing.assert_frame_equal(parts.quarantine()[cols], whole.quarantine()[cols])


# -- "data as of" (issue 14, item 3) ------------------------------------------------------------
def _three(tmp_path: Path, name: str, times: list[str]) -> Path:
    frame = pd.DataFrame({"id": [f"{name}{i}" for i in range(len(times))], "datetime": times,
                          "type": ["扒窃"] * len(times), "lng": ["106.7"] * len(times),
                          "lat": ["26.6"] * len(times)})
    return _csv(frame, tmp_path / f"{name}.csv", "utf-8")


def test_as_of_is_recorded_per_source_and_the_latest_wins(tmp_path):
    ws = Workspace.create(tmp_path / "w")
    # a Wednesday export ingested later is still Wednesday's data: its latest incident, not now
    ingest_files([_three(tmp_path, "a", ["2024-03-04 08:00", "2024-03-06 14:20", "2024-03-05 09:00"])], ws)
    assert ws.as_of() == pd.Timestamp("2024-03-06 14:20")
    ingest_files([_three(tmp_path, "b", ["2024-03-08 10:00"])], ws, as_of="2024-03-10 23:59")
    assert ws.as_of() == pd.Timestamp("2024-03-10 23:59")
    # an older extract ingested afterwards does not move the as-of time back
    ingest_files([_three(tmp_path, "c", ["2024-02-01 10:00"])], ws, as_of="2024-02-02")
    log = pd.read_parquet(ws.ingested_path).set_index("name")["as_of"]
    assert log.to_dict() == {"a.csv": pd.Timestamp("2024-03-06 14:20"),
                             "b.csv": pd.Timestamp("2024-03-10 23:59"),
                             "c.csv": pd.Timestamp("2024-02-02")}
    assert ws.as_of() == pd.Timestamp("2024-03-10 23:59")


def test_as_of_falls_back_to_the_latest_incident_for_old_logs(tmp_path):
    ws = Workspace.create(tmp_path / "w")
    ingest_files([_three(tmp_path, "a", ["2024-03-04 08:00", "2024-03-06 14:20"])], ws, as_of="2024-03-09")
    log = pd.read_parquet(ws.ingested_path).drop(columns="as_of")  # a log written before as-of existed
    with ws.transaction() as tx:
        tx.write_parquet("ingested.parquet", log)
    assert ws.as_of() == pd.Timestamp("2024-03-06 14:20")


def test_cli_ingest_as_of(tmp_path, capsys):
    p = _three(tmp_path, "a", ["2024-03-04 08:00"])
    w = tmp_path / "w"
    assert main(["ingest", str(p), "--workspace", str(w), "--as-of", "2024-03-10 23:59"]) == 0
    assert Workspace(w).as_of() == pd.Timestamp("2024-03-10 23:59")
    q = _three(tmp_path, "b", ["2024-03-05 08:00"])
    capsys.readouterr()
    assert main(["ingest", str(q), "--workspace", str(w), "--as-of", "next tuesday"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--as-of" in err[0]
    assert Workspace(w).as_of() == pd.Timestamp("2024-03-10 23:59")  # nothing written
