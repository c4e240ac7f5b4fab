"""Rendering back end of the briefing: a warm kaleido server, Chromium print-to-PDF, PDF clean-up.

Why two engines. kaleido (1.x, driving the system Chromium) turns plotly figures into PNG and
SVG quickly once its browser is warm (~0.2 s per figure against ~3 s cold). For the PDF we
print an HTML page (real text, tables, the figures as inline SVG) with headless Chromium:
kaleido's own PDF export maps some CJK glyphs back to Kangxi radicals (生 → ⽣, 比 → ⽐) in the
text layer, so pdftotext would not find the summary; Chromium printing HTML text and inline
SVG keeps the true code points. Both embed the Noto Sans CJK glyphs (as Type 3 fonts, since
Skia cannot embed the CFF-flavoured Noto CJK collection as CID fonts).

Nothing here touches the network: kaleido loads plotly.js from the installed plotly package,
MathJax is disabled, and Chromium runs with background networking off.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import plotly.graph_objects as go

__all__ = ["FigureRenderer", "chromium_path", "print_pdf", "normalise_pdf"]

_CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_path() -> str:
    """The browser used for rendering: ``$BROWSER_PATH``, else the system Chromium.

    Raises
    ------
    FileNotFoundError
        If no Chromium is installed (kaleido must never download one at run time).
    """
    env = os.environ.get("BROWSER_PATH")
    if env:
        if not Path(env).exists():
            raise FileNotFoundError(f"BROWSER_PATH={env}: no such browser")
        return env
    for name in ("/usr/bin/chromium", *_CHROMIUM_CANDIDATES):
        found = shutil.which(name) if not name.startswith("/") else (name if Path(name).exists() else None)
        if found:
            return found
    raise FileNotFoundError(
        "Chromium not found (needed for PNG/PDF export): install the `chromium` package "
        "or set BROWSER_PATH to a Chrome/Chromium executable"
    )


class FigureRenderer:
    """Context manager keeping one kaleido browser warm for all figures of a briefing.

    If a kaleido sync server is already running in this process (e.g. started by the app),
    it is reused and left running on exit.

    Examples
    --------
    >>> with FigureRenderer() as r:                      # doctest: +SKIP
    ...     r.write_png(fig, "board.png", width=1920, height=1080)
    """

    def __init__(self, *, timeout: float = 120) -> None:
        self.timeout = timeout
        self._owner = False

    def __enter__(self) -> FigureRenderer:
        import kaleido

        if not kaleido._global_server.is_running():  # noqa: SLF001 - public API has no query
            kaleido.start_sync_server(
                path=chromium_path(), mathjax=False, timeout=self.timeout, silence_warnings=True
            )
            self._owner = True
        return self

    def __exit__(self, *exc: object) -> None:
        import kaleido

        if self._owner:
            kaleido.stop_sync_server(silence_warnings=True)
            self._owner = False

    def write_png(self, fig: go.Figure, path: str | Path, *, width: int, height: int,
                  scale: float = 1) -> Path:
        """Write ``fig`` as a PNG of ``width*scale`` × ``height*scale`` pixels.

        kaleido reports a failed render by returning the error, not raising it: a briefing would
        then name a PNG that was never written. A failure is tried once more (a browser tab under
        load), then raised.

        Raises
        ------
        RuntimeError
            The figure could not be rendered (the message names the file and kaleido's error).
        """
        import kaleido

        path = Path(path)
        problem = "no file written"
        for _attempt in range(2):
            path.unlink(missing_ok=True)
            errors = kaleido.write_fig_sync(
                fig, path=str(path), opts=dict(format="png", width=width, height=height, scale=scale))
            if not errors and path.exists() and path.stat().st_size > 0:
                return path
            if errors:
                problem = "; ".join(str(e) for e in errors)
        raise RuntimeError(f"{path}: the figure could not be rendered as PNG ({problem})")

    def svg(self, fig: go.Figure) -> str:
        """The figure as an SVG document (text kept as text), sized by its layout."""
        import kaleido

        data = kaleido.calc_fig_sync(fig, opts=dict(format="svg"))
        return data.decode("utf-8") if isinstance(data, bytes) else str(data)


def print_pdf(html: str | Path, pdf: str | Path, *, timeout: float = 120) -> Path:
    """Print an HTML file to PDF with headless Chromium (page size from its CSS ``@page``)."""
    html, pdf = Path(html).resolve(), Path(pdf).resolve()
    with tempfile.TemporaryDirectory(prefix="pingan-chromium-") as profile:
        cmd = [
            chromium_path(), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--no-first-run",
            "--disable-default-apps", "--disable-sync", "--no-pdf-header-footer",
            f"--user-data-dir={profile}", f"--print-to-pdf={pdf}", html.as_uri(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0 or not pdf.exists():
        tail = (proc.stderr or "").strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"chromium could not print {html} to {pdf}: {tail[0]}")
    return pdf


def normalise_pdf(path: str | Path, *, title: str, subject: str, date: str) -> Path:
    """Fix the PDF's dates so equal inputs give an equal file.

    Chromium stamps the current time as CreationDate/ModDate (and writes no /ID). When ``date``
    (PDF date string, e.g. ``D:20240311080000+08'00'``, derived from the week) has the same
    length as Chromium's stamp — the usual case — the bytes are patched in place, which keeps
    every xref offset valid and costs nothing; otherwise the file is rewritten with pypdf,
    with title, subject and an ID derived from them.
    """
    import re

    path = Path(path)
    data = path.read_bytes()
    stamp = re.compile(rb"/(CreationDate|ModDate) \((D:[^)]*)\)")
    found = stamp.findall(data)
    new = date.encode("ascii")
    if found and all(len(d) == len(new) for _, d in found):
        path.write_bytes(stamp.sub(lambda m: b"/" + m.group(1) + b" (" + new + b")", data))
        return path
    return _rewrite_pdf(path, title=title, subject=subject, date=date)


def _rewrite_pdf(path: Path, *, title: str, subject: str, date: str) -> Path:
    import hashlib

    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import ArrayObject, ByteStringObject

    writer = PdfWriter(clone_from=PdfReader(path))
    writer.metadata = {
        "/Title": title, "/Subject": subject, "/Producer": "Pingan (Chromium, pypdf)",
        "/Creator": "pingan brief", "/CreationDate": date, "/ModDate": date,
    }
    # The ID names the document, not the run: derived from title, subject and date only.
    digest = hashlib.md5(f"{title}|{subject}|{date}".encode(), usedforsecurity=False).digest()
    writer._ID = ArrayObject([ByteStringObject(digest), ByteStringObject(digest)])  # noqa: SLF001
    tmp = path.with_suffix(".tmp.pdf")
    with open(tmp, "wb") as fh:
        writer.write(fh)
    tmp.replace(path)
    return path
