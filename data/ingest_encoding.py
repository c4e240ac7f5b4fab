"""Tell the text encodings of office exports apart before the strict CSV scan reads them.

UTF-8 and GB18030 are tried by :mod:`data.ingest_csv` itself. Two more reach police offices:

- **UTF-16** — Excel's 「Unicode 文本」 export (tab-separated, little-endian, with a BOM). The
  BOM (``FF FE`` / ``FE FF``) decides, and without one, NUL bytes in every other position of the
  first block; :func:`to_utf8` then writes a UTF-8 copy that the normal scan reads.
- **Big5** (Taiwan, Hong Kong, Macau). GB18030 decodes nearly any byte string, so a Big5 file
  would be read silently as Simplified-Chinese mojibake. :func:`sniff_encoding` decodes a sample
  strictly both ways and compares how *plausible* each text is: the share of its Chinese
  characters that are among the common characters of that encoding (GB2312 level 1, 3,755
  characters; Big5 level 1, 5,401 characters). Real text scores near 1 in its own encoding and
  about 0.4–0.9 in the other. GB18030 is kept unless Big5 scores higher; when Big5 scores
  higher but not clearly (by less than 0.2) the file is refused, naming ``--encoding``.
"""

from __future__ import annotations

import codecs
import functools
import re
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["sniff_encoding", "to_utf8", "plausibility", "BIG5", "SAMPLE_BYTES"]

#: The Big5 codec used (Microsoft's cp950: Big5 plus the characters Windows exports add).
BIG5 = "cp950"
#: Bytes of the file sampled for the Big5/GB decision.
SAMPLE_BYTES = 1 << 20
_MARGIN = 0.2  # plausibility difference taken as a clear decision
_MIN_HAN = 4  # fewer Chinese characters than this: too little to tell, and GB18030 stays
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_NON_ASCII = re.compile(rb"[\x80-\xff]")


def sniff_encoding(path: str | Path) -> str | None:
    """``utf-16-le``/``utf-16-be`` (BOM or NUL pattern), ``cp950`` (Big5 more plausible than
    GB18030), or None (leave it to the UTF-8/GB18030 scan).

    Raises
    ------
    ValueError
        The sample decodes both as Big5 and GB18030 and neither is clearly more plausible; the
        message names ``--encoding big5`` and ``--encoding gb18030``.
    """
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(SAMPLE_BYTES)
    if head.startswith(codecs.BOM_UTF16_LE) and not head.startswith(codecs.BOM_UTF32_LE):
        return "utf-16-le"
    if head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be"
    if head.startswith(codecs.BOM_UTF8) or not _NON_ASCII.search(head) and b"\x00" not in head:
        return None
    nul = _nul_side(head)
    if nul:
        return nul
    sample = _cut(head)
    try:
        sample.decode("utf-8")
        return None  # UTF-8 (the scan decides about a mix further down)
    except UnicodeDecodeError:
        pass
    gb = _strict(sample, "gb18030")
    big5 = _strict(sample, BIG5)
    if big5 is None:
        return None
    if gb is None:
        return BIG5
    p_gb, p_big5, n_han = plausibility(gb, "gb"), plausibility(big5, "big5"), len(_HAN.findall(gb))
    if n_han < _MIN_HAN or p_gb >= p_big5:
        return None  # GB18030 is the mainland default: Big5 must be the more plausible text
    if p_big5 - p_gb >= _MARGIN:
        return BIG5
    raise ValueError(
        f"{path}: the text reads both as GB18030 (simplified; {p_gb:.0%} common characters) and as Big5 "
        f"(traditional; {p_big5:.0%}); say which with --encoding gb18030 or --encoding big5"
    )


def plausibility(text: str, script: str) -> float:
    """Share of the Chinese characters of ``text`` that are common in ``script`` (``gb``: GB2312
    level 1; ``big5``: Big5 level 1); 0.0 without Chinese characters.

    Examples
    --------
    >>> round(plausibility("入室盗窃发生在云岩区", "gb"), 2)
    1.0
    """
    han = _HAN.findall(text)
    if not han:
        return 0.0
    common = _common(script)
    return float(np.mean([c in common for c in han]))


def to_utf8(path: str | Path, encoding: str) -> Path:
    """A UTF-8 copy of ``path`` (decoded strictly from ``encoding``) in a new temporary folder;
    the caller removes the folder (``result.parent``).

    Raises
    ------
    ValueError
        The bytes do not decode; the message names the byte offset and ``--encoding``.
    """
    path = Path(path)
    tmp = Path(tempfile.mkdtemp(prefix="pingan-utf8-"))
    out = tmp / (path.stem + ".utf8" + path.suffix)
    dec = codecs.getincrementaldecoder(encoding)(errors="strict")
    done = 0
    try:
        with path.open("rb") as fh, out.open("w", encoding="utf-8", newline="") as sink:
            while block := fh.read(1 << 24):
                sink.write(dec.decode(block).lstrip("\ufeff") if done == 0 else dec.decode(block))
                done += len(block)
            sink.write(dec.decode(b"", final=True))
    except UnicodeDecodeError as exc:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise ValueError(f"{path}: not valid {encoding} at byte {done + exc.start:,}; pass the right --encoding "
                         "(e.g. utf-8, gb18030, big5, utf-16)") from exc
    return out


def _nul_side(head: bytes) -> str | None:
    """UTF-16 without a BOM: ASCII text leaves NUL in every other byte."""
    arr = np.frombuffer(head[: len(head) // 2 * 2], dtype=np.uint8)
    if len(arr) < 8:
        return None
    even, odd = (arr[0::2] == 0).mean(), (arr[1::2] == 0).mean()
    if odd > 0.3 and even < 0.05:
        return "utf-16-le"
    if even > 0.3 and odd < 0.05:
        return "utf-16-be"
    return None


def _cut(head: bytes) -> bytes:
    """The sample up to its last line break (a multi-byte character is never cut)."""
    k = head.rfind(b"\n")
    return head[: k + 1] if k > 0 else head


def _strict(raw: bytes, enc: str) -> str | None:
    try:
        return raw.decode(enc)
    except UnicodeDecodeError:
        return None


@functools.cache
def _common(script: str) -> frozenset[str]:
    """The level-1 (frequent) characters of GB2312 or Big5, from the codecs themselves."""
    out = set()
    if script == "gb":
        for lead in range(0xB0, 0xD8):
            for trail in range(0xA1, 0xFF):
                ch = _strict(bytes([lead, trail]), "gb2312")
                if ch:
                    out.add(ch)
    else:
        for lead in range(0xA4, 0xC7):
            for trail in list(range(0x40, 0x7F)) + list(range(0xA1, 0xFF)):
                if (lead, trail) >= (0xC6, 0x7F):
                    break
                ch = _strict(bytes([lead, trail]), "big5")
                if ch:
                    out.add(ch)
    return frozenset(out)
