"""The shopper's language: English or Simplified Chinese.

A message with Han characters is Chinese unless it is mostly Latin words ("我要 office chair"
is Chinese; an English sentence quoting one product name in Chinese is English). The language a
conversation answers in is kept in `ConversationState.language`: set by the UI's switch or the
widget's `data-lang`, else by the shopper's latest message.
"""

from __future__ import annotations

import re
from typing import Literal

Language = Literal["en", "zh"]
LANGUAGES: tuple[Language, ...] = ("en", "zh")

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def detect_language(text: str, default: Language = "en") -> Language:
    """ "zh" when the text is written in Chinese (mixed with English words or not), "en" when
    it is Latin script, `default` when it has neither (digits, emoji, an order id)."""
    han = len(_HAN.findall(text))
    latin = len(_LATIN_WORD.findall(text))
    if han == 0:
        return "en" if latin else default
    # Two Han characters carry about a word; Chinese wins unless English clearly dominates.
    return "zh" if han / 2 >= latin / 3 else "en"


def normalise_language(value: str | None) -> Language | None:
    """ "zh-CN", "zh_Hans", "ZH" -> "zh"; "en-US" -> "en"; anything else -> None."""
    if not value:
        return None
    head = value.strip().lower().replace("_", "-").split("-")[0]
    return head if head in LANGUAGES else None
