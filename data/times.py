"""Parse incident times from whatever an export holds, vectorised, into naive local time.

Handles ISO 8601 (with or without offset), ``2024/3/5 14:20``, ``2024-03-05 14:20:00``,
the 12-hour forms of Chinese Excel/WPS exports (``2024/3/5 下午 2:20:00``, ``上午``, ``中午``,
``晚上``, ``凌晨`` …, and ``2:20 PM``),
``2024年3月5日14时20分`` (also ``14:20``, ``14时``), US ``3/5/2024 14:20``, compact
``20240305``, date-only, Excel serial day numbers (20000–80000, i.e. 1954–2119) and native
datetime columns. Formats are sniffed on a sample, then applied to the whole column with
``pd.to_datetime(format=...)``; only the small remainder that no format matched goes through a
per-row fallback.

Time zones: naive values are local time in ``source_tz``; values with an offset (or a tz-aware
column) are absolute. Everything is returned as naive wall-clock time in ``target_tz``.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np
import pandas as pd

__all__ = ["parse_times", "time_argument", "EXCEL_SERIAL_RANGE"]

#: Numbers in this range are read as Excel serial dates (days since 1899-12-30).
EXCEL_SERIAL_RANGE: tuple[float, float] = (20000.0, 80000.0)

_FORMATS: tuple[str, ...] = (
    "ISO8601",
    "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d",
    "%Y年%m月%d日%H时%M分%S秒", "%Y年%m月%d日%H时%M分", "%Y年%m月%d日 %H时%M分",
    "%Y年%m月%d日%H时", "%Y年%m月%d日 %H时", "%Y年%m月%d日%H:%M:%S", "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日%H:%M", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日",
    "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y",
    "%Y%m%d%H%M%S", "%Y%m%d %H:%M:%S", "%Y%m%d",
    "%Y.%m.%d %H:%M:%S", "%Y.%m.%d %H:%M", "%Y.%m.%d",
)
_TZ_SUFFIX = r"(?:Z|[+-]\d{2}:?\d{2})$"
_UNIT = "datetime64[us]"
_SAMPLE = 2000


def parse_times(values: pd.Series, *, source_tz: str, target_tz: str) -> pd.Series:
    """Parse a column of times into naive ``datetime64[us]`` wall-clock time in ``target_tz``.

    Parameters
    ----------
    values : Series
        Strings, numbers (Excel serials), Python datetimes, or a datetime64 column.
    source_tz : str
        IANA zone of naive values.
    target_tz : str
        IANA zone of the result (the workspace's).

    Returns
    -------
    Series
        Same index; NaT where a value is missing or could not be parsed.

    Examples
    --------
    >>> s = pd.Series(["2024/3/5 14:20", "2024年3月5日14时20分", "45356.5", "2024-03-05T06:20:00Z", "x"])
    >>> parse_times(s, source_tz="Asia/Shanghai", target_tz="Asia/Shanghai").dt.strftime("%m-%d %H:%M").tolist()
    ['03-05 14:20', '03-05 14:20', '03-05 12:00', '03-05 14:20', nan]
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return _to_target(values, aware=True, source_tz=source_tz, target_tz=target_tz)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return _to_target(values.astype(_UNIT), aware=False, source_tz=source_tz, target_tz=target_tz)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        local = _from_serial(pd.to_numeric(values, errors="coerce"))
        return _to_target(local, aware=False, source_tz=source_tz, target_tz=target_tz)

    out = pd.Series(pd.NaT, index=values.index, dtype=_UNIT)
    if values.dtype == object:
        # Excel cells arrive as Python datetimes / floats mixed with text; split them first.
        is_dt = values.map(lambda v: isinstance(v, (_dt.datetime, _dt.date)))
        if is_dt.any():
            out[is_dt] = pd.to_datetime(values[is_dt].astype(object)).astype(_UNIT)
        is_num = values.map(lambda v: isinstance(v, (int, float, np.number)) and not isinstance(v, bool))
        if is_num.any():
            out[is_num] = _from_serial(pd.to_numeric(values[is_num], errors="coerce")).to_numpy()
        rest = ~(is_dt | is_num)
        text = values[rest].astype("str")
        text = text.where(values[rest].notna(), "")
    else:
        text = values.astype("str").where(values.notna(), "")
    local, aware_utc = _parse_text(text.str.strip())
    out.loc[local.index] = local.to_numpy()
    out = _to_target(out, aware=False, source_tz=source_tz, target_tz=target_tz)
    if aware_utc is not None and len(aware_utc):
        out.loc[aware_utc.index] = _to_target(aware_utc, aware=True, source_tz=source_tz,
                                              target_tz=target_tz).to_numpy()
    return out


#: 12-hour markers: Chinese (as Excel/WPS write ``2024/3/5 下午 2:20:00``) and AM/PM.
_MERIDIEM = r"(上午|下午|中午|晚上|凌晨|早上|早晨|傍晚|夜里|夜间|(?<![A-Za-z])(?:[AaPp]\.?[Mm]\.?)(?![A-Za-z]))"
_AFTERNOON = ("下午", "晚上", "傍晚", "夜里", "夜间")
_MORNING = ("上午", "凌晨", "早上", "早晨")


def _parse_text(text: pd.Series) -> tuple[pd.Series, pd.Series | None]:
    """Parse stripped strings: naive local results, and tz-aware (UTC) results for offsets."""
    out = pd.Series(pd.NaT, index=text.index, dtype=_UNIT)
    aware: pd.Series | None = None
    todo = text != ""
    if not todo.any():
        return out, aware
    # Values with an explicit offset are absolute instants; parse them apart (only if present).
    sample = text[todo].iloc[:_SAMPLE]
    if sample.str.contains(_TZ_SUFFIX, regex=True).any() or text[todo].iloc[-_SAMPLE:].str.contains(
        _TZ_SUFFIX, regex=True
    ).any():
        has_tz = todo & text.str.contains(_TZ_SUFFIX, regex=True)
        aware = pd.to_datetime(text[has_tz], format="ISO8601", errors="coerce", utc=True)
        aware = aware[aware.notna()]
        todo &= ~has_tz
        todo.loc[has_tz[has_tz].index.difference(aware.index)] = True
    for fmt in _ranked_formats(text[todo]):
        if not todo.any():
            break
        sub = text[todo]
        try:
            parsed = pd.to_datetime(sub, format=fmt, errors="coerce")
        except ValueError:  # mixed offsets slipped through; leave those rows to the fallback
            continue
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            continue
        ok = parsed.notna()
        out.loc[ok[ok].index] = parsed[ok].astype(_UNIT).to_numpy()
        todo.loc[ok[ok].index] = False
    if todo.any():  # what no format read: a 12-hour clock (下午 2:20), else the slow fallback
        rest = text[todo]
        marker = rest.str.extract(_MERIDIEM, expand=False)
        has = marker.notna()
        if has.any():
            plain = rest[has].str.replace(_MERIDIEM, " ", regex=True).str.replace(r"\s+", " ", regex=True).str.strip()
            parsed, _ = _parse_text(plain)  # no marker left: formats, then the fallback
            out.loc[plain.index] = _twelve_hour(parsed, marker[has]).to_numpy()
            todo.loc[plain.index] = False
        if todo.any():
            out.loc[todo[todo].index] = _fallback(text[todo]).to_numpy()
    return out, aware


def _twelve_hour(times: pd.Series, marker: pd.Series) -> pd.Series:
    """Times read on a 12-hour clock moved to 24 hours: 下午 2 点 → 14, 上午 12 点 → 0,
    中午 1 点 → 13 (中午 11/12 点 stay), 晚上 11 点 → 23; ``PM``/``AM`` alike."""
    hour = times.dt.hour.to_numpy()
    word = marker.astype(str).str.upper().str.replace(".", "", regex=False).to_numpy()
    later = np.isin(word, _AFTERNOON) | (word == "PM")
    earlier = np.isin(word, _MORNING) | (word == "AM")
    shift = np.where(later & (hour < 12), 12, 0) + np.where(earlier & (hour == 12), -12, 0)
    shift = shift + np.where((word == "中午") & (hour < 11), 12, 0)
    return times + pd.to_timedelta(shift, unit="h")


def _ranked_formats(text: pd.Series) -> list[str]:
    """Formats that parse part of a sample of ``text``, most successful first."""
    if text.empty:
        return []
    sample = text.iloc[np.linspace(0, len(text) - 1, min(len(text), _SAMPLE)).astype(int)]
    scored = []
    for i, fmt in enumerate(_FORMATS):
        try:
            n = int(pd.to_datetime(sample, format=fmt, errors="coerce").notna().sum())
        except ValueError:
            n = 0
        if n:
            scored.append((-n, i, fmt))
    return [fmt for _, _, fmt in sorted(scored)]


def _fallback(text: pd.Series) -> pd.Series:
    """Slow path for the remainder: Excel serials in text, Chinese units, then dateutil."""
    out = pd.Series(pd.NaT, index=text.index, dtype=_UNIT)
    num = pd.to_numeric(text, errors="coerce")
    is_num = num.notna()
    out[is_num] = _from_serial(num[is_num]).to_numpy()
    rest = text[~is_num]
    if rest.empty:
        return out
    norm = (
        rest.str.replace(r"[年月/.]", "-", regex=True)
        .str.replace("日", " ", regex=False)
        .str.replace(r"[时点]", ":", regex=True)
        .str.replace(r"[分秒]", "", regex=True)
        .str.replace(r":\s*$", ":00", regex=True)
        .str.replace(r"\s+", " ", regex=True)
        .str.strip()
    )
    parsed = pd.to_datetime(norm, format="ISO8601", errors="coerce")
    left = parsed.isna() & norm.str.contains(r"\d{4}|\d{1,2}[-/]\d{1,2}[-/]\d{2}", regex=True)
    if left.any():
        parsed = parsed.astype(object)
        for idx, val in norm[left].items():  # small remainder only
            try:
                ts = pd.to_datetime(val, format="mixed", errors="coerce")
            except (ValueError, OverflowError):
                ts = pd.NaT
            parsed[idx] = ts if ts is not pd.NaT and ts.tzinfo is None else pd.NaT
        parsed = pd.to_datetime(parsed, errors="coerce")
    out.loc[rest.index] = parsed.astype(_UNIT).to_numpy()
    return out


def _from_serial(num: pd.Series) -> pd.Series:
    """Excel serial days (1900 date system) -> naive datetime, NaT outside the plausible range."""
    lo, hi = EXCEL_SERIAL_RANGE
    ok = num.between(lo, hi)
    days = num.where(ok)
    ts = pd.Timestamp("1899-12-30") + pd.to_timedelta(days * 86400.0, unit="s")
    return pd.Series(ts, index=num.index).dt.round("s").astype(_UNIT)


def _to_target(values: pd.Series, *, aware: bool, source_tz: str, target_tz: str) -> pd.Series:
    if aware:
        return values.dt.tz_convert(target_tz).dt.tz_localize(None).astype(_UNIT)
    if source_tz == target_tz:
        return values.astype(_UNIT)
    # Ambiguous autumn hours: take standard time; spring gap: shift forward (never NaT).
    local = values.dt.tz_localize(
        source_tz, ambiguous=np.zeros(len(values), dtype=bool), nonexistent="shift_forward"
    )
    return local.dt.tz_convert(target_tz).dt.tz_localize(None).astype(_UNIT)


def time_argument(value, flag: str, example: str = "2025-12-28 23:59") -> pd.Timestamp | None:
    """A user's time argument (``--as-of``, ``--since`` …) as a Timestamp; None when not given.

    Raises
    ------
    ValueError
        Naming ``flag`` and the value, with an example, when it is not a date or time.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        t = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{flag} {value!r}: not a date or time (e.g. {example})") from exc
    if pd.isna(t):
        raise ValueError(f"{flag} {value!r}: not a date or time (e.g. {example})")
    return t
