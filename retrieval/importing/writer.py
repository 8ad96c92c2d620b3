"""Staging parsed products against what the store holds, and the one transaction that writes
them.

`Staging` keeps only what must be written: a product whose row hash is unchanged is counted and
dropped at once, so a re-import of a large file holds little. `commit` writes everything in one
transaction (all or nothing): changed products are updated in place (orders refer to them),
their variants and details replaced, new ones inserted, and removed ones deleted, except those
that orders refer to, which are kept with every variant unavailable.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, DateTime, delete, insert, select, text, update
from sqlalchemy.engine import Connection

from ..db import Base, Database, OrderLineRow, ProductRow, VariantRow
from .common import ParseContext
from .records import ImportedProduct
from .tables import ProductDetailRow, ensure_tables

_CHUNK = 500


class ImportFailure(RuntimeError):
    """Nothing was written: the reason is the message."""


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def existing_hashes(db: Database | None, store: str) -> dict[str, str]:
    """Each of the store's products and its row hash ("" when it has no details row); empty
    for a store with no database yet (`db` None)."""
    if db is None:
        return {}
    ensure_tables(db)
    with db.session() as s:
        other = s.scalar(select(ProductRow.source).where(ProductRow.source != store).limit(1))
        if other is not None:
            raise ImportFailure(
                f"the database {db.url.split('?')[0]} holds the {other!r} catalogue; an imported "
                "store needs a database of its own (unset SHOPASSIST_DATABASE_URL to use "
                "data_dir/stores/<name>/shopassist.db, or point it at an empty database)"
            )
        out = dict.fromkeys(s.scalars(select(ProductRow.id).where(ProductRow.source == store)), "")
        rows = s.execute(
            select(ProductDetailRow.product_id, ProductDetailRow.row_hash).where(
                ProductDetailRow.store == store
            )
        )
        out.update({pid: row_hash for pid, row_hash in rows})
    return out


@dataclass
class Staged:
    product: dict[str, Any]
    variants: list[dict[str, Any]]
    detail: dict[str, Any]
    variant_lines: dict[str, int]


@dataclass
class Staging:
    store: str
    file: str
    existing: dict[str, str]
    staged: dict[str, Staged] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)  # accepted product id → line
    unchanged: int = 0
    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(tzinfo=None))

    def add(self, item: ImportedProduct, ctx: ParseContext) -> None:
        first = self.seen.get(item.id)
        if first is not None:
            ctx.reject(item.line, f"duplicate product id {item.id!r} (first on line {first})")
            return
        self.seen[item.id] = item.line
        ctx.report.accepted += 1
        row_hash = item.row_hash()
        if self.existing.get(item.id) == row_hash:
            self.unchanged += 1
            return
        price = item.price()
        product = item.to_product(self.store, price)
        self.staged[item.id] = Staged(
            {
                "id": product.id,
                "name": product.name,
                "category": product.category,
                "sub_category": product.sub_category,
                "price": product.price,
                "brand": product.brand,
                "source": product.source,
                "features": product.features,
                "rating": product.rating,
                "consumable": product.consumable,
                "content_hash": product.content_hash(),
            },
            [
                {
                    "id": v.id,
                    "product_id": item.id,
                    "options": dict(v.options),
                    "price": round(v.price, 2),
                    "available": v.available,
                }
                for v in item.variants
            ],
            {
                "product_id": item.id,
                "store": self.store,
                "handle": item.handle,
                "description": item.description,
                "image_url": item.image_url(),
                "images": [
                    {"src": i.src, "alt": i.alt, "position": i.position} for i in item.images
                ],
                "regular_price": item.regular_price(price),
                "category_path": list(item.category_path),
                "tags": list(item.tags),
                "source_file": self.file,
                "source_line": item.line,
                "row_hash": row_hash,
                "updated_at": self.now,
            },
            {v.id: v.line for v in item.variants},
        )

    def removals(self, ctx: ParseContext, prune: bool) -> list[str]:
        """Products to remove: those now draft/archived/private, and with --prune those the
        file no longer names at all (one whose new row was rejected keeps its old version)."""
        gone = {pid for pid in ctx.skipped_ids if pid in self.existing}
        if prune:
            gone |= set(self.existing) - ctx.mentioned
        return sorted(gone - set(self.seen))

    def check_variant_ids(self, db: Database | None, ctx: ParseContext, removed: list[str]) -> None:
        """A SKU the file gives a product may belong to a product outside this import (one kept
        because the file does not name it): reject those rows before anything is written."""
        if db is None:
            return
        ids = [vid for st in self.staged.values() for vid in st.variant_lines]
        mine = set(self.staged) | set(removed)
        clashes: dict[str, str] = {}
        with db.session() as s:
            for chunk in _chunks(ids):
                rows = s.execute(
                    select(VariantRow.id, VariantRow.product_id).where(VariantRow.id.in_(chunk))
                )
                clashes.update({vid: pid for vid, pid in rows if pid not in mine})
        if not clashes:
            return
        for pid, st in list(self.staged.items()):
            for vid in [v for v in st.variant_lines if v in clashes]:
                ctx.reject(
                    st.variant_lines[vid],
                    f"duplicate SKU {vid!r}: product {clashes[vid]!r} already has it "
                    "(it is not in this file)",
                    "SKU",
                )
                st.variants = [v for v in st.variants if v["id"] != vid]
                del st.variant_lines[vid]
            if not st.variants:
                del self.staged[pid]
                del self.seen[pid]
                ctx.report.accepted -= 1

    def counts(self) -> tuple[int, int]:
        """(added, updated)."""
        added = sum(pid not in self.existing for pid in self.staged)
        return added, len(self.staged) - added


def commit(db: Database, staging: Staging, removed: list[str]) -> int:
    """Write the staged products and the removals in one transaction; returns how many of the
    removed products were kept because orders refer to them."""
    updates = [st for pid, st in staging.staged.items() if pid in staging.existing]
    inserts = [st for pid, st in staging.staged.items() if pid not in staging.existing]
    replaced = [st.product["id"] for st in updates]
    kept = 0
    with db.session() as s:
        if db.engine.dialect.name == "sqlite":
            # A large page cache for this connection: 100k products and their indexes are
            # written in one transaction, and the default 2 MB cache spills to disk.
            s.execute(text("PRAGMA cache_size=-262144"))
        if removed:
            referenced: set[str] = set()
            for chunk in _chunks(removed):
                referenced |= set(
                    s.scalars(
                        select(OrderLineRow.product_id)
                        .where(OrderLineRow.product_id.in_(chunk))
                        .distinct()
                    )
                )
            for chunk in _chunks(removed):
                s.execute(delete(ProductDetailRow).where(ProductDetailRow.product_id.in_(chunk)))
                s.execute(
                    update(VariantRow)
                    .where(VariantRow.product_id.in_([p for p in chunk if p in referenced]))
                    .values(available=False)
                )
                s.execute(
                    delete(VariantRow).where(
                        VariantRow.product_id.in_([p for p in chunk if p not in referenced])
                    )
                )
                s.execute(
                    delete(ProductRow).where(
                        ProductRow.id.in_([p for p in chunk if p not in referenced])
                    )
                )
            kept = len(referenced)
        for chunk in _chunks(replaced):
            s.execute(delete(VariantRow).where(VariantRow.product_id.in_(chunk)))
            s.execute(delete(ProductDetailRow).where(ProductDetailRow.product_id.in_(chunk)))
        if updates:
            s.execute(update(ProductRow), [st.product for st in updates])
        conn = s.connection()
        staged = list(staging.staged.values())
        bulk_insert(conn, ProductRow, [st.product for st in inserts])
        bulk_insert(conn, VariantRow, [v for st in staged for v in st.variants])
        bulk_insert(conn, ProductDetailRow, [st.detail for st in staged])
    return kept


def _dumps(value: Any) -> str:
    return json.dumps(value)


try:  # chromadb's dependency; several times faster than json for the 100k-row writes
    from orjson import dumps as _orjson_dumps

    def _dumps(value: Any) -> str:  # noqa: F811
        return _orjson_dumps(value).decode()

except ImportError:  # pragma: no cover
    pass


def _sqlite_value(kind: str) -> Callable[[Any], Any]:
    if kind == "json":
        return lambda v: None if v is None else _dumps(v)
    if kind == "datetime":
        return lambda v: None if v is None else v.strftime("%Y-%m-%d %H:%M:%S.%f")
    return lambda v: v


def bulk_insert(conn: Connection, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """INSERT many rows. On SQLite straight through the driver's executemany, with JSON and
    dates written as SQLAlchemy writes them (its per-row parameter processing costs more than
    the insert itself at 100k rows); elsewhere an ordinary Core insert."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(insert(model), rows)
        return
    table = model.__table__
    columns = [c for c in table.columns if c.name in rows[0]]
    kinds = [
        "json" if isinstance(c.type, JSON) else "datetime" if isinstance(c.type, DateTime) else ""
        for c in columns
    ]
    names = [c.name for c in columns]
    fix = [(i, _sqlite_value(k)) for i, k in enumerate(kinds) if k]
    get = itemgetter(*names)
    sql = (
        f"INSERT INTO {model.__tablename__} ({', '.join(names)}) "
        f"VALUES ({', '.join('?' for _ in names)})"
    )
    params: list[tuple[Any, ...]] = []
    for r in rows:
        values = get(r) if len(names) > 1 else (get(r),)
        if fix:
            changed = list(values)
            for i, f in fix:
                changed[i] = f(changed[i])
            values = tuple(changed)
        params.append(values)
    conn.exec_driver_sql(sql, params)
