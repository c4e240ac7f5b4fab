"""Each user sees exactly their own scope, through every callback of a real served board.

A grid user (one 社区) and an analyst are signed in to a waitress server on loopback; the tests
send the board's, trends', hotspots' and data page's callbacks what a browser could send —
other areas' ids, other layers, a server path as a download — and check what comes back.
Also: after an ingest, the next callback shows the new totals (one cache, keyed by version).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import requests
from test_auth import PW, _copy, _login, _start

from data.accounts import add_user
from data.audit import read_audit
from pages._auth import CSRF_COOKIE, CSRF_HEADER


@pytest.fixture(scope="module")
def served(app_workspace, tmp_path_factory):
    ws = _copy(app_workspace, tmp_path_factory.mktemp("scope") / "w")
    comm = pd.read_parquet(ws.area_path("community"), columns=["area_id", "parent_id"])
    mine, other = str(comm["area_id"].iloc[0]), str(comm["area_id"].iloc[-1])
    add_user(ws, "wang", "grid", password=PW, area_id=mine)
    add_user(ws, "li", "analyst", password=PW)
    server, base = _start(ws)
    yield {"base": base, "ws": ws, "mine": mine, "other": other}
    server.close()


class Browser:
    """A signed-in session that fires the app's callbacks the way dash-renderer does."""

    def __init__(self, base: str, name: str) -> None:
        self.base = base
        self.s = requests.Session()
        assert _login(base, name, PW, session=self.s).status_code == 302
        self.deps = self.s.get(f"{base}/_dash-dependencies", timeout=60).json()

    def call(self, output: str, values: dict, changed: str | None = None) -> requests.Response:
        """Fire the callback whose output names ``output``; ``values`` maps ``id.prop`` → value."""
        dep = next(d for d in self.deps if output in d["output"])

        def item(spec):
            if spec["id"].startswith("{"):  # a pattern-matching id comes as its JSON text
                spec = {**spec, "id": json.loads(spec["id"])}
            if isinstance(spec["id"], str):
                value = values.get(f"{spec['id']}.{spec['property']}")
                return {"id": spec["id"], "property": spec["property"], "value": value}
            # a pattern-matching ALL input: {"type-name.prop": {index: value}}
            value = values.get(f"{spec['id']['type']}.{spec['property']}")
            return [{"id": {**spec["id"], "index": k}, "property": spec["property"], "value": v}
                    for k, v in (value or {}).items()]

        outputs = [dict(zip(("id", "property"), o.rsplit(".", 1), strict=True))
                   for o in dep["output"].strip(".").split("...")]
        body = {"output": dep["output"], "outputs": outputs if len(outputs) > 1 else outputs[0],
                "inputs": [item(i) for i in dep["inputs"]], "state": [item(i) for i in dep["state"]],
                "changedPropIds": [changed or f"{dep['inputs'][0]['id']}.{dep['inputs'][0]['property']}"]}
        token = self.s.cookies.get(CSRF_COOKIE)
        return self.s.post(f"{self.base}/_dash-update-component", json=body,
                           headers={CSRF_HEADER: token, "Origin": self.base}, timeout=120)

    def out(self, output: str, values: dict, changed: str | None = None) -> dict:
        r = self.call(output, values, changed)
        assert r.status_code == 200, (output, r.status_code, r.text[:300])
        return r.json()["response"]


def _period(ws) -> str:
    from analytics.service import board

    return str(board.latest_period(ws, "W").date())


def _board(period, layer, path=(), mode="alert"):
    return {"board-period.value": period, "board-category.value": "全部", "board-mode.value": mode,
            "board-path.data": list(path), "board-layer.value": layer, "board-freq.value": "W",
            "app-lang.data": "zh"}


def _rows(resp) -> list[dict]:
    return resp["board-table"]["data"]


def test_grid_user_sees_only_their_subtree_on_the_board(served):
    b, ws, mine = Browser(served["base"], "wang"), served["ws"], served["mine"]
    period = _period(ws)
    rows = _rows(b.out("board-map.figure", _board(period, "community")))
    assert [r["area_id"] for r in rows] == [mine]
    grids = pd.read_parquet(ws.area_path("grid"), columns=["area_id", "parent_id"])
    own = set(grids.loc[grids["parent_id"] == mine, "area_id"])
    rows = _rows(b.out("board-map.figure", _board(period, "community", [mine])))
    assert rows and {r["area_id"] for r in rows} == own


@pytest.mark.parametrize("attack", ["other_path", "coarser_layer", "unknown_area"])
def test_grid_user_gets_nothing_of_other_areas(served, attack):
    b, ws = Browser(served["base"], "wang"), served["ws"]
    period = _period(ws)
    values = {"other_path": _board(period, "community", [served["other"]]),
              "coarser_layer": _board(period, "district"),
              "unknown_area": _board(period, "community", ["../../etc/passwd"])}[attack]
    resp = b.out("board-map.figure", values)
    assert _rows(resp) == []
    assert "data" not in resp["board-map"]["figure"] or not resp["board-map"]["figure"]["data"]


def test_kpi_tiles_sum_only_the_users_areas(served):
    from analytics.service import Service

    ws, mine = served["ws"], served["mine"]
    period = _period(ws)
    b = Browser(served["base"], "wang")
    tiles = b.out("board-kpis.children", _board(period, "grid"))
    text = json.dumps(tiles, ensure_ascii=False)
    whole = Service(ws).kpis(period, "W", None, "grid")
    table = Service(ws).warning_table(level="grid", period=period)
    grids = pd.read_parquet(ws.area_path("grid"), columns=["area_id", "parent_id"])
    own = set(grids.loc[grids["parent_id"] == mine, "area_id"])
    mine_total = int(table.loc[table["area_id"].isin(own), "observed"].sum())
    assert '"board-kpi-total"' in text
    value = next(c["props"]["children"] for c in _walk(tiles) if c.get("props", {}).get("id") == "board-kpi-total")
    assert int(value.replace(",", "")) == mine_total < whole["total"]


def test_trends_refuse_another_area(served):
    b = Browser(served["base"], "wang")
    values = {"trend-area.value": served["other"], "trend-category.value": "全部", "trend-freq.value": "W",
              "app-lang.data": "zh"}
    fig = b.out("trend-series.figure", values)["trend-series"]["figure"]
    assert not fig.get("data")  # the refused message only, no series
    options = b.out("trend-area.options", {"trend-layer.value": "grid"})["trend-area"]["options"]
    grids = pd.read_parquet(served["ws"].area_path("grid"), columns=["area_id", "parent_id"])
    assert {o["value"] for o in options} == set(grids.loc[grids["parent_id"] == served["mine"], "area_id"])


def test_hotspot_map_holds_only_the_users_incidents(served):
    ws = served["ws"]
    b = Browser(served["base"], "wang")
    inc = pd.read_parquet(ws.incidents_path, columns=["incident_id", "occurred_at"])
    asg = pd.read_parquet(ws.assignments_path, columns=["incident_id", "community"])
    end = inc["occurred_at"].max().normalize()
    values = {"hot-category.value": "全部", "hot-dates.start_date": "2000-01-01",
              "hot-dates.end_date": str(end.date()), "hot-hours.value": [0, 23],
              "hot-weekdays.value": list(range(7)), "hot-view.value": "points", "hot-overlays.value": ["gistar"],
              "app-lang.data": "zh"}
    resp = b.out("hot-map.figure", values)
    points = [tr for tr in resp["hot-map"]["figure"]["data"] if tr.get("mode") == "markers"]
    shown = sum(len(_decode(tr["x"])) for tr in points)
    assert shown == int((asg["community"] == served["mine"]).sum()) > 0


def test_data_page_and_briefing_are_not_for_grid_users(served):
    b = Browser(served["base"], "wang")
    resp = b.out("data-summary.children", {"data-upload-result.children": None, "app-lang.data": "zh"})
    assert "辖区范围" in json.dumps(resp, ensure_ascii=False)
    resp = b.out("board-brief-job.data", {"board-brief.n_clicks": 1, "board-period.value": None,
                                            "app-lang.data": "zh"})  # refused before a job starts
    assert "辖区范围" in json.dumps(resp, ensure_ascii=False) and "board-brief-job" not in resp


@pytest.mark.parametrize("who", ["wang", "li"])
def test_a_download_never_takes_a_path(served, who):
    b = Browser(served["base"], who)
    for files in ({"png": "/etc/hostname"}, {"png": str(served["ws"].path / "config.toml")},
                  {"png": "0" * 24}, {"png": {"path": "/etc/hostname"}}):
        r = b.call("board-download.data", {"board-dl.n_clicks": {"png": 1}, "board-brief-files.data": files},
                   changed='{"index":"png","type":"board-dl"}.n_clicks')
        assert r.status_code in (200, 204)
        assert "content" not in r.text and "root" not in r.text


def test_a_download_id_is_redeemed_only_by_its_owner(served):
    from analytics.service import Service
    from data.accounts import get_user

    ws = served["ws"]
    made = ws.path / "briefs" / "x.txt"
    made.parent.mkdir(exist_ok=True)
    made.write_text("secret brief", encoding="utf-8")
    token = Service(ws, get_user(ws, "li")).offer(made)
    key = "board-dl.n_clicks"
    changed = '{"index":"png","type":"board-dl"}.n_clicks'
    owner = Browser(served["base"], "li").call("board-download.data", {key: {"png": 1},
                                                "board-brief-files.data": {"png": token}}, changed)
    assert owner.status_code == 200 and "content" in owner.text
    thief = Browser(served["base"], "wang").call("board-download.data", {key: {"png": 1},
                                                 "board-brief-files.data": {"png": token}}, changed)
    assert "content" not in thief.text
    assert "download" in read_audit(ws)["action"].tolist()


def test_the_next_callback_after_an_ingest_shows_the_new_totals(served, tmp_path):
    """Read after write: the board is served, a file is ingested, the next KPI callback is fresh."""
    from data.ingest import ingest_files
    from data.pipeline import refresh

    ws = served["ws"]
    b = Browser(served["base"], "li")
    period = _period(ws)
    tiles = b.out("board-kpis.children", _board(period, "district"))
    before = _tile(tiles, "board-kpi-total")
    # ten extra cases in the latest week, inside the city
    inc = pd.read_parquet(ws.incidents_path, columns=["lon", "lat", "category"])
    rng = np.random.default_rng(3)
    pick = inc.sample(10, random_state=3)
    day = pd.Timestamp(period) + pd.Timedelta(days=2)
    extra = pd.DataFrame({"incident_id": [f"RAW-{i}" for i in range(10)],
                          "occurred_at": [str(day + pd.Timedelta(hours=int(h))) for h in rng.integers(1, 20, 10)],
                          "category": pick["category"].to_numpy(), "lon": pick["lon"].to_numpy(),
                          "lat": pick["lat"].to_numpy()})
    path = tmp_path / "extra.csv"
    extra.to_csv(path, index=False)
    ingest_files([str(path)], ws)
    refresh(ws)
    after = _tile(b.out("board-kpis.children", _board(period, "district")), "board-kpi-total")
    assert after == before + 10


def _tile(tiles, tile_id: str) -> int:
    return int(next(c["props"]["children"] for c in _walk(tiles)
                    if c.get("props", {}).get("id") == tile_id).replace(",", ""))


def _walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _decode(values):
    """Plotly's JSON: a plain list, or a typed array ``{"dtype", "bdata"}``."""
    if isinstance(values, dict) and "bdata" in values:
        import base64

        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    return values


def _data_url(text: str) -> str:
    import base64

    return "data:text/csv;base64," + base64.b64encode(text.encode("utf-8")).decode()


def test_an_upload_says_what_went_wrong(served):
    b = Browser(served["base"], "li")
    bad = _data_url("编号,类别\nA1,盗窃\n")  # no time column, no coordinates
    resp = b.out("data-preview.children", {"data-upload.contents": bad, "data-upload.filename": "周报.csv",
                                            "app-lang.data": "zh"})  # the preview, before any commit
    text = json.dumps(resp, ensure_ascii=False)
    assert "data-preview-error" in text and "文件未导入" in text and "周报.csv: no time column" in text


def test_an_upload_over_the_limit_is_refused_before_it_is_read(served):
    ws = served["ws"]
    from data.ingest_limits import IngestLimits, limits_of

    cfg = ws.config
    small = IngestLimits.from_dict({**limits_of(cfg).to_dict(), "max_upload_bytes": 2_000})
    ws.update_config(limits=small.to_dict())
    try:
        b = Browser(served["base"], "li")
        big = _data_url("incident_id,occurred_at,category,lon,lat\n" + "x,2024-01-01,盗窃,106.6,26.6\n" * 200)
        n_before = len(pd.read_parquet(ws.incidents_path, columns=["incident_id"]))
        resp = b.out("data-up-job.data", {"data-upload.contents": big, "data-upload.filename": "big.csv",
                                           "data-commit.n_clicks": 1, "app-lang.data": "zh"})
        assert "upload limit" in json.dumps(resp, ensure_ascii=False) and "data-up-job" not in resp  # no job
        assert len(pd.read_parquet(ws.incidents_path, columns=["incident_id"])) == n_before
    finally:
        ws.update_config(limits={})


def test_a_grid_user_cannot_upload(served):
    b = Browser(served["base"], "wang")
    n_before = len(pd.read_parquet(served["ws"].incidents_path, columns=["incident_id"]))
    good = _data_url("incident_id,occurred_at,category,lon,lat\nG1,2024-01-01 10:00,盗窃,106.6,26.6\n")
    resp = b.out("data-up-job.data", {"data-upload.contents": good, "data-upload.filename": "a.csv",
                                       "data-commit.n_clicks": 1, "app-lang.data": "zh"})
    assert "辖区范围" in json.dumps(resp, ensure_ascii=False) and "data-up-job" not in resp  # refused, no job
    assert len(pd.read_parquet(served["ws"].incidents_path, columns=["incident_id"])) == n_before


def test_colour_tiles_show_how_many_by_chance(served):
    from analytics.service import Service

    ws = served["ws"]
    period = _period(ws)
    tiles = Browser(served["base"], "li").out("board-kpis.children", _board(period, "grid"))
    k = Service(ws).kpis(period, "W", None, "grid")
    text = json.dumps(tiles, ensure_ascii=False)
    for lv in ("red", "orange"):
        assert f"偶然约 {k['chance'][lv]:.1f} 个" in text
    assert k["chance"]["orange"] > 0  # thousands of 网格: some orange is expected by chance


def _download(resp: dict, component: str) -> tuple[str, bytes]:
    import base64

    data = resp[component]["data"]
    return data["filename"], base64.b64decode(data["content"]) if data.get("base64") else data["content"].encode()


def test_the_ranking_export_holds_only_what_the_user_sees(served):
    import io

    ws, mine = served["ws"], served["mine"]
    period = _period(ws)
    values = {**_board(period, "community", [mine]), "board-export-xlsx.n_clicks": 1, "board-export-csv.n_clicks": 0}
    name, data = _download(Browser(served["base"], "wang").out("board-export.data", values,
                                                                changed="board-export-xlsx.n_clicks"), "board-export")
    assert name.endswith(".xlsx")
    sheet = pd.read_excel(io.BytesIO(data))
    grids = pd.read_parquet(ws.area_path("grid"), columns=["area_id", "parent_id"])
    assert set(sheet["编号"].astype(str)) == set(grids.loc[grids["parent_id"] == mine, "area_id"])
    log = read_audit(ws)
    assert ((log["user"] == "wang") & (log["action"] == "export")).any()


def test_the_quarantine_export_is_for_the_data_role_only(served):
    import io

    ok = Browser(served["base"], "li").out("data-export-file.data", {"data-export.n_clicks": 1})
    name, data = _download(ok, "data-export-file")
    q = pd.read_excel(io.BytesIO(data))
    assert "reason" in q.columns and len(q) == len(served["ws"].quarantine())
    refused_ = Browser(served["base"], "wang").call("data-export-file.data", {"data-export.n_clicks": 1})
    assert refused_.status_code == 204 or "content" not in refused_.text


def test_the_hotspot_table_export_is_cut_to_the_scope(served):
    import io

    ws, mine = served["ws"], served["mine"]
    end = str(pd.read_parquet(ws.incidents_path, columns=["occurred_at"])["occurred_at"].max().date())
    values = {"hot-export-gistar.n_clicks": 1, "hot-export-knox.n_clicks": 0, "hot-category.value": "全部",
              "hot-dates.start_date": "2000-01-01", "hot-dates.end_date": end, "hot-hours.value": [0, 23],
              "hot-weekdays.value": list(range(7)), "app-lang.data": "zh"}
    whole = pd.read_excel(io.BytesIO(_download(Browser(served["base"], "li").out(
        "hot-export-table.data", values, changed="hot-export-gistar.n_clicks"), "hot-export-table")[1]))
    grids = pd.read_parquet(ws.area_path("grid"), columns=["area_id", "parent_id"])
    assert len(whole) == len(grids) and {"z", "p", "p_fdr", "class", "name"} <= set(whole.columns)
    own = pd.read_excel(io.BytesIO(_download(Browser(served["base"], "wang").out(
        "hot-export-table.data", values, changed="hot-export-gistar.n_clicks"), "hot-export-table")[1]))
    assert set(own["area_id"].astype(str)) == set(grids.loc[grids["parent_id"] == mine, "area_id"])
    assert not own["class"].astype(str).str.contains("hot_").any()  # labelled for people


@pytest.mark.parametrize("weeks, trigger", [("abc", "x"), ([26], None), (10**9, {"a": 1}), ("../../etc", 3)])
def test_the_evaluation_page_takes_nothing_from_the_browser_on_trust(served, weeks, trigger):
    """A span, a category or a trigger no page would send: an answer in words, never a 500 or a
    stored result read for it; a category that is a path stays a name."""
    b = Browser(served["base"], "li")
    for category in ("全部", "../../config.toml", None):
        resp = b.out("evaluation-trigger.data", {"evaluation-category.value": category,
                                                 "evaluation-weeks.value": weeks,
                                                 "evaluation-trigger.data": trigger, "app-lang.data": "zh"},
                     changed="evaluation-weeks.value")
        assert "evaluation-table" not in resp or resp["evaluation-table"]["children"] is None
    wang = Browser(served["base"], "wang")  # a grid user: no evaluation of the whole city at all
    resp = wang.out("evaluation-trigger.data", {"evaluation-category.value": "全部", "evaluation-weeks.value": 26,
                                                "evaluation-trigger.data": 0, "app-lang.data": "zh"},
                    changed="evaluation-weeks.value")
    assert "evaluation-grid" not in json.dumps(resp, ensure_ascii=False)
