"""Records every catalogue source produces, and the small interface a source implements."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    category: str
    sub_category: str
    price: float
    source: str
    brand: str | None = None
    features: str = ""
    rating: float | None = None
    consumable: bool = False

    @classmethod
    def from_record(cls, record: object, **values: Any) -> Product:
        """A Product from any record that names its fields the same way (a database row, a
        red-team spec); `values` supply or override fields, and the rest keep their defaults."""
        found = {f.name: getattr(record, f.name) for f in fields(cls) if hasattr(record, f.name)}
        return cls(**(found | values))

    def embedding_text(self) -> str:
        parts = [self.name, f"{self.category} > {self.sub_category}"]
        if self.brand:
            parts.append(f"brand {self.brand}")
        if self.features:
            parts.append(self.features)
        return ". ".join(parts)

    def content_hash(self) -> str:
        """Changes whenever anything that is embedded or filtered on changes."""
        key = "|".join(
            [
                self.embedding_text(),
                self.category,
                self.sub_category,
                f"{self.price:.2f}",
                self.brand or "",
                self.source,
            ]
        )
        return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Customer:
    id: str
    name: str
    segment: str = ""
    city: str = ""
    state: str = ""
    region: str = ""


@dataclass(frozen=True)
class OrderLine:
    product_id: str
    quantity: int
    unit_price: float
    discount: float
    sales: float


@dataclass(frozen=True)
class Order:
    id: str
    customer_id: str
    order_date: date
    ship_date: date | None
    ship_mode: str
    city: str = ""
    state: str = ""
    postal_code: str = ""
    lines: tuple[OrderLine, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Variant:
    """One buyable version of a product ("color blue, size M"). A product without options has
    one variant whose id is the product's."""

    id: str
    product_id: str
    price: float
    options: dict[str, str] = field(default_factory=dict)
    available: bool = True


@dataclass(frozen=True)
class Account:
    """What a store with accounts knows about a customer: sign-in facts, the default address and
    the payment methods on file (gift cards carry a `balance`), keyed by payment method id."""

    user_id: str
    email: str
    first_name: str
    last_name: str
    address: dict[str, str]
    payment_methods: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class OrderState:
    """The live side of an order in a store that tracks it: status, shipping address, one entry
    per unit bought (`items`: product_id, item_id, name, price, options), fulfilments (tracking
    ids) and the payment history. Actions change it; `extra` holds what they record
    (cancel_reason, return_items, exchange_items, ...)."""

    order_id: str
    user_id: str
    status: str
    address: dict[str, str]
    items: list[dict[str, Any]]
    fulfillments: list[dict[str, Any]] = field(default_factory=list)
    payment_history: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class CatalogueData:
    source: str
    products: list[Product]
    customers: list[Customer] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    # Empty: one variant per product, at its price (`variants_or_single`).
    variants: list[Variant] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    order_states: list[OrderState] = field(default_factory=list)

    def variants_or_single(self) -> list[Variant]:
        if self.variants:
            return self.variants
        return [Variant(p.id, p.id, p.price) for p in self.products]


class CatalogueSource(Protocol):
    """One real data set turned into shopassist records. Raw files are fetched at set-up."""

    name: str
    display_name: str  # what shoppers see, unless settings.store_name overrides it
    # Shoppers may identify themselves in chat (email, or name + zip) to act on their orders.
    identification_in_chat: bool

    def load(self, raw_dir: Path) -> CatalogueData: ...


class SourceMissingError(FileNotFoundError):
    """The raw files were not fetched: run `make data` (set-up), never downloaded at run time."""


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    """A fetched CSV's rows, or a clear SourceMissingError when set-up has not fetched it."""
    if not path.exists():
        raise SourceMissingError(f"{path} is missing; run `make data` to fetch it at set-up")
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# Sub-categories whose items are bought again and again; the home page may re-recommend them.
CONSUMABLE_SUB_CATEGORIES = frozenset(
    {
        "Paper",
        "Labels",
        "Envelopes",
        "Fasteners",
        "Art",
        "Binders",
        "Supplies",
        "Batteries",
        "Ink & Toner",
        "Printer Ink & Toner",
    }
)

# First words of product names that are descriptions, not brands.
_GENERIC_FIRST_WORDS = frozenset(
    {
        "office",
        "executive",
        "wirebound",
        "recycled",
        "personal",
        "deluxe",
        "large",
        "home",
        "adjustable",
        "standard",
        "premium",
        "heavy",
        "heavy-duty",
        "colored",
        "color",
        "clear",
        "easy",
        "economy",
        "multi",
        "computer",
        "desktop",
        "letter",
        "message",
        "memo",
        "black",
        "white",
        "blue",
        "red",
        "green",
        "wireless",
        "portable",
        "mini",
        "super",
        "classic",
        "contemporary",
        "electric",
        "steel",
        "wood",
        "plastic",
        "metal",
        "round",
        "square",
        "small",
        "ultra",
        "the",
        "a",
        "new",
        "advantus",
        "universal",
        "eco",
        "lock",
        "magnetic",
        "staple",
        "tape",
        "jumbo",
        "stackable",
        "soft",
        "hard",
        "pressboard",
        "poly",
        "binder",
        "binders",
        "paper",
        "rogers",
        "situations",
        "memorex",
        "staples",
    }
    - {"rogers", "memorex", "advantus", "universal"}
)
_TWO_WORD_BRANDS = {"wilson jones", "howard miller", "master caster", "seth thomas", "global troy"}


def derive_brands(names: list[str], min_count: int = 2) -> dict[str, str | None]:
    """Brand = a name's leading word when several products share it and it is not generic.

    A word that appears inside other names (not after "by") at least as often as it leads them
    is a description, not a maker: "Stacking Chairs" next to "Hon Pagoda Stacking Chairs",
    "File ..." next to "Fellowes Mobile File Cart". Taking those for brands made "stacking
    chairs" a brand filter."""
    import re
    from collections import Counter

    def lead(name: str) -> str:
        words = name.split()
        if len(words) >= 2 and f"{words[0]} {words[1]}".lower() in _TWO_WORD_BRANDS:
            return f"{words[0]} {words[1]}"
        return words[0].strip(",") if words else ""

    counts = Counter(lead(n).lower() for n in names)
    inner: Counter[str] = Counter()
    for n in names:
        words = re.findall(r"[\w&'.-]+", n.lower())
        for i, w in enumerate(words[1:], 1):
            if w in counts and words[i - 1] != "by":
                inner[w] += 1
    out: dict[str, str | None] = {}
    for name in names:
        word = lead(name)
        low = word.lower()
        ok = (
            counts[low] >= min_count
            and low not in _GENERIC_FIRST_WORDS
            and inner[low] < counts[low]
            and (word[:1].isupper() or word[:1].isdigit())
        )
        out[name] = word if ok else None
    return out
