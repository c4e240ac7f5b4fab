"""The quarantine tells the office what is still to fix: a row a later file brought in is resolved."""

from __future__ import annotations

import pandas as pd

from analytics.service import Service
from data.ingest import ingest_files
from data.workspace import Workspace


def test_a_row_fixed_by_a_later_file_is_resolved(tmp_path):
    ws = Workspace.create(tmp_path / "w")
    rows = [("J1", "2024-03-05 10:00", "盗窃", 106.60, 26.60), ("J2", "2024-03-05 11:00", "盗窃", 0.0, 0.0),
            ("J3", "2024-03-06 11:00", "抢劫", None, None), ("J1", "2024-03-05 10:00", "盗窃", 106.6, 26.6)]
    first = tmp_path / "第一周.csv"
    pd.DataFrame(rows, columns=["警情编号", "报警时间", "案件类别", "经度", "纬度"]).to_csv(first, index=False)
    ingest_files([str(first)], ws)
    q = Service(ws).quarantine()
    assert set(q["reason"]) == {"zero_coordinates", "missing_coordinates", "duplicate_id"}
    assert not q["resolved"].any()
    fixed = tmp_path / "更正.csv"  # the office sends J2 again with its coordinates
    pd.DataFrame([("J2", "2024-03-05 11:00", "盗窃", 106.61, 26.61)],
                 columns=["警情编号", "报警时间", "案件类别", "经度", "纬度"]).to_csv(fixed, index=False)
    ingest_files([str(fixed)], ws)
    q = Service(ws).quarantine().set_index("reason")
    assert bool(q.loc["zero_coordinates", "resolved"]) is True
    assert bool(q.loc["missing_coordinates", "resolved"]) is False
    assert bool(q.loc["duplicate_id", "resolved"]) is False  # J1 is in, but that row was the double
