"""Validate one read chunk of incidents: every fault of every row, the usable rows as incidents
and the rest as quarantine rows.

A row can be wrong in several ways at once (an unreadable time *and* zero coordinates); every
fault is recorded. The quarantine keeps, per row:

- ``reason`` — the first fault in :data:`REASONS` order (the stable machine code, as before);
- ``reasons`` — every fault's code, ``;``-separated, in that order;
- ``reason_detail`` — one English sentence per fault, ``; ``-separated (logs, CLI);
- ``reason_params`` — JSON list of ``{"key", "code", …parameters}`` per fault, from which the app
  renders the same sentences in Chinese or English through the translation table
  (``reason_detail.<key>`` in :mod:`analytics.present.i18n`).

Faults of one kind exclude each other (a point is missing, or (0, 0), or swapped, or outside;
a time is unreadable, too old or in the future); ``duplicate_id`` is checked only for rows that
are otherwise usable (an id is a duplicate of the row that was used).

A separate date and time column pair (发案日期 + 发案时间, 日期 + 时间, date + time …) is joined
into one time when the time column holds only times of day (or with ``--map
occurred_at=日期+时间``); :func:`data.columns.date_time_pair` finds the pairs.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import numpy as np
import pandas as pd

from data.columns import CANONICAL, date_time_pair, is_name_column, map_columns, split_pair
from data.ingest_limits import IngestLimits, overlong_columns
from data.ingest_read import Source
from data.ingest_study import StudyArea, in_box, plausible_box
from data.ingest_values import (
    as_id,
    as_number,
    as_text,
    concat_frames,
    isin,
    row_hash_ids,
    source_column,
    strip_controls,
)
from data.times import EXCEL_SERIAL_RANGE, parse_times
from layers.coords import projected_to_wgs84, to_wgs84

__all__ = ["REASONS", "BOOKKEEPING", "validate", "join_date_time"]

#: Quarantine reason codes in priority order (``reason`` is the first fault of a row).
REASONS: tuple[str, ...] = (
    "encoding", "malformed_row", "unparseable_time", "too_old_time", "future_time", "field_too_long",
    "empty_category", "missing_coordinates",
    "zero_coordinates", "swapped_lat_lon", "outside_study_area", "duplicate_id",
)
#: The quarantine's own columns, before the source columns.
BOOKKEEPING: tuple[str, ...] = ("source_file", "source_row", "reason", "reasons", "reason_detail", "reason_params")
_BIT = {r: np.int32(1 << i) for i, r in enumerate(REASONS)}
_TIME = ("unparseable_time", "too_old_time", "future_time")
_COORD = ("missing_coordinates", "zero_coordinates", "swapped_lat_lon", "outside_study_area")
_TIME_OF_DAY = r"^\s*(?:上午|下午|中午|晚上|凌晨|早上|早晨|傍晚|夜间|AM|PM|am|pm)?\s*\d{1,2}\s*(?::|时|点)\s*\d{0,2}"


class _Faults:
    """Faults of the rows of one chunk: a bit per reason, and per fault its text and parameters
    (built only for the flagged rows: formatting strings for all rows would cost more than the
    whole validation)."""

    def __init__(self, n: int) -> None:
        self.bits = np.zeros(n, dtype=np.int32)
        self.parts: list[tuple[np.ndarray, int, np.ndarray, np.ndarray]] = []

    def add(self, mask, code: str, text, params: dict, *, among: tuple[str, ...] = (), key: str | None = None,
            clean_only: bool = False) -> None:
        """Flag ``mask`` rows with ``code``, except rows that already have a fault in ``among``
        (or any fault, ``clean_only``). ``text(m)`` / ``params`` values may be callables of the
        flagged positions ``m``."""
        block = sum((_BIT[c] for c in among), np.int32(0))
        skip = self.bits != 0 if clean_only else (self.bits & block) != 0
        m = np.flatnonzero(np.asarray(mask, dtype=bool) & ~skip)
        if not len(m):
            return
        self.bits[m] |= _BIT[code]
        texts = np.asarray(text(m) if callable(text) else [text] * len(m), dtype=object)
        head = '{"key":' + json.dumps(key or code, ensure_ascii=False) + ',"code":"' + code + '"'
        js = pd.Series([head] * len(m), dtype=object)
        for name, v in params.items():
            v = v(m) if callable(v) else v
            if isinstance(v, (pd.Series, np.ndarray, list)):
                enc = _json_strings(pd.Series(np.asarray(v, dtype=object)).astype(str))
            else:
                enc = json.dumps(str(v), ensure_ascii=False)
            js = js + f',"{name}":' + enc
        self.parts.append((m, REASONS.index(code), texts, (js + "}").to_numpy(dtype=object)))

    @property
    def ok(self) -> np.ndarray:
        return self.bits == 0

    def columns(self, bad: np.ndarray) -> dict[str, np.ndarray]:
        """``reason``, ``reasons``, ``reason_detail``, ``reason_params`` of the rows ``bad``."""
        if not self.parts:
            return {k: np.array([], dtype=object) for k in ("reason", "reasons", "reason_detail", "reason_params")}
        pos = np.concatenate([p[0] for p in self.parts])
        code = np.concatenate([np.full(len(p[0]), p[1]) for p in self.parts])
        order = np.lexsort((code, pos))  # by row, then in REASONS order
        pos, code = pos[order], code[order]
        text = np.concatenate([p[2] for p in self.parts])[order]
        js = np.concatenate([p[3] for p in self.parts])[order]
        name = np.asarray(REASONS, dtype=object)[code]
        first = np.r_[True, pos[1:] != pos[:-1]]
        starts = np.flatnonzero(first)
        assert np.array_equal(pos[starts], np.flatnonzero(bad))
        if len(starts) == len(pos):  # one fault per row (the usual case): nothing to join
            return {"reason": name, "reasons": name, "reason_detail": text, "reason_params": "[" + js + "]"}
        # several faults per row: join each row's texts in one vectorised pass (np.add.reduceat
        # concatenates the object strings of each run of equal positions)
        last = np.r_[pos[1:] != pos[:-1], True]
        detail = np.add.reduceat(np.where(last, text, text + "; "), starts)
        params = "[" + np.add.reduceat(np.where(last, js, js + ","), starts) + "]"
        new = first | np.r_[True, code[1:] != code[:-1]]  # one code once (field_too_long of two columns)
        k_pos, k_name = pos[new], name[new]
        k_last = np.r_[k_pos[1:] != k_pos[:-1], True]
        reasons = np.add.reduceat(np.where(k_last, k_name, k_name + ";"),
                                  np.flatnonzero(np.r_[True, k_pos[1:] != k_pos[:-1]]))
        return {"reason": name[starts], "reasons": reasons, "reason_detail": detail, "reason_params": params}


def validate(
    src: Source, path: Path, *, mapping, coords, epsg, source_tz, target_tz, area: StudyArea,
    existing_ids: list[tuple[object, str]], now_limit: pd.Timestamp, limits: IngestLimits,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """(incidents, quarantine, mapped) of one chunk; ``len(incidents) + len(quarantine)`` is
    the chunk's ``n_rows``. Raises ValueError (naming the file and the columns) when no time,
    category or coordinate column is found."""
    raw = src.frame
    n = len(raw)
    name = str(path)
    has_geom = src.x is not None
    cols = map_columns(raw.columns, mapping, source=name)
    pair = _time_pair(raw, cols, mapping)
    if pair is not None:
        cols["occurred_at"] = f"{pair[0]}+{pair[1]}"
    listing = ", ".join(map(str, raw.columns)) or "(none)"
    if "occurred_at" not in cols:
        raise ValueError(f"{name}: no time column found; columns are: {listing} "
                         "(use --map occurred_at=COLUMN, or --map occurred_at=DATE+TIME for two columns)")
    if "category" not in cols:
        raise ValueError(f"{name}: no category column found; columns are: {listing} (use --map category=COLUMN)")
    use_geom = has_geom and not (mapping and ("lon" in mapping or "lat" in mapping))
    if not use_geom and not ("lon" in cols and "lat" in cols):
        raise ValueError(
            f"{name}: no longitude/latitude columns found; columns are: {listing} (use --map lon=COLUMN --map lat=COLUMN)"
        )
    mapped = dict(cols)
    if use_geom:
        cols.pop("lon", None)
        cols.pop("lat", None)
        mapped["lon"] = mapped["lat"] = "geometry"
    if "incident_id" not in cols:
        mapped["incident_id"] = "generated (row hash)"
    mapped = {k: mapped[k] for k in CANONICAL if k in mapped}
    f = _Faults(n)

    def xy(m: np.ndarray) -> pd.Series:
        return "(" + pd.Series(x[m]).astype(str) + ", " + pd.Series(y[m]).astype(str) + ")"

    # time
    tname = cols["occurred_at"]
    parts = split_pair(tname, raw.columns)
    tcol = join_date_time(raw[parts[0]], raw[parts[1]]) if parts else raw[tname]
    when = parse_times(tcol, source_tz=source_tz, target_tz=target_tz)
    def shown(m: np.ndarray) -> pd.Series:
        return as_text(tcol.iloc[m]).fillna("")

    f.add(when.isna().to_numpy(), "unparseable_time",
          lambda m: f"{tname}: '" + shown(m) + "' is not a recognised date/time",
          {"column": tname, "value": shown}, among=_TIME)
    f.add((when < limits.min_timestamp).to_numpy(), "too_old_time",
          lambda m: f"{tname}: " + when.iloc[m].dt.strftime("%Y-%m-%d") + f" is before {limits.min_time} "
          "(config.toml [limits] min_time)",
          {"column": tname, "value": lambda m: when.iloc[m].dt.strftime("%Y-%m-%d"), "limit": limits.min_time},
          among=_TIME)
    f.add((when > now_limit).to_numpy(), "future_time",
          lambda m: f"{tname}: " + when.iloc[m].dt.strftime("%Y-%m-%d %H:%M") + " is in the future",
          {"column": tname, "value": lambda m: when.iloc[m].dt.strftime("%Y-%m-%d %H:%M")}, among=_TIME)
    # lengths: one huge value would travel with every page that shows the table
    used_cols = {c for v in cols.values() for c in (split_pair(v, raw.columns) or (v,))}
    names = [c for c in raw.columns if is_name_column(c) and c not in used_cols]
    short = [cols[k] for k in ("incident_id", "category") if k in cols] + names
    for col, length, cap, key in overlong_columns(raw, short, limits):
        f.add(length > cap, "field_too_long",
              lambda m, col=col, length=length, cap=cap, key=key: f"{col}: " + pd.Series(length[m]).astype(str)
              + f" characters, over the limit of {cap} (config.toml [limits] {key})",
              {"column": str(col), "length": lambda m, length=length: pd.Series(length[m]).astype(str),
               "limit": cap, "setting": key})
    # category
    cat, k_cat = strip_controls(as_text(raw[cols["category"]]))
    cat = cat.str.strip()
    f.add((cat.isna() | (cat == "")).to_numpy(), "empty_category", f"{cols['category']} is empty",
          {"column": cols["category"]})
    # coordinates
    if use_geom:
        x, y = src.x, src.y
        xname, yname = "geometry x", "geometry y"
    else:
        x = as_number(raw[cols["lon"]])
        y = as_number(raw[cols["lat"]])
        xname, yname = cols["lon"], cols["lat"]
    names_xy = {"x": xname, "y": yname}
    missing = ~(np.isfinite(x) & np.isfinite(y))
    f.add(missing, "missing_coordinates", f"{xname}/{yname} missing or not a number", names_xy, among=_COORD)
    f.add((x == 0) & (y == 0), "zero_coordinates", f"{xname}/{yname} are (0, 0)", names_xy, among=_COORD)
    lon, lat, slon, slat = _to_lonlat(x, y, src.crs if use_geom else None, coords, epsg)
    valid = _valid(lon, lat)
    given_ok = valid & area.contains(lon, lat)
    if area.geometry is not None:
        given_fits, swap_fits = given_ok, _valid(slon, slat) & area.contains(slon, slat)
    else:  # no boundary: "fits" means inside a generous box around the bulk of the points
        box = plausible_box(lon[f.ok], lat[f.ok])
        given_fits = valid & in_box(lon, lat, box)
        swap_fits = _valid(slon, slat) & in_box(slon, slat, box)
    with_xy = {**names_xy, "value": xy}
    f.add(~given_fits & swap_fits, "swapped_lat_lon",
          lambda m: f"{xname}/{yname} " + xy(m) + " look swapped: (lat, lon) fits the study area", with_xy,
          among=_COORD)
    f.add(~valid, "outside_study_area", lambda m: f"{xname}/{yname} " + xy(m) + " is not a valid WGS84 position",
          with_xy, among=_COORD, key="invalid_position")
    f.add(~given_ok, "outside_study_area",
          lambda m: f"{xname}/{yname} " + xy(m) + f" is outside the study area ({area.note})",
          {**with_xy, "area": area.note}, among=_COORD)
    # ids: given, else a hash of the row's values (stable across re-ingests of the same rows)
    ids = as_id(raw[cols["incident_id"]]) if "incident_id" in cols else pd.Series(pd.NA, index=raw.index, dtype="str")
    ids, k_id = strip_controls(ids)
    ids = ids.str.strip() if k_id else ids
    no_id = ids.isna() | (ids == "")
    if no_id.any():
        ids = ids.where(~no_id, row_hash_ids(raw, x, y)[no_id.to_numpy()])
    cand = f.ok
    dup_file = cand & ids.where(cand).duplicated(keep="first").to_numpy() & ids.notna().to_numpy()
    f.add(dup_file, "duplicate_id", lambda m: "incident_id '" + ids.iloc[m] + "' appears earlier in this file",
          {"id": lambda m: ids.iloc[m]}, clean_only=True, key="duplicate_in_file")
    for known, where in existing_ids:
        key = ("duplicate_in_workspace" if "workspace" in where else "duplicate_in_file" if "this file" in where
               else "duplicate_in_input")  # "this file": an earlier block of the file (data.engine_dask)
        f.add(isin(ids, known), "duplicate_id", lambda m, where=where: "incident_id '" + ids.iloc[m] + "' " + where,
              {"id": lambda m: ids.iloc[m]}, clean_only=True, key=key)

    ok = f.ok
    bad = quarantine_table(raw, src, path, ~ok, f.columns(~ok), limits)
    src.control_chars += k_cat + k_id
    for c in names:  # after the quarantine, which keeps the values as given
        raw[c], k = strip_controls(raw[c])
        src.control_chars += k
    good = incident_table(raw, used_cols, ok, ids, when, cat, lon, lat)  # consumes raw's columns
    return good, bad, mapped


def _json_strings(s: pd.Series) -> pd.Series:
    """Each value as a JSON string literal, vectorised (read back with ``json.loads(strict=False)``:
    control characters other than tab, CR and LF are left as they are)."""
    esc = (s.astype("str").str.replace("\\", "\\\\", regex=False).str.replace('"', '\\"', regex=False)
           .str.replace("\n", "\\n", regex=False).str.replace("\r", "\\r", regex=False)
           .str.replace("\t", "\\t", regex=False))
    return ('"' + esc + '"').astype(object)


# -- a separate date and time --------------------------------------------------------------
def join_date_time(date: pd.Series, time: pd.Series) -> pd.Series:
    """One text per row, ``"<date> <time>"``, from a date column and a time-of-day column.

    Cells as an office file holds them: text (``2024/3/5``, ``下午 2:20:00``), Excel dates and
    times read as ``datetime``/``date``/``time``, a day fraction (0.6 = 14:24) or an Excel serial
    day. A missing time leaves the date alone (midnight); a missing date makes the row missing.

    Examples
    --------
    >>> import datetime as dt
    >>> join_date_time(pd.Series(["2024/3/5", dt.date(2024, 3, 6)]),
    ...                pd.Series(["下午 2:20:00", dt.time(9, 5)])).tolist()
    ['2024/3/5 下午 2:20:00', '2024-03-06 09:05:00']
    """
    d = _cells(date, _date_text)
    t = _cells(time, _time_text).fillna("")
    return (d + " " + t).str.strip().where(d.notna() & (d.str.strip() != ""))


def _cells(s: pd.Series, fn) -> pd.Series:
    """Text of each cell: strings stripped as they are, other cells through ``fn``."""
    if s.dtype != object:
        if pd.api.types.is_datetime64_any_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
            return s.astype(object).map(fn, na_action="ignore").astype(object).where(s.notna())
        return as_text(s).str.strip()
    is_str = s.map(type).eq(str)
    out = s.where(is_str).str.strip()
    other = ~is_str & s.notna()
    if other.any():
        out = out.astype(object)
        out[other] = s[other].map(fn)
    return out


def _date_text(v) -> str | None:
    if isinstance(v, (_dt.datetime, pd.Timestamp)):
        return v.strftime("%Y-%m-%d")
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, (int, float, np.integer, np.floating)) and EXCEL_SERIAL_RANGE[0] <= float(v) <= EXCEL_SERIAL_RANGE[1]:
        return (pd.Timestamp("1899-12-30") + pd.Timedelta(days=int(float(v)))).strftime("%Y-%m-%d")
    return str(v).strip() or None


def _time_text(v) -> str | None:
    if isinstance(v, (_dt.datetime, pd.Timestamp)):  # a time cell read with Excel's day 0 (1899-12-30)
        return v.strftime("%H:%M:%S")
    if isinstance(v, _dt.time):
        return v.strftime("%H:%M:%S")
    if isinstance(v, (_dt.timedelta, pd.Timedelta)):
        s = int(pd.Timedelta(v).total_seconds()) % 86400
        return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
    if isinstance(v, (float, np.floating)) and 0 <= float(v) < 1:
        s = int(round(float(v) * 86400)) % 86400
        return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return str(v).strip() or None


def _time_pair(raw: pd.DataFrame, cols: dict[str, str], mapping) -> tuple[str, str] | None:
    """An automatic date + time pair, when the user did not map the time and the time column
    holds only times of day (``14:20``, ``下午 2:20:00``, Excel time cells)."""
    if mapping and "occurred_at" in mapping:
        return None
    pair = date_time_pair(raw.columns)
    if pair is None:
        return None
    sample = raw[pair[1]].dropna().iloc[:200]
    if sample.empty:
        return pair
    text = sample[sample.map(type).eq(str)] if sample.dtype == object else as_text(sample)
    cells = sample[~sample.map(type).eq(str)] if sample.dtype == object else sample.iloc[:0]
    day_cells = sum(isinstance(v, (_dt.time, _dt.timedelta)) or (isinstance(v, float) and 0 <= v < 1)
                    or (isinstance(v, _dt.datetime) and v.date() <= _dt.date(1900, 1, 1)) for v in cells)
    day_text = int(text.astype(str).str.strip().str.contains(_TIME_OF_DAY + r"\s*(?:分|秒|:\d{1,2})?\s*$",
                                                             regex=True).sum()) if len(text) else 0
    return pair if day_cells + day_text >= 0.8 * len(sample) else None


# -- positions -----------------------------------------------------------------------------
def _to_lonlat(x, y, crs, coords, epsg):
    """(lon, lat) from x/y and from the swapped pair, both WGS84."""
    if epsg is not None:
        lon, lat = projected_to_wgs84(x, y, epsg)
        slon, slat = projected_to_wgs84(y, x, epsg)
        return lon, lat, slon, slat
    if crs is not None:
        from pyproj import CRS

        c = CRS.from_user_input(crs)
        if c.is_projected or not c.equals(CRS.from_epsg(4326), ignore_axis_order=True):
            lon, lat = projected_to_wgs84(x, y, c)
            if c.is_projected:  # a swapped projected pair cannot be told from the data
                return lon, lat, np.full_like(lon, np.nan), np.full_like(lat, np.nan)
            slon, slat = projected_to_wgs84(y, x, c)
            return lon, lat, slon, slat
    lon, lat = to_wgs84(x, y, coords)
    slon, slat = to_wgs84(y, x, coords)
    return lon, lat, slon, slat


def _valid(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)


# -- tables --------------------------------------------------------------------------------
def incident_table(raw, used: set, ok, ids, when, cat, lon, lat) -> pd.DataFrame:
    """The usable rows as incidents (canonical columns, then the other source columns);
    consumes ``raw``'s columns."""
    keep = np.flatnonzero(ok)

    def take(s: pd.Series) -> pd.Series:  # stays Arrow-backed: no Python string objects
        return s.iloc[keep].reset_index(drop=True)

    out = pd.DataFrame({
        "incident_id": take(ids.astype("str")),
        "occurred_at": take(when),
        "category": take(cat.astype("str")),
        "lon": lon[keep],
        "lat": lat[keep],
    })
    reserved = set(CANONICAL) | {"geometry"}
    for c in list(raw.columns):
        col = raw.pop(c)  # free each source column once copied: peak stays ~1 column over
        if c in used:
            continue
        name = f"{c}_source" if str(c) in reserved else str(c)
        out[name] = source_column(take(col))
        del col
    return out


def quarantine_table(raw, src: Source, path: Path, bad, faults: dict, limits: IngestLimits) -> pd.DataFrame:
    """The rows ``bad`` with their faults and original values (plus lines the reader rejected)."""
    idx = np.flatnonzero(bad)
    out = pd.DataFrame({
        "source_file": pd.Series([path.name] * len(idx), dtype="str"),
        "source_row": src.source_rows(idx),
        **{k: pd.Series(faults[k], dtype="str") for k in BOOKKEEPING[2:]},
    })
    for c in raw.columns:
        name = f"{c}_source" if str(c) in BOOKKEEPING else str(c)
        out[name] = as_text(raw[c].iloc[idx]).to_numpy()
        out[name] = out[name].astype("str")
    if src.geometry is not None:
        import shapely

        out["geometry_wkt"] = pd.Series(shapely.to_wkt(src.geometry[idx]), dtype="str")
    if src.rejected is not None:  # lines the reader quarantined (malformed_row, encoding)
        rej = src.rejected
        codes = rej["reason"].astype(str)
        head = pd.DataFrame({
            "source_file": pd.Series([path.name] * len(rej), dtype="str"),
            "source_row": rej["source_row"],
            "reason": codes,
            "reasons": codes,
            "reason_detail": rej["reason_detail"],
            "reason_params": '[{"key":"' + codes + '","code":"' + codes + '","detail":'
            + rej["reason_detail"].astype(str).map(lambda s: json.dumps(s, ensure_ascii=False)) + "}]",
        })
        for c in rej.columns[:-3]:
            head[f"{c}_source" if str(c) in BOOKKEEPING else str(c)] = rej[c].astype("str")
        out = concat_frames([head, out]).sort_values("source_row", kind="stable", ignore_index=True)
    # a value over the text limit is kept cut to it (its length is in reason_detail)
    cap = limits.max_text_chars
    for c in out.columns[len(BOOKKEEPING):]:
        if pd.api.types.is_string_dtype(out[c].dtype) and (out[c].str.len() > cap).any():
            out[c] = out[c].str.slice(0, cap)
    return out
