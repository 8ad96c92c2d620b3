"""The web front ends' words: assistant/i18n.py, where the chat replies find them too."""

from ..i18n import (
    DEFAULT,
    LOCALES,
    constraints_text,
    placeholders,
    reason_text,
    section_title,
    t,
    table,
    ui_language,
    widget_strings,
)

__all__ = [
    "DEFAULT",
    "LOCALES",
    "constraints_text",
    "placeholders",
    "reason_text",
    "section_title",
    "t",
    "table",
    "ui_language",
    "widget_strings",
]
