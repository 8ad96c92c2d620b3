"""What every product format's parser shares: clean text from HTML, flags, image URLs, and the
parse context that reports problems, parses prices and keeps variant ids unique."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from .money import PriceError, parse_money
from .report import ImportReport

_COMMENT = re.compile(r"<!--.*?-->", re.S)
_DROP = re.compile(r"<(script|style|head|template|iframe)\b.*?</\1\s*>", re.S | re.I)
_BLOCK = re.compile(
    r"<\s*/?\s*(?:br|p|div|li|ul|ol|h[1-6]|tr|td|th|table|section|article|blockquote|dd|dt)"
    r"\b[^>]*>",
    re.I,
)
_TAG = re.compile(r"<[^>]*>")
_END = (".", "!", "?", ":", ";", "…")
MAX_DESCRIPTION = 5000  # characters of clean description stored


def html_to_text(text: str) -> str:
    """Readable plain text from an HTML product body: scripts and styles dropped, each block
    (paragraph, list item, heading, cell) its own sentence, entities decoded, whitespace
    collapsed. Plain text passes through with its whitespace collapsed."""
    if not text:
        return ""
    if "<" in text:
        if "<!--" in text:
            text = _COMMENT.sub(" ", text)
        low = text.lower()
        if any(f"<{t}" in low for t in ("script", "style", "head", "template", "iframe")):
            text = _DROP.sub(" ", text)
        text = _TAG.sub("", _BLOCK.sub("\n", text))
    if "&" in text:
        text = html.unescape(text)
    if "\n" not in text:
        return " ".join(text.split())[:MAX_DESCRIPTION]
    lines = [j for j in (" ".join(line.split()) for line in text.split("\n")) if j]
    # Each block its own sentence: "Sealed seams" + "Packs small" → "Sealed seams. Packs small".
    joined = " ".join(
        line if k == len(lines) - 1 or line.endswith(_END) else line + "."
        for k, line in enumerate(lines)
    )
    return joined[:MAX_DESCRIPTION]


def clean(text: object) -> str:
    """A single-line field: whitespace collapsed, HTML entities decoded."""
    if not text:
        return ""
    s = text if isinstance(text, str) else str(text)
    if "&" in s:
        s = html.unescape(s)
    return " ".join(s.split())


_TRUE = frozenset({"1", "true", "yes", "y", "t", "instock", "in stock", "available", "active"})
_FALSE = frozenset(
    {"0", "false", "no", "n", "f", "outofstock", "out of stock", "unavailable", "sold out"}
)


def flag(value: object, default: bool | None = None) -> bool | None:
    """'TRUE' / 'yes' / '1' / 'instock' → True; 'FALSE' / 'no' / '0' → False; else `default`."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value > 0
    s = clean(value).lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    return default


def split_list(value: object, sep: str = ",") -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        items = [clean(v) for v in value]
    else:
        items = [clean(v) for v in str(value or "").split(sep)]
    return tuple(dict.fromkeys(v for v in items if v))


def category_path(value: object, sep: str = ">") -> tuple[str, ...]:
    """'Home & Garden > Kitchen > Mugs' → ('Home & Garden', 'Kitchen', 'Mugs'); a list passes."""
    if not value:
        return ()
    if isinstance(value, list | tuple):
        return tuple(c for c in (clean(v) for v in value) if c)
    text = str(value)
    if "&" in text:
        text = html.unescape(text)
    return tuple(c for c in (" ".join(v.split()) for v in text.split(sep)) if c)


def image_url(value: object) -> str | None:
    """An http(s) URL, or None. Cards put it in an <img src>, so nothing else is let through
    (no javascript:, data: or relative paths); '//cdn…' becomes https."""
    if not value:
        return None
    s = clean(value)
    if s.startswith("//"):
        s = "https:" + s
    low = s.lower()
    if (low.startswith("https://") or low.startswith("http://")) and " " not in s and '"' not in s:
        return s
    return None


@dataclass
class ParseContext:
    """One file's parse: where problems go, the store's currency, and the variant ids (SKUs)
    claimed so far."""

    file: str
    report: ImportReport
    currency: str | None = None
    variant_ids: dict[str, int] = field(default_factory=dict)  # id → line that claimed it
    # Product ids the file names, kept or not: --prune leaves a product whose new row was
    # rejected (its old version keeps serving), and one now draft or archived is removed.
    mentioned: set[str] = field(default_factory=set)
    skipped_ids: set[str] = field(default_factory=set)

    def skip(self, product_id: str, reason: str) -> None:
        """A product left out on purpose (draft, archived, private), counted by reason."""
        self.report.skipped[reason] += 1
        self.skipped_ids.add(product_id)

    def reject(self, line: int, reason: str, column: str | None = None) -> None:
        """An error that refuses the row."""
        self.report.error(self.file, line, reason, column)
        self.report.rejected += 1

    def warn(self, line: int, reason: str, column: str | None = None) -> None:
        self.report.warn(self.file, line, reason, column)

    def price(self, text: object, line: int, column: str) -> float | None:
        """The price in `text`, or None after rejecting the row with the reason."""
        try:
            money = parse_money("" if text is None else str(text), self.currency)
        except PriceError as exc:
            self.reject(line, str(exc), column)
            return None
        if money.currency and not self.currency:
            self.currency = money.currency  # the first price that names one sets the store's
        return money.amount

    def optional_price(self, text: object, line: int, column: str) -> float | None:
        """A price that may be missing (a regular / compare-at price): a bad one is a warning,
        and ignored."""
        if text is None or not str(text).strip():
            return None
        try:
            money = parse_money(str(text), self.currency)
        except PriceError as exc:
            self.warn(line, f"{exc}; ignored", column)
            return None
        return money.amount

    def claim(
        self, variant_id: str, line: int, what: str = "SKU", column: str | None = None
    ) -> bool:
        """Whether `variant_id` is still free; a second claim is rejected with both lines."""
        first = self.variant_ids.get(variant_id)
        if first is not None:
            self.reject(line, f"duplicate {what} {variant_id!r} (first on line {first})", column)
            return False
        self.variant_ids[variant_id] = line
        return True
