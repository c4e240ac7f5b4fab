"""Raw export files of the demo city, with realistic mess planted in them.

The clean generated incidents are split the way a city's data really arrives:

- ``示范市_警情_历史.csv``: GBK, Chinese headers (警情编号, 报警时间, 案件类别, 经度, 纬度; the
  kept source columns are named ``subtype`` and ``station`` in every file so they line up in
  the workspace), times like ``2024年3月5日14时20分`` — everything before the last year;
- ``shifanshi_incidents_recent.csv``: UTF-8, English headers, ISO times — the last year but
  the final four weeks;
- ``示范市_警情_近四周.xlsx``: Excel with real date cells — the final four weeks;
- ``<派出所>_警情导出_GCJ02.csv``: one 派出所 (one 街道) exported from a 高德-based system, so
  its coordinates are GCJ-02 (all periods; excluded from the other files).

Into these files bad rows are inserted (each with exactly one defect, so the expected
quarantine reason is known): missing / (0, 0) / swapped / far-away coordinates, unparseable
and future times, empty categories and repeated ids. :func:`write_raw_files` returns the
planted rows (file, 1-based data row, id, reason) so a test can check every one is quarantined.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from layers.coords import wgs84_to_gcj02

__all__ = ["RawFile", "write_raw_files", "PLANTED_PER_FILE"]

#: Bad rows planted per CSV file (reason code → rows); the Excel file gets empty categories only.
PLANTED_PER_FILE: dict[str, int] = {
    "missing_coordinates": 50,
    "unparseable_time": 14,
    "duplicate_id": 14,
    "swapped_lat_lon": 10,
    "empty_category": 10,
    "zero_coordinates": 7,
    "future_time": 5,
    "outside_study_area": 7,
}
_UNPARSEABLE = ("不详", "2024年13月45日25时70分", "2023-02-30 25:61", "#VALUE!", "昨天晚上", "00/00/0000")


@dataclass(frozen=True)
class RawFile:
    """One written export and how to ingest it."""

    path: Path
    coords: str = "wgs84"


def write_raw_files(
    incidents: pd.DataFrame,
    station: np.ndarray,
    gcj_station: str,
    folder: Path,
    rng: np.random.Generator,
    *,
    recent_from: pd.Timestamp,
    last_from: pd.Timestamp,
) -> tuple[list[RawFile], pd.DataFrame]:
    """Write the raw exports under ``folder``.

    Parameters
    ----------
    incidents : DataFrame
        Clean incidents (incident_id, occurred_at, category, subtype, lon, lat).
    station : array of str
        派出所 of every incident.
    gcj_station : str
        The 派出所 whose export is in GCJ-02.
    folder : Path
    rng : numpy.random.Generator
    recent_from, last_from : Timestamp
        Starts of the last year and of the final four weeks (file splits).

    Returns
    -------
    files : list of RawFile
        In ingest order.
    planted : DataFrame
        source_file, source_row, incident_id, reason — one row per planted bad row.
    """
    folder.mkdir(parents=True, exist_ok=True)
    df = incidents[["incident_id", "occurred_at", "category", "subtype", "lon", "lat"]].copy()
    df["station"] = station
    at = df["occurred_at"]
    gcj = df["station"].to_numpy() == gcj_station
    old = ~gcj & (at < recent_from).to_numpy()
    last = ~gcj & (at >= last_from).to_numpy()
    recent = ~gcj & ~old & ~last

    files, planted = [], []

    # 1. history: GBK, Chinese headers and Chinese date-times
    part = df[old].copy()
    part["occurred_at"] = _chinese_time(part["occurred_at"])
    part = _text_coords(part)
    part, bad = _plant(part, rng, future_year=at.max().year + 5, serial=0)
    part = part.rename(columns={"incident_id": "警情编号", "occurred_at": "报警时间", "category": "案件类别",
                                "lon": "经度", "lat": "纬度"})
    path = folder / "示范市_警情_历史.csv"
    part.to_csv(path, index=False, encoding="gbk")
    files.append(RawFile(path))
    planted.append(bad.assign(source_file=path.name))

    # 2. last year: UTF-8, English headers, ISO times
    part = df[recent].copy()
    part["occurred_at"] = part["occurred_at"].dt.strftime("%Y-%m-%d %H:%M")
    part = _text_coords(part)
    part, bad = _plant(part, rng, future_year=at.max().year + 5, serial=1000)
    path = folder / "shifanshi_incidents_recent.csv"
    part.to_csv(path, index=False, encoding="utf-8")
    files.append(RawFile(path))
    planted.append(bad.assign(source_file=path.name))

    # 3. final four weeks: Excel with date cells (only empty categories planted: cells are typed)
    part = df[last].copy()
    part, bad = _plant(part, rng, plan={"empty_category": PLANTED_PER_FILE["empty_category"]}, serial=2000)
    part = part.rename(columns={"incident_id": "警情编号", "occurred_at": "发案时间", "category": "警情类别",
                                "lon": "经度", "lat": "纬度"})
    path = folder / "示范市_警情_近四周.xlsx"
    part.to_excel(path, index=False, engine="openpyxl")
    files.append(RawFile(path))
    planted.append(bad.assign(source_file=path.name))

    # 4. one 派出所 in GCJ-02 (高德 coordinates), all periods
    part = df[gcj].copy()
    glon, glat = wgs84_to_gcj02(part["lon"].to_numpy(), part["lat"].to_numpy())
    part["lon"], part["lat"] = np.round(glon, 6), np.round(glat, 6)
    part["occurred_at"] = part["occurred_at"].dt.strftime("%Y/%m/%d %H:%M")
    part = _text_coords(part)
    part, bad = _plant(part, rng, future_year=at.max().year + 5, serial=3000, scale=0.3)
    part = part.rename(columns={"incident_id": "编号", "occurred_at": "报警时间", "category": "类别",
                                "lon": "lng", "lat": "lat"})
    path = folder / f"{gcj_station}_警情导出_GCJ02.csv"
    part.to_csv(path, index=False, encoding="utf-8-sig")
    files.append(RawFile(path, coords="gcj02"))
    planted.append(bad.assign(source_file=path.name))

    cols = ["source_file", "source_row", "incident_id", "reason"]
    planted_all = pd.concat(planted, ignore_index=True)[cols]
    planted_all["source_row"] = planted_all["source_row"].astype("int64")
    return files, planted_all


# -- helpers --------------------------------------------------------------------------------
def _chinese_time(at: pd.Series) -> pd.Series:
    """``2024年3月5日14时20分`` (no zero padding of month and day, as many exports write)."""
    return (
        at.dt.year.astype(str) + "年" + at.dt.month.astype(str) + "月" + at.dt.day.astype(str) + "日"
        + at.dt.strftime("%H时%M分")
    )


def _text_coords(part: pd.DataFrame) -> pd.DataFrame:
    for c in ("lon", "lat"):
        part[c] = part[c].map("{:.6f}".format)
    return part


def _plant(part: pd.DataFrame, rng, *, serial: int, future_year: int = 0, plan=None, scale: float = 1.0):
    """Insert bad rows (one defect each) at random places; duplicates after their original.

    Fresh ids keep the day part and use sequence ``9xxxx`` (``serial`` upward), which real
    rows never reach, so a planted row carries only its planted defect.
    """
    part = part.reset_index(drop=True)
    n = len(part)
    if n == 0:  # nothing to imitate (a short demo has no history file rows)
        return part, pd.DataFrame({"source_row": np.array([], np.int64), "incident_id": [], "reason": []})
    rows, reasons, keys = [], [], []
    for reason, k in (plan or PLANTED_PER_FILE).items():  # eight reasons: a loop over kinds, not rows
        k = max(1, int(round(k * scale)))
        k = min(k, n)
        src = rng.choice(n, k, replace=False)
        bad = part.iloc[src].copy()
        if reason != "duplicate_id":
            # a fresh id per bad row (day part kept, sequence 9xxxx never used by real rows)
            bad["incident_id"] = [f"{i[:10]}9{serial + j:04d}" for j, i in enumerate(bad["incident_id"])]
            serial += k
        if reason == "missing_coordinates":
            which = rng.integers(0, 3, k)  # lon, lat or both empty
            bad.loc[which != 1, "lon"] = ""
            bad.loc[which != 0, "lat"] = ""
        elif reason == "zero_coordinates":
            bad["lon"], bad["lat"] = "0", "0"
        elif reason == "swapped_lat_lon":
            bad["lon"], bad["lat"] = bad["lat"].to_numpy(), bad["lon"].to_numpy()
        elif reason == "outside_study_area":  # plausibly Chinese, but 300 km away (another city)
            bad["lon"] = (102.7 + rng.uniform(-0.1, 0.1, k)).round(6).astype(str)
            bad["lat"] = (25.0 + rng.uniform(-0.1, 0.1, k)).round(6).astype(str)
        elif reason == "unparseable_time":
            bad["occurred_at"] = rng.choice(np.asarray(_UNPARSEABLE, dtype=object), k)
        elif reason == "future_time":
            bad["occurred_at"] = [str(future_year) + s[4:] for s in bad["occurred_at"]]
        elif reason == "empty_category":
            bad["category"] = ""
        # keys place bad rows between clean rows; a duplicate goes after its original
        key = src + rng.uniform(0.01, 1.0, k) * (n - src) if reason == "duplicate_id" else rng.uniform(-0.5, n, k)
        rows.append(bad)
        reasons += [reason] * k
        keys.append(key)
    bad_all = pd.concat(rows, ignore_index=True)
    order_key = np.concatenate([np.arange(n, dtype=float), *keys])
    both = pd.concat([part, bad_all], ignore_index=True)
    order = np.argsort(order_key, kind="stable")
    out = both.iloc[order].reset_index(drop=True)
    pos = np.empty(len(order), dtype=np.int64)
    pos[order] = np.arange(len(order))
    planted = pd.DataFrame({
        "source_row": pos[n:] + 1,
        "incident_id": bad_all["incident_id"].to_numpy(),
        "reason": reasons,
    })
    return out, planted
