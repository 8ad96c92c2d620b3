"""Shopper text → hard filters (price range, category, brand, exclusions). Pure functions."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Any

MAX_QUERY_CHARS = 1000


class ConstraintError(ValueError):
    """The text holds a constraint we cannot read; the message says which and why."""


@dataclass(frozen=True)
class Vocabulary:
    """What the catalogue can be filtered on: real category, sub-category and brand names."""

    categories: frozenset[str] = frozenset()
    sub_categories: frozenset[str] = frozenset()
    brands: frozenset[str] = frozenset()

    @classmethod
    def from_products(cls, products) -> Vocabulary:
        return cls(
            frozenset(p.category for p in products),
            frozenset(p.sub_category for p in products),
            frozenset(p.brand for p in products if p.brand),
        )


@dataclass(frozen=True)
class Constraints:
    text: str = ""
    min_price: float | None = None
    max_price: float | None = None
    categories: frozenset[str] = frozenset()
    sub_categories: frozenset[str] = frozenset()
    brands: frozenset[str] = frozenset()
    exclude_brands: frozenset[str] = frozenset()
    exclude_ids: frozenset[str] = field(default_factory=frozenset)

    def is_empty(self) -> bool:
        return self.to_where() is None and not self.exclude_ids

    def to_where(self) -> dict[str, Any] | None:
        """Chroma `where` filter; None when nothing constrains the search."""
        clauses: list[dict[str, Any]] = []
        if self.min_price is not None:
            clauses.append({"price": {"$gte": self.min_price}})
        if self.max_price is not None:
            clauses.append({"price": {"$lte": self.max_price}})
        for key, values in (
            ("category", self.categories),
            ("sub_category", self.sub_categories),
            ("brand", self.brands),
        ):
            if len(values) == 1:
                clauses.append({key: next(iter(values))})
            elif values:
                clauses.append({key: {"$in": sorted(values)}})
        if self.exclude_brands:
            clauses.append({"brand": {"$nin": sorted(self.exclude_brands)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def matches(self, meta: dict[str, Any]) -> bool:
        price = float(meta.get("price", 0.0))
        brand = meta.get("brand") or ""
        return (
            (self.min_price is None or price >= self.min_price)
            and (self.max_price is None or price <= self.max_price)
            and (not self.categories or meta.get("category") in self.categories)
            and (not self.sub_categories or meta.get("sub_category") in self.sub_categories)
            and (not self.brands or brand in self.brands)
            and brand not in self.exclude_brands
            and meta.get("id") not in self.exclude_ids
        )

    def merged_with(self, newer: Constraints) -> Constraints:
        """Conversation refinement: what the newer turn sets wins, exclusions accumulate."""
        return Constraints(
            text=newer.text or self.text,
            min_price=newer.min_price if newer.min_price is not None else self.min_price,
            max_price=newer.max_price if newer.max_price is not None else self.max_price,
            categories=newer.categories or self.categories,
            sub_categories=newer.sub_categories or self.sub_categories,
            brands=(newer.brands or self.brands) - newer.exclude_brands,
            exclude_brands=(self.exclude_brands | newer.exclude_brands) - newer.brands,
            exclude_ids=self.exclude_ids | newer.exclude_ids,
        )

    def describe(self) -> str:
        parts = []
        if self.sub_categories or self.categories:
            parts.append(", ".join(sorted(self.sub_categories or self.categories)))
        if self.min_price is not None and self.max_price is not None:
            parts.append(f"${self.min_price:,.2f}–${self.max_price:,.2f}")
        elif self.max_price is not None:
            parts.append(f"under ${self.max_price:,.2f}")
        elif self.min_price is not None:
            parts.append(f"over ${self.min_price:,.2f}")
        if self.brands:
            parts.append("brand " + ", ".join(sorted(self.brands)))
        if self.exclude_brands:
            parts.append("not " + ", ".join(sorted(self.exclude_brands)))
        return "; ".join(parts)

    def with_text(self, text: str) -> Constraints:
        return replace(self, text=text)


_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\x00-\x08\x0b-\x1f\x7f]")
_NUM = r"(-?\s*\d[\d,]*(?:\.\d+)?\s*k?)"
_MONEY = rf"(?:\$|usd\s*)?\s*{_NUM}\s*(?:dollars|usd|bucks)?"
_MAX_WORDS = (
    r"under|below|less than|cheaper than|up to|at most|no more than|max(?:imum)?|within|<=?"
)
_MIN_WORDS = r"over|above|more than|at least|from|min(?:imum)?|starting at|>=?"
_BETWEEN = re.compile(rf"\b(?:between\s+)?{_MONEY}\s*(?:-|–|—|to|and)\s*{_MONEY}", re.I)
_BETWEEN_WORD = re.compile(rf"\bbetween\s+{_MONEY}\s+and\s+{_MONEY}", re.I)
_MAX = re.compile(rf"(?:\b|(?<=\s)|^)(?:{_MAX_WORDS})\s*{_MONEY}", re.I)
_MIN = re.compile(rf"(?:\b|(?<=\s)|^)(?:{_MIN_WORDS})\s*{_MONEY}", re.I)
_AROUND = re.compile(rf"\b(?:around|about|roughly|approximately|~)\s*{_MONEY}", re.I)
_BAD_PRICE = re.compile(
    rf"\b({_MAX_WORDS}|{_MIN_WORDS}|around|between)\s*\$\s*([^\s\d-][^\s]*)", re.I
)
_NEGATION = r"(?:not|no|except|without|other than|anything but|but not|exclude|excluding|avoid)"


def normalise(text: str) -> str:
    """NFKC folds full-width digits and signs; invisible characters are dropped."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    return " ".join(text.split())


def _amount(raw: str, context: str) -> float:
    s = raw.replace(",", "").replace(" ", "").lower()
    mult = 1000.0 if s.endswith("k") else 1.0
    s = s.rstrip("k")
    try:
        value = float(s) * mult
    except ValueError:
        raise ConstraintError(f"cannot read a price in {context!r}") from None
    if value < 0:
        raise ConstraintError(f"a price cannot be negative ({context!r})")
    if value > 1e7:
        raise ConstraintError(f"price {value:,.0f} in {context!r} is out of range")
    return value


def _word_re(phrase: str) -> re.Pattern[str]:
    # Match the word and its simple plural/singular forms.
    base = phrase.lower()
    forms = {base}
    if base.endswith("ies"):
        forms.add(base[:-3] + "y")  # accessories → accessory
    elif base.endswith("es"):
        forms |= {base[:-1], base[:-2]}  # tables → table, boxes → box
    elif base.endswith("s"):
        forms.add(base[:-1])  # chairs → chair
    else:
        forms |= {base + "s", base + "es"}
    alts = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alts})(?![\w-])", re.I)


_FILLER = re.compile(
    r"^(?:(?:hi|hello|hey|please|ok|okay)[,!.]?\s+)*(?:i(?:'m| am) looking for|i(?:'d| would) like|"
    r"i (?:need|want)|(?:can|could) you (?:recommend|suggest|show me|find)|do you (?:have|sell)|"
    r"show me|find me|recommend|suggest|looking for|i'm after|got any)\s+(?:some |an? |the )?",
    re.I,
)


def strip_filler(text: str) -> str:
    """Drop request boilerplate ("I'm looking for a ...") so the query is the product words."""
    return _FILLER.sub("", text).strip(" ?.!,")


def parse(query: str, vocab: Vocabulary = Vocabulary()) -> Constraints:
    """Parse hard constraints out of free text. Raises ConstraintError on unreadable input."""
    if not isinstance(query, str):
        raise ConstraintError("the query must be text")
    if len(query) > MAX_QUERY_CHARS:
        raise ConstraintError(
            f"the query is too long ({len(query):,} characters; the limit is {MAX_QUERY_CHARS:,})"
        )
    text = normalise(query)
    if not text:
        raise ConstraintError("the query is empty")
    bad = _BAD_PRICE.search(text)
    if bad:
        raise ConstraintError(f"cannot read a price in {bad.group(0)!r}")

    min_p = max_p = None
    rest = text
    m = _BETWEEN_WORD.search(rest) or _BETWEEN.search(rest)
    if m and ("$" in m.group(0) or "between" in m.group(0).lower()):
        lo, hi = _amount(m.group(1), m.group(0)), _amount(m.group(2), m.group(0))
        min_p, max_p = min(lo, hi), max(lo, hi)
        rest = rest.replace(m.group(0), " ")
    else:
        for pattern, is_max in ((_MAX, True), (_MIN, False)):
            m = pattern.search(rest)
            if m:
                value = _amount(m.group(1), m.group(0))
                if is_max:
                    max_p = value
                else:
                    min_p = value
                rest = rest.replace(m.group(0), " ")
        m = _AROUND.search(rest)
        if m and min_p is None and max_p is None:
            value = _amount(m.group(1), m.group(0))
            min_p, max_p = round(value * 0.75, 2), round(value * 1.25, 2)
            rest = rest.replace(m.group(0), " ")
    if re.search(r"(?:under|below|over|above|less than|more than)\s*-\s*\d", text, re.I):
        raise ConstraintError(f"a price cannot be negative ({text[:80]!r})")
    if min_p is not None and max_p is not None and min_p > max_p:
        raise ConstraintError(f"the minimum price {min_p} is above the maximum {max_p}")

    rest = re.sub(r"(?<!\S)\$(?!\S)", " ", rest)  # a currency sign left behind by a range
    brands: set[str] = set()
    exclude: set[str] = set()
    for brand in sorted(vocab.brands, key=len, reverse=True):
        neg = re.search(rf"\b{_NEGATION}\s+(?:the\s+)?{re.escape(brand)}\b", rest, re.I)
        if neg:
            exclude.add(brand)
            rest = rest.replace(neg.group(0), " ")
        elif re.search(rf"(?<![\w-]){re.escape(brand)}(?![\w-])", rest, re.I):
            brands.add(brand)

    cats = {c for c in vocab.categories if len(c) > 3 and _word_re(c).search(rest)}
    subs = {s for s in vocab.sub_categories if _word_re(s).search(rest)}
    # "Office Supplies" contains "Supplies": prefer the named category over the sub-category.
    subs = {s for s in subs if not any(s.lower() in c.lower() for c in cats)}

    return Constraints(
        text=strip_filler(" ".join(rest.split())) or text,
        min_price=min_p,
        max_price=max_p,
        categories=frozenset(cats),
        sub_categories=frozenset(subs),
        brands=frozenset(brands),
        exclude_brands=frozenset(exclude),
    )
