"""WooCommerce's product CSV (Products → Export, the built-in exporter).

One row per product, and one per variation: `Type` is simple / variable / variation
(external products are imported like simple ones; grouped ones, which have no price of their
own, are skipped and counted). A variation's `Parent` names its variable product as `id:123` or
by SKU; its `Attribute N name` / `Attribute N value(s)` are its options. `Sale price` is the price when it applies (within
`Date sale price starts/ends`), and `Regular price` is kept as the regular price, never turned
into a discount. `Categories` is a comma-separated list of `>` paths; the first is used.
`Published` 1 is on sale; 0 (private) and -1 (draft) are skipped and counted.

Variations may come before or after their parent: products are finished at the end of the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

from .common import ParseContext, category_path, clean, flag, html_to_text, image_url, split_list
from .records import ImportedImage, ImportedProduct, ImportedVariant, stable_id

HEADER = frozenset({"Type", "Name", "Regular price"})
_ATTR = re.compile(r"^Attribute (\d+) name$")
_SPLIT_CATEGORIES = re.compile(r"(?<!\\),")


def looks_like(header: Iterable[str]) -> bool:
    return set(header) >= HEADER


@dataclass
class _Parent:
    product: ImportedProduct
    variations: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    skipped: bool = False


def _types(row: dict[str, str]) -> set[str]:
    return {t.strip().lower() for t in row.get("Type", "").split(",") if t.strip()}


def _attributes(row: dict[str, str], numbers: list[str]) -> list[tuple[str, str]]:
    out = []
    for n in numbers:
        name = clean(row.get(f"Attribute {n} name"))
        value = clean(row.get(f"Attribute {n} value(s)"))
        if name and value:
            out.append((name, value))
    return out


def _published(row: dict[str, str]) -> str | None:
    """None when on sale; else why not ('draft', 'private')."""
    value = row.get("Published", "1").strip()
    if value in ("", "1"):
        return None
    return "draft" if value == "-1" else "private"


def _sale_applies(row: dict[str, str], today: date) -> bool:
    for column, ok in (
        ("Date sale price starts", lambda d: d <= today),
        ("Date sale price ends", lambda d: d >= today),
    ):
        text = row.get(column, "").strip()[:10]
        if text:
            try:
                if not ok(date.fromisoformat(text)):
                    return False
            except ValueError:
                pass
    return True


def _price(row: dict[str, str], line: int, ctx: ParseContext) -> tuple[float, float | None] | None:
    """(price, regular price when a sale applies) or None after rejecting the row."""
    sale_text = row.get("Sale price", "").strip()
    regular_text = row.get("Regular price", "").strip()
    if sale_text and (not regular_text or _sale_applies(row, date.today())):
        sale = ctx.price(sale_text, line, "Sale price")
        if sale is None:
            return None
        regular = ctx.optional_price(regular_text, line, "Regular price")
        return sale, (regular if regular and regular > sale else None)
    regular = ctx.price(regular_text, line, "Regular price")
    return None if regular is None else (regular, None)


def _available(row: dict[str, str]) -> bool:
    in_stock = flag(row.get("In stock?"), None)
    stock = row.get("Stock", "").strip()
    if in_stock is None and row.get("In stock?", "").strip().lower() == "onbackorder":
        return True
    if in_stock is False:
        return flag(row.get("Backorders allowed?"), False) or False
    if stock:
        try:
            return float(stock) > 0 or bool(flag(row.get("Backorders allowed?"), False))
        except ValueError:
            pass
    return True


def parse(
    rows: Iterable[tuple[int, dict[str, str]]], ctx: ParseContext
) -> Iterator[ImportedProduct]:
    parents: dict[str, _Parent] = {}  # "id:123" and the SKU → the variable product
    order: list[_Parent] = []
    orphans: dict[str, list[tuple[int, dict[str, str]]]] = {}
    numbers: list[str] | None = None
    seen_ids: dict[str, int] = {}
    for line, row in rows:
        if numbers is None:
            numbers = sorted({m.group(1) for k in row if (m := _ATTR.match(k))}, key=int)
        types = _types(row)
        if "variation" in types:
            ref = row.get("Parent", "").strip()
            if not ref:
                ctx.reject(line, "variation has no Parent", "Parent")
                continue
            sku = clean(row.get("SKU"))
            if sku and not ctx.claim(stable_id(sku), line, "SKU", "SKU"):
                continue  # SKUs are claimed in file order: the earlier row keeps it
            target = parents.get(ref)
            if target is None:
                orphans.setdefault(ref, []).append((line, row))
            else:
                target.variations.append((line, row))
            continue
        product = _base(row, line, numbers, ctx)
        if product is None:
            continue
        if product.id in seen_ids:
            ctx.reject(
                line, f"duplicate product {product.id!r} (first on line {seen_ids[product.id]})"
            )
            continue
        seen_ids[product.id] = line
        skipped = _published(row)
        if "variable" in types:
            parent = _Parent(product, skipped=skipped is not None)
            if skipped:
                ctx.skip(product.id, skipped)
            for key in (f"id:{row.get('ID', '').strip()}", clean(row.get("SKU"))):
                if key and key != "id:":
                    parents[key] = parent
                    parent.variations.extend(orphans.pop(key, []))
            order.append(parent)
            continue
        if skipped:
            ctx.skip(product.id, skipped)
            continue
        if "grouped" in types:  # a set of other products, with no price of its own
            ctx.skip(product.id, "grouped")
            continue
        simple = _simple(product, row, line, ctx)
        if simple is not None:
            yield simple
    for parent in order:
        if parent.skipped:
            continue
        done = _variable(parent, numbers or [], ctx)
        if done is not None:
            yield done
    for ref, lost in orphans.items():
        for line, _row in lost:
            ctx.reject(
                line, f"variation's Parent {ref!r} is not a variable product in this file", "Parent"
            )


def _base(
    row: dict[str, str], line: int, numbers: list[str], ctx: ParseContext
) -> ImportedProduct | None:
    name = clean(row.get("Name"))
    if not name:
        ctx.reject(line, "product has no Name", "Name")
        return None
    wc_id = row.get("ID", "").strip()
    sku = clean(row.get("SKU"))
    pid = stable_id(f"wc-{wc_id}") if wc_id else stable_id(sku) if sku else stable_id(name)
    ctx.mentioned.add(pid)
    categories = [c.replace("\\,", ",") for c in _SPLIT_CATEGORIES.split(row.get("Categories", ""))]
    body = row.get("Description", "") or row.get("Short description", "")
    short = row.get("Short description", "")
    description = html_to_text(body)
    if short and body is not short:
        extra = html_to_text(short)
        if extra and extra not in description:
            description = f"{extra} {description}".strip()
    brand = clean(row.get("Brands")) or None
    details = []
    for k, v in _attributes(row, numbers):
        if k.lower() == "brand" and not brand:
            brand = v
        details.append((k, v))
    images = []
    for i, src in enumerate(split_list(row.get("Images", ""))):
        url = image_url(src)
        if url is None:
            ctx.warn(line, f"image {src[:80]!r} is not an http(s) URL; ignored", "Images")
        else:
            images.append(ImportedImage(url, "", i + 1))
    rating = None
    if row.get("Average rating", "").strip():
        try:
            rating = float(row["Average rating"]) or None
        except ValueError:
            rating = None
    return ImportedProduct(
        id=pid,
        name=name,
        line=line,
        handle=wc_id or sku or name,
        description=description,
        category_path=category_path(categories[0]) if categories else (),
        brand=brand,
        tags=split_list(row.get("Tags", "")),
        images=images,
        rating=rating,
        attributes={k: v for k, v in details if k.lower() != "brand"},
    )


def _simple(
    product: ImportedProduct, row: dict[str, str], line: int, ctx: ParseContext
) -> ImportedProduct | None:
    price = _price(row, line, ctx)
    if price is None:
        return None
    sku = clean(row.get("SKU")) or None
    vid = stable_id(sku) if sku else product.id
    if not ctx.claim(vid, line, "SKU" if sku else "product", "SKU" if sku else None):
        return None
    product.variants.append(
        ImportedVariant(vid, price[0], {}, _available(row), sku, price[1], _stock(row), line)
    )
    return product


def _stock(row: dict[str, str]) -> int | None:
    try:
        return int(float(row.get("Stock", "").strip()))
    except ValueError:
        return None


def _variable(parent: _Parent, numbers: list[str], ctx: ParseContext) -> ImportedProduct | None:
    product = parent.product
    product.attributes = {}  # a variable product's attributes are its variations' options
    for line, row in parent.variations:
        if _published(row) is not None:
            continue  # a private or draft variation is not on sale
        price = _price(row, line, ctx)
        if price is None:
            continue
        options = {k.lower(): v for k, v in _attributes(row, numbers)}
        sku = clean(row.get("SKU")) or None
        wc_id = row.get("ID", "").strip()
        if sku:
            vid = stable_id(sku)  # claimed when the row was read
        else:
            if wc_id:
                vid, what = stable_id(f"wc-{wc_id}"), "variation ID"
            else:
                vid, what = stable_id("/".join([product.id, *options.values()])), "variation"
            if not ctx.claim(vid, line, what):
                continue
        img = (
            image_url(split_list(row.get("Images", ""))[0])
            if row.get("Images", "").strip()
            else None
        )
        if img and all(i.src != img for i in product.images):
            product.images.append(ImportedImage(img, "", len(product.images) + 1))
        product.variants.append(
            ImportedVariant(
                vid, price[0], options, _available(row), sku, price[1], _stock(row), line, img
            )
        )
    if not product.variants:
        if not parent.variations:  # failed variations were reported on their own lines
            ctx.reject(product.line, f"variable product {product.name!r} has no variations")
        return None
    return product
