"""Time parsing (data.times) and header recognition (data.columns), by hand-worked values."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from data.columns import map_columns, normalise_header
from data.times import parse_times

SH = "Asia/Shanghai"
T = pd.Timestamp("2024-03-05 14:20")


@pytest.mark.parametrize("text,expected", [
    ("2024-03-05 14:20:00", T),
    ("2024-03-05T14:20", T),
    ("2024/3/5 14:20", T),
    ("2024/03/05 14:20:00", T),
    ("2024年3月5日14时20分", T),
    ("2024年3月5日 14时20分", T),
    ("2024年3月5日14:20", T),
    ("2024年03月05日 14:20:00", T),
    ("2024年3月5日14时", pd.Timestamp("2024-03-05 14:00")),
    ("2024年3月5日", pd.Timestamp("2024-03-05")),
    ("2024-03-05", pd.Timestamp("2024-03-05")),
    ("3/5/2024 14:20", T),
    ("3/5/2024 2:20:00 PM", T),
    ("20240305", pd.Timestamp("2024-03-05")),
    ("45356.597222222", T),  # Excel serial in text
    ("2024-03-05T06:20:00Z", T),  # UTC -> Shanghai
    ("2024-03-05T15:20:00+09:00", T),
    ("  2024-03-05 14:20 ", T),
])
def test_each_format_alone(text, expected):
    got = parse_times(pd.Series([text]), source_tz=SH, target_tz=SH)
    assert got.iloc[0] == expected


def test_mixed_column_and_unparseable():
    values = ["2024/3/5 14:20", "不详", "", None, "2024-13-45", "2024年3月5日14时20分",
              "2024-03-05T06:20:00Z", "12", "1e400"]
    got = parse_times(pd.Series(values, dtype=object), source_tz=SH, target_tz=SH)
    assert got.dtype == "datetime64[us]"
    assert got.isna().tolist() == [False, True, True, True, True, False, False, True, True]
    assert (got.dropna() == T).all()


def test_native_and_numeric_columns():
    naive = pd.Series(pd.to_datetime(["2024-03-05 14:20"]))
    assert parse_times(naive, source_tz=SH, target_tz=SH).iloc[0] == T
    aware = naive.dt.tz_localize("UTC")
    assert parse_times(aware, source_tz=SH, target_tz=SH).iloc[0] == T + pd.Timedelta(hours=8)
    serial = pd.Series([45356.5972222222, 45356.0, 5.0, np.nan])
    got = parse_times(serial, source_tz=SH, target_tz=SH)
    assert got.iloc[0] == T and got.iloc[1] == pd.Timestamp("2024-03-05")
    assert got.iloc[2:].isna().all()
    objs = pd.Series([dt.datetime(2024, 3, 5, 14, 20), dt.date(2024, 3, 5), 45356.5972222222, "x"],
                     dtype=object)
    got = parse_times(objs, source_tz=SH, target_tz=SH)
    assert got.tolist()[:3] == [T, pd.Timestamp("2024-03-05"), T] and pd.isna(got.iloc[3])


def test_source_zone_to_workspace_zone_and_dst():
    s = pd.Series(["2024-03-05 14:20", "2024-11-03 01:30", "2024-03-10 02:30"])
    got = parse_times(s, source_tz="America/Chicago", target_tz=SH)
    assert got.iloc[0] == pd.Timestamp("2024-03-06 04:20")  # CST = UTC-6, Shanghai = UTC+8
    assert got.iloc[1] == pd.Timestamp("2024-11-03 15:30")  # ambiguous hour: standard time
    assert got.notna().all()  # the spring-forward gap is shifted, not lost


def test_vectorised_on_a_large_column():
    # 200k values in two formats plus a few odd ones: must not take per-row Python time
    import time

    n = 200_000
    base = pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(n) * 7, unit="min")
    text = pd.Series(np.where(np.arange(n) % 2, base.strftime("%Y/%m/%d %H:%M"),
                              base.strftime("%Y-%m-%d %H:%M:%S")))
    text.iloc[::50_000] = "2024年3月5日14时20分"
    t0 = time.perf_counter()
    got = parse_times(text, source_tz=SH, target_tz=SH)
    assert time.perf_counter() - t0 < 5
    assert got.notna().all()
    assert (got.iloc[1::2].to_numpy() == base[1::2].to_numpy()).all()


def test_map_columns_chinese_english_and_mapping():
    cols = ["\ufeff 警情编号 ", "接警时间", "报警时间", "警情类别", "经度", "纬度"]
    m = map_columns(cols)
    assert m == {"incident_id": "\ufeff 警情编号 ", "occurred_at": "报警时间", "category": "警情类别",
                 "lon": "经度", "lat": "纬度"}
    eng = map_columns(["ID", "Occurrence Date", "OFFENSE", "X", "Y", "notes"])
    assert eng == {"incident_id": "ID", "occurred_at": "Occurrence Date", "category": "OFFENSE",
                   "lon": "X", "lat": "Y"}
    forced = map_columns(cols, {"occurred_at": "接警时间"})
    assert forced["occurred_at"] == "接警时间"
    with pytest.raises(ValueError, match=r"f\.csv: --map lat=纬度2: no column '纬度2'; columns are: .*经度"):
        map_columns(cols, {"lat": "纬度2"}, source="f.csv")
    assert normalise_header("\ufeffOccurred At") == "occurred_at"
    assert "occurred_at" not in map_columns(["编号", "地址"])


def test_twelve_hour_clock_of_chinese_excel_exports():
    # The default time format of Chinese Excel/WPS: 「2024/3/5 下午 2:20:00」 (issue 16: 170 of 492
    # rows of such a file used to be quarantined).
    import pandas as pd

    from data.times import parse_times

    given = ["2024/3/5 下午 2:20:00", "2024/3/5 上午 12:05:00", "2024/3/5 中午 12:30", "2024/3/5 中午 1:10",
             "2024/3/5 晚上 11:00", "2024/3/5 凌晨 1:00", "3/5/2024 2:20 PM", "3/5/2024 12:40 AM",
             "2024年3月5日下午2时20分", "2024/3/5 上午 9:15:00", "2024-03-05 16:00"]
    want = ["14:20", "00:05", "12:30", "13:10", "23:00", "01:00", "14:20", "00:40", "14:20", "09:15", "16:00"]
    got = parse_times(pd.Series(given), source_tz="Asia/Shanghai", target_tz="Asia/Shanghai")
    assert [f"{t:%H:%M}" for t in got] == want
    assert all(t.date() == pd.Timestamp("2024-03-05").date() for t in got)


def test_a_wps_export_is_ingested_whole(tmp_path):
    import numpy as np
    import pandas as pd

    from data.ingest import ingest_files
    from data.workspace import Workspace

    rng = np.random.default_rng(16)
    when = pd.Timestamp("2024-03-04") + pd.to_timedelta(rng.integers(0, 7 * 24 * 60, 492), unit="min")
    text = when.strftime("%Y/%m/%d %p %I:%M:%S").str.replace("AM", "上午").str.replace("PM", "下午")
    frame = pd.DataFrame({"警情编号": [f"W{i}" for i in range(492)], "报警时间": text,
                          "案件类别": "盗窃", "经度": 106.6 + rng.normal(0, 0.01, 492),
                          "纬度": 26.6 + rng.normal(0, 0.01, 492)})
    path = tmp_path / "WPS导出.csv"
    frame.to_csv(path, index=False, encoding="gbk")
    ws = Workspace.create(tmp_path / "w")
    report = ingest_files([str(path)], ws)
    assert report.rows_in == 492 and report.rows_used == 492, report.by_reason
    stored = pd.read_parquet(ws.incidents_path, columns=["incident_id", "occurred_at"]).set_index("incident_id")
    assert (stored.loc[frame["警情编号"], "occurred_at"].to_numpy() == when.to_numpy()).all()
