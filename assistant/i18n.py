"""The shopper-facing words in each language: the Gradio UI's labels, buttons, notices and
"Why this?" view, the widget's, and the English phrases `retrieval/` writes (card reasons,
section titles) shown in another language, in the UI and in chat replies alike.

One JSON table per language (`locales/en.json`, `locales/zh.json`), with the same sections,
keys and `{placeholders}` in each (a test checks). `t(lang, "ui.send")` reads one string;
`widget_strings()` is the widget's part, sent inside widget.js.

The home page's section titles and the reasons on product cards come from `retrieval/` in
English. In another language they are shown through the `sections` and `reasons` tables: the
English template (the same words `retrieval/` writes) is matched, and its `{slots}` (a product
or category name, a price) are put into the other language's template. Text that no template
matches is shown as it came.
"""

from __future__ import annotations

import json
import re
import string
from functools import cache
from pathlib import Path

from .lang import LANGUAGES, Language, normalise_language

LOCALES = Path(__file__).resolve().parent / "web" / "locales"  # package data of the wheel
DEFAULT: Language = "en"


@cache
def table(lang: Language) -> dict[str, str]:
    """The language's strings, flattened to "section.key"."""
    raw = json.loads(LOCALES.joinpath(f"{lang}.json").read_text("utf-8"))
    return {f"{section}.{key}": text for section, keys in raw.items() for key, text in keys.items()}


def ui_language(value: str | None) -> Language:
    """The language to show: a chosen one, else English."""
    return normalise_language(value) or DEFAULT


def t(lang: str | None, key: str, **values: object) -> str:
    """One string in `lang` (English for a missing key), its `{placeholders}` filled."""
    text = table(ui_language(lang)).get(key)
    if text is None:
        text = table(DEFAULT)[key]
    return text.format(**values) if values else text


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def widget_strings() -> dict[str, dict[str, str]]:
    """{"en": {...}, "zh": {...}}: the widget's own section of each table."""
    return {
        lang: {
            k.removeprefix("widget."): v for k, v in table(lang).items() if k.startswith("widget.")
        }
        for lang in LANGUAGES
    }


def _pattern(template: str) -> re.Pattern[str]:
    """An English template as a full-match pattern: "{name}" captures any text."""
    out = ""
    for literal, name, _, _ in string.Formatter().parse(template):
        out += re.escape(literal)
        if name:
            out += f"(?P<{name}>.+?)"
    return re.compile(out, re.IGNORECASE)


@cache
def _patterns(section: str) -> list[tuple[str, re.Pattern[str]]]:
    """The section's English templates as patterns, the most literal first ("often bought
    with {name}, which you bought" before "often bought with {name}")."""
    english = {k: v for k, v in table(DEFAULT).items() if k.startswith(f"{section}.")}
    ranked = sorted(english.items(), key=lambda kv: -len(re.sub(r"\{\w+\}", "", kv[1])))
    return [(key, _pattern(text)) for key, text in ranked]


def _translate(section: str, text: str, lang: Language) -> str | None:
    for key, pattern in _patterns(section):
        m = pattern.fullmatch(text)
        if m:
            return t(lang, key, **m.groupdict())
    return None


def reason_text(reason: str, lang: str | None) -> str:
    """A product's reason ("Often bought with X, which you bought; popular with other shoppers
    in Chairs") in `lang`, part by part; a part no template knows stays as it is."""
    lang = ui_language(lang)
    if lang == DEFAULT or not reason:
        return reason
    parts = [_translate("reasons", p.strip(), lang) or p.strip() for p in reason.split(";")]
    return "；".join(parts)


def constraints_text(described: str, lang: str | None) -> str:
    """A search's constraints as `Constraints.describe()` writes them ("Chairs; under $100.00;
    not HON") in `lang`; category and brand names stay as the catalogue has them."""
    lang = ui_language(lang)
    if lang == DEFAULT or not described:
        return described
    parts = [_translate("constraints", p.strip(), lang) or p.strip() for p in described.split(";")]
    return "；".join(parts)


def section_title(key: str, title: str, lang: str | None) -> str:
    """A home-page section's title in `lang` ("top-furniture" / "Top picks in Furniture")."""
    lang = ui_language(lang)
    if lang == DEFAULT:
        return title
    kind = "top" if key.startswith("top-") else key
    if f"sections.{kind}" not in table(DEFAULT):
        return title
    m = _pattern(table(DEFAULT)[f"sections.{kind}"]).fullmatch(title)
    return t(lang, f"sections.{kind}", **m.groupdict()) if m else title
