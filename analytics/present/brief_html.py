"""The briefing as one HTML document, in two flavours from the same sections.

- ``print``: figures as inline SVG (rendered by kaleido), for Chromium's print-to-PDF on A4
  landscape pages; text and tables stay real text.
- ``interactive``: figures as plotly divs with the vendored plotly.js basic bundle inlined, so
  the file opens offline and references no external URL (see ``vendor/README.md``).

Sections are plain data (:class:`Section`) so both flavours, and the tests, see the same content.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio

from analytics.present.palette import FONT_FAMILY, INK, LEVEL_COLORS, MUTED

__all__ = [
    "Section", "Table", "render_document", "plotly_js", "fix_svg_ids", "EXTERNAL_URL",
    "ALLOWED_URLS",
]

#: Any http(s) URL (used by the tests and by :func:`plotly_js`'s own check).
EXTERNAL_URL = re.compile(r"https?://[^\s\"'<>()\\]+")

#: The only URLs the offline HTML may contain: XML namespace names. They are identifiers
#: passed to ``createElementNS``/``setAttributeNS`` (SVG, XLink, XHTML, XMLNS, XML) and are
#: never requested over the network.
ALLOWED_URLS: frozenset[str] = frozenset({
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/1999/xhtml",
    "http://www.w3.org/2000/xmlns/",
    "http://www.w3.org/XML/1998/namespace",
})

#: Other URLs inside plotly.js basic 4.1.1, and why none is ever requested by our charts. Their
#: ``http(s)://`` prefix is removed when the bundle is inlined, so the file holds no link to
#: follow; a new plotly.js with other URLs makes :func:`plotly_js` raise instead of shipping them.
_DEFANGED: dict[str, str] = {
    "https://plotly.com/": "modebar logo link; we pass displaylogo=False",
    "https://cloud.plotly.com/newchart": "'edit in Chart Studio'; showSendToCloud=False",
    "https://cdn.plot.ly/un/": "topojsonURL default, only for geo traces (not in this bundle)",
    "https://plotly.com/javascript/animations/": "text of a console warning",
    "https://github.com/d3/d3-format/tree/v1.4.5#d3-format": "text of an error message",
    "https://github.com/d3/d3-time-format/tree/v2.2.3#locale_format": "text of an error message",
    "https://github.com/voidqk/polybooljs": "licence comment",
    "http://syntheti.cc": "licence comment",
    "http://getify.mit-license.org": "licence comment",
}

_VENDOR = Path(__file__).parent / "vendor" / "plotly-basic.min.js"


@dataclass
class Table:
    """A table: header cells and rows of cell strings; ``level`` colours a column's cells."""

    header: list[str]
    rows: list[list[str]]
    level_col: int | None = None
    levels: list[str] = field(default_factory=list)


@dataclass
class Section:
    """One block of the report; ``page_break`` starts a new printed page before it."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    kpis: list[tuple[str, str]] = field(default_factory=list)
    figure: go.Figure | None = None
    figure_id: str = ""
    table: Table | None = None
    lists: list[tuple[str, list[str]]] = field(default_factory=list)
    side: bool = False
    page_break: bool = False
    #: Columns of the bullet lists (names: 3; sentences: 1).
    list_columns: int = 3


def render_document(
    sections: list[Section], *, title: str, heading: str, footer: str, lang: str,
    svgs: dict[str, str] | None = None, interactive: bool = False,
) -> str:
    """The full HTML text (``svgs`` maps figure_id → SVG text in print mode)."""
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}{_page_css(lang)}</style>",
    ]
    if interactive:
        # Inline, not a CDN: the file must open on a machine without internet.
        parts.append(f"<script>{plotly_js()}</script>")
    parts.append(f"</head><body><header><h1>{html.escape(heading)}</h1></header>")
    for sec in sections:
        cls = "section break" if sec.page_break else "section"
        parts.append(f'<section class="{cls}"><h2>{html.escape(sec.title)}</h2>')
        body: list[str] = []
        if sec.figure is not None:
            if interactive:
                fig_html = pio.to_html(
                    sec.figure, full_html=False, include_plotlyjs=False, div_id=sec.figure_id,
                    config={"displaylogo": False, "responsive": True, "showSendToCloud": False},
                )
            else:
                fig_html = (svgs or {})[sec.figure_id]
            body.append(f'<div class="figure">{fig_html}</div>')
        text: list[str] = []
        if sec.kpis:
            cards = "".join(
                f'<div class="kpi"><div class="k">{html.escape(k)}</div>'
                f'<div class="v">{html.escape(v)}</div></div>' for k, v in sec.kpis
            )
            text.append(f'<div class="kpis">{cards}</div>')
        text.extend(f"<p>{html.escape(p)}</p>" for p in sec.paragraphs)
        if sec.table is not None:
            text.append(_table_html(sec.table))
        for name, items in sec.lists:
            lis = "".join(f"<li>{html.escape(i)}</li>" for i in items)
            head = f"<h3>{html.escape(name)}</h3>" if name else ""
            text.append(f'{head}<ul style="columns:{int(sec.list_columns)}">{lis}</ul>')
        if sec.side and body:
            parts.append(f'<div class="row">{"".join(body)}<div class="side">{"".join(text)}</div></div>')
        else:
            parts.extend(body + text)
        parts.append("</section>")
    parts.append(f'<footer>{html.escape(footer)}</footer></body></html>')
    return "\n".join(parts)


def plotly_js() -> str:
    """The vendored plotly.js basic bundle (scatter, bar, pie), as text, with no URLs left
    but XML namespace names (see :data:`ALLOWED_URLS` and ``_DEFANGED``).

    Raises
    ------
    ValueError
        If the bundle holds a URL that is neither allowed nor known to be inert.
    """
    js = _VENDOR.read_text(encoding="utf-8")
    for url in _DEFANGED:
        js = js.replace(url, url.split("://", 1)[1])
    left = sorted(set(EXTERNAL_URL.findall(js)) - ALLOWED_URLS)
    if left:
        raise ValueError(f"{_VENDOR}: unreviewed URL(s) in plotly.js: {', '.join(left[:5])}")
    return js


def fix_svg_ids(svg: str, name: str) -> str:
    """Replace plotly's random per-render uid (clip paths, defs) with ``name``.

    Makes the SVG — and hence the printed PDF — identical between runs, and keeps ids unique
    when several figures sit in one HTML page.
    """
    m = re.search(r'id="defs-([0-9a-f]+)"', svg)
    if not m:
        return svg
    # Only where an id is built (after a letter or '-'); pixel numbers never follow a letter.
    return re.sub(rf"(?<=[A-Za-z_-]){m.group(1)}(?![0-9a-f])", name, svg)


def _page_css(lang: str) -> str:
    """Page numbers in the bottom margin of every printed page (「第 1 页 / 共 5 页」)."""
    from analytics.present.i18n import t

    raw = t("brief.page", lang, page="{page}", pages="{pages}")
    tokens = [tok for tok in re.split(r"(\{page\}|\{pages\})", raw) if tok]
    content = " ".join("counter(page)" if tok == "{page}" else "counter(pages)" if tok == "{pages}"
                       else '"' + tok.replace('"', '\\"') + '"' for tok in tokens)
    return (f"@page {{ @bottom-right {{ content: {content}; font-family: {FONT_FAMILY}; "
            f"font-size: 10px; color: {MUTED}; }} }}")


def _table_html(tab: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in tab.header)
    rows = []
    for i, row in enumerate(tab.rows):
        cells = []
        for j, cell in enumerate(row):
            if tab.level_col == j and i < len(tab.levels):
                lv = tab.levels[i]
                cells.append(f'<td class="lv" style="background:{LEVEL_COLORS.get(lv, "#fff")}">'
                             f"{html.escape(cell)}</td>")
            else:
                cells.append(f"<td>{html.escape(cell)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


_CSS = f"""
@page {{ size: A4 landscape; margin: 9mm 10mm 11mm 10mm; }}
* {{ box-sizing: border-box; }}
body {{ font-family: {FONT_FAMILY}; color: {INK}; margin: 0 auto; max-width: 1060px;
       font-size: 13px; line-height: 1.5; -webkit-print-color-adjust: exact; print-color-adjust: exact; }}
header h1 {{ font-size: 22px; margin: 0 0 4px 0; }}
h2 {{ font-size: 17px; margin: 6px 0 6px 0; border-left: 4px solid {LEVEL_COLORS["red"]}; padding-left: 8px; }}
h3 {{ font-size: 14px; margin: 8px 0 2px 0; }}
.section.break {{ break-before: page; }}
.row {{ display: flex; gap: 14px; align-items: flex-start; }}
.row .figure {{ flex: 0 0 58%; }}
.side {{ flex: 1 1 auto; min-width: 0; }}
.figure svg {{ width: 100%; height: auto; }}
.kpis {{ display: flex; flex-wrap: wrap; gap: 8px; margin: 4px 0 8px 0; }}
.kpi {{ border: 1px solid #cfd8dc; border-radius: 4px; padding: 4px 10px; min-width: 120px; }}
.kpi .k {{ color: {MUTED}; font-size: 12px; }}
.kpi .v {{ font-size: 20px; font-weight: 700; }}
p {{ margin: 4px 0 8px 0; }}
table {{ border-collapse: collapse; width: 100%; font-size: 12px; }}
th, td {{ border: 1px solid #cfd8dc; padding: 2px 6px; text-align: left; vertical-align: top; }}
th {{ background: #eceff1; }}
td.lv {{ font-weight: 700; }}
ul {{ margin: 2px 0 6px 0; padding-left: 20px; columns: 3; break-inside: avoid; }}
footer {{ color: {MUTED}; font-size: 11px; margin-top: 10px; }}
"""
