"""Seeded messy incident exports for the ingest tests, with the expected reason for each row.

``make_messy(seed, n_good)`` returns (frame, expected): ``frame`` has Chinese headers
(警情编号, 报警时间, 警情类别, 经度, 纬度, 地址) and string values as an office export holds them;
``expected`` is a list with, per row, '' (usable) or the reason code planted there. Times of
usable rows are written in a mix of formats; ``frame.attrs['times']`` holds the true times.
Points lie in a small Guiyang-like study area, :data:`STUDY_BOX`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

#: (lon0, lat0, lon1, lat1) of the study area the points are drawn in.
STUDY_BOX = (106.55, 26.45, 106.85, 26.75)
CATEGORIES = ("入室盗窃", "盗窃电动车", "扒窃", "抢劫", "电信网络诈骗")

_FORMATS = (
    lambda t: t.strftime("%Y/%-m/%-d %H:%M"),
    lambda t: t.strftime("%Y-%m-%d %H:%M:%S"),
    lambda t: f"{t.year}年{t.month}月{t.day}日{t.hour}时{t.minute}分",
    lambda t: t.strftime("%Y-%m-%dT%H:%M:%S"),
    lambda t: f"{t.year}年{t.month}月{t.day}日 {t.hour:02d}:{t.minute:02d}",
)

#: Planted bad rows: (reason, how to spoil a good row). Order matters only for readability.
_PLANTS = (
    ("unparseable_time", lambda r: {**r, "报警时间": "不详"}),
    ("unparseable_time", lambda r: {**r, "报警时间": None}),
    ("future_time", lambda r: {**r, "报警时间": "2099-01-01 08:00"}),
    ("empty_category", lambda r: {**r, "警情类别": "  "}),
    ("missing_coordinates", lambda r: {**r, "经度": None}),
    ("missing_coordinates", lambda r: {**r, "纬度": "abc"}),
    ("zero_coordinates", lambda r: {**r, "经度": "0", "纬度": "0"}),
    ("swapped_lat_lon", lambda r: {**r, "经度": r["纬度"], "纬度": r["经度"]}),
    ("outside_study_area", lambda r: {**r, "纬度": "95.5"}),
)


def make_messy(seed: int, n_good: int = 40, *, id_prefix: str = "JQ") -> tuple[pd.DataFrame, list[str]]:
    rng = np.random.default_rng(seed)
    n = n_good
    lon0, lat0, lon1, lat1 = STUDY_BOX
    lon = rng.uniform(lon0 + 0.01, lon1 - 0.01, n).round(6)
    lat = rng.uniform(lat0 + 0.01, lat1 - 0.01, n).round(6)
    minutes = rng.integers(0, 60 * 24 * 365, n)
    times = pd.Timestamp("2024-01-01") + pd.to_timedelta(minutes, unit="min")
    fmt = rng.integers(0, len(_FORMATS), n)
    rows = [
        {
            "警情编号": f"{id_prefix}{seed:03d}{i:05d}",
            "报警时间": _FORMATS[fmt[i]](times[i]),
            "警情类别": CATEGORIES[rng.integers(len(CATEGORIES))],
            "经度": f"{lon[i]:.6f}",
            "纬度": f"{lat[i]:.6f}",
            "地址": f"云岩区{rng.integers(1, 300)}号",
        }
        for i in range(n)
    ]
    expected = [""] * n
    true_times = list(times)
    base = [dict(r) for r in rows]
    # spoil copies of random good rows; ids are fresh so only the planted reason applies
    for k, (reason, spoil) in enumerate(_PLANTS):
        j = int(rng.integers(n))
        bad = spoil(dict(base[j]))
        bad["警情编号"] = f"{id_prefix}{seed:03d}X{k:03d}"
        pos = int(rng.integers(len(rows) + 1))
        rows.insert(pos, bad)
        expected.insert(pos, reason)
        true_times.insert(pos, None)
    # a duplicate id: a verbatim copy of a good row placed after it
    j = next(i for i, e in enumerate(expected) if e == "")
    rows.insert(j + 1 + int(rng.integers(len(rows) - j)), dict(rows[j]))
    dup_pos = [i for i, r in enumerate(rows) if r["警情编号"] == rows[j]["警情编号"]][1]
    expected.insert(dup_pos, "duplicate_id")
    true_times.insert(dup_pos, None)
    frame = pd.DataFrame(rows, dtype=object)
    frame.attrs["times"] = true_times
    return frame, expected


@pytest.fixture
def messy():
    """The :func:`make_messy` factory."""
    return make_messy


@pytest.fixture
def study_box():
    """(lon0, lat0, lon1, lat1) of the area the messy points are drawn in."""
    return STUDY_BOX
