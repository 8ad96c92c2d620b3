"""The one shape every product importer produces (Shopify, WooCommerce, generic CSV/JSONL), and
how it becomes the catalogue's records (`Product`, `Variant`) plus the details the catalogue
model has no column for (description, images, the regular price, tags)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import NamedTuple

from ..sources.base import CONSUMABLE_SUB_CATEGORIES, Product, Variant

MAX_FEATURES = 1200  # characters of description kept in the embedded / validated product text
MAX_ID = 64  # the products / variants id columns


def stable_id(text: str, prefix: str = "") -> str:
    """`text` itself when it fits an id column, else a readable head plus a hash of the whole."""
    text = text.strip()
    if len(prefix) + len(text) <= MAX_ID:
        return prefix + text
    digest = hashlib.sha1(text.encode()).hexdigest()[:12]
    return f"{prefix}{text[: MAX_ID - len(prefix) - 13]}~{digest}"


class ImportedImage(NamedTuple):
    src: str
    alt: str = ""
    position: int = 0


@dataclass
class ImportedVariant:
    id: str
    price: float
    options: dict[str, str] = field(default_factory=dict)
    available: bool = True
    sku: str | None = None
    # The price before a sale (Shopify's Compare At Price, WooCommerce's Regular price when a
    # sale price applies). Kept as a fact; never turned into a discount claim.
    regular_price: float | None = None
    inventory: int | None = None
    line: int = 0
    image: str | None = None


@dataclass
class ImportedProduct:
    id: str
    name: str
    line: int  # where the product's record starts in its file
    description: str = ""  # clean text (HTML reduced)
    category_path: tuple[str, ...] = ()
    product_type: str = ""
    brand: str | None = None
    tags: tuple[str, ...] = ()
    variants: list[ImportedVariant] = field(default_factory=list)
    images: list[ImportedImage] = field(default_factory=list)
    handle: str = ""  # the source's own key (Shopify handle, WooCommerce ID/SKU, ...)
    rating: float | None = None
    # Descriptive facts that are not options ("material: cotton"), kept in the product text.
    attributes: dict[str, str] = field(default_factory=dict)

    # ---------------------------------------------------------------- catalogue mapping
    def category(self) -> str:
        """The top of the category path, else the product type, else 'General'."""
        if self.category_path:
            return self.category_path[0][:64]
        return (self.product_type or "General")[:64]

    def sub_category(self) -> str:
        """The shop's own product type when it has one ('T-Shirt'), else the deepest level of
        the category path."""
        if self.product_type:
            return self.product_type[:64]
        if self.category_path:
            return self.category_path[-1][:64]
        return "General"

    def price(self) -> float:
        """The "from" price: the cheapest variant on sale (any variant when none is)."""
        if len(self.variants) == 1:
            return round(self.variants[0].price, 2)
        on_sale = [v.price for v in self.variants if v.available] or [
            v.price for v in self.variants
        ]
        return round(min(on_sale), 2)

    def options_summary(self) -> str:
        choices: dict[str, list[str]] = {}
        for v in self.variants:
            for k, val in v.options.items():
                seen = choices.setdefault(k, [])
                if val not in seen:
                    seen.append(val)
        return "; ".join(f"{k}: {', '.join(vals)}" for k, vals in choices.items())

    def features(self) -> str:
        """What the catalogue keeps as the product's text: the options on offer, the
        description and the tags. It is embedded and the validator checks claims against it."""
        parts = []
        options = self.options_summary()
        if options:
            parts.append(options)
        if self.attributes:
            parts.append("; ".join(f"{k}: {v}" for k, v in self.attributes.items()))
        if self.description:
            parts.append(self.description)
        if self.tags:
            parts.append("tags: " + ", ".join(self.tags))
        text = ""
        for part in parts:
            if text:
                text += " " if text.endswith((".", "!", "?", "…")) else ". "
            text += part
        return text if len(text) <= MAX_FEATURES else text[: MAX_FEATURES - 1].rstrip() + "…"

    def to_product(self, source: str, price: float | None = None) -> Product:
        sub = self.sub_category()
        return Product(
            id=self.id,
            name=self.name,
            category=self.category(),
            sub_category=sub,
            price=self.price() if price is None else price,
            source=source,
            brand=(self.brand or None) and self.brand[:64],
            features=self.features(),
            rating=self.rating,
            consumable=sub in CONSUMABLE_SUB_CATEGORIES,
        )

    def to_variants(self) -> list[Variant]:
        return [
            Variant(v.id, self.id, round(v.price, 2), dict(v.options), v.available)
            for v in self.variants
        ]

    def image_url(self) -> str | None:
        """The main image: the lowest position (an image without one comes last)."""
        if not self.images:
            return None
        if len(self.images) == 1:
            return self.images[0].src
        return min(self.images, key=lambda i: i.position or 10**6).src

    def regular_price(self, price: float | None = None) -> float | None:
        """The regular price of the variant the product's price comes from, when it has one
        above that price."""
        cheapest = self.price() if price is None else price
        for v in self.variants:
            if round(v.price, 2) == cheapest and v.regular_price and v.regular_price > v.price:
                return round(v.regular_price, 2)
        return None

    def row_hash(self) -> str:
        """Changes whenever anything imported for the product changes (text, prices, stock,
        options, images): a re-import rewrites exactly the products whose hash moved."""
        parts = [
            self.id,
            self.name,
            self.description,
            ">".join(self.category_path),
            self.product_type,
            self.brand or "",
            ",".join(self.tags),
            repr(self.rating),
            self.handle,
            repr(sorted(self.attributes.items())),
        ]
        for v in self.variants:
            parts.append(
                f"{v.id}\x1e{v.price!r}\x1e{sorted(v.options.items())!r}\x1e{v.available}"
                f"\x1e{v.sku}\x1e{v.regular_price!r}\x1e{v.inventory!r}\x1e{v.image}"
            )
        for i in self.images:
            parts.append(f"{i.src}\x1e{i.alt}\x1e{i.position}")
        blob = "\x1f".join(parts)
        return hashlib.blake2b(blob.encode(), digest_size=12).hexdigest()
