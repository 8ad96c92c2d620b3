"""Shopify's product CSV (Products → Export, the current format).

A product spans several consecutive rows with the same `Handle`:

- the first carries the product (`Title`, `Body (HTML)`, `Vendor`, `Product Category`, `Type`,
  `Tags`, `Status`, the option names) and usually its first variant and image;
- further rows carry more variants (`Option1..3 Value`, `Variant SKU`, `Variant Price`,
  `Variant Compare At Price`, `Variant Inventory Qty`, ...) or only more images (`Image Src`,
  `Image Position`, `Image Alt Text`).

Draft and archived products (and, without a `Status` column, unpublished ones) are skipped and
counted. `Variant Compare At Price` is kept as the regular price; it is never turned into a
discount. A product with the single option `Title: Default Title` has no options.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .common import ParseContext, category_path, clean, flag, html_to_text, image_url, split_list
from .records import ImportedImage, ImportedProduct, ImportedVariant, stable_id

HEADER = frozenset({"Handle", "Title", "Variant Price"})
_OPTIONS = (1, 2, 3)
_VARIANT_FIELDS = (
    "Option1 Value",
    "Option2 Value",
    "Option3 Value",
    "Variant SKU",
    "Variant Price",
)


def looks_like(header: Iterable[str]) -> bool:
    return set(header) >= HEADER


def _is_variant(row: dict[str, str]) -> bool:
    for k in _VARIANT_FIELDS:
        value = row.get(k)
        if value and not value.isspace():
            return True
    return False


def parse(
    rows: Iterable[tuple[int, dict[str, str]]], ctx: ParseContext
) -> Iterator[ImportedProduct]:
    """Products, one per handle, in file order. Every problem goes to `ctx`."""
    done: dict[str, int] = {}  # handle → line of its product row (for separated rows)
    group: list[tuple[int, dict[str, str]]] = []
    handle = ""
    for line, row in rows:
        h = row.get("Handle", "").strip()
        if not h:
            ctx.reject(line, "row has no Handle", "Handle")
            continue
        if h != handle and group:
            product = _product(handle, group, ctx, done)
            if product is not None:
                yield product
            group = []
        handle = h
        group.append((line, row))
    if group:
        product = _product(handle, group, ctx, done)
        if product is not None:
            yield product


def _product(
    handle: str, group: list[tuple[int, dict[str, str]]], ctx: ParseContext, done: dict[str, int]
) -> ImportedProduct | None:
    line, first = group[0]
    title = clean(first.get("Title"))
    pid = stable_id(handle)
    ctx.mentioned.add(pid)
    if handle in done:
        for n, row in group:
            if (row.get("Title") or "").strip():
                ctx.reject(
                    n, f"duplicate product: handle {handle!r} already on line {done[handle]}"
                )
            else:
                ctx.reject(
                    n,
                    f"row for handle {handle!r} is apart from its product (line {done[handle]}); "
                    "a product's rows must be together",
                    "Handle",
                )
        return None
    if not title:
        for n, row in group:
            what = "variant" if _is_variant(row) else "image"
            ctx.reject(
                n, f"{what} row for handle {handle!r} has no product row (no Title)", "Handle"
            )
        return None
    done[handle] = line

    status = (first.get("Status") or "").strip().lower()
    if not status and "Published" in first:
        status = "active" if flag(first.get("Published"), True) else "unpublished"
    if status and status != "active":
        ctx.skip(pid, status)
        return None

    names = [(first.get(f"Option{i} Name") or "").strip().lower() for i in _OPTIONS]
    product = ImportedProduct(
        id=pid,
        name=title,
        line=line,
        handle=handle,
        description=html_to_text(first.get("Body (HTML)") or ""),
        category_path=category_path(first.get("Product Category")),
        product_type=clean(first.get("Type")),
        brand=clean(first.get("Vendor")) or None,
        tags=split_list(first.get("Tags")) if first.get("Tags") else (),
    )
    images: dict[str, ImportedImage] = {}
    own_error = False
    for n, row in group:
        src = row.get("Image Src")
        if src and not src.isspace():
            url = image_url(src)
            if url is None:
                ctx.warn(
                    n, f"image {src.strip()[:80]!r} is not an http(s) URL; ignored", "Image Src"
                )
            elif url not in images:
                position = (row.get("Image Position") or "").strip()
                images[url] = ImportedImage(
                    url,
                    clean(row.get("Image Alt Text")),
                    int(position) if position.isdigit() else 0,
                )
        if not _is_variant(row):
            continue
        variant = _variant(product, names, n, row, ctx)
        if variant is None:
            own_error |= n == line
            continue
        if variant.image and variant.image not in images:
            images[variant.image] = ImportedImage(variant.image, "", 10**5)
        product.variants.append(variant)
    if len(images) > 1:
        product.images = sorted(images.values(), key=lambda i: i.position or 10**6)
    else:
        product.images = list(images.values())
    if not product.variants:
        if not own_error:
            ctx.reject(line, f"product {handle!r} has no variant with a price", "Variant Price")
        return None
    return product


def _variant(
    product: ImportedProduct, names: list[str], line: int, row: dict[str, str], ctx: ParseContext
) -> ImportedVariant | None:
    price = ctx.price(row.get("Variant Price"), line, "Variant Price")
    if price is None:
        return None
    options: dict[str, str] = {}
    for i, name in zip(_OPTIONS, names, strict=True):
        value = row.get(f"Option{i} Value")
        if not value:
            continue
        value = " ".join(value.split())
        if value and not (name in ("title", "") and value.lower() == "default title"):
            options[name or f"option{i}"] = value
    sku = (row.get("Variant SKU") or "").strip() or None
    if sku:
        vid, what = stable_id(sku), "SKU"
    elif options:
        vid, what = stable_id("/".join([product.handle, *options.values()])), "variant options"
    else:
        vid, what = product.id, "variant (no SKU, no options)"
    if not ctx.claim(vid, line, what, "Variant SKU" if sku else None):
        return None
    compare = row.get("Variant Compare At Price")
    regular = ctx.optional_price(compare, line, "Variant Compare At Price") if compare else None
    qty_text = (row.get("Variant Inventory Qty") or "").strip()
    inventory = None
    if qty_text:
        try:
            inventory = int(qty_text) if qty_text.lstrip("-").isdigit() else int(float(qty_text))
        except ValueError:
            ctx.warn(
                line, f"inventory {qty_text!r} is not a number; ignored", "Variant Inventory Qty"
            )
    tracker = row.get("Variant Inventory Tracker")
    tracked = tracker is None or bool(tracker.strip())
    sells_out = (row.get("Variant Inventory Policy") or "deny").strip().lower() != "continue"
    available = inventory is None or not tracked or not sells_out or inventory > 0
    vimage = row.get("Variant Image")
    return ImportedVariant(
        id=vid,
        price=price,
        options=options,
        available=available,
        sku=sku,
        regular_price=regular if regular and regular > price else None,
        inventory=inventory,
        line=line,
        image=image_url(vimage) if vimage else None,
    )
