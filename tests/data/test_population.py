"""Population and households of areas: from the boundary files' attributes or a CSV joined by id;
万人发案率 blank (never 0, never infinite) where an area has no population."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tiny_city import POP, tiny_city

from app import main
from data.population import population_columns, rate_per_10k, read_population


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    return tiny_city(tmp_path_factory.mktemp("pop"), police=False)


def test_population_from_boundary_attributes_and_the_csv(city):
    sub = city.areas("subdistrict").set_index("area_id")
    assert sub["population"].to_dict() == {"S1": POP["S1"], "S2": POP["S2"]}  # the file's 人口 column
    assert sub["households"].to_dict() == {"S1": 7000, "S2": 3500}  # its 户数
    assert "人口" not in sub.columns
    comm = city.areas("community").set_index("area_id")
    assert comm.loc[["C1", "C2", "C3"], "population"].tolist() == [POP["C1"], POP["C2"], POP["C3"]]
    assert np.isnan(comm.loc["C4", "population"])  # not in population.csv
    assert comm.loc["C1", "households"] == 4000


def test_rate_is_blank_without_population():
    r = rate_per_10k([6, 5, 3, 0], [12_000, 6_000, np.nan, 0])
    assert r[:2] == pytest.approx([5.0, 8.3333333])  # 6 per 12,000 = 5 per 10,000
    assert np.isnan(r[2]) and np.isnan(r[3]) and np.isfinite(r[:2]).all()
    assert rate_per_10k([0], [5000]).tolist() == [0.0]  # no cases with a population: a true 0


def test_population_csv_errors_name_file_column_and_area(tmp_path):
    bad = tmp_path / "pop.csv"
    pd.DataFrame({"area_id": ["C1", "C2"], "常住人口": ["12,000", "约八千"]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"pop.csv: column '常住人口': '约八千' at area 'C2' is not a number"):
        read_population(bad)
    neg = tmp_path / "neg.csv"
    pd.DataFrame({"编码": ["C1"], "population": [-5]}).to_csv(neg, index=False)
    with pytest.raises(ValueError, match="'-5' at area 'C1' is negative"):
        read_population(neg)
    noid = tmp_path / "noid.csv"
    pd.DataFrame({"名称": ["一社区"], "人口": [5]}).to_csv(noid, index=False)
    with pytest.raises(ValueError, match="noid.csv: no area id column"):
        read_population(noid)
    dup = tmp_path / "dup.csv"
    pd.DataFrame({"area_id": ["C1", "C1"], "人口": [5, 6]}).to_csv(dup, index=False)
    with pytest.raises(ValueError, match="area id 'C1' occurs more than once"):
        read_population(dup)
    ok = read_population(_gbk(tmp_path))  # a GBK export from Excel
    assert ok.to_dict("list") == {"area_id": ["C1"], "population": [12000.0], "households": [4000.0]}


def _gbk(tmp_path):
    path = tmp_path / "gbk.csv"
    path.write_bytes("社区编码,实有人口,实有户数\nC1,\"12,000\",4000\n".encode("gb18030"))
    return path


def test_population_columns_keeps_frames_without_them():
    frame = pd.DataFrame({"area_id": ["A"], "name": ["甲"]})
    assert list(population_columns(frame, "x").columns) == ["area_id", "name"]


def test_cli_population_alone_and_unknown_ids(tmp_path, capsys):
    ws = tiny_city(tmp_path, police=False, population=False)
    assert ws.areas("community")["population"].isna().all()  # the 街道 file had 人口, the 社区 file none
    pop = tmp_path / "p.csv"
    pd.DataFrame({"area_id": ["C4", "X9"], "人口": [4000, 1]}).to_csv(pop, index=False)
    assert main(["areas", "--workspace", str(ws.path), "--population", str(pop)]) == 0
    out = capsys.readouterr().out
    assert "population: from p.csv — community 1 of 4 areas; 1 id(s) match no area (first: 'X9')" in out
    assert ws.areas("community").set_index("area_id").loc["C4", "population"] == 4000
    none = tmp_path / "none.csv"
    pd.DataFrame({"area_id": ["X1"], "人口": [1]}).to_csv(none, index=False)
    assert main(["areas", "--workspace", str(ws.path), "--population", str(none)]) == 2
    assert "none.csv: no area id matches an area of the workspace" in capsys.readouterr().err
    assert main(["areas", "--workspace", str(ws.path)]) == 2
    assert "give --boundaries FILE…, --cell METRES or --population FILE" in capsys.readouterr().err
