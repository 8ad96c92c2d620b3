"""Shopper text → hard filters (price range, category, brand, exclusions) and soft slots
(categories merely mentioned, attribute words, a sort order). Pure functions.

A category word is a hard filter only when it is the thing asked for, the head noun of its noun
phrase: "chairs under $200", "binders", "show me bookcases", "desk chair". Used as a modifier
inside a compound noun ("paper shredder", "phone headset", "chair mat") it names what the thing
goes with, not what it is, so it only boosts (`soft_categories`)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

from .chinese import chinese_rest, english_reading, has_han
from .variants import OptionIndex

Sort = Literal["relevance", "price_asc", "price_desc", "rating"]
SORTS: tuple[str, ...] = get_args(Sort)

MAX_QUERY_CHARS = 1000


class ConstraintError(ValueError):
    """The text holds a constraint we cannot read; the message says which and why."""


def name_words(text: str) -> set[str]:
    """Lower-case words of 3+ letters, a plural's final "s" dropped: how product names and a
    shopper's message are compared (`Vocabulary.name_words`)."""
    return {
        w[:-1] if w.endswith("s") and not w.endswith("ss") else w
        for w in re.findall(r"[a-z]{3,}", text.lower())
    }


@dataclass(frozen=True)
class Vocabulary:
    """What the catalogue can be filtered on: real category, sub-category and brand names."""

    categories: frozenset[str] = frozenset()
    sub_categories: frozenset[str] = frozenset()
    brands: frozenset[str] = frozenset()
    # Lower-case words (3+ letters, a plural's final "s" dropped) of product and sub-category
    # names: whether a message asks for a kind of thing the shop sells ("a desk lamp then").
    name_words: frozenset[str] = frozenset()
    # The variants' option values ("color: blue", "size: M"); empty in a one-version store.
    options: OptionIndex = OptionIndex()

    @classmethod
    def from_products(
        cls, products, option_pairs: frozenset[tuple[str, str]] = frozenset()
    ) -> Vocabulary:
        products = list(products)
        words = {w for p in products for w in name_words(f"{p.name} {p.sub_category}")}
        return cls(
            frozenset(p.category for p in products),
            frozenset(p.sub_category for p in products),
            frozenset(p.brand for p in products if p.brand),
            frozenset(words),
            OptionIndex.build(option_pairs, (p.name for p in products)),
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
    # Soft slots: they boost, never filter. A category the shopper merely mentions ("paper
    # shredder"), attribute words ("black", "adjustable"), and the order of the final picks.
    soft_categories: frozenset[str] = frozenset()  # category or sub-category names
    attributes: frozenset[str] = frozenset()  # lower-case words or short phrases
    sort: Sort | None = None  # applied to the final picks, after scoring
    # "Cheaper than what is on screen" is a strict bound at a real price ("under $57.98"), so the
    # reply never states a made-up figure such as $57.97.
    max_exclusive: bool = False
    min_exclusive: bool = False

    def names_categories(self) -> bool:
        return bool(self.categories or self.sub_categories or self.soft_categories)

    def is_empty(self) -> bool:
        return self.to_where() is None and not self.exclude_ids

    def to_where(self) -> dict[str, Any] | None:
        """Chroma `where` filter; None when nothing constrains the search."""
        clauses: list[dict[str, Any]] = []
        if self.min_price is not None:
            op = "$gt" if self.min_exclusive else "$gte"
            clauses.append({"price": {op: self.min_price}})
        if self.max_price is not None:
            op = "$lt" if self.max_exclusive else "$lte"
            clauses.append({"price": {op: self.max_price}})
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
            self.price_ok(price)
            and (not self.categories or meta.get("category") in self.categories)
            and (not self.sub_categories or meta.get("sub_category") in self.sub_categories)
            and (not self.brands or brand in self.brands)
            and brand not in self.exclude_brands
            and meta.get("id") not in self.exclude_ids
        )

    def price_ok(self, price: float) -> bool:
        lo, hi = self.min_price, self.max_price
        return (
            lo is None or (price > lo + 1e-9 if self.min_exclusive else price >= lo - 1e-9)
        ) and (hi is None or (price < hi - 1e-9 if self.max_exclusive else price <= hi + 1e-9))

    def merged_with(self, newer: Constraints) -> Constraints:
        """Conversation refinement: what the newer turn sets wins, exclusions accumulate. A turn
        that names a category (hard or soft) starts a new topic: the older categories and
        attribute words go ("black chairs", then "a paper shredder": no Chairs filter, no
        "black"); otherwise attributes accumulate ("black chairs", then "with arms")."""
        topic = newer.names_categories()
        return Constraints(
            text=newer.text or self.text,
            min_price=newer.min_price if newer.min_price is not None else self.min_price,
            max_price=newer.max_price if newer.max_price is not None else self.max_price,
            min_exclusive=(newer if newer.min_price is not None else self).min_exclusive,
            max_exclusive=(newer if newer.max_price is not None else self).max_exclusive,
            categories=newer.categories if topic else self.categories,
            sub_categories=newer.sub_categories if topic else self.sub_categories,
            brands=(newer.brands or self.brands) - newer.exclude_brands,
            exclude_brands=(self.exclude_brands | newer.exclude_brands) - newer.brands,
            exclude_ids=self.exclude_ids | newer.exclude_ids,
            soft_categories=newer.soft_categories if topic else self.soft_categories,
            attributes=newer.attributes if topic else self.attributes | newer.attributes,
            sort=newer.sort or self.sort,
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
        if self.attributes:
            parts.append(", ".join(sorted(self.attributes)))
        if self.sort and self.sort != "relevance":
            parts.append(SORT_LABELS[self.sort])
        return "; ".join(parts)

    def with_text(self, text: str) -> Constraints:
        return replace(self, text=text)


_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\x00-\x08\x0b-\x1f\x7f]")
_NUM = r"(-?\s*\d[\d,]*(?:\.\d+)?\s*k?)"
# A number with a unit written on ("750ml", "8GB") is a size, not a price.
_MONEY = rf"(?:\$|usd\s*)?\s*{_NUM}(?![a-z\d])\s*(?:dollars|usd|bucks)?"
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


def wordset(text: str) -> frozenset[str]:
    return frozenset(text.split(None))


# Words that end a noun phrase: a category word followed by one of these (or by nothing) is the
# phrase's head, the thing asked for. Any other following word continues the noun phrase, so
# the category word was a modifier ("paper shredder", "chair mat").
PHRASE_END = wordset(
    """for with without under below over above from in on at to of that which who whose and or
    but nor by than around about between less more cheaper pricier please thanks thank too also
    only now then again instead here there like similar i my me we our you your it its is are
    was be can could would should will do does if so as near ideally preferably maybe
    everything anything something any some each what ones one"""
)
# Category words that say little on their own: "art supplies", "phone accessories" name the
# modifier's kind of thing as much as the head's, so neither filters.
GENERIC_HEADS = frozenset({"supplies", "accessories", "equipment", "products", "items", "stuff"})
_TOKEN = re.compile(r"[\w'&-]+|[^\w\s]")
_PUNCT_END = re.compile(r"[^\w\s'&-]")

# Soft attribute words: they shape the query and boost products whose text has them.
ATTRIBUTE_WORDS = wordset(
    """black white grey gray silver blue red green yellow orange pink purple brown beige navy
    gold clear transparent cherry oak mahogany walnut maple espresso
    wood wooden metal steel aluminum aluminium plastic leather mesh fabric vinyl glass chrome
    bamboo cardboard recycled
    adjustable ergonomic wireless cordless corded bluetooth portable foldable folding stackable
    rolling mobile lockable magnetic waterproof rechargeable heavy-duty lightweight compact
    large small mini jumbo swivel reclining padded armless high-back low-back mid-back
    cross-cut strip-cut noise-canceling noise-cancelling led halogen fluorescent"""
)
_SORT_PATTERNS: tuple[tuple[re.Pattern[str], Sort], ...] = (
    (
        re.compile(
            r"\b(?:the\s+)?(?:cheapest|lowest[- ]priced|least expensive|lowest price(?: first)?|"
            r"cheapest first|sorted by price|price low to high)\b",
            re.I,
        ),
        "price_asc",
    ),
    (
        re.compile(
            r"\b(?:the\s+)?(?:most expensive|priciest|highest[- ]priced|price high to low|"
            r"most expensive first)\b",
            re.I,
        ),
        "price_desc",
    ),
    (
        re.compile(
            r"\b(?:the\s+)?(?:best[- ]rated|top[- ]rated|highest[- ]rated|best reviewed|"
            r"best reviews)\b",
            re.I,
        ),
        "rating",
    ),
)
SORT_LABELS: dict[str, str] = {
    "relevance": "most relevant first",
    "price_asc": "cheapest first",
    "price_desc": "priciest first",
    "rating": "best rated first",
}


def _is_head(rest: str, match: re.Match[str]) -> bool:
    """True when the category word at `match` ends its noun phrase (see PHRASE_END)."""
    after = rest[match.end() :]
    if not after.strip() or _PUNCT_END.match(after.lstrip()):
        return True
    nxt = _TOKEN.findall(after)
    return not nxt or nxt[0].lower() in PHRASE_END


def _preceded_by(rest: str, match: re.Match[str], others: list[re.Match[str]]) -> bool:
    """True when another category's match ends right before this one ("art supplies")."""
    return any(
        o.end() <= match.start() and not rest[o.end() : match.start()].strip() for o in others
    )


def attribute_words(text: str) -> frozenset[str]:
    low = text.lower()
    return frozenset(
        w for w in ATTRIBUTE_WORDS if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", low)
    )


def strip_filler(text: str) -> str:
    """Drop request boilerplate ("I'm looking for a ...") so the query is the product words."""
    return _FILLER.sub("", text).strip(" ?.!,")


_SAME_PLURAL = {
    "series": "series",
    "species": "species",
    "scissors": "scissors",
    "glasses": "glasses",
    "supplies": "supply",
    "accessories": "accessory",
}


def singular(word: str) -> str:
    """A plain English singular, good enough to compare product nouns (lamps, boxes, batteries)."""
    w = word.lower().strip("'")
    if w in _SAME_PLURAL:
        return _SAME_PLURAL[w]
    for suffix, keep in (
        ("ies", "y"),
        ("sses", "ss"),
        ("xes", "x"),
        ("shes", "sh"),
        ("ches", "ch"),
    ):
        if w.endswith(suffix) and len(w) > len(suffix) + 1:
            return w[: -len(suffix)] + keep
    if w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 3:
        return w[:-1]
    return w


_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_PHRASE_WORD = re.compile(r"[a-z0-9][a-z0-9'&-]*|[,;:()]")


def head_phrase(text: str) -> tuple[str, ...]:
    """The noun phrase the shopper asks for, singular words in order: the last sentence's words
    up to the first word that ends a noun phrase ("desk lamp" out of "hi. I need a desk lamp
    for my study"). Empty when there is none."""
    sentences = [s for s in _SENTENCE.split(text.strip()) if s.strip()]
    if not sentences:
        return ()
    words: list[str] = []
    for tok in _PHRASE_WORD.findall(strip_filler(sentences[-1]).lower()):
        if not tok[0].isalnum() or tok in PHRASE_END:
            if words:
                break
            continue
        if tok in ("a", "an", "the", "some", "new"):
            continue
        words.append(singular(tok))
    return tuple(words[-4:])


def parse(
    query: str, vocab: Vocabulary = Vocabulary(), *, compound_rule: bool = True
) -> Constraints:
    """Parse constraints out of free text. Raises ConstraintError on unreadable input.

    `compound_rule=False` is the old behaviour (every category word mentioned filters), kept so
    bench/search.py can measure the difference."""
    if not isinstance(query, str):
        raise ConstraintError("the query must be text")
    if len(query) > MAX_QUERY_CHARS:
        raise ConstraintError(
            f"the query is too long ({len(query):,} characters; the limit is {MAX_QUERY_CHARS:,})"
        )
    text = normalise(query)
    if not text:
        raise ConstraintError("the query is empty")
    if has_han(text):
        # Chinese (or mixed): the constraints are read from its English reading; the query text
        # is the Chinese left once they are taken out, which a multilingual embedder matches.
        # The command step searches with the English reading itself (it parses that).
        c = _parse(english_reading(text), vocab, compound_rule)
        return replace(c, text=chinese_rest(text, c.exclude_brands) or c.text)
    return _parse(text, vocab, compound_rule)


def _parse(text: str, vocab: Vocabulary, compound_rule: bool) -> Constraints:
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
            # "not Hon" excludes every spelling of the brand the catalogue has (Hon and HON).
            exclude |= {b for b in vocab.brands if b.lower() == brand.lower()}
            rest = rest.replace(neg.group(0), " ")
        elif re.search(rf"(?<![\w-]){re.escape(brand)}(?![\w-])", rest, re.I):
            brands.add(brand)

    sort: Sort | None = None
    for pattern, order in _SORT_PATTERNS:
        m = pattern.search(rest)
        if m:
            sort = order
            rest = rest.replace(m.group(0), " ")
            break

    found: dict[str, list[re.Match[str]]] = {}
    for name in vocab.categories:
        if len(name) > 3:
            found[name] = list(_word_re(name).finditer(rest))
    for name in vocab.sub_categories:
        found.setdefault(name, []).extend(_word_re(name).finditer(rest))
    found = {n: ms for n, ms in found.items() if ms}
    # "Office Supplies" contains "Supplies": prefer the named category over the sub-category.
    found = {
        n: ms
        for n, ms in found.items()
        if n in vocab.categories
        or not any(n.lower() in c.lower() for c in found if c != n and c in vocab.categories)
    }
    hard: set[str] = set()
    soft: set[str] = set()
    for name, matches in found.items():
        others = [m for n, ms in found.items() if n != name for m in ms]
        generic = name.lower() in GENERIC_HEADS
        heads = [
            m
            for m in matches
            if _is_head(rest, m) and not (generic and _preceded_by(rest, m, others))
        ]
        if heads and compound_rule:
            hard.add(name)
        elif compound_rule:
            soft.add(name)
        else:
            hard.add(name)  # the old rule: every mentioned category filters
    cats = {n for n in hard if n in vocab.categories}
    subs = {n for n in hard if n not in vocab.categories}
    text_out = strip_filler(" ".join(rest.split())) or text

    return Constraints(
        text=text_out,
        min_price=min_p,
        max_price=max_p,
        categories=frozenset(cats),
        sub_categories=frozenset(subs),
        brands=frozenset(brands),
        exclude_brands=frozenset(exclude),
        soft_categories=frozenset(soft - hard),
        attributes=attribute_words(text_out),
        sort=sort,
    )
