"""Recognise the canonical incident columns among a source file's headers (Chinese and English).

Police and 综治 exports name the same things in many ways (发案时间, 报警时间, occurred_at, Date
…). :func:`map_columns` picks, for every canonical column, the first recognised header in
priority order, after an explicit ``mapping`` {canonical: source} given by the user.
Headers are compared case-insensitively with whitespace and a UTF-8 BOM stripped.

A time kept in two columns is named ``DATE+TIME`` (``--map occurred_at=日期+时间``);
:func:`date_time_pair` finds such pairs by their headers (发案日期 + 发案时间, 日期 + 时间,
date + time, occurred_date + occurred_time …).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = [
    "CANONICAL", "SYNONYMS", "NAME_HINTS", "is_name_column", "map_columns", "normalise_header",
    "date_time_pair", "split_pair",
]

#: Canonical incident columns that ingest fills from a source file.
CANONICAL: tuple[str, ...] = ("incident_id", "occurred_at", "category", "lon", "lat")

#: Recognised headers per canonical column, in priority order (normalised form).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "incident_id": (
        "incident_id", "案件编号", "警情编号", "接警编号", "案件号", "警情号", "编号",
        "incident_number", "incident_no", "case_id", "case_number", "event_id", "id",
        "案件編號", "警情編號", "接警編號", "編號",  # traditional (Big5 exports)
    ),
    "occurred_at": (
        "occurred_at", "发案时间", "案发时间", "报警时间", "接警时间", "发生时间", "警情时间",
        "时间", "日期", "occurred", "occurrence_date", "occurrence_datetime", "datetime",
        "date_time", "timestamp", "time", "date", "dateoccur", "occ_date",
        "發案時間", "案發時間", "報警時間", "接警時間", "發生時間", "警情時間", "時間",
    ),
    "category": (
        "category", "案件类别", "警情类别", "案由", "案件类型", "警情类型", "案件性质", "类别",
        "类型", "offense", "offence", "crime_type", "offense_type", "type", "crime", "mci_category",
        "案件類別", "警情類別", "案件類型", "警情類型", "案件性質", "類別", "類型",
    ),
    "lon": ("lon", "经度", "lng", "long", "longitude", "x", "x坐标", "xcoord", "x_coord", "point_x", "經度", "x坐標"),
    "lat": ("lat", "纬度", "latitude", "y", "y坐标", "ycoord", "y_coord", "point_y", "緯度", "y坐標"),
}


#: Header fragments of name columns (area and unit names shown beside incidents): these get the
#: short length limit and lose control characters, like ids and categories.
NAME_HINTS: tuple[str, ...] = ("name", "名称", "派出所", "街道", "社区", "网格", "辖区", "小区", "单位")


def is_name_column(name: object) -> bool:
    """True for a header that names places or units (``社区名称``, ``area_name``, ``派出所``).

    Examples
    --------
    >>> [is_name_column(c) for c in ("社区名称", "Area Name", "地址", "经度")]
    [True, True, False, False]
    """
    norm = normalise_header(name)
    return any(h in norm for h in NAME_HINTS)


def normalise_header(name: object) -> str:
    """Lower-case, strip whitespace and BOM, unify separators: ' Occurred At ' -> 'occurred_at'."""
    s = str(name).replace("\ufeff", "").strip().lower()
    for ch in (" ", "-", "."):
        s = s.replace(ch, "_")
    return s


def map_columns(
    columns: Iterable[object],
    mapping: Mapping[str, str] | None = None,
    *,
    source: str = "input",
) -> dict[str, str]:
    """Choose the source column for each canonical column.

    Parameters
    ----------
    columns : iterable
        The source file's column names, as read.
    mapping : dict, optional
        {canonical: source column} given by the user; wins over recognition.
    source : str
        File name, for error messages.

    Returns
    -------
    dict
        {canonical: source column name as in ``columns``} for every column found.

    Raises
    ------
    ValueError
        ``mapping`` names an unknown canonical column or a column the file lacks.

    Examples
    --------
    >>> map_columns(["\\ufeff警情编号", "报警时间", "警情类别", "经度", "纬度", "地址"])
    {'incident_id': '\\ufeff警情编号', 'occurred_at': '报警时间', 'category': '警情类别', 'lon': '经度', 'lat': '纬度'}
    """
    cols = [c for c in columns]
    by_norm: dict[str, object] = {}
    for c in cols:
        by_norm.setdefault(normalise_header(c), c)
    out: dict[str, str] = {}
    for canon, src in (mapping or {}).items():
        if canon not in CANONICAL:
            raise ValueError(
                f"--map {canon}={src}: unknown canonical column {canon!r}; use one of {', '.join(CANONICAL)}"
            )
        if canon == "occurred_at" and src not in cols and "+" in str(src):
            parts = [p.strip() for p in str(src).split("+", 1)]
            hits = [p if p in cols else by_norm.get(normalise_header(p)) for p in parts]
            for p, h in zip(parts, hits):
                if h is None:
                    raise ValueError(
                        f"{source}: --map {canon}={src}: no column {p!r}; columns are: {_listing(cols)}"
                    )
            out[canon] = f"{hits[0]}+{hits[1]}"
            continue
        hit = src if src in cols else by_norm.get(normalise_header(src))
        if hit is None:
            raise ValueError(
                f"{source}: --map {canon}={src}: no column {src!r}; columns are: {_listing(cols)}"
            )
        out[canon] = hit
    used = {c for v in out.values() for c in (split_pair(v, cols) or (v,))}
    for canon in CANONICAL:
        if canon in out:
            continue
        for syn in SYNONYMS[canon]:
            hit = by_norm.get(syn)
            if hit is not None and hit not in used:
                out[canon] = hit
                used.add(hit)
                break
    return {k: out[k] for k in CANONICAL if k in out}


def split_pair(spec: object, columns: Iterable[object]) -> tuple[str, str] | None:
    """``("日期", "时间")`` for a ``"日期+时间"`` spec whose parts are both columns (and which is not
    itself a column); else None.

    Examples
    --------
    >>> split_pair("日期+时间", ["日期", "时间"]), split_pair("日期", ["日期"])
    (('日期', '时间'), None)
    """
    cols = list(columns)
    s = str(spec)
    if s in cols or "+" not in s:
        return None
    a, b = s.split("+", 1)
    return (a, b) if a in cols and b in cols else None


#: Header endings of a date column and of its time column: (date, time).
_PAIR_ENDINGS: tuple[tuple[str, str], ...] = (
    ("日期", "时间"), ("日期", "时刻"), ("日期", "時間"), ("date", "time"), ("_date", "_time"),
)


def date_time_pair(columns: Iterable[object]) -> tuple[str, str] | None:
    """A date column and a time column that belong together by their headers, or None.

    The pair share a prefix: 发案日期 + 发案时间, 日期 + 时间, occurred_date + occurred_time,
    Date + Time. A time column alone is not a pair. The first pair in column order wins, and
    pairs of the recognised time headers (:data:`SYNONYMS`) come first.

    Examples
    --------
    >>> date_time_pair(["编号", "发案日期", "发案时间", "经度"])
    ('发案日期', '发案时间')
    >>> date_time_pair(["Date", "Time"]), date_time_pair(["发案时间"])
    (('Date', 'Time'), None)
    """
    cols = list(columns)
    by_norm: dict[str, object] = {}
    for c in cols:
        by_norm.setdefault(normalise_header(c), c)
    found = []
    for norm, col in by_norm.items():
        for d_end, t_end in _PAIR_ENDINGS:
            if norm.endswith(d_end):
                other = by_norm.get(norm[: len(norm) - len(d_end)] + t_end)
                if other is not None and other != col:
                    rank = 0 if normalise_header(other) in SYNONYMS["occurred_at"] else 1
                    found.append((rank, cols.index(col), str(col), str(other)))
                break
    if not found:
        return None
    _, _, d, t = min(found)
    return d, t


def _listing(cols: list[object]) -> str:
    shown = ", ".join(str(c) for c in cols[:40])
    return shown + (f", … ({len(cols)} in all)" if len(cols) > 40 else "")
