"""One translation table for every user-visible string (Chinese first, English one click away).

``t(key, lang)`` looks a key up; unknown keys raise ``KeyError`` naming the key so a missing
translation is found by the tests, not by a user. Keys are dotted by owner
(``brief.*`` for the weekly briefing, ``level.*`` for the four colours).
"""

from __future__ import annotations

__all__ = ["LANGS", "TEXT", "t"]

#: Supported languages; the first is the default.
LANGS: tuple[str, ...] = ("zh", "en")

#: key -> {lang: text}. Text may hold ``str.format`` fields.
TEXT: dict[str, dict[str, str]] = {
    "level.green": {"zh": "绿色", "en": "green"},
    "level.yellow": {"zh": "黄色", "en": "yellow"},
    "level.orange": {"zh": "橙色", "en": "orange"},
    "level.red": {"zh": "红色", "en": "red"},
}


def t(key: str, lang: str = "zh", **fields: object) -> str:
    """Translate ``key`` into ``lang`` and fill ``str.format`` fields.

    Examples
    --------
    >>> t("level.red", "zh")
    '红色'
    """
    if lang not in LANGS:
        raise ValueError(f"lang {lang!r}: expected one of {', '.join(LANGS)}")
    try:
        text = TEXT[key][lang]
    except KeyError:
        raise KeyError(f"i18n: no {lang!r} text for key {key!r}") from None
    return text.format(**fields) if fields else text
