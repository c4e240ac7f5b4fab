"""The acceptance file of issue 16: office exports as they are, with every fault of every bad row.

:func:`write_office_files` writes ONE messy export in the forms offices send it — an ``.xls``
with a title row and separate date and time columns, an ``.xlsx`` with a notes sheet, a second
incident-like sheet and 12-hour 上午/下午 times, a GBK CSV with 日期 + 时间, Excel's UTF-16 「Unicode
文本」, a Big5 CSV, a GeoJSON with polygons — all with blank rows and the same planted bad rows
(swapped, zero and missing coordinates, a point in Beijing, unreadable and future times, an
empty category, a repeated id), several of them with two or three faults at once. Real files on
disk, read by the real readers.
"""

from __future__ import annotations

import datetime as dt
import json

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import xlwt
from shapely.geometry import Point, box

from data.ingest import REASONS, ingest_files
from data.workspace import Workspace

#: The study area (a Guiyang-like box) and the boundary written for it.
STUDY = (106.55, 26.45, 106.85, 26.75)
BEIJING = (116.397, 39.909)
_CATS = ("入室盗窃", "盗窃电动车", "扒窃", "抢劫", "电信网络诈骗")
_CATS_BIG5 = ("入室竊盜", "竊盜電動車", "扒竊", "搶劫", "電信網路詐騙")

#: Planted rows: (expected faults, how to spoil a good row {time, cat, lon, lat}).
PLANTS: tuple[tuple[frozenset[str], object], ...] = (
    (frozenset({"unparseable_time", "zero_coordinates"}), lambda r: {**r, "time": "不详", "lon": 0.0, "lat": 0.0}),
    (frozenset({"swapped_lat_lon"}), lambda r: {**r, "lon": r["lat"], "lat": r["lon"]}),
    (frozenset({"zero_coordinates"}), lambda r: {**r, "lon": 0.0, "lat": 0.0}),
    (frozenset({"outside_study_area"}), lambda r: {**r, "lon": BEIJING[0], "lat": BEIJING[1]}),
    (frozenset({"unparseable_time", "empty_category", "outside_study_area"}),
     lambda r: {**r, "time": "见附件", "cat": "", "lon": BEIJING[0], "lat": BEIJING[1]}),
    (frozenset({"missing_coordinates"}), lambda r: {**r, "lon": None, "lat": None}),
    (frozenset({"future_time", "swapped_lat_lon"}),
     lambda r: {**r, "time": dt.datetime(2099, 5, 1, 15, 0), "lon": r["lat"], "lat": r["lon"]}),
    (frozenset({"duplicate_id"}), "dup"),
)


def twelve_hour(t: dt.datetime, *, date: bool = True, pad: bool = False) -> str:
    """The 12-hour text of Chinese Excel/WPS: ``2024/3/5 下午 2:20:00`` (凌晨/上午/中午/下午/晚上)."""
    h = t.hour
    word = "凌晨" if h < 6 else "上午" if h < 12 else "中午" if h == 12 else "下午" if h < 19 else "晚上"
    h12 = h % 12 or 12
    clock = f"{h12:02d}:{t.minute:02d}:{t.second:02d}" if pad else f"{h12}:{t.minute:02d}:{t.second:02d}"
    return (f"{t.year}/{t.month}/{t.day} " if date else "") + f"{word} {clock}"


def _rows(seed: int, n_good: int) -> tuple[list[dict], list[frozenset[str]]]:
    """Good rows with true times, then the planted rows in between, and per row its faults."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = STUDY
    good = [{
        "id": f"JQ{seed:02d}{i:04d}",
        "when": dt.datetime(2024, 1, 1) + dt.timedelta(minutes=int(rng.integers(0, 60 * 24 * 300))),
        "cat": int(rng.integers(len(_CATS))),
        "lon": round(float(rng.uniform(x0 + 0.02, x1 - 0.02)), 6),
        "lat": round(float(rng.uniform(y0 + 0.02, y1 - 0.02)), 6),
    } for i in range(n_good)]
    rows, expected = [], []
    for r in good:
        rows.append({**r, "time": r["when"]})
        expected.append(frozenset())
    step = n_good // len(PLANTS)
    for k, (faults, spoil) in enumerate(PLANTS):
        base = {**good[k * step], "time": good[k * step]["when"]}
        row = dict(base) if spoil == "dup" else {**spoil(base), "id": f"BAD{k}"}
        pos = k * step + 3 + k  # spread through the file
        rows.insert(pos, row)
        expected.insert(pos, faults)
    return rows, expected


def _num(v) -> object:
    return "" if v is None else v


def write_office_files(folder, seed: int = 16, n_good: int = 48) -> dict[str, dict]:
    """Write every variant into ``folder``; per name: path, expected faults per record (in
    order), true times of the good rows, and the ingest options the variant needs."""
    rows, expected = _rows(seed, n_good)
    out: dict[str, dict] = {}
    truth = [r["when"] for r, e in zip(rows, expected, strict=True) if not e]
    blanks = {5, 17, 30}  # blank rows after these records (not records themselves)

    # .xls: a merged title row, 发案日期 as date cells + 发案时间 as 12-hour text or time cells
    wb = xlwt.Workbook(encoding="utf-8")
    sh = wb.add_sheet("警情")
    date_style = xlwt.easyxf(num_format_str="yyyy/m/d")
    time_style = xlwt.easyxf(num_format_str="h:mm:ss")
    sh.write_merge(0, 0, 0, 6, "云岩分局 2024 年警情明细（导出）")
    for j, h in enumerate(["警情编号", "发案日期", "发案时间", "警情类别", "经度", "纬度", "地址"]):
        sh.write(1, j, h)
    r_out = 2
    for i, r in enumerate(rows):
        t = r["time"]
        sh.write(r_out, 0, r["id"])
        if isinstance(t, dt.datetime):
            sh.write(r_out, 1, t.date(), date_style)
            if i % 2:
                sh.write(r_out, 2, twelve_hour(t, date=False))
            else:
                sh.write(r_out, 2, t.time(), time_style)
        else:
            sh.write(r_out, 1, t)
            sh.write(r_out, 2, "10:00")
        sh.write(r_out, 3, _CATS[r["cat"]] if r.get("cat") != "" else "")
        sh.write(r_out, 4, _num(r["lon"]))
        sh.write(r_out, 5, _num(r["lat"]))
        sh.write(r_out, 6, f"云岩区{i}号")
        r_out += 2 if i in blanks else 1
    path = folder / "警情明细.xls"
    wb.save(str(path))
    out["xls"] = {"path": path, "expected": expected, "truth": truth, "options": {}}

    # .xlsx: a notes sheet first, then the incidents (title merged over the header), then last
    # month's sheet (also incident-like): the first incident sheet is taken and the log says so
    wb = openpyxl.Workbook()
    notes = wb.active
    notes.title = "填表说明"
    notes.append(["本表由警综平台导出，请勿修改表头。"])
    sh = wb.create_sheet("警情明细")
    sh.append(["云岩分局 2024 年警情明细"])
    sh.merge_cells("A1:F1")
    sh.append(["警情编号", "报警时间", "警情类别", "经度", "纬度", "地址"])
    for i, r in enumerate(rows):
        t = r["time"]
        when = (twelve_hour(t) if i % 3 else t) if isinstance(t, dt.datetime) else t  # text or a date cell
        sh.append([r["id"], when, _CATS[r["cat"]] if r.get("cat") != "" else None, r["lon"], r["lat"],
                   f"云岩区{i}号"])
        if i in blanks:
            sh.append([None] * 6)
    last = wb.create_sheet("上月")
    last.append(["警情编号", "报警时间", "警情类别", "经度", "纬度"])
    last.append(["OLD1", "2023/12/1 上午 9:00:00", "扒窃", 106.7, 26.6])
    path = folder / "警情明细.xlsx"
    wb.save(path)
    out["xlsx"] = {"path": path, "expected": expected, "truth": truth, "options": {}}

    # GBK CSV with 日期 + 时间 (12-hour times, zero-padded as WPS writes them)
    lines = ["编号,日期,时间,案件类别,经度,纬度"]
    for i, r in enumerate(rows):
        t = r["time"]
        d, c = ((f"{t.year}/{t.month}/{t.day}", twelve_hour(t, date=False, pad=True))
                if isinstance(t, dt.datetime) else (t, "10:00"))
        cat = _CATS[r["cat"]] if r.get("cat") != "" else ""
        lines.append(f"{r['id']},{d},{c},{cat},{_num(r['lon'])},{_num(r['lat'])}")
        if i in blanks:
            lines.append("")
    path = folder / "警情_gbk.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    out["gbk_csv"] = {"path": path, "expected": expected, "truth": truth, "options": {}}

    # Excel's 「Unicode 文本」: UTF-16 LE with a BOM, tab-separated, in a .txt
    tab = ["警情编号\t报警时间\t警情类别\t经度\t纬度"]
    for r in rows:
        t = r["time"]
        when = twelve_hour(t) if isinstance(t, dt.datetime) else t
        cat = _CATS[r["cat"]] if r.get("cat") != "" else ""
        tab.append(f"{r['id']}\t{when}\t{cat}\t{_num(r['lon'])}\t{_num(r['lat'])}")
    path = folder / "警情_unicode.txt"
    path.write_bytes(("\r\n".join(tab) + "\r\n").encode("utf-16"))
    out["utf16_txt"] = {"path": path, "expected": expected, "truth": truth, "options": {}}

    # Big5 CSV (traditional categories) — not to be read as GB18030 mojibake
    big = ["警情編號,報警時間,案件類別,經度,緯度"]
    for r in rows:
        t = r["time"]
        when = twelve_hour(t) if isinstance(t, dt.datetime) else {"不详": "不詳", "见附件": "見附件"}[t]
        cat = _CATS_BIG5[r["cat"]] if r.get("cat") != "" else ""
        big.append(f"{r['id']},{when},{cat},{_num(r['lon'])},{_num(r['lat'])}")
    path = folder / "警情_big5.csv"
    path.write_bytes(("\n".join(big) + "\n").encode("cp950"))
    out["big5_csv"] = {"path": path, "expected": expected, "truth": truth, "options": {}}

    # GeoJSON: points, and a few incidents drawn as small polygons (a 小区 outline)
    geoms, props = [], []
    for i, r in enumerate(rows):
        t = r["time"]
        x, y = r["lon"], r["lat"]
        if x is None:
            g = None
        elif i % 10 == 4 and not expected[i]:
            g = box(x - 0.001, y - 0.001, x + 0.001, y + 0.001)  # centroid: (x, y)
        else:
            g = Point(x, y)
        geoms.append(g)
        props.append({"警情编号": r["id"], "报警时间": twelve_hour(t) if isinstance(t, dt.datetime) else t,
                      "警情类别": _CATS[r["cat"]] if r.get("cat") != "" else None})
    path = folder / "警情.geojson"
    gpd.GeoDataFrame(props, geometry=geoms, crs=4326).to_file(path)
    out["geojson"] = {"path": path, "expected": expected, "truth": truth, "options": {"centroids": True}}

    gpd.GeoDataFrame({"name": ["study"]}, geometry=[box(*STUDY)], crs=4326).to_file(folder / "study.geojson")
    return out


@pytest.fixture(scope="module")
def office(tmp_path_factory):
    folder = tmp_path_factory.mktemp("office")
    return folder, write_office_files(folder)


@pytest.mark.parametrize("variant", ["xls", "xlsx", "gbk_csv", "utf16_txt", "big5_csv", "geojson"])
def test_office_file_only_planted_rows_are_quarantined_with_all_their_faults(office, tmp_path, variant):
    folder, files = office
    spec = files[variant]
    ws = Workspace.create(tmp_path / "w")
    rep = ingest_files([spec["path"]], ws, boundary=folder / "study.geojson", **spec["options"])
    expected = spec["expected"]
    n_bad = sum(bool(e) for e in expected)
    assert rep.rows_in == len(expected) == rep.rows_used + rep.rows_quarantined  # blank rows are not records
    assert rep.rows_quarantined == n_bad
    q = ws.quarantine()
    got = {int(r): frozenset(s.split(";")) for r, s in zip(q["source_row"], q["reasons"], strict=True)}
    want = {i + 1: e for i, e in enumerate(expected) if e}
    assert got == want
    for _, row in q.iterrows():
        faults = row["reasons"].split(";")
        assert row["reason"] == min(faults, key=REASONS.index)  # the machine code: the first fault
        assert len(row["reason_detail"].split("; ")) == len(faults)
        assert [p["code"] for p in json.loads(row["reason_params"])] == faults
    # the good rows' times, 12-hour forms and split date/time included, are exact
    inc = ws.incidents_frame().sort_values("occurred_at")
    assert sorted(inc["occurred_at"].tolist()) == sorted(pd.Timestamp(t) for t in spec["truth"])
    if variant == "big5_csv":
        assert rep.encodings[str(spec["path"])] == "cp950"
        assert set(inc["category"]) <= set(_CATS_BIG5)
    if variant == "utf16_txt":
        assert rep.encodings[str(spec["path"])] == "utf-16-le"
    if variant == "xls":
        assert rep.mapped[str(spec["path"])]["occurred_at"] == "发案日期+发案时间"
        assert any("header on row 2" in n for n in rep.notes)
    if variant == "xlsx":
        assert any("took '警情明细'" in n and "--sheet" in n and "上月" in n for n in rep.notes)
        assert any("blank rows skipped" in n for n in rep.notes)
    if variant == "geojson":
        assert any("taken as their centroids" in n for n in rep.notes)


def test_the_other_sheet_is_read_with_sheet(office, tmp_path):
    _, files = office
    ws = Workspace.create(tmp_path / "w")
    rep = ingest_files([files["xlsx"]["path"]], ws, sheet="上月")
    assert rep.rows_in == rep.rows_used == 1
    assert ws.incidents_frame()["incident_id"].tolist() == ["OLD1"]
    with pytest.raises(ValueError, match=r"--sheet '9': no such sheet; sheets are: 0 填表说明, 1 警情明细, 2 上月"):
        ingest_files([files["xlsx"]["path"]], Workspace.create(tmp_path / "w2"), sheet="9")
    rep2 = ingest_files([files["xls"]["path"]], Workspace.create(tmp_path / "w3"), sheet="0", dry_run=True)
    assert rep2.rows_in == len(files["xls"]["expected"])


def test_polygons_are_refused_without_centroids(office, tmp_path):
    _, files = office
    ws = Workspace.create(tmp_path / "w")
    with pytest.raises(ValueError, match=r"警情.geojson: 5 of 56 features are not points \(Polygon 5\); .*--centroids"):
        ingest_files([files["geojson"]["path"]], ws)
    assert not ws.exists()


def test_a_dry_run_previews_and_writes_nothing(office, tmp_path):
    folder, files = office
    ws = Workspace.create(tmp_path / "w")
    rep = ingest_files([files["gbk_csv"]["path"]], ws, boundary=folder / "study.geojson", dry_run=True)
    assert rep.dry_run and not ws.exists() and not (ws.path / "quarantine.parquet").exists()
    assert rep.rows_quarantined == len(PLANTS)
    assert len(rep.preview_used) == 20 and list(rep.preview_used.columns[:5]) == [
        "incident_id", "occurred_at", "category", "lon", "lat"]
    assert len(rep.preview_quarantined) == len(PLANTS)
    assert set(rep.preview_quarantined["reasons"].str.split(";").map(frozenset)) == {e for e, _ in PLANTS}
    assert rep.columns[str(files["gbk_csv"]["path"])] == ["编号", "日期", "时间", "案件类别", "经度", "纬度"]
    again = ingest_files([files["gbk_csv"]["path"]], ws, boundary=folder / "study.geojson")
    assert (again.rows_in, again.rows_used, again.rows_quarantined) == (rep.rows_in, rep.rows_used,
                                                                       rep.rows_quarantined)


def test_a_shapefile_without_prj_names_it_and_epsg(tmp_path):
    pts = gpd.GeoDataFrame({"编号": ["A", "B"], "发案时间": ["2024/3/5 下午 2:20:00", "2024/3/6 上午 9:05:00"],
                            "案由": ["扒窃", "抢劫"]},
                           geometry=gpd.points_from_xy([106.70, 106.71], [26.60, 26.61]), crs=4326).to_crs(32648)
    shp = tmp_path / "警情.shp"
    pts.to_file(shp, encoding="gbk")  # as Chinese GIS exports are: GBK names, and here no .prj
    shp.with_suffix(".cpg").unlink(missing_ok=True)
    shp.with_suffix(".prj").unlink()
    ws = Workspace.create(tmp_path / "w")
    with pytest.raises(ValueError, match=r"警情.shp: no 警情.prj beside the shapefile.*--epsg CODE"):
        ingest_files([shp], ws)
    rep = ingest_files([shp], ws, epsg=32648)
    assert rep.rows_used == 2 and any("no .prj" in n for n in rep.notes)
    inc = ws.incidents_frame().sort_values("incident_id")
    np.testing.assert_allclose(inc["lon"], [106.70, 106.71], atol=1e-7)
    assert inc["occurred_at"].tolist() == [pd.Timestamp("2024-03-05 14:20"), pd.Timestamp("2024-03-06 09:05")]


def test_gpkg_layer_is_chosen_and_the_others_listed(tmp_path):
    path = tmp_path / "警情.gpkg"
    for name, xs in (("本周", [106.70, 106.71]), ("上周", [106.72])):
        gpd.GeoDataFrame({"编号": [f"{name}{i}" for i in range(len(xs))], "发案时间": ["2024-03-05 10:00"] * len(xs),
                          "案由": ["扒窃"] * len(xs)}, geometry=gpd.points_from_xy(xs, [26.6] * len(xs)),
                         crs=4326).to_file(path, layer=name, driver="GPKG")
    ws = Workspace.create(tmp_path / "w")
    rep = ingest_files([path], ws, dry_run=True)
    assert rep.rows_in == 2 and any("took layer '本周'; other layers: 上周" in n for n in rep.notes)
    rep = ingest_files([path], ws, layer="上周")
    assert ws.incidents_frame()["incident_id"].tolist() == ["上周0"]
    with pytest.raises(ValueError, match=r"--layer '下周': no such layer; layers are: 0 本周, 1 上周"):
        ingest_files([path], Workspace.create(tmp_path / "w2"), layer="下周")


def test_big5_and_gb_that_cannot_be_told_apart_are_refused_naming_encoding(tmp_path):
    from data.ingest_encoding import BIG5, plausibility, sniff_encoding

    gb = tmp_path / "gb.csv"
    gb.write_bytes("编号,发案时间,类别,经度,纬度\nA,2024/3/5 下午 2:20:00,盗窃电动车,106.7,26.6\n".encode("gbk"))
    big5 = tmp_path / "big5.csv"
    big5.write_bytes("編號,發案時間,類別,經度,緯度\nA,2024/3/5 下午 2:20:00,竊盜電動車,106.7,26.6\n".encode("cp950"))
    assert sniff_encoding(gb) is None and sniff_encoding(big5) == BIG5
    assert plausibility("竊盜電動車", "big5") == 1.0 and plausibility("竊盜電動車", "gb") < 1.0
    # bytes that decode both ways and read about as well either way: the user must say which
    from data.ingest_encoding import _common

    pairs = [bytes([lead, trail]) for lead in range(0xB0, 0xC6) for trail in range(0xA1, 0xFF, 7)]
    twins = [b for b in pairs if b.decode("cp950", "ignore") in _common("big5")
             and b.decode("gb18030", "ignore") in _common("gb")][:9]
    odd = next(bytes([0xB0, t]) for t in range(0x40, 0x7F) if bytes([0xB0, t]).decode("cp950", "ignore")
               in _common("big5") and "\u4e00" <= bytes([0xB0, t]).decode("gb18030", "ignore") <= "\u9fff")
    unsure = tmp_path / "unsure.csv"
    unsure.write_bytes(b"id,t,c,x,y\nA,2024-03-05 10:00," + b"".join(twins) + odd + b",106.7,26.6\n")
    text = unsure.read_bytes()
    assert plausibility(text.decode(BIG5), "big5") == 1.0 and 0.8 <= plausibility(text.decode("gb18030"), "gb") < 1
    with pytest.raises(ValueError, match=r"unsure.csv: the text reads both as GB18030 .* and as Big5 .*"
                                         r"--encoding gb18030 or --encoding big5"):
        ingest_files([unsure], Workspace.create(tmp_path / "w0"), dry_run=True)
    forced = ingest_files([big5], Workspace.create(tmp_path / "w"), encoding="big5", dry_run=True)
    assert forced.rows_used == 1 and forced.preview_used["category"].tolist() == ["竊盜電動車"]


@pytest.mark.slow
def test_cli_takes_sheet_centroids_and_says_what_is_missing_in_one_line(office, tmp_path):
    import subprocess
    import sys

    folder, files = office
    w = str(tmp_path / "w")

    def pingan(*args: str) -> subprocess.CompletedProcess:
        code = "import sys; from app import main; sys.exit(main())"
        return subprocess.run([sys.executable, "-c", code, "ingest", *args, "--workspace", w, "--quiet"],
                              capture_output=True, text=True, timeout=300)

    ok = pingan(str(files["xlsx"]["path"]), "--sheet", "上月")
    assert ok.returncode == 0, ok.stderr
    assert "读入 rows in: 1  入库 used: 1" in ok.stdout
    refused = pingan(str(files["geojson"]["path"]))
    assert refused.returncode == 2 and refused.stdout == ""
    assert len(refused.stderr.strip().splitlines()) == 1 and "--centroids" in refused.stderr
    taken = pingan(str(files["geojson"]["path"]), "--centroids", "--boundary", str(folder / "study.geojson"))
    assert taken.returncode == 0 and "taken as their centroids" in taken.stdout
    assert f"隔离 quarantined: {len(PLANTS)}" in taken.stdout


@pytest.mark.parametrize("enc,bom", [("utf-16-le", True), ("utf-16-be", True), ("utf-16-le", False),
                                     ("utf-16-be", False)])
def test_utf16_with_or_without_bom_either_byte_order(tmp_path, enc, bom):
    text = ("编号,发案时间,类别,经度,纬度\nA,2024/3/5 下午 2:20:00,扒窃,106.7,26.6\n"
            "B,2024/3/5 凌晨 12:30:00,抢劫,106.71,26.61\n")
    path = tmp_path / "u.csv"
    path.write_bytes((("\ufeff" if bom else "") + text).encode(enc))
    rep = ingest_files([path], Workspace.create(tmp_path / "w"), dry_run=True)
    assert rep.encodings[str(path)] == enc and rep.rows_used == 2
    assert rep.preview_used["occurred_at"].tolist() == [pd.Timestamp("2024-03-05 14:20"), pd.Timestamp("2024-03-05 00:30")]
    assert rep.preview_used["incident_id"].tolist() == ["A", "B"]  # no BOM left in the first header


@pytest.mark.parametrize("enc", ["gbk", "utf-16"])
def test_a_csv_saved_from_a_sheet_with_a_title_row(tmp_path, enc):
    sep = "\t" if enc == "utf-16" else ","
    lines = ["云岩分局警情明细（2024年3月）" + sep * 4, sep.join(["编号", "发案时间", "类别", "经度", "纬度"]),
             sep.join(["A", "2024/3/5 下午 2:20:00", "扒窃", "106.7", "26.6"]), "",
             sep.join(["B", "不详", "抢劫", "106.71", "26.61"])]
    path = tmp_path / ("警情.txt" if enc == "utf-16" else "警情.csv")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(enc))
    ws = Workspace.create(tmp_path / "w")
    rep = ingest_files([path], ws)
    assert (rep.rows_in, rep.rows_used, rep.rows_quarantined) == (2, 1, 1)
    assert rep.notes == [f"{path.name}: header on line 2; the line(s) above it skipped (title: 云岩分局警情明细（2024年3月）)"]
    assert rep.notes[0].key == "header_line" and rep.notes[0].params["file"] == path.name
    q = ws.quarantine()
    assert q["source_row"].tolist() == [2] and q["编号"].tolist() == ["B"]  # records as the office counts them
    assert ws.incidents_frame()["occurred_at"].tolist() == [pd.Timestamp("2024-03-05 14:20")]
