"""Every generated reply is checked before it is shown.

It may name only products that were among its candidates, state only prices the catalogue holds
(or the shopper's own budget), quote only order facts that code supplied, promise no discount,
and never echo the system prompt. Anything else fails and the caller shows the template.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from retrieval.catalogue import CatalogueIndex

PRODUCT_ID = re.compile(r"\b(?:[A-Z]{3}-[A-Z]{2}-\d{8}|EL-[0-9A-F]{10})\b")
PRICE = re.compile(
    r"(?:\$|USD\s?|US\$)\s?(\d[\d,]*(?:\.\d{1,2})?)|(\d[\d,]*(?:\.\d{1,2})?)\s?"
    r"(?:dollars|USD)\b",
    re.I,
)
PERCENT = re.compile(r"\b\d{1,3}(?:\.\d+)?\s?%")
PROMO = re.compile(
    r"\b(discount|coupon|promo(tion)? code|voucher|% off|sale price|"
    r"price match|free of charge|gift cards?|free shipping|for free|"
    r"special offer|offer you)\b",
    re.I,
)
# Prompt scaffolding a small model sometimes echoes back ("SHOPPER: ...", "PRODUCTS:").
SCAFFOLD = re.compile(
    r"\b(?i:shopper|customer|request|products?|question|passages|facts|system|user|message|"
    r"assistant|rules?|why it fits)\s*:|\[\d+\]|^\s*[-*\d]+[.)]\s",
    re.M,
)
_STOP = frozenset(
    [
        "this",
        "that",
        "with",
        "from",
        "have",
        "your",
        "will",
        "they",
        "them",
        "their",
        "there",
        "what",
        "when",
        "which",
        "about",
        "into",
        "than",
        "then",
        "also",
        "been",
        "were",
        "more",
        "most",
        "some",
        "such",
        "only",
        "very",
        "just",
        "would",
        "could",
        "should",
    ]
)
# A reply speaks to the shopper as "you". A small model narrates instead ("The shopper chose
# ...", "the user prefers"), and then claims things about them no fact supports.
NARRATION = re.compile(
    r"\b(the|this|our) (shopper|user)('s)?\b|\b(shopper|customer)s? (chose|wants?|prefers?|"
    r"bought|likes?|is looking)\b|\b(an?|the) ([\w-]+ )?ai\b|\bi'?m an? ai\b",
    re.I,
)
# Words that state a property of a product: each must be in that product's own text.
ATTRIBUTE_WORDS = frozenset(
    [
        "black",
        "white",
        "grey",
        "gray",
        "silver",
        "gold",
        "red",
        "blue",
        "green",
        "yellow",
        "orange",
        "purple",
        "pink",
        "brown",
        "beige",
        "navy",
        "clear",
        "transparent",
        "wood",
        "wooden",
        "oak",
        "walnut",
        "cherry",
        "mahogany",
        "maple",
        "metal",
        "steel",
        "aluminum",
        "aluminium",
        "chrome",
        "plastic",
        "glass",
        "leather",
        "mesh",
        "fabric",
        "vinyl",
        "cotton",
        "bamboo",
        "rubber",
        "acrylic",
        "adjustable",
        "ergonomic",
        "lumbar",
        "swivel",
        "reclining",
        "recliner",
        "folding",
        "foldable",
        "stackable",
        "portable",
        "wireless",
        "cordless",
        "bluetooth",
        "rechargeable",
        "waterproof",
        "washable",
        "ergonomic",
        "padded",
        "cushioned",
        "armless",
        "arms",
        "armrests",
        "wheels",
        "casters",
        "locking",
        "lockable",
        "fireproof",
        "magnetic",
        "recycled",
        "heavy-duty",
        "lightweight",
        "compact",
        "mini",
        "large",
        "extra-large",
        "tall",
        "wide",
        "small",
        "round",
        "rectangular",
        "square",
        "usb",
        "led",
        "halogen",
        "fluorescent",
        "dimmable",
        "digital",
        "electric",
        "electronic",
        "manual",
        "automatic",
        "laser",
        "inkjet",
        "color",
        "colour",
        "duplex",
        "stereo",
        "noise-cancelling",
        "hands-free",
        "touchscreen",
        "waterproof",
        "organic",
        "refillable",
        "reusable",
        "disposable",
        "erasable",
        "self-adhesive",
    ]
)
ORDER_ID = re.compile(r"\b[A-Z]{2}-\d{4}-\d{5,7}\b")
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


PROMPT_RUN = 6  # words: a run this long copied from a system prompt leaks the prompt


def word_runs(text: str, n: int = PROMPT_RUN) -> set[str]:
    """Every run of n words (lower case, punctuation dropped): "a friendly, concise shop
    assistant at" and "A friendly concise shop assistant at" are the same run."""
    w = re.findall(r"[a-z0-9']+", text.lower())
    return {" ".join(w[i : i + n]) for i in range(len(w) - n + 1)}


@dataclass
class Facts:
    """What a reply may state. Built by code from the data, never by the model."""

    candidate_ids: list[str]
    catalogue: CatalogueIndex
    user_text: str = ""
    extra_prices: set[float] = field(default_factory=set)  # e.g. a refund amount
    order_ids: set[str] = field(default_factory=set)
    dates: set[str] = field(default_factory=set)
    percents: set[str] = field(default_factory=set)
    prompt_runs: frozenset[str] = frozenset()  # every PROMPT_RUN-word run of our system prompts
    # Products code itself named beside the candidates ("often bought with X, which you
    # bought"): the model may repeat those names, but they are not picks.
    named_ids: frozenset[str] = frozenset()
    allow_promo_words: bool = False


@dataclass
class Verdict:
    ok: bool
    problems: list[str]
    cited_ids: list[str]


@dataclass(frozen=True)
class PriceMention:
    """A price stated in a text: as written ("$1,299.00"), its value and where it starts."""

    text: str
    value: float
    start: int


def prices_in(text: str) -> list[PriceMention]:
    """Every price the text states ("$12.50", "USD 3", "40 dollars"), in order."""
    return [
        PriceMention(m.group(0), float((m.group(1) or m.group(2)).replace(",", "")), m.start())
        for m in PRICE.finditer(text)
    ]


def price_matches(value: float, prices: Iterable[float], tolerance: float = 0.006) -> bool:
    """True when `value` is one of `prices` (to the cent)."""
    return any(abs(value - p) < tolerance for p in prices)


def product_ids_in(text: str) -> list[str]:
    """Product ids written in the text, in order (repeats kept)."""
    return PRODUCT_ID.findall(text)


# A shop's own order numbers ("#1001": imported stores').
SHOP_ORDER_ID = re.compile(r"(?<![\w#])#\d{3,12}\b")


def order_ids_in(text: str) -> list[str]:
    return ORDER_ID.findall(text) + SHOP_ORDER_ID.findall(text)


def dates_in(text: str) -> list[str]:
    """ISO dates (YYYY-MM-DD) in the text."""
    return DATE.findall(text)


def product_names_in(text: str, catalogue: CatalogueIndex) -> set[str]:
    """Ids of catalogue products whose full name appears in the text."""
    low = text.lower()
    found = {p.id for p in catalogue.products if len(p.name) >= 6 and p.name.lower() in low}
    # A name inside a longer found name ("Xerox 188" in "Xerox 1881") is the longer one.
    names = {i: catalogue.get(i).name.lower() for i in found}
    return {i for i in found if not any(i != j and names[i] in names[j] for j in found)}


def products_outside(text: str, catalogue: CatalogueIndex, allowed: Iterable[str]) -> list[str]:
    """Problems for every product the text cites by id, or names, that is not in `allowed` (a
    name shared with an allowed product counts as allowed: the data repeats some names)."""
    ok = set(allowed)
    problems = [
        f"cites product id {pid} that is not a candidate"
        for pid in dict.fromkeys(product_ids_in(text))
        if pid not in ok
    ]
    names = {catalogue.get(i).name.lower() for i in ok if i in catalogue}
    for pid in sorted(product_names_in(text, catalogue)):
        name = catalogue.get(pid).name
        if pid not in ok and name.lower() not in names:
            problems.append(f"names product {name!r} that is not a candidate")
    return problems


def check(text: str, facts: Facts) -> Verdict:
    problems: list[str] = []
    cat = facts.catalogue
    allowed = set(facts.candidate_ids)
    cited: list[str] = []

    for pid in product_ids_in(text):
        if pid not in allowed:
            problems.append(f"cites product id {pid} that is not a candidate")
        elif pid not in cited:
            cited.append(pid)
    by_name = {cat.get(i).name.lower(): i for i in allowed if i in cat}
    for pid in sorted(product_names_in(text, cat)):
        name = cat.get(pid).name.lower()
        if pid in facts.named_ids and pid not in allowed:
            continue
        if pid not in allowed and name not in by_name:  # the data repeats some names
            problems.append(f"names product {cat.get(pid).name!r} that is not a candidate")
        elif by_name.get(name, pid) not in cited:
            cited.append(by_name.get(name, pid))

    cand_brands = {(cat.get(i).brand or "").lower() for i in allowed | facts.named_ids if i in cat}
    user_low = facts.user_text.lower()
    for brand in cat.vocabulary.brands:
        b = brand.lower()
        if (
            b not in cand_brands
            and b not in user_low
            and re.search(rf"(?<![\w-]){re.escape(b)}(?![\w-])", text.lower())
        ):
            problems.append(f"mentions brand {brand!r} that no candidate has")

    prices = {round(cat.get(i).price, 2) for i in allowed if i in cat} | {
        round(p, 2) for p in facts.extra_prices
    }
    user_numbers = {
        float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", facts.user_text)
    }
    for mention in prices_in(text):
        value = mention.value
        if not price_matches(value, prices) and value not in user_numbers:
            problems.append(f"states price ${value:,.2f} that the data does not hold")

    for pct in PERCENT.findall(text):
        if pct.replace(" ", "") not in facts.percents:
            problems.append(f"states a percentage {pct!r} that the data does not hold")
    if not facts.allow_promo_words and PROMO.search(text):
        problems.append("promises a discount or promotion")
    for oid in order_ids_in(text):
        if oid not in facts.order_ids:
            problems.append(f"mentions order {oid} that is not the shopper's order in question")
    for d in dates_in(text):
        if d not in facts.dates:
            problems.append(f"states a date {d} that the data does not hold")
    if facts.prompt_runs and word_runs(text) & facts.prompt_runs:
        problems.append("repeats the system prompt")
    if SCAFFOLD.search(text):
        problems.append("echoes the prompt's structure")
    if NARRATION.search(text):
        problems.append("talks about the shopper instead of to them")
    if not text.strip():
        problems.append("empty reply")
    return Verdict(not problems, problems, cited)


def content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]{4,}", text.lower()) if w not in _STOP}


def mentions_any(sentence: str, names: list[str], share: float = 0.6) -> bool:
    """True when the sentence names one of the products (most of its distinctive words)."""
    words = content_words(sentence)
    for name in names:
        key = content_words(name)
        if name.lower() in sentence.lower() or (key and len(key & words) / len(key) >= share):
            return True
    return False


def supported_by(sentence: str, sources: str, share: float = 0.6) -> bool:
    """A cheap faithfulness check: most content words of the sentence occur in the sources."""
    words = content_words(sentence)
    return not words or len(words & content_words(sources)) / len(words) >= share
