"""The data page's upload: the CLI's options, a preview of the first rows and of what would be
quarantined (a dry run, nothing written), then the commit with a visible result — and a bad
file's visible error. Real files, the real ingest, the real page in headless Chromium."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import xlwt

from data.workspace import Workspace


def _office_xls(ws: Workspace, path, *, n: int = 12) -> dict:
    """An .xls as an office exports it (title row, 发案日期 + 12-hour 发案时间, a blank row) at the
    demo city's own points, after its last incident; three planted bad rows."""
    inc = ws.incidents_frame(["incident_id", "occurred_at", "category", "lon", "lat"]).tail(n)
    last = pd.Timestamp(inc["occurred_at"].max()).to_pydatetime()
    wb = xlwt.Workbook(encoding="utf-8")
    sh = wb.add_sheet("警情")
    sh.write_merge(0, 0, 0, 5, "某分局警情明细")
    for j, h in enumerate(["警情编号", "发案日期", "发案时间", "警情类别", "经度", "纬度"]):
        sh.write(1, j, h)
    rows = []
    for i, r in enumerate(inc.itertuples()):
        when = last + dt.timedelta(hours=2 + i)
        rows.append([f"UP{i:03d}", when.date(), f"{'上午' if when.hour < 12 else '下午'} {when.hour % 12 or 12}:"
                     f"{when.minute:02d}:00", r.category, r.lon, r.lat])
    lon, lat = float(inc["lon"].iloc[0]), float(inc["lat"].iloc[0])
    rows += [["BAD1", "不详", "10:00", "扒窃", 0.0, 0.0],          # time AND zero coordinates
             ["BAD2", last.date(), "下午 3:00:00", "扒窃", lat, lon],  # swapped
             ["BAD3", last.date(), "下午 4:00:00", "", 116.397, 39.909]]  # empty category AND Beijing
    style = xlwt.easyxf(num_format_str="yyyy/m/d")
    r_out = 2
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            sh.write(r_out, j, v, style) if isinstance(v, dt.date) else sh.write(r_out, j, v)
        r_out += 2 if i == 4 else 1  # a blank row
    wb.save(str(path))
    return {"n": len(rows), "bad": 3, "truth": last + dt.timedelta(hours=2)}


def _data_url(path) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(path.read_bytes()).decode()


@pytest.fixture
def upload_ws(app_workspace, tmp_path):
    return Workspace(shutil.copytree(app_workspace.path, tmp_path / "ws"))  # the upload changes it


@pytest.fixture(scope="module")
def pages_loaded(app_workspace):
    from app import create_app

    return create_app(app_workspace)  # pages register with the app, then import as modules


def test_options_are_the_clis(pages_loaded):
    from pages.data import upload_options

    assert upload_options() == {}
    assert upload_options("bd09", None, "auto", " ", [], None, None, "类别", "x", "y", None) == {
        "coords": "bd09", "mapping": {"category": "类别", "lon": "x", "lat": "y"}}
    assert upload_options("epsg", 4547, "utf-16", "警情", ["on"])["epsg"] == 4547
    with pytest.raises(ValueError, match="EPSG code"):
        upload_options("epsg", None)
    with pytest.raises(ValueError, match="date column"):
        upload_options("wgs84", None, None, None, None, None, "时间")


def test_reasons_are_rendered_in_the_readers_language(pages_loaded):
    from pages.data import reason_text, render_reasons

    params = json.dumps([
        {"key": "unparseable_time", "code": "unparseable_time", "column": "发案日期+发案时间", "value": "不详 10:00"},
        {"key": "zero_coordinates", "code": "zero_coordinates", "x": "经度", "y": "纬度"}], ensure_ascii=False)
    assert reason_text(params, "zh") == "发案日期+发案时间：「不详 10:00」不是可识别的日期时间；经度/纬度 为 (0, 0)"
    assert reason_text(params, "en") == ("发案日期+发案时间: '不详 10:00' is not a recognised date/time; "
                                         "经度/纬度 are (0, 0)")
    # a row quarantined before reason_params existed: the label in zh, the stored sentence in en
    assert reason_text(None, "zh", "duplicate_id", "incident_id 'A' is already in the workspace") == "编号重复"
    assert reason_text(float("nan"), "en", "duplicate_id", "incident_id 'A'") == "incident_id 'A'"
    q = pd.DataFrame({"reason": ["unparseable_time"], "reasons": ["unparseable_time;zero_coordinates"],
                      "reason_detail": ["English"], "reason_params": [params], "经度": ["0"]})
    out = render_reasons(q, "zh")
    assert "reason_params" not in out and out["reason_detail"].iloc[0].startswith("发案日期+发案时间：")


def test_preview_writes_nothing_and_commit_ingests(upload_ws, tmp_path):
    from app import create_app
    from pages.data import preview, upload

    path = tmp_path / "警情明细.xls"
    spec = _office_xls(upload_ws, path)
    app = create_app(upload_ws)
    before = upload_ws.version
    n_before = len(upload_ws.incidents_frame(["incident_id"]))
    options = ["wgs84", None, "auto", None, []] + [None] * 6
    with app.server.test_request_context("/data"):
        shown, disabled, *cols = preview(_data_url(path), *options, path.name, "zh")
    text = json.dumps(shown.to_plotly_json(), ensure_ascii=False, default=str)
    assert not disabled and cols[0][0] == {"label": "警情编号", "value": "警情编号"}
    assert f"共 {spec['n']} 行：可用 {spec['n'] - 3} 行，将隔离 3 行" in text
    assert "发案日期+发案时间：「不详 10:00」不是可识别的日期时间；经度/纬度 为 (0, 0)" in text
    assert "疑似经纬度颠倒" in text and "警情类别 为空；" in text and "不在辖区范围内" in text
    assert "警情明细.xls［警情］：表头在第 2 行，上方的标题行已跳过（某分局警情明细）" in text  # the title row, in zh
    assert "跳过 1 个空行" in text
    assert upload_ws.version == before and len(upload_ws.incidents_frame(["incident_id"])) == n_before
    with app.server.test_request_context("/data"):
        result = upload(_data_url(path), path.name, None, "zh", 1, *options)
    text = json.dumps(result.to_plotly_json(), ensure_ascii=False, default=str)
    assert f"已接收 {spec['n'] - 3} 行，隔离 3 行（共 {spec['n']} 行）" in text
    inc = upload_ws.incidents_frame().set_index("incident_id")
    assert len(inc) == n_before + spec["n"] - 3 and inc.loc["UP000", "occurred_at"] == pd.Timestamp(spec["truth"])
    q = upload_ws.quarantine()
    assert q[q["source_file"] == "警情明细.xls"]["reasons"].tolist() == [
        "unparseable_time;zero_coordinates", "swapped_lat_lon", "empty_category;outside_study_area"]


def test_gcj02_upload_lands_where_amap_shows_it(upload_ws, tmp_path):
    """A 高德 file: the page's 坐标系 GCJ-02 converts to WGS84 (a wgs84 read would be ~500 m off)."""
    from app import create_app
    from layers.coords import wgs84_to_gcj02
    from pages.data import upload

    inc = upload_ws.incidents_frame(["occurred_at", "category", "lon", "lat"]).tail(3)
    glon, glat = wgs84_to_gcj02(inc["lon"].to_numpy(), inc["lat"].to_numpy())
    last = pd.Timestamp(inc["occurred_at"].max())
    csv = tmp_path / "高德.csv"
    pd.DataFrame({"编号": ["G1", "G2", "G3"], "发案时间": [f"{last + pd.Timedelta(hours=h):%Y/%m/%d %H:%M}"
                                                          for h in (1, 2, 3)],
                  "类别": inc["category"].to_numpy(), "经度": glon, "纬度": glat}).to_csv(csv, index=False)
    app = create_app(upload_ws)
    with app.server.test_request_context("/data"):
        upload(_data_url(csv), csv.name, None, "zh", 1, "gcj02", None, "auto", None, [], *[None] * 6)
    got = upload_ws.incidents_frame().set_index("incident_id").loc[["G1", "G2", "G3"]]
    np.testing.assert_allclose(got["lon"], inc["lon"], atol=1e-6)
    np.testing.assert_allclose(got["lat"], inc["lat"], atol=1e-6)


@pytest.mark.browser
@pytest.mark.slow
def test_upload_page_preview_commit_result_and_a_bad_file(dash_duo, upload_ws, tmp_path):
    from app import create_app

    path = tmp_path / "警情明细.xls"
    spec = _office_xls(upload_ws, path)
    n_before = len(upload_ws.incidents_frame(["incident_id"]))
    dash_duo.start_server(create_app(upload_ws))
    dash_duo.driver.get(dash_duo.server_url + "/data")
    dash_duo.wait_for_element("#data-reasons td", timeout=60)
    assert dash_duo.find_element("#data-commit").get_attribute("disabled")  # nothing to commit yet
    dash_duo.find_element("#data-options summary").click()  # the options, opened: all in Chinese
    visible = dash_duo.driver.execute_script("""
      const skip = n => n.closest && (n.closest('.dash-spreadsheet-container') || n.closest('.js-plotly-plot'));
      const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT); let out = [];
      while (w.nextNode()) { const n = w.currentNode;
        if (n.parentElement && !skip(n.parentElement) && n.parentElement.offsetParent !== null) out.push(n.textContent); }
      return out.join(' ');""")
    assert "坐标系" in visible and "字段对应" in visible
    assert set(re.findall(r"[A-Za-z]{2,}", visible)) <= {"EN", "WGS", "CSV", "Excel", "XLSX"}
    dash_duo.find_element("#data-upload input[type=file]").send_keys(str(path))
    dash_duo.wait_for_text_to_equal("#data-preview-counts", f"共 {spec['n']} 行：可用 {spec['n'] - 3} 行，将隔离 3 行",
                                    timeout=120)
    bad = dash_duo.find_element("#data-preview-bad").text
    assert "不是可识别的日期时间；经度/纬度 为 (0, 0)" in bad and "疑似经纬度颠倒" in bad
    assert len(upload_ws.incidents_frame(["incident_id"])) == n_before  # the preview wrote nothing
    dash_duo.wait_for_element("#data-commit:not([disabled])", timeout=30).click()
    dash_duo.wait_for_text_to_equal("#data-upload-counts", f"已接收 {spec['n'] - 3} 行，隔离 3 行（共 {spec['n']} 行）",
                                    timeout=120)
    assert len(Workspace(upload_ws.path).incidents_frame(["incident_id"])) == n_before + spec["n"] - 3
    dash_duo.wait_for_contains_text("#data-summary-list", f"{n_before + spec['n'] - 3:,}", timeout=30)
    # the quarantine below lists the new rows with every fault, in Chinese
    dash_duo.wait_for_contains_text("#data-quarantine-table", "不在辖区范围内", timeout=30)

    wrong = tmp_path / "无时间.csv"
    wrong.write_text("编号,类别\nA1,盗窃\n", encoding="utf-8")
    dash_duo.find_element("#data-upload input[type=file]").send_keys(str(wrong))
    dash_duo.wait_for_contains_text("#data-preview-error", "文件未导入", timeout=60)
    assert "无时间.csv: no time column found" in dash_duo.find_element("#data-preview-error").text
    assert "/tmp" not in dash_duo.find_element("#data-preview-error").text  # named as the user named it
    assert dash_duo.find_element("#data-commit").get_attribute("disabled")
    assert dash_duo.get_logs() == []


def test_a_commit_that_fails_says_so_in_words(upload_ws, tmp_path):
    from app import create_app

    wrong = tmp_path / "周报.csv"
    wrong.write_text("编号,类别\nA1,盗窃\n", encoding="utf-8")
    app = create_app(upload_ws)  # first: the pages register with it
    from pages._common import service
    from pages._jobs import JobFailed
    from pages.data import upload, upload_prepare, upload_work

    with app.server.test_request_context("/data"):

        args = upload_prepare(service(), "zh", _data_url(wrong), wrong.name, None)
        with pytest.raises(JobFailed, match=r"^文件未导入：周报.csv: no time column found"):
            upload_work(service(), {**args, "lang": "zh"}, lambda *_: None)
        with pytest.raises(JobFailed, match="EPSG code"):  # refused in the request: no worker starts
            upload_prepare(service(), "zh", _data_url(wrong), wrong.name, None, "epsg", None)
        out = json.dumps(upload(_data_url(wrong), wrong.name, None, "zh").to_plotly_json(), ensure_ascii=False,
                         default=str)
    assert "data-upload-error" in out and "文件未导入" in out
