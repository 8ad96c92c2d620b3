"""Generic product files, CSV or JSONL, read through a mapping (YAML) that names the columns.

    # mapping.yaml: each value names a CSV column, or a JSONL key (dotted for nesting)
    id: product_id            # required; rows sharing an id are one product's variants
    name: title               # required
    price: price              # required ("$1,299.00" and "1.299,00 €" parse)
    description: body_html    # HTML is reduced to text
    category: category_path   # "Home > Kitchen > Mugs", or a list in JSONL
    brand: maker
    image: image_url          # or a list of URLs
    available: in_stock       # yes/no/true/false/1/0
    options:                  # variant options: option name -> column
      color: colour
      size: size

Optional too: `sku` (the variant's own id), `regular_price`, `stock` (available when > 0, if
`available` is not mapped), `tags`, `product_type`, `rating`, `attributes` (name -> column,
descriptive facts kept in the product text), `status` with `active_statuses` (rows with another
status are skipped and counted), `category_separator` (default ">"), and `currency` (the store's
ISO code: a value, not a column). Without a mapping the names above are the columns / keys
themselves (and in JSONL `options` may be an object).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .common import ParseContext, category_path, clean, flag, html_to_text, image_url, split_list
from .records import ImportedImage, ImportedProduct, ImportedVariant, stable_id

FIELDS = (
    "id",
    "name",
    "price",
    "description",
    "category",
    "brand",
    "image",
    "available",
    "sku",
    "regular_price",
    "stock",
    "tags",
    "product_type",
    "rating",
    "status",
)
REQUIRED = ("id", "name", "price")
SETTINGS = ("options", "attributes", "active_statuses", "category_separator", "currency")


class MappingError(ValueError):
    pass


@dataclass(frozen=True)
class Mapping:
    columns: dict[str, str]  # field → column / key path
    options: dict[str, str] | str = field(default_factory=dict)  # name → column, or a dict key
    attributes: dict[str, str] = field(default_factory=dict)
    active_statuses: tuple[str, ...] = ("active",)
    category_separator: str = ">"
    currency: str | None = None

    @classmethod
    def default(cls) -> Mapping:
        return cls({f: f for f in FIELDS}, options="options")

    @classmethod
    def load(cls, path: Path) -> Mapping:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
        except (OSError, yaml.YAMLError) as exc:
            raise MappingError(f"cannot read mapping {path}: {exc}") from exc
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: object, where: str = "mapping") -> Mapping:
        if not isinstance(data, dict):
            raise MappingError(f"{where}: expected a YAML mapping of field: column")
        unknown = sorted(set(data) - set(FIELDS) - set(SETTINGS))
        if unknown:
            raise MappingError(
                f"{where}: unknown keys {unknown}; known: {sorted(FIELDS + SETTINGS)}"
            )
        missing = [f for f in REQUIRED if not data.get(f)]
        if missing:
            raise MappingError(f"{where}: {', '.join(missing)} must name a column")
        columns = {f: str(data[f]) for f in FIELDS if data.get(f)}
        options = data.get("options") or {}
        if not isinstance(options, dict | str):
            raise MappingError(f"{where}: options must map option names to columns")
        attributes = data.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise MappingError(f"{where}: attributes must map names to columns")
        statuses = data.get("active_statuses") or ["active"]
        currency = data.get("currency")
        return cls(
            columns,
            {str(k).lower(): str(v) for k, v in options.items()}
            if isinstance(options, dict)
            else options,
            {str(k): str(v) for k, v in attributes.items()},
            tuple(str(s).lower() for s in statuses),
            str(data.get("category_separator") or ">"),
            str(currency).upper() if currency else None,
        )

    def referenced(self) -> set[str]:
        cols = set(self.columns.values()) | set(self.attributes.values())
        if isinstance(self.options, dict):
            cols |= set(self.options.values())
        return cols

    def check_header(self, header: Iterable[str], explicit: bool) -> None:
        """A CSV must have every column an explicit mapping names (a typo would silently drop
        data); without one, at least the required columns."""
        have = set(header)
        wanted = self.referenced() if explicit else {self.columns[f] for f in REQUIRED}
        missing = sorted(c for c in wanted if c not in have)
        if missing and explicit:
            raise MappingError(f"the file has no column {missing[0]!r} (named by the mapping)")
        if missing:
            raise MappingError(
                f"the file has no column {missing[0]!r}: pass --mapping mapping.yaml to name "
                "its columns (see `shopassist import products --help`)"
            )


def _get(row: dict[str, Any], path: str | None) -> Any:
    if not path:
        return None
    if path in row:
        return row[path]
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _text(value: Any) -> str:
    return "" if value is None else clean(value)


def parse(
    rows: Iterable[tuple[int, dict[str, Any]]], ctx: ParseContext, mapping: Mapping
) -> Iterator[ImportedProduct]:
    """Products in order of first appearance; a product's rows may be anywhere in the file."""
    products: dict[str, ImportedProduct] = {}
    col = mapping.columns.get
    for line, row in rows:
        raw_id = _text(_get(row, col("id")))
        if not raw_id:
            ctx.reject(line, "row has no product id", col("id"))
            continue
        pid = stable_id(raw_id)
        ctx.mentioned.add(pid)
        status = _text(_get(row, col("status"))).lower()
        if col("status") and status and status not in mapping.active_statuses:
            ctx.skip(pid, status)
            continue
        product = products.get(pid)
        if product is None:
            name = _text(_get(row, col("name")))
            if not name:
                ctx.reject(line, "product has no name", col("name"))
                continue
            product = _product(pid, raw_id, name, line, row, ctx, mapping)
        variant = _variant(product, line, row, ctx, mapping)
        if variant is None:
            continue
        products.setdefault(pid, product).variants.append(variant)
    yield from products.values()


def _product(
    pid: str, raw_id: str, name: str, line: int, row: dict[str, Any], ctx: ParseContext, m: Mapping
) -> ImportedProduct:
    col = m.columns.get
    images = []
    raw_images = _get(row, col("image"))
    for i, src in enumerate(split_list(raw_images) if raw_images else ()):
        url = image_url(src)
        if url is None:
            ctx.warn(line, f"image {str(src)[:80]!r} is not an http(s) URL; ignored", col("image"))
        else:
            images.append(ImportedImage(url, "", i + 1))
    rating = None
    raw_rating = _get(row, col("rating"))
    if raw_rating not in (None, ""):
        try:
            rating = float(raw_rating) or None
        except (TypeError, ValueError):
            ctx.warn(line, f"rating {raw_rating!r} is not a number; ignored", col("rating"))
    raw_tags = _get(row, col("tags"))
    return ImportedProduct(
        id=pid,
        name=name,
        line=line,
        handle=raw_id,
        description=html_to_text(str(_get(row, col("description")) or "")),
        category_path=category_path(_get(row, col("category")), m.category_separator),
        product_type=_text(_get(row, col("product_type"))),
        brand=_text(_get(row, col("brand"))) or None,
        tags=split_list(raw_tags) if raw_tags else (),
        images=images,
        rating=rating,
        attributes={k: v for k, c in m.attributes.items() if (v := _text(_get(row, c)))},
    )


def _variant(
    product: ImportedProduct, line: int, row: dict[str, Any], ctx: ParseContext, m: Mapping
) -> ImportedVariant | None:
    col = m.columns.get
    price = ctx.price(_get(row, col("price")), line, col("price") or "price")
    if price is None:
        return None
    options: dict[str, str] = {}
    if isinstance(m.options, str):
        raw = _get(row, m.options)
        if isinstance(raw, dict):
            options = {str(k).lower(): _text(v) for k, v in raw.items() if _text(v)}
    else:
        options = {k: v for k, c in m.options.items() if (v := _text(_get(row, c)))}
    sku = _text(_get(row, col("sku"))) or None
    if sku:
        vid, what = stable_id(sku), "SKU"
    elif options:
        vid, what = stable_id("/".join([product.handle, *options.values()])), "variant options"
    else:
        vid, what = product.id, "product id (a second row with no SKU or options)"
    if not ctx.claim(vid, line, what, col("sku") if sku else None):
        return None
    regular = ctx.optional_price(_get(row, col("regular_price")), line, col("regular_price") or "")
    stock_raw = _get(row, col("stock"))
    stock = None
    if stock_raw not in (None, ""):
        try:
            stock = int(float(stock_raw))
        except (TypeError, ValueError):
            ctx.warn(line, f"stock {stock_raw!r} is not a number; ignored", col("stock"))
    available = flag(_get(row, col("available")), None)
    if available is None:
        available = stock is None or stock > 0
    return ImportedVariant(
        vid,
        price,
        options,
        available,
        sku,
        regular if regular and regular > price else None,
        stock,
        line,
    )
