"""Bring your own store: import a catalogue (and, in `orders`/`customers`, its customers and
orders) from a Shopify or WooCommerce export or a generic CSV/JSONL with a mapping file.

Public API (what the CLI, the stack and other importers build on):

- `RowError(file, line, reason, level="error", column=None)`: one problem in an input file;
  `ImportReport`: the result of one import (counts, problems, what changed), `.summary()` for
  people, `.to_json()` for machines, `.exit_code()`.
- `iter_csv(path, report)` / `iter_jsonl(path, report)`: streaming readers yielding
  `(line, row)`; BOM and non-UTF-8 lines handled and reported.
- `parse_money(text, currency)` (`money.py`): "$1,299.00", "1.299,00 €", "EUR 12" → amount and
  currency, or a reason why not.
- `StoreRegistry(data_dir)` / `StoreManifest`: the imported stores (`<data_dir>/stores/<name>/`,
  manifest `store.json`, own database), `check_store_name`, `store_database_url(settings, name)`.
- `ImportedStoreSource`: how an imported store is registered as a catalogue source;
  `retrieval.sources.get_source(name, settings)` returns one for an imported store's name, so
  `SHOPASSIST_CATALOGUE=<name>` serves it. Its records live in its database (`in_database`).
- `ImportedProduct` / `ImportedVariant` / `ImportedImage`: what every product format produces.
- `import_products(settings, path, ...)` (`products.py`): parse, validate, diff by row hash,
  commit all-or-nothing, then update the vectors.
- `image_urls(db, ids)`: each imported product's main image URL (product cards).

Orders and customers importers add their own module and report with `kind="orders"` /
`"customers"`, and register their sub-command in `cli.IMPORT_KINDS`.
"""

from __future__ import annotations

from .readers import iter_csv, iter_jsonl, read_header
from .records import ImportedImage, ImportedProduct, ImportedVariant, stable_id
from .registry import (
    ImportedStoreSource,
    StoreManifest,
    StoreNameError,
    StoreRegistry,
    check_store_name,
    imported_source,
    store_database_url,
)
from .report import ImportReport, RowError
from .store import read_catalogue
from .tables import ProductDetailRow, ensure_tables, image_urls

__all__ = [
    "ImportReport",
    "ImportedImage",
    "ImportedProduct",
    "ImportedStoreSource",
    "ImportedVariant",
    "ProductDetailRow",
    "RowError",
    "StoreManifest",
    "StoreNameError",
    "StoreRegistry",
    "check_store_name",
    "ensure_tables",
    "image_urls",
    "imported_source",
    "iter_csv",
    "iter_jsonl",
    "read_catalogue",
    "read_header",
    "stable_id",
    "store_database_url",
]
