"""Strict CSV: stray quotes never merge records, rows mixing UTF-8 and GBK decode each in its
own encoding, bad lines are quarantined with their line numbers, and rows in = what a person
counts in the file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data.ingest import ingest_files
from data.ingest_csv import plan_csv
from data.workspace import Workspace

HEADER = "警情编号,报警时间,警情类别,经度,纬度"


def _row(i: int, cat: str = "盗窃") -> str:
    return f"JQ{i:03d},2024-03-{i + 1:02d} 10:00,{cat},{106.60 + i / 100:.4f},{26.60 + i / 100:.4f}"


def _write(path: Path, lines: list[bytes | str], encoding: str = "utf-8") -> Path:
    data = [ln.encode(encoding) if isinstance(ln, str) else ln for ln in lines]
    path.write_bytes(b"\n".join(data) + b"\n")
    return path


def _ingest(tmp_path: Path, path: Path, **kw):
    ws = Workspace.create(tmp_path / "w")
    rep = ingest_files([path], ws, **kw)
    return ws, rep


def test_two_stray_quotes_do_not_swallow_four_rows(tmp_path):
    rows = [_row(i) for i in range(10)]
    rows[2] = rows[2].replace(",盗窃,", ',"盗窃,')  # a quote opens on line 4 …
    rows[6] = rows[6].replace(",盗窃,", ',盗窃",')  # … and closes on line 8
    path = _write(tmp_path / "stray.csv", [HEADER, *rows])
    assert len(pd.read_csv(path)) == 6  # what pandas alone makes of it: four rows swallowed
    ws, rep = _ingest(tmp_path, path)
    assert rep.rows_in == 10 and rep.rows_used == 8 and rep.rows_quarantined == 2
    assert rep.by_reason == {"malformed_row": 2}
    q = ws.quarantine().sort_values("source_row")
    assert q["source_row"].tolist() == [3, 7] and set(q["reason"]) == {"malformed_row"}
    assert q["reason_detail"].iloc[0].startswith("line 4: a quote opened here closes only on line 8")
    assert q["reason_detail"].iloc[1].startswith("line 8: closes a quote opened on line 4")
    assert "5–7" in q["reason_detail"].iloc[0]
    assert q["警情编号"].tolist() == ["JQ002", "JQ006"]  # the original values, split as far as they go
    inc = ws.incidents_frame().set_index("incident_id")
    assert sorted(inc.index) == [f"JQ{i:03d}" for i in (0, 1, 3, 4, 5, 7, 8, 9)]
    for i in (3, 4, 5):  # every row keeps its own coordinates
        assert inc.loc[f"JQ{i:03d}", "lon"] == pytest.approx(106.60 + i / 100)
        assert inc.loc[f"JQ{i:03d}", "lat"] == pytest.approx(26.60 + i / 100)
    assert set(inc["category"]) == {"盗窃"}


def test_quoted_line_break_in_a_summary_is_one_row(tmp_path):
    head = HEADER + ",简要案情"
    rows = [_row(i) + ",无" for i in range(4)]
    rows[1] = _row(1) + ',"嫌疑人撬锁入室，\n盗走现金，""约""两千元"'
    path = _write(tmp_path / "multi.csv", [head, *rows])
    ws, rep = _ingest(tmp_path, path)
    assert rep.rows_in == 4 and rep.rows_used == 4 and rep.rows_quarantined == 0
    inc = ws.incidents_frame(["incident_id", "简要案情"]).set_index("incident_id")
    assert inc.loc["JQ001", "简要案情"] == '嫌疑人撬锁入室，\n盗走现金，"约"两千元'
    assert inc.loc["JQ002", "简要案情"] == "无"


def test_wrong_field_counts_and_an_unclosed_quote(tmp_path):
    rows = [_row(i) for i in range(8)]
    rows[1] = rows[1] + ",多余"  # 6 fields
    rows[3] = "JQ003,2024-03-04 10:00,盗窃,106.63"  # 4 fields: lat would be NaN silently
    rows[6] = rows[6].replace(",盗窃,", ',"盗窃,')  # opens, never closes (to the end of the file)
    path = _write(tmp_path / "counts.csv", [HEADER, *rows, ""])  # and a blank line (not a record)
    ws, rep = _ingest(tmp_path, path)
    assert rep.rows_in == 8 and rep.rows_used == 5
    got = dict(zip(ws.quarantine()["source_row"], ws.quarantine()["reason_detail"]))
    assert sorted(got) == [2, 4, 7]
    assert got[2].startswith("line 3: 6 fields, the header has 5")
    assert got[4].startswith("line 5: 4 fields, the header has 5")
    assert got[7].startswith("line 8: a quote opens here and does not close")
    assert "JQ007" in set(ws.incidents_frame()["incident_id"])


def test_lone_carriage_return_and_nul_bytes(tmp_path):
    rows = [_row(i) for i in range(3)]
    rows[1] = rows[1].replace("盗窃", "盗\r窃")
    rows[2] = rows[2].replace("JQ002", "JQ\x00002")
    path = _write(tmp_path / "cr.csv", [HEADER, *rows])
    ws, rep = _ingest(tmp_path, path)
    assert rep.rows_in == 3 and rep.rows_used == 3 and rep.control_chars == 2
    inc = ws.incidents_frame()
    assert set(inc["category"]) == {"盗窃"} and sorted(inc["incident_id"]) == ["JQ000", "JQ001", "JQ002"]


def test_crlf_file_stays_on_the_fast_path(tmp_path):
    path = tmp_path / "crlf.csv"
    path.write_bytes(("\r\n".join([HEADER, *[_row(i) for i in range(5)]]) + "\r\n").encode("utf-8"))
    plan = plan_csv(path)
    assert plan.path == path and plan.rows is None and plan.rejected.empty  # not rewritten
    _, rep = _ingest(tmp_path, path)
    assert rep.rows_used == 5


def test_mixed_utf8_and_gbk_rows_decode_each_row(tmp_path):
    lines: list[bytes | str] = [HEADER]
    truth = {}
    for i in range(12):
        cat = "盗窃" if i % 2 else "抢劫"
        truth[f"JQ{i:03d}"] = cat
        lines.append(_row(i, cat).encode("gbk" if i in (2, 5, 6, 11) else "utf-8"))
    lines.append(b"JQ099,2024-03-01 10:00,\xff\xfe\x80\x80,106.6,26.6")  # neither encoding
    path = _write(tmp_path / "mixed.csv", lines)
    ws, rep = _ingest(tmp_path, path)
    assert rep.encodings[str(path)] == "utf-8-sig+gb18030"
    assert rep.rows_in == 13 and rep.rows_used == 12 and rep.by_reason == {"encoding": 1}
    inc = ws.incidents_frame()
    assert dict(zip(inc["incident_id"], inc["category"])) == truth  # no 鐩楃獌 for 盗窃
    q = ws.quarantine()
    assert q["source_row"].tolist() == [13] and q["reason_detail"].iloc[0].startswith("line 14: neither UTF-8")


def test_mostly_gbk_file_with_a_utf8_row(tmp_path):
    lines: list[bytes | str] = [HEADER.encode("gbk")]
    lines += [_row(i, "抢劫").encode("gbk") for i in range(6)]
    lines[3] = _row(2, "盗窃").encode("utf-8")
    path = _write(tmp_path / "gbk.csv", lines)
    ws, rep = _ingest(tmp_path, path)
    assert rep.encodings[str(path)] == "utf-8-sig+gb18030"
    cats = dict(zip(ws.incidents_frame()["incident_id"], ws.incidents_frame()["category"]))
    assert cats["JQ002"] == "盗窃" and cats["JQ000"] == "抢劫"


def test_pure_gbk_and_utf8_files_are_read_directly(tmp_path):
    rows = [HEADER] + [_row(i, "入室盗窃") for i in range(5)]
    for enc, label in (("gbk", "gb18030"), ("utf-8", "utf-8-sig")):
        path = _write(tmp_path / f"{enc}.csv", rows, enc)
        plan = plan_csv(path)
        assert (plan.encoding, plan.path, plan.rows) == (label, path, None)


def test_chunked_reading_keeps_line_numbers(tmp_path, monkeypatch):
    import data.ingest_read

    rows = [_row(i) for i in range(20)]
    rows[4] = rows[4] + ",x"
    rows[13] = rows[13].replace(",盗窃,", ',"盗窃,')
    rows[16] = rows[16].replace(",盗窃,", ',盗窃",')
    rows[9] = "JQ009,1999-12-31 10:00,盗窃,106.69,26.69"  # too old
    path = _write(tmp_path / "chunks.csv", [HEADER, *rows])
    whole = Workspace.create(tmp_path / "whole")
    ingest_files([path], whole)
    monkeypatch.setattr(data.ingest_read, "CHUNK_ROWS", 4)
    chunked = Workspace.create(tmp_path / "chunked")
    rep = ingest_files([path], chunked)
    assert rep.rows_in == 20 and rep.rows_quarantined == 4
    a = whole.quarantine().sort_values("source_row")[["source_row", "reason"]].reset_index(drop=True)
    b = chunked.quarantine().sort_values("source_row")[["source_row", "reason"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert a.values.tolist() == [[5, "malformed_row"], [10, "too_old_time"], [14, "malformed_row"],
                                 [17, "malformed_row"]]
    assert whole.incidents_frame()["incident_id"].tolist() == chunked.incidents_frame()["incident_id"].tolist()


def test_every_line_bad_and_forced_encoding(tmp_path):
    rows = [HEADER, _row(0) + ",x", _row(1) + ",y"]
    path = _write(tmp_path / "allbad.csv", rows)
    ws, rep = _ingest(tmp_path, path)
    assert rep.rows_in == 2 and rep.rows_used == 0 and rep.by_reason == {"malformed_row": 2}
    gbk = _write(tmp_path / "g.csv", [HEADER, _row(0), _row(1)], "gbk")
    with pytest.raises(ValueError, match=r"g\.csv: cannot decode"):
        ingest_files([gbk], Workspace.create(tmp_path / "w2"), encoding="utf-8")


def test_a_gbk_file_with_only_its_header_is_read_as_gbk(tmp_path):
    # The demo's small builds write a history export with no rows yet: the header alone must
    # decide the encoding (it used to be read as UTF-8 and fail with UnicodeDecodeError).
    from data.ingest_csv import plan_csv

    path = tmp_path / "历史.csv"
    path.write_bytes("警情编号,报警时间,案件类别,经度,纬度\n".encode("gbk"))
    plan = plan_csv(path)
    assert plan.read_encoding.replace("-", "").lower() in ("gb18030", "gbk")
