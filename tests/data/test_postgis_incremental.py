"""PostGIS: the counts cube stored sparse (data/pg_counts.py) and the weekly ingest in O(new rows)
(data/partitions.py ``_append_rows``, ``PgTransaction.append``/``add_cells``), against the folder's
full recount. Kills in the middle of such a commit: tests/data/test_transactions.py (PostGIS half).

One database for the module on the session's server; each test its own schema.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data.ingest import ingest_files
from data.pipeline import _arrow_cube, build_areas, counts, refresh
from data.workspace import Workspace

_schemas = (f"s{i}" for i in itertools.count())


@pytest.fixture(scope="module")
def database(postgres_module_database) -> str:
    return postgres_module_database


@pytest.fixture
def url(database) -> str:
    return f"{database}?schema={next(_schemas)}"


def _sql(url: str, query: str):
    with psycopg.connect(url.split("?")[0]) as conn:
        return conn.execute(query.replace("S.", url.split("schema=")[1] + ".")).fetchall()


def _frame(rng, n: int, start: str, days: int, cats: list[str], prefix: str) -> pd.DataFrame:
    t = pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, 60 * 24 * days, n), unit="min")
    return pd.DataFrame({"警情编号": [f"{prefix}{i:06d}" for i in range(n)], "报警时间": t.strftime("%Y-%m-%d %H:%M"),
                         "警情类别": rng.choice(cats, n), "经度": rng.uniform(106.6, 106.8, n).round(6),
                         "纬度": rng.uniform(26.5, 26.7, n).round(6)})


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    rng = np.random.default_rng(5)
    d = tmp_path_factory.mktemp("weekly")
    hist = _frame(rng, 6000, "2024-01-01", 400, ["入室盗窃", "扒窃", "诈骗"], "J")
    hist.to_csv(d / "hist.csv", index=False)
    week = _frame(rng, 300, "2025-02-03", 7, ["入室盗窃", "扒窃", "诈骗"], "W")
    late = _frame(rng, 2, "2024-03-05", 1, ["诈骗"], "L")  # late rows of an old month
    new_cat = _frame(rng, 3, "2025-02-04", 1, ["抢劫"], "N")  # a category the cube has not seen
    outside = _frame(rng, 1, "2025-02-04", 1, ["扒窃"], "O")
    outside["经度"] = 106.95  # outside every cell: counted nowhere
    pd.concat([week, late, new_cat, outside, hist.iloc[:2]]).to_csv(d / "week.csv", index=False)  # 2 doubles
    wider = _frame(rng, 50, "2025-02-10", 7, ["扒窃"], "X")
    wider["备注"] = "新字段"  # a column the stored incidents lack: staged whole, recounted
    wider.to_csv(d / "wider.csv", index=False)
    return {"hist": d / "hist.csv", "week": d / "week.csv", "wider": d / "wider.csv"}


def _pair(url, tmp_path, files):
    """The history with a 1 km grid, in PostGIS and in a folder."""
    out = []
    for where in (url, tmp_path / "w"):
        ws = Workspace.create(where)
        ingest_files([files["hist"]], ws)
        build_areas(ws, cell=1000)
        out.append(Workspace(where))
    return out


def _ingest(ws: Workspace, path) -> tuple:
    with ws.transaction():  # as `pingan ingest` does: the report of the counts inside the commit
        report = ingest_files([path], ws)
        return report, refresh(ws)


def _cube(ws: Workspace) -> pa.Table:
    """The counts cube as one Arrow table (pandas compares categoricals value by value: slow)."""
    return pq.read_table(ws.read_path("counts.parquet")).unify_dictionaries().combine_chunks()


def _same_data(pg: Workspace, fs: Workspace) -> None:
    assert _cube(pg).equals(_cube(fs))
    inc = [w.incidents_frame().sort_values("incident_id", ignore_index=True) for w in (pg, fs)]
    pd.testing.assert_frame_equal(*inc)
    asg = [pd.read_parquet(w.read_path("assignments.parquet")).sort_values("incident_id", ignore_index=True)
           for w in (pg, fs)]
    pd.testing.assert_frame_equal(*asg)
    for layer in pg.layers():  # the day and month counts come from incidents + assignments
        pd.testing.assert_frame_equal(counts(pg, layer, freq="M"), counts(fs, layer, freq="M"))


def test_the_cube_is_stored_sparse_and_read_back_dense(url, tmp_path, files):
    pg, fs = _pair(url, tmp_path, files)
    dense = pq.read_table(fs.read_path("counts.parquet"))
    back = pq.read_table(Workspace(url).read_path("counts.parquet"))
    assert back.schema.equals(dense.schema, check_metadata=False)
    assert back.unify_dictionaries().combine_chunks().equals(dense.unify_dictionaries().combine_chunks())
    nonzero = int((dense.column("count").to_numpy() != 0).sum())
    assert _sql(url, "SELECT count(*), sum(count), min(count) FROM S.counts") == [
        (nonzero, int(dense.column("count").to_numpy().sum()), 1)]
    (areas, periods, cats), = _sql(url, "SELECT cardinality(areas), cardinality(periods), categories FROM S.counts_axes")
    assert areas * periods * len(cats) == dense.num_rows and cats == ["入室盗窃", "扒窃", "诈骗"]
    assert _sql(url, "SELECT layout FROM S._pingan_tables WHERE name = 'counts.parquet'") == [("cube",)]


def test_a_table_that_is_not_a_dense_cube_is_stored_row_for_row(url):
    ws = Workspace.create(url)
    rng = np.random.default_rng(2)
    cube = rng.poisson(0.3, size=(4, 3, 2)).astype(np.int64)
    table = _arrow_cube("cell", pd.Index(["a", "b", "c", "d"], dtype="str"),
                        pd.date_range("2025-01-06", periods=3, freq="W-MON"), pd.Index(["x", "y"], dtype="str"), cube)
    shuffled = table.take(pa.array(rng.permutation(table.num_rows)))
    for t, layout in ((table, "cube"), (shuffled, "rows"), (table.slice(0, 23), "rows")):
        with ws.transaction() as tx:
            tx.write_parquet("counts.parquet", t)
        assert _sql(url, "SELECT layout FROM S._pingan_tables WHERE name = 'counts.parquet'") == [(layout,)]
        back = pq.read_table(Workspace(url).read_path("counts.parquet"))
        assert back.unify_dictionaries().combine_chunks().equals(t.unify_dictionaries().combine_chunks()), layout
    assert _sql(url, "SELECT to_regclass('S.counts_axes') IS NULL") == [(True,)]  # dropped with the cube
    with ws.transaction() as tx:  # only a cube has an axes table: extra/x_axes is x's neighbour, not its axes
        tx.write_parquet("extra/x.parquet", table)
        tx.write_parquet("extra/x_axes.parquet", table)
    with ws.transaction() as tx:
        tx.delete("extra/x.parquet")
    assert Workspace(url).has_extra("x_axes") and not Workspace(url).has_extra("x")


@pytest.mark.slow
def test_a_weekly_file_is_appended_and_equals_a_full_recount(url, tmp_path, files):
    pg, fs = _pair(url, tmp_path, files)
    version = pg.version
    rows = _sql(url, "SELECT count(*) FROM S.incidents")[0][0]
    report, counted = _ingest(pg, files["week"])
    assert "the history was not recounted" in counted and "2 week(s) touched" in counted
    assert report.rows_used == 306 and report.by_reason.get("duplicate_id") == 2
    _ingest(fs, files["week"])  # a small folder workspace: a full recount
    _same_data(pg, fs)
    assert pg.version == version + 1
    assert _sql(url, "SELECT count(*) FROM S.incidents")[0][0] == rows + 306
    assert "抢劫" in _sql(url, "SELECT categories FROM S.counts_axes")[0][0]
    assert _sql(url, "SELECT count(*) FROM S.counts WHERE count = 0") == [(0,)]
    # re-ingesting the file adds nothing and writes nothing
    assert ingest_files([files["week"]], pg).rows_in == 0 and pg.version == version + 1
    # a file with a column the table lacks: the incidents staged whole, the counts recounted
    report, counted = _ingest(pg, files["wider"])
    assert report.rows_used == 50 and "not recounted" not in counted
    _ingest(fs, files["wider"])
    _same_data(pg, fs)
    assert "备注" in pg.incidents_frame(["incident_id", "备注"]).columns


def test_reads_inside_the_ingest_see_the_appended_rows(url, tmp_path, files):
    pg, _ = _pair(url, tmp_path, files)
    before = pg.incidents_frame(["incident_id"])
    weekly = counts(pg, "cell")
    with pg.transaction():
        ingest_files([files["week"]], pg)
        inside = pg.incidents_frame(["incident_id"])
        cube = counts(pg, "cell")  # the cube with the new cells, rebuilt in this transaction
        assert len(inside) == len(before) + 306
        assert int(cube["count"].sum()) == int(weekly["count"].sum()) + 305
        with ThreadPoolExecutor(1) as other:  # another thread (a board server): the old version
            assert other.submit(lambda: Workspace(url).incidents_frame(["incident_id"])).result().equals(before)
    pd.testing.assert_frame_equal(counts(Workspace(url), "cell"), cube)
    assert len(Workspace(url).incidents_frame(["incident_id"])) == len(inside)
