"""A user's own city on a generated grid: the board, the map tables and the 清单 never show a raw
cell id (``c250_003173_009979``), only names a person can use."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.service import Service
from analytics.service.names import GENERATED_ID
from app import main


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    rng = np.random.default_rng(11)
    n = 4000
    t0 = pd.Timestamp("2024-01-01")
    frame = pd.DataFrame({
        "警情编号": [f"J{i:05d}" for i in range(n)],
        "报警时间": (t0 + pd.to_timedelta(rng.integers(0, 70 * 24 * 3600, n), unit="s")).strftime("%Y/%m/%d %H:%M"),
        "案件类别": rng.choice(["盗窃", "诈骗", "抢劫"], n),
        "经度": 106.60 + rng.normal(0, 0.01, n), "纬度": 26.60 + rng.normal(0, 0.01, n)})
    path = tmp_path_factory.mktemp("own") / "警情.csv"
    frame.to_csv(path, index=False, encoding="gbk")
    ws = path.parent / "w"
    assert main(["ingest", str(path), "--workspace", str(ws)]) == 0
    assert main(["areas", "--workspace", str(ws), "--cell", "500"]) == 0
    return Service(ws)


def test_no_raw_cell_id_where_a_person_reads(cells):
    layer = cells.layers()[0]
    ids = cells.layer_table(layer)["area_id"]
    assert ids.str.match(GENERATED_ID.pattern).all()  # the cells really are generated ones
    for names in (cells.layer_table(layer)["name"], cells.warning_table(level=layer)["name"]):
        assert not names.str.match(GENERATED_ID.pattern).any(), names.head().tolist()
        assert names.is_unique
