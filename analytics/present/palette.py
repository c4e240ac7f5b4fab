"""The board's colours and font, defined once for the app, the maps and the briefing.

Every figure that shows a warning level takes its colour from :data:`LEVEL_COLORS`, so the
大屏 PNG, the PDF briefing and the Dash board always agree. :data:`FONT_FAMILY` names the
CJK font first (fonts-noto-cjk) so Chinese never renders as empty boxes.
"""

from __future__ import annotations

__all__ = ["LEVEL_COLORS", "FONT_FAMILY", "BACKGROUND", "OUTLINE", "INK", "MUTED"]

# The warning levels themselves (green < yellow < orange < red) are defined once, in
# analytics.warning.LEVELS; this module stays a leaf table that imports nothing of ours.

#: Fill colour of each level (绿/黄/橙/红), readable on white and on a projector.
LEVEL_COLORS: dict[str, str] = {
    "green": "#43a047",
    "yellow": "#fdd835",
    "orange": "#fb8c00",
    "red": "#e53935",
}

#: CSS / plotly font family: Noto Sans CJK SC first, then common Chinese system fonts.
FONT_FAMILY = "Noto Sans CJK SC, Noto Sans SC, Microsoft YaHei, PingFang SC, sans-serif"

#: Plain map background (no tiles), area outlines, text and secondary text.
BACKGROUND = "#ffffff"
OUTLINE = "#5f6b7a"
INK = "#1f2933"
MUTED = "#6b7785"
