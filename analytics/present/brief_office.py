"""The briefing for offices: an editable Word ``.docx`` and an Excel ``.xlsx`` of the ranking.

The Word file is written from the same :class:`~analytics.present.brief_html.Section` list as
the PDF, so both say the same thing: title with 第N周, the summary and the places to watch,
the KPI table, the map, trend and hot-spot charts as PNG images, the ranking with reasons in
words, the changes since last week and the statistics appendix; page numbers in the footer.
Offices edit it in Word or WPS. The spreadsheet holds the full ranking as values only: text
that a spreadsheet would read as a formula is neutralised (:func:`data.io.neutralise_formulas`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from analytics.present.brief_html import Section, Table
from analytics.present.palette import LEVEL_COLORS

__all__ = ["write_docx", "write_xlsx", "DOCX_FONT"]

#: Font of the Word file (Latin and East Asian runs); Word/WPS substitute when it is missing.
DOCX_FONT = "Noto Sans CJK SC"

_WIDTH_MM = {"fig_map": 135, "fig_hot": 125, "fig_trend": 255}


def write_docx(path: str | Path, sections: list[Section], *, title: str, heading: str,
               footer: str, lang: str, images: Mapping[str, str | Path],
               page_label: str = "") -> Path:
    """Write ``sections`` as an A4-landscape Word document.

    Parameters
    ----------
    path : str or Path
        Output ``.docx``.
    sections : list of Section
        The briefing's sections (their ``figure_id`` selects a PNG of ``images``).
    title, heading, footer : str
        Document title (core properties), the heading on page 1, the data-source line.
    lang : {"zh", "en"}
    images : mapping of str to path
        figure_id → PNG file.
    page_label : str
        Footer text around the page number, with ``{page}`` where the number goes
        (e.g. 「第 {page} 页」).
    """
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.shared import Mm, Pt

    doc = Document()
    _fonts(doc)
    sec = doc.sections[0]
    sec.orientation = WD_ORIENT.LANDSCAPE
    sec.page_width, sec.page_height = Mm(297), Mm(210)
    for side in ("left_margin", "right_margin"):
        setattr(sec, side, Mm(15))
    sec.top_margin = sec.bottom_margin = Mm(12)
    _page_footer(sec, footer, page_label)
    doc.core_properties.title = title
    doc.core_properties.language = "zh-CN" if lang == "zh" else "en"
    doc.add_heading(heading, level=0)
    for s in sections:
        if s.page_break:
            doc.add_page_break()
        doc.add_heading(s.title, level=1)
        picture = images.get(s.figure_id) if s.figure_id else None
        width = Mm(_WIDTH_MM.get(s.figure_id, 200))
        if s.side and picture is not None:
            # figure left, text right, as on the PDF page: a borderless two-cell table
            grid = doc.add_table(rows=1, cols=2)
            left, right = grid.cell(0, 0), grid.cell(0, 1)
            left.width, right.width = Mm(_WIDTH_MM.get(s.figure_id, 130) + 4), Mm(263 - _WIDTH_MM.get(s.figure_id, 130))
            left.paragraphs[0].add_run().add_picture(str(picture), width=width)
            _body(right, s, Pt(9), 259 - _WIDTH_MM.get(s.figure_id, 130))
            right.paragraphs[0]._p.getparent().remove(right.paragraphs[0]._p)  # noqa: SLF001 - empty first line
            continue
        _body(doc, s, Pt(9))
        if picture is not None:
            doc.add_picture(str(picture), width=width)
    path = Path(path)
    doc.save(str(path))
    return path


def write_xlsx(path: str | Path, frame: pd.DataFrame, *, sheet: str,
               more: dict[str, pd.DataFrame] | None = None) -> Path:
    """Write ``frame`` (already in display form) to one sheet, formulas neutralised; ``more``
    sheets (name → frame, e.g. 一月一排位) after it.

    Every cell is a value: a name such as ``=HYPERLINK(...)`` is stored as text (``'=…``).
    """
    from data.io import neutralise_formulas

    path = Path(path)
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for name, table in {sheet: frame, **(more or {})}.items():
            safe = neutralise_formulas(pd.DataFrame(table))
            safe.to_excel(xw, sheet_name=name[:31], index=False)
            ws = xw.sheets[name[:31]]
            for i, col in enumerate(safe.columns, start=1):  # readable widths (CJK counts double)
                longest = max([_width(str(col))] + [_width(str(v)) for v in safe[col].head(200)])
                ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = min(60, longest + 2)
            ws.freeze_panes = "A2"
    return path


# -- helpers --------------------------------------------------------------------------------------
def _fonts(doc) -> None:
    from docx.oxml.ns import qn
    from docx.shared import Pt

    for name in ("Normal", "Title", "Heading 1", "Heading 2", "List Bullet"):
        style = doc.styles[name]
        style.font.name = DOCX_FONT
        rpr = style.element.get_or_add_rPr()
        fonts = rpr.find(qn("w:rFonts"))
        if fonts is None:
            fonts = rpr.makeelement(qn("w:rFonts"), {})
            rpr.append(fonts)
        fonts.set(qn("w:eastAsia"), DOCX_FONT)
    doc.styles["Normal"].font.size = Pt(10.5)


def _page_footer(sec, footer: str, page_label: str) -> None:
    """Footer: data source, then the page label with PAGE / NUMPAGES fields (Word fills them)."""
    import re

    from docx.enum.text import WD_ALIGN_PARAGRAPH

    para = sec.footer.paragraphs[0]
    para.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    if footer:
        para.add_run(footer + "    ")
    for tok in re.split(r"(\{page\}|\{pages\})", page_label or "{page}"):
        if tok == "{page}":
            _field(para.add_run(), "PAGE")
        elif tok == "{pages}":
            _field(para.add_run(), "NUMPAGES")
        elif tok:
            para.add_run(tok)


def _field(run, code: str) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    for kind, text in (("begin", None), (None, code), ("separate", None), (None, "1"), ("end", None)):
        if kind:
            el = OxmlElement("w:fldChar")
            el.set(qn("w:fldCharType"), kind)
        elif text == code:
            el = OxmlElement("w:instrText")
            el.set(qn("xml:space"), "preserve")
            el.text = f" {code} "
        else:
            el = OxmlElement("w:t")
            el.text = text
        run._r.append(el)  # noqa: SLF001 - python-docx has no field API


def _body(box, s: Section, size, width_mm: float = 265) -> None:
    """KPIs, paragraphs, lists and the table of a section into a document or a table cell."""
    if s.kpis:
        _kpi_table(box, s.kpis)
    for p in s.paragraphs:
        box.add_paragraph(p)
    for name, items in s.lists:
        if name:
            box.add_paragraph(name, style="Heading 2")
        for item in items:
            box.add_paragraph(item, style="List Bullet")
    if s.table is not None:
        _table(box, s.table, size, width_mm)


def _kpi_table(doc, kpis: list[tuple[str, str]]) -> None:
    per_row = 4
    rows = [kpis[i:i + per_row] for i in range(0, len(kpis), per_row)]
    tab = doc.add_table(rows=2 * len(rows), cols=per_row)
    tab.style = "Table Grid"
    for r, chunk in enumerate(rows):
        for c, (k, v) in enumerate(chunk):
            tab.cell(2 * r, c).text = k
            cell = tab.cell(2 * r + 1, c)
            cell.text = ""
            run = cell.paragraphs[0].add_run(v)
            run.bold = True


def _table(doc, table: Table, size, width_mm: float = 265) -> None:
    """A grid table; column widths follow the longest text of each column (CJK counts double),
    so a sentence column is wide and a rank column narrow."""
    from docx.shared import Mm

    tab = doc.add_table(rows=1 + len(table.rows), cols=len(table.header))
    tab.style = "Table Grid"
    tab.autofit = False
    cols = [[h] + [str(r[j]) for r in table.rows if j < len(r)] for j, h in enumerate(table.header)]
    # each column at least its longest word (never break "yellow"), the rest shared by length
    unit, pad = 2.0, 4.5  # mm per half-width character at 9 pt; cell margins
    least = [unit * max(_width(w) for v in c for w in (v.split() or [""])) + pad for c in cols]
    full = [unit * min(max(_width(v) for v in c), 80) + pad for c in cols]
    if sum(full) <= width_mm:  # everything fits on one line: widen in proportion
        sizes = [width_mm * f / sum(full) for f in full]
    elif sum(least) < width_mm:  # longest words fit: share the rest by what is left to show
        extra = [f - m for f, m in zip(full, least)]
        sizes = [m + (width_mm - sum(least)) * e / sum(extra) for m, e in zip(least, extra)]
    else:
        sizes = [width_mm * m / sum(least) for m in least]
    widths = [Mm(v) for v in sizes]
    for col, w in zip(tab.columns, widths):  # the grid (LibreOffice/WPS) and each cell (Word)
        col.width = w
    for row in tab.rows:
        for cell, w in zip(row.cells, widths):
            cell.width = w
    for j, h in enumerate(table.header):
        cell = tab.cell(0, j)
        cell.text = ""
        run = cell.paragraphs[0].add_run(h)
        run.bold = True
        run.font.size = size
    for i, row in enumerate(table.rows, start=1):
        for j, value in enumerate(row):
            cell = tab.cell(i, j)
            cell.text = ""
            cell.paragraphs[0].add_run(str(value)).font.size = size
            if table.level_col == j and i - 1 < len(table.levels):
                _shade(cell, LEVEL_COLORS.get(table.levels[i - 1], "#ffffff"))


def _shade(cell, hexcolour: str) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), hexcolour.lstrip("#"))
    cell._tc.get_or_add_tcPr().append(shd)  # noqa: SLF001 - python-docx has no shading API


def _width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
