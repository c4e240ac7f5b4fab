"""Bounds: rows dated before the floor, overlong fields, xlsx zip bombs and oversized uploads are
refused before they can blow up the cube, the pages or the server; control characters leave
ids, categories and names."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w

from data.ingest import REASONS, ingest_files
from data.ingest_limits import IngestLimits, check_upload_size, check_xlsx, limits_of
from data.workspace import Config, Workspace

HEADER = ["警情编号", "报警时间", "警情类别", "经度", "纬度"]


def _frame(n: int = 12, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300 * 86400, n), unit="s")
    return pd.DataFrame({
        "警情编号": [f"JQ{i:04d}" for i in range(n)],
        "报警时间": t.strftime("%Y-%m-%d %H:%M:%S"),
        "警情类别": rng.choice(["盗窃", "抢劫", "诈骗"], n),
        "经度": rng.uniform(106.6, 106.8, n).round(6).astype(str),
        "纬度": rng.uniform(26.5, 26.7, n).round(6).astype(str),
    })


def _set_limits(ws: Workspace, **limits) -> None:
    d = ws.config.to_dict()
    d["limits"] = limits
    (ws.path / "config.toml").write_bytes(tomli_w.dumps(d).encode())


def test_rows_before_the_floor_are_quarantined(tmp_path):
    f = _frame()
    f.loc[3, "报警时间"] = "1900-01-01 08:00"
    f.loc[7, "报警时间"] = "0001-01-01 00:00"
    f.loc[9, "报警时间"] = "1999-12-31 23:59"
    path = tmp_path / "old.csv"
    f.to_csv(path, index=False)
    ws = Workspace.create(tmp_path / "w")
    rep = ingest_files([path], ws)
    assert rep.by_reason == {"too_old_time": 3} and rep.rows_used == 9
    q = ws.quarantine().set_index("source_row")
    assert sorted(q.index) == [4, 8, 10]
    assert q.loc[8, "reason_detail"] == "报警时间: 0001-01-01 is before 2000-01-01 (config.toml [limits] min_time)"
    assert ws.incidents_frame()["occurred_at"].min() >= pd.Timestamp("2024-01-01")


def test_floor_is_configurable_per_workspace(tmp_path):
    f = _frame()
    f.loc[0, "报警时间"] = "2015-06-01 08:00"
    path = tmp_path / "a.csv"
    f.to_csv(path, index=False)
    ws = Workspace.create(tmp_path / "w")
    _set_limits(ws, min_time="2020-01-01")
    assert ws.config.limits == {"min_time": "2020-01-01"}
    assert limits_of(ws).min_time == "2020-01-01"
    rep = ingest_files([path], ws)
    assert rep.by_reason == {"too_old_time": 1}
    assert ws.config.limits == {"min_time": "2020-01-01"}  # survives the config update of ingest
    # an explicit argument wins over the workspace
    ws2 = Workspace.create(tmp_path / "w2")
    rep2 = ingest_files([path], ws2, limits=IngestLimits(min_time="2010-01-01"))
    assert rep2.by_reason == {}


def test_overlong_fields_are_quarantined_naming_the_column(tmp_path):
    f = _frame()
    f["社区名称"] = "云岩社区"
    f["地址"] = "中华北路1号"
    f.loc[1, "警情类别"] = "盗" * 1_000_000  # a 1M-character category
    f.loc[2, "警情编号"] = "J" * 201
    f.loc[4, "社区名称"] = "名" * 201
    f.loc[5, "地址"] = "路" * 5_000  # long but under max_text_chars: kept
    f.loc[6, "地址"] = "路" * 20_000
    path = tmp_path / "long.csv"
    f.to_csv(path, index=False)
    ws = Workspace.create(tmp_path / "w")
    rep = ingest_files([path], ws)
    assert rep.by_reason == {"field_too_long": 4} and rep.rows_used == 8
    q = ws.quarantine().set_index("source_row")
    assert q.loc[2, "reason_detail"] == ("警情类别: 1000000 characters, over the limit of 200 "
                                         "(config.toml [limits] max_field_chars)")
    assert q.loc[3, "reason_detail"].startswith("警情编号: 201 characters")
    assert q.loc[5, "reason_detail"].startswith("社区名称: 201 characters")
    assert q.loc[7, "reason_detail"].startswith("地址: 20000 characters, over the limit of 10000")
    assert q["警情类别"].str.len().max() == 10_000  # the stored value is cut, not the 1M characters
    inc = ws.incidents_frame(["incident_id", "category", "地址"])
    assert inc["category"].str.len().max() == 2 and inc["地址"].str.len().max() == 5_000


def test_control_characters_removed_and_counted(tmp_path):
    f = _frame()
    f["派出所"] = "中华派出所"
    f.loc[0, "警情编号"] = "JQ\x000000"
    f.loc[1, "警情类别"] = "盗\x1b窃"
    f.loc[2, "派出所"] = "中华\x07派出所"
    f.loc[3, "警情编号"] = "\x00\x00"  # nothing left: the row gets a row-hash id
    path = tmp_path / "ctl.parquet"
    f.to_parquet(path)
    ws = Workspace.create(tmp_path / "w")
    rep = ingest_files([path], ws)
    assert rep.control_chars == 5 and rep.rows_used == 12
    assert "控制字符 control characters removed: 5" in rep.summary()
    inc = ws.incidents_frame(["incident_id", "category", "派出所"])
    for c in ("incident_id", "category", "派出所"):
        assert not inc[c].str.contains(r"[\x00-\x08\x0a-\x1f]", regex=True).any()
    assert "JQ0000" in set(inc["incident_id"]) and "盗窃" in set(inc["category"])
    assert set(inc["派出所"]) == {"中华派出所"}
    assert sum(i.startswith("h") for i in inc["incident_id"]) == 1


# -- xlsx ------------------------------------------------------------------------------------
def _workbook(path: Path, n: int = 20) -> Path:
    _frame(n).to_excel(path, index=False, engine="openpyxl")
    return path


def _bomb(path: Path, src: Path, pad_mb: int) -> Path:
    """``src`` with its sheet padded by ``pad_mb`` MB of blanks (valid XML, deflates ~1000:1)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"<sheetData>", b"<sheetData>" + b" " * (pad_mb << 20), 1)
            zout.writestr(info.filename, data)
    return path


def test_xlsx_zip_bomb_refused_before_inflating(tmp_path, capsys):
    ok = _workbook(tmp_path / "ok.xlsx")
    bomb = _bomb(tmp_path / "bomb.xlsx", ok, 60)
    assert bomb.stat().st_size < 200_000
    check_xlsx(ok)  # a real workbook passes
    with pytest.raises(ValueError, match=r"bomb\.xlsx: refused, .* inflate to 60 MB .*max_xlsx_ratio"):
        check_xlsx(bomb)
    ws = Workspace.create(tmp_path / "w")
    with pytest.raises(ValueError, match=r"bomb\.xlsx: refused"):
        ingest_files([bomb], ws)
    assert not ws.incidents_path.exists()
    try:
        from app import main
    except ImportError:
        from analytics.cli import main
    assert main(["ingest", str(bomb), "--workspace", str(ws.path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "bomb.xlsx" in err and "refused" in err and len(err.splitlines()) == 1
    rep = ingest_files([ok], ws)
    assert rep.rows_used == 20


def test_xlsx_size_and_rows_limits_from_config(tmp_path):
    ok = _workbook(tmp_path / "ok.xlsx", 50)
    with pytest.raises(ValueError, match=r"ok\.xlsx: refused, sheet sheet1\.xml has over 10 rows \(51;"):
        check_xlsx(ok, {"max_xlsx_rows": 10})
    with pytest.raises(ValueError, match=r"ok\.xlsx: refused, the workbook would inflate to .*max_xlsx_bytes"):
        check_xlsx(ok, IngestLimits(max_xlsx_bytes=1000))
    ws = Workspace.create(tmp_path / "w")
    _set_limits(ws, max_xlsx_rows=10)
    with pytest.raises(ValueError, match="max_xlsx_rows"):
        ingest_files([ok], ws)
    # a sheet without a <dimension>: rows counted from the stream
    plain = tmp_path / "nodim.xlsx"
    with zipfile.ZipFile(ok) as zin, zipfile.ZipFile(plain, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                start = data.index(b"<dimension")
                data = data[:start] + data[data.index(b"/>", start) + 2:]
            zout.writestr(info.filename, data)
    with pytest.raises(ValueError, match="has over 10 rows"):
        check_xlsx(plain, {"max_xlsx_rows": 10})
    check_xlsx(plain)
    with pytest.raises(ValueError, match=r"not a readable Excel workbook"):
        check_xlsx(_write_text(tmp_path / "fake.xlsx"))


def _write_text(path: Path) -> Path:
    path.write_text("id,time\n")
    return path


# -- uploads and settings ----------------------------------------------------------------------
def test_upload_size_limit():
    check_upload_size(1_000, name="week.csv")
    check_upload_size(100 * 2**20)
    with pytest.raises(ValueError, match=r"big\.csv: 200\.0 MB is over the upload limit of 100\.0 MB"):
        check_upload_size(200 * 2**20, name="big.csv")
    cfg = Config(limits={"max_upload_bytes": 2**20})
    with pytest.raises(ValueError, match="upload limit of 1.0 MB"):
        check_upload_size(2 * 2**20, cfg)


def test_limits_settings_are_checked_and_round_trip(tmp_path):
    assert IngestLimits().to_dict()["min_time"] == "2000-01-01"
    with pytest.raises(ValueError, match=r"\[limits\]: unknown key\(s\) max_rows"):
        IngestLimits.from_dict({"max_rows": 3})
    with pytest.raises(ValueError, match=r"max_field_chars = -1: expected a positive number"):
        IngestLimits.from_dict({"max_field_chars": -1})
    with pytest.raises(ValueError, match=r"min_time = 'soon': not a date"):
        IngestLimits.from_dict({"min_time": "soon"})
    ws = Workspace.create(tmp_path / "w", Config(limits={"max_field_chars": 50}))
    assert Workspace(ws.path).config.limits == {"max_field_chars": 50}
    assert limits_of(Workspace(ws.path)).max_field_chars == 50
    # TOML dates (unquoted) are accepted too
    text = (ws.path / "config.toml").read_text() + "\n"
    (ws.path / "config.toml").write_text(text.replace("max_field_chars = 50", "max_field_chars = 50\nmin_time = 2001-01-01"))
    assert limits_of(Workspace(ws.path)).min_timestamp == pd.Timestamp("2001-01-01")


def test_reason_codes_in_priority_order():
    assert REASONS[:6] == ("encoding", "malformed_row", "unparseable_time", "too_old_time", "future_time",
                           "field_too_long")
