"""Presentation: the briefing, the translation table, the palette and vendored JS."""
