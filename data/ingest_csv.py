"""Strict CSV reading: every record a person sees in the file is either one row or one
quarantined line — never merged with its neighbours, never decoded into mojibake.

pandas' C parser is fast and right for a clean file, but it merges silently: a stray quote
makes one field of the next lines (``rows in`` shrinks, one row takes another's coordinates),
a lone carriage return splits a row in two, and a file whose rows mix UTF-8 and GBK decodes as
one or the other. :func:`plan_csv` first scans the bytes (vectorised, one pass; the text is
decoded once, as before), and only if the scan finds something wrong does it go line by line:

- each line is decoded as UTF-8, else GB18030 — or Big5, when :mod:`data.ingest_encoding` finds
  it more plausible (or the ``--encoding`` given); a line neither decodes is quarantined as
  ``encoding``. UTF-16 files (BOM or NUL pattern) are first copied to UTF-8;
- a quoted field that spans lines is kept when the lines between are not whole records
  themselves (a case summary with a line break); when they are, the lines that open and close
  the quote are quarantined as ``malformed_row`` and the whole records between are read as rows;
- a line whose field count differs from the header's is ``malformed_row``;
- lone carriage returns (which pandas reads as line breaks) are removed and counted.

The good records go to a cleaned UTF-8 copy that pandas then reads in chunks, with the record
number of each row (``source_row``) kept beside it. Record numbers count the records as a
person sees them (the header and blank lines excluded), so ``rows in = used + quarantined``
holds for what the user counts, and ``reason_detail`` gives the physical line number.
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from data.ingest_read import Note

__all__ = ["CsvPlan", "plan_csv", "CHUNK_BYTES", "MAX_SPAN_LINES"]

#: Bytes per block of the scan (cut at a line break).
CHUNK_BYTES = 1 << 24
#: Longest quoted field, in lines, that is taken as one multi-line value.
MAX_SPAN_LINES = 100
_AUTO = ("utf-8", "gb18030")
_BOM = b"\xef\xbb\xbf"
_DETAIL = 160  # characters of the raw line shown in reason_detail


@dataclass
class CsvPlan:
    """How to read one CSV file.

    Attributes
    ----------
    encoding : str
        The encoding found (``utf-8-sig``, ``gb18030``, ``utf-8-sig+gb18030`` for a file
        mixing both per line, or the one given).
    path : Path
        The file pandas reads: the original, or a cleaned UTF-8 copy.
    read_encoding : str
        Encoding to read ``path`` with.
    rows : ndarray or None
        Record number (1-based) of each row of ``path``; None when it is 1..n.
    rejected : DataFrame
        Quarantined lines: the header's columns (values split as well as they go) plus
        ``source_row``, ``reason`` and ``reason_detail``.
    control_chars : int
        Lone carriage returns removed.
    sep : str
        Field separator (given, or sniffed from the header: a tab without commas).
    notes : list of Note
        What was decided for the user (a title above the header skipped).
    """

    encoding: str
    path: Path
    read_encoding: str
    rows: np.ndarray | None = None
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)
    control_chars: int = 0
    sep: str = ","
    notes: list = field(default_factory=list)
    _tmp: str | None = None
    _copies: list = field(default_factory=list)  # a UTF-8 copy of a UTF-16 file, a copy without the title

    def cleanup(self) -> None:
        """Remove the cleaned copy and the other copies, if made."""
        for tmp in [self._tmp, *self._copies]:
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)
        self._tmp, self._copies = None, []


def plan_csv(path: str | Path, *, encoding: str = "auto", sep: str | None = ",") -> CsvPlan:
    """Scan ``path`` and decide how to read it (see the module docstring).

    Parameters
    ----------
    path : path
        A CSV/TXT/TSV file.
    encoding : str
        ``auto`` (UTF-8 with or without BOM, GB18030, or both per line; UTF-16 and Big5 by
        :func:`data.ingest_encoding.sniff_encoding`) or a codec name.
    sep : str or None
        Field separator (one character); None sniffs it from the header (tab or comma).

    Raises
    ------
    ValueError
        Empty file, unknown codec, text that mostly does not decode in the encoding(s), or text
        that reads as Big5 and as GB18030 alike (``--encoding`` decides).
    """
    import codecs

    from data.ingest_encoding import BIG5, sniff_encoding, to_utf8

    path = Path(path)
    if encoding != "auto":
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise ValueError(f"{path}: --encoding {encoding!r} is not a known text encoding") from exc
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: the file is empty")
    found = sniff_encoding(path) if encoding == "auto" else None
    wide = found if found and found.startswith("utf-16") else None
    if wide is None and encoding != "auto" and not _ascii_compatible(encoding):
        wide = encoding  # a forced UTF-16/UTF-32: its bytes cannot be scanned as they are
    if wide:
        copy = to_utf8(path, wide)
        try:
            plan = plan_csv(copy, encoding="utf-8", sep=sep)
        except ValueError as exc:
            shutil.rmtree(copy.parent, ignore_errors=True)
            raise ValueError(str(exc).replace(str(copy), str(path))) from exc
        plan.notes = [Note(str(n).replace(copy.name, path.name), n.key, **{**n.params, "file": path.name})
                      for n in plan.notes]
        plan.encoding = wide
        plan._copies.append(str(copy.parent))
        if plan.path == copy:
            plan.read_encoding = "utf-8"
        return plan
    encs = ("utf-8", BIG5) if found == BIG5 else _AUTO if encoding == "auto" else (encoding,)
    skip, title = _title_lines(path, encs, sep)
    if skip:  # a report title above the header (an Excel sheet saved as CSV): read a copy without it
        copy = _without_lines(path, skip)
        try:
            plan = plan_csv(copy, encoding=encoding if found != BIG5 else BIG5, sep=sep)
        except ValueError as exc:
            shutil.rmtree(copy.parent, ignore_errors=True)
            raise ValueError(str(exc).replace(str(copy), str(path))) from exc
        plan._copies.append(str(copy.parent))
        plan.notes.append(Note(f"{path.name}: header on line {skip + 1}; the line(s) above it skipped (title: {title})",
                               "header_line", file=path.name, row=skip + 1, title=title))
        return plan
    header = _header(path, encs)
    if sep is None:
        sep = "\t" if "\t" in header and "," not in header else ","
    n_fields = len(next(csv.reader([header], delimiter=sep), [""]))
    clean, ok_enc = _scan(path, encs, sep, n_fields)
    if clean:
        return CsvPlan(encoding=_label(ok_enc), path=path, read_encoding=_read_enc(ok_enc), sep=sep)
    plan = _rewrite(path, encs, sep, header, n_fields)
    plan.sep = sep
    return plan


# -- the scan: vectorised over bytes, text decoded once ------------------------------------
def _scan(path: Path, encs: tuple[str, ...], sep: str, n_fields: int) -> tuple[bool, str]:
    """(clean, encoding): clean when no line needs the slow path."""
    sep_b = ord(sep)
    first = True
    ok = {e: True for e in encs}
    for chunk in _blocks(path):
        text = chunk  # the header is decoded too (a GBK file may hold only its header)
        if first:
            chunk = chunk[len(_BOM):] if chunk.startswith(_BOM) else chunk
            text = chunk
            cut = chunk.find(b"\n") + 1 or len(chunk)  # the header is not a record
            chunk, first = chunk[cut:], False
        if not _structure_ok(chunk, sep_b, n_fields):
            return False, ""
        if ok[encs[0]]:
            try:
                text.decode(encs[0])
            except UnicodeDecodeError:
                ok[encs[0]] = False
                if len(encs) == 1:
                    return False, ""
    if ok[encs[0]]:
        return True, encs[0]
    # UTF-8 failed somewhere: the whole file must be GB18030 (or Big5), and no line of it UTF-8
    for chunk in _blocks(path):
        try:
            chunk.decode(encs[1])
        except UnicodeDecodeError:
            return False, ""
        if _has_utf8_line(chunk):
            return False, ""  # a mix: some lines are UTF-8 (they would become mojibake)
    return True, encs[1]


def _has_utf8_line(chunk: bytes) -> bool:
    """True when a line of ``chunk`` is valid UTF-8 with non-ASCII text (vectorised in Arrow)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = chunk.decode("utf-8", "replace")  # an invalid line gets U+FFFD
    lines = pc.split_pattern(pa.array([text], type=pa.large_string()), "\n")[0].values
    utf8 = pc.and_(pc.invert(pc.string_is_ascii(lines)), pc.invert(pc.match_substring(lines, "\ufffd")))
    return bool(pc.any(utf8).as_py())


def _structure_ok(chunk: bytes, sep: int, n_fields: int) -> bool:
    """Every non-blank line has an even number of quotes and ``n_fields - 1`` separators
    outside quotes, and no carriage return stands alone."""
    if not chunk:
        return True
    if chunk.count(b"\r") != chunk.count(b"\r\n"):
        return False  # pandas splits a row at a lone CR
    arr = np.frombuffer(chunk, dtype=np.uint8)
    ends = np.flatnonzero(arr == 10)
    if not chunk.endswith(b"\n"):
        ends = np.append(ends, len(arr))
    starts = np.concatenate(([0], ends[:-1] + 1))
    length = ends - starts
    first = arr[np.minimum(starts, len(arr) - 1)]
    blank = (length == 0) | ((length == 1) & (first == 13))
    if b'"' not in chunk:  # no quotes: one count per chunk; a row with too many fields makes
        # pandas raise, so a matching total means every row has the header's count
        return chunk.count(bytes([sep])) == (n_fields - 1) * int((~blank).sum())
    q = np.flatnonzero(arr == 34)
    per_line = np.searchsorted(q, ends) - np.searchsorted(q, starts)
    if (per_line % 2).any():
        return False
    s = np.flatnonzero(arr == sep)
    s = s[np.searchsorted(q, s) % 2 == 0]  # lines start with an even count: odd = inside quotes
    per_line = np.searchsorted(s, ends) - np.searchsorted(s, starts)
    return bool((per_line[~blank] == n_fields - 1).all())


# -- the slow path: line by line, only for a file the scan found wrong ----------------------
def _rewrite(path: Path, encs: tuple[str, ...], sep: str, header: str, n_fields: int) -> CsvPlan:
    columns = [str(c) for c in pd.read_csv(io.StringIO(header + "\n"), sep=sep, dtype=str, nrows=0).columns]
    tmp = tempfile.mkdtemp(prefix="pingan-csv-")
    out_path = Path(tmp) / "clean.csv"
    rows: list[int] = []
    rejected: list[tuple[int, str, str, list[str | None]]] = []
    used: set[str] = set()
    n_bad_enc = cr = record = 0
    first_bad_enc = 0
    flagged: dict[int, str] = {}  # line number -> detail, for the closing line of a swallow

    def reject(ln: int, text: str | None, reason: str, detail: str) -> None:
        values = _loose_fields(text, sep, n_fields) if text is not None else [None] * n_fields
        rejected.append((record, reason, detail, values))

    lines = _lines(path, encs)
    buf: deque = deque()

    def fill(k: int) -> None:
        while len(buf) < k:
            nxt = next(lines, None)
            if nxt is None:
                return
            buf.append(nxt)

    with out_path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=sep, lineterminator="\n")
        out.write(header + "\n")
        fill(1)
        buf.popleft()  # the header line
        while True:
            fill(1)
            if not buf:
                break
            ln, text, raw, enc, n_cr = buf.popleft()
            cr += n_cr
            if text == "":
                continue  # a blank line is not a record
            record += 1
            if text is None:
                n_bad_enc += 1
                first_bad_enc = first_bad_enc or ln
                shown = raw[:_DETAIL].decode("utf-8", "backslashreplace")
                reject(ln, None, "encoding", f"line {ln}: neither {' nor '.join(e.upper() for e in encs)} decodes it: {shown}")
                continue
            used.add(enc)
            if ln in flagged:
                reject(ln, text, "malformed_row", flagged.pop(ln))
                continue
            if '"' in text and _opens(text, sep):
                fill(MAX_SPAN_LINES)
                close = _closing(text, buf, sep)
                if close is None:
                    reject(ln, text, "malformed_row",
                           f"line {ln}: a quote opens here and does not close within {MAX_SPAN_LINES} lines: "
                           f"{_short(text)}")
                    continue
                inner = [buf[i] for i in range(close)]
                whole = [x[0] for x in inner if x[1] and not _opens(x[1], sep) and len(_fields(x[1], sep)) == n_fields]
                if whole:
                    end = buf[close][0]
                    span = f"{whole[0]}–{whole[-1]}" if len(whole) > 1 else str(whole[0])
                    what = f"across whole records on line(s) {span}; not merged"
                    reject(ln, text, "malformed_row",
                           f"line {ln}: a quote opened here closes only on line {end}, {what}: {_short(text)}")
                    flagged[end] = f"line {end}: closes a quote opened on line {ln}, {what}: {_short(buf[close][1])}"
                    continue
                joined = "\n".join([text] + [x[1] or "" for x in inner] + [buf[close][1]])
                fields = _records(joined, sep)
                if len(fields) == 1 and len(fields[0]) == n_fields and all(x[1] is not None for x in inner):
                    for _ in range(close + 1):  # the lines of this one record
                        x = buf.popleft()
                        cr += x[4]
                        used.add(x[3])
                    writer.writerow(fields[0])
                    rows.append(record)
                    continue
                reject(ln, text, "malformed_row", f"line {ln}: unbalanced quote: {_short(text)}")
                continue
            fields = _fields(text, sep)
            if len(fields) != n_fields:
                reject(ln, text, "malformed_row",
                       f"line {ln}: {len(fields)} fields, the header has {n_fields}: {_short(text)}")
                continue
            if '"' in text:
                writer.writerow(fields)
            else:
                out.write(text + "\n")
            rows.append(record)
    if record and n_bad_enc * 2 > record:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ValueError(
            f"{path}: cannot decode the text ({' or '.join(encs)} fail on {n_bad_enc:,} of {record:,} lines, "
            f"the first is line {first_bad_enc}); pass the right --encoding (e.g. utf-8, gb18030, big5)"
        )
    rej = pd.DataFrame([r[3] for r in rejected], columns=columns, dtype=object) if rejected else \
        pd.DataFrame(columns=columns, dtype=object)
    rej["source_row"] = np.array([r[0] for r in rejected], dtype=np.int64)
    rej["reason"] = pd.Series([r[1] for r in rejected], dtype="str")
    rej["reason_detail"] = pd.Series([r[2] for r in rejected], dtype="str")
    label = _label(*[e for e in encs if e in used]) if used else _label(encs[0])
    return CsvPlan(encoding=label, path=out_path, read_encoding="utf-8", rows=np.asarray(rows, dtype=np.int64),
                   rejected=rej, control_chars=cr, _tmp=tmp)


def _lines(path: Path, encs: tuple[str, ...]) -> Iterator[tuple[int, str | None, bytes, str, int]]:
    """(line number, text or None if undecodable, raw bytes, encoding, lone CRs removed)."""
    ln = 0
    for chunk in _blocks(path):
        parts = chunk.split(b"\n")
        if chunk.endswith(b"\n"):
            parts.pop()
        for raw in parts:
            ln += 1
            if ln == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            text = enc = None
            for e in encs:
                try:
                    text, enc = raw.decode(e), e
                    break
                except UnicodeDecodeError:
                    continue
            n_cr = 0
            if text is not None and "\r" in text:
                n_cr = text.count("\r")
                text = text.replace("\r", "")
            yield ln, text, raw, enc or "", n_cr


def _closing(text: str, buf: deque, sep: str) -> int | None:
    """Index in ``buf`` of the line that closes the quote ``text`` opens, or None."""
    joined = text
    for i, x in enumerate(buf):
        if x[1] is None:
            return None
        joined += "\n" + x[1]
        if not _opens(joined, sep):
            return i
    return None


def _opens(text: str, sep: str) -> bool:
    """True when ``text`` ends inside a quoted field (the quote would swallow the next line)."""
    recs = list(csv.reader(io.StringIO(text + "\n\x00"), delimiter=sep))
    return len(recs) == 1 and bool(recs[0]) and recs[0][-1].endswith("\n\x00")


def _fields(text: str, sep: str) -> list[str]:
    if '"' not in text:
        return text.split(sep)
    recs = _records(text, sep)
    return recs[0] if len(recs) == 1 else [f for r in recs for f in r]


def _records(text: str, sep: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text), delimiter=sep))


def _loose_fields(text: str, sep: str, n: int) -> list[str | None]:
    """The line's values, one per header column as well as they go (extras joined to the last)."""
    vals = [f for r in _records(text, sep) for f in r] if text else []
    if len(vals) > n:
        vals = vals[: n - 1] + [sep.join(vals[n - 1:])]
    return [v if v != "" else None for v in vals] + [None] * (n - len(vals))


def _short(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= _DETAIL else text[:_DETAIL] + "…"


# -- a title above the header --------------------------------------------------------------
def _title_lines(path: Path, encs: tuple[str, ...], sep: str | None) -> tuple[int, str]:
    """(lines above the header, their text): the header is the first of the first
    :data:`data.ingest_excel.HEADER_SCAN` lines that names a time and a category column, when
    every line above it has at most two filled fields (a title, a date); else (0, "")."""
    from data.columns import map_columns
    from data.ingest_excel import HEADER_SCAN

    texts: list[str] = []
    with path.open("rb") as fh:
        for i in range(HEADER_SCAN):
            raw = fh.readline()
            if not raw:
                break
            raw = raw[len(_BOM):] if i == 0 and raw.startswith(_BOM) else raw
            line = next((t for t in (_decoded(raw.rstrip(b"\r\n"), e) for e in encs) if t is not None), None)
            if line is None:
                break
            texts.append(line)
    filled = []
    for i, line in enumerate(texts):
        s = sep or ("\t" if "\t" in line and "," not in line else ",")
        try:
            fields = [f.strip() for f in next(csv.reader([line.replace("\r", " ")], delimiter=s), [])]
        except csv.Error:  # NUL bytes and the like: the strict scan deals with such lines
            fields = [f.strip() for f in line.split(s)]
        names = [f for f in fields if f]
        if i and all(k <= 2 for k in filled):
            found = map_columns(names)
            if "occurred_at" in found and "category" in found:
                return i, " ".join(" ".join(t.replace(s, " ").split()) for t in texts[:i])[:80]
        filled.append(len(names))
    return 0, ""


def _decoded(raw: bytes, enc: str) -> str | None:
    try:
        return raw.decode(enc)
    except UnicodeDecodeError:
        return None


def _without_lines(path: Path, k: int) -> Path:
    """A copy of ``path`` without its first ``k`` lines, in a new temporary folder."""
    tmp = Path(tempfile.mkdtemp(prefix="pingan-csv-title-"))
    out = tmp / path.name
    with path.open("rb") as src, out.open("wb") as dst:
        for _ in range(k):
            src.readline()
        shutil.copyfileobj(src, dst, 1 << 24)
    return out


# -- helpers -------------------------------------------------------------------------------
def _blocks(path: Path) -> Iterator[bytes]:
    """The file in blocks of about :data:`CHUNK_BYTES`, each ending at a line break."""
    rest = b""
    with path.open("rb") as fh:
        while block := fh.read(CHUNK_BYTES):
            block = rest + block
            cut = block.rfind(b"\n") + 1
            rest, block = block[cut:], block[:cut]
            if block:
                yield block
    if rest:
        yield rest


def _header(path: Path, encs: tuple[str, ...]) -> str:
    with path.open("rb") as fh:
        raw = fh.readline()
    raw = raw[len(_BOM):] if raw.startswith(_BOM) else raw
    raw = raw.rstrip(b"\r\n")
    for e in encs:
        try:
            return raw.decode(e)
        except UnicodeDecodeError:
            continue
    raise ValueError(
        f"{path}: cannot decode the header line ({' or '.join(encs)}); pass the right --encoding "
        "(e.g. utf-8, gb18030, big5)"
    )


def _ascii_compatible(enc: str) -> bool:
    try:
        return 'a,"\n\r'.encode(enc) == b'a,"\n\r'
    except (LookupError, UnicodeEncodeError):
        return False


def _label(*encs: str) -> str:
    return "+".join("utf-8-sig" if e.lower().replace("_", "-") in ("utf-8", "utf8") else e for e in encs)


def _read_enc(enc: str) -> str:
    return "utf-8-sig" if enc.lower().replace("_", "-") in ("utf-8", "utf8") else enc
