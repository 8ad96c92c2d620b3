"""`shopassist import orders FILE`: a Shopify orders export, or a generic CSV/JSONL with a mapping
file, into an imported store's orders.

Shopify writes one row per line item; the first row of an order carries the order's fields
(`Financial Status`, `Fulfillment Status`, `Fulfilled at`, `Cancelled at`, shipping address and
method, totals), the rows after it repeat `Name` and add `Lineitem name/sku/quantity/price`.
Tracking columns are read when an export has them (`Tracking Number`, `Tracking Company`,
`Tracking URL`, or the `Fulfillment: …` forms); nothing is invented when it has none.

What lands where:

- `orders` / `order_lines`: what Superstore's orders fill, so the orders become purchase events
  (`seed_purchases_from_orders`) for profiles, the home page and training, like Superstore's;
- `order_facts`: the shop's own statuses, dates and tracking, which order status and return
  eligibility read instead of deriving them (`assistant/support/orders.py`).

Each line is matched to the imported catalogue by SKU (a variant's), then by product id, then by
name ("Classic Tee - M / Blue" is the product "Classic Tee"). A line for a product the catalogue
does not have is rejected with its line and reason; the order keeps its other lines, and an order
left with none is not imported. A customer is found by e-mail among the imported customers, or
created with an id derived from the e-mail (`cust-…`); an order without an e-mail is a guest's.
Re-importing a file rewrites only the orders whose content changed. The import commits whole or
not at all (`--max-errors`), and `--dry-run` writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from ..db import (
    AccountRow,
    CustomerRow,
    Database,
    EventRow,
    OrderFactsRow,
    OrderLineRow,
    OrderRow,
    ProductRow,
    VariantRow,
)
from ..settings import Settings
from .columns import (
    GUEST_PREFIX,
    MappingError,
    clean_id,
    customer_id_for_email,
    day,
    fit,
    load_columns,
    normalise_email,
    parse_when,
    valid_email,
    value,
)
from .flow import record_import, run_import, write_all_or_nothing
from .money import PriceError, parse_money
from .readers import iter_csv, iter_jsonl, read_header
from .registry import StoreRegistry
from .report import ImportReport

ORDER_FIELDS = (
    "order_id",
    "customer_id",
    "email",
    "customer_name",
    "created_at",
    "financial_status",
    "fulfillment_status",
    "fulfilled_at",
    "delivered_at",
    "cancelled_at",
    "currency",
    "total",
    "shipping_method",
    "city",
    "state",
    "zip",
    "tracking_number",
    "tracking_company",
    "tracking_url",
    # One order line per row, or (JSONL) a list of line objects under `lines`:
    "lines",
    "product_id",
    "sku",
    "product_name",
    "quantity",
    "price",
    "discount",
)
LINE_FIELDS = ("product_id", "sku", "product_name", "quantity", "price", "discount")
REQUIRED_FIELDS = ("order_id", "created_at", "quantity", "price")

# Shopify's orders export, and the tracking columns some exports (apps, later versions) add.
SHOPIFY_ORDER_COLUMNS: dict[str, tuple[str, ...]] = {
    "order_id": ("Name",),
    "email": ("Email",),
    "customer_name": ("Billing Name", "Shipping Name"),
    "created_at": ("Created at",),
    "financial_status": ("Financial Status",),
    "fulfillment_status": ("Fulfillment Status",),
    "fulfilled_at": ("Fulfilled at",),
    "delivered_at": ("Delivered at", "Fulfillment: Delivered At"),
    "cancelled_at": ("Cancelled at",),
    "currency": ("Currency",),
    "total": ("Total",),
    "shipping_method": ("Shipping Method",),
    "city": ("Shipping City", "Billing City"),
    "state": ("Shipping Province", "Billing Province"),
    "zip": ("Shipping Zip", "Billing Zip"),
    "tracking_number": (
        "Tracking Number",
        "Tracking Numbers",
        "Fulfillment: Tracking Number",
    ),
    "tracking_company": ("Tracking Company", "Fulfillment: Tracking Company", "Shipping Carrier"),
    "tracking_url": ("Tracking URL", "Tracking Url", "Fulfillment: Tracking URL"),
    "sku": ("Lineitem sku",),
    "product_name": ("Lineitem name",),
    "quantity": ("Lineitem quantity",),
    "price": ("Lineitem price",),
    "discount": ("Lineitem discount",),
}
_SHOPIFY_MARKERS = {"Name", "Lineitem name", "Financial Status"}
_ORDER_LEVEL = tuple(f for f in ORDER_FIELDS if f not in LINE_FIELDS and f != "lines")
_SPLIT = re.compile(r"\s*[,;]\s*")


def canonical_order_id(raw: str) -> str:
    """How an order is keyed and asked for: "#1001" (Shopify's name; a bare number gets the '#'),
    other ids trimmed and upper-cased ("ord-77" → "ORD-77")."""
    text = clean_id(raw)
    digits = text.lstrip("#").strip()
    if digits.isdigit():
        return f"#{digits}"
    return text.upper()


@dataclass
class ImportedOrderLine:
    line: int
    product_id: str
    quantity: int
    unit_price: float
    discount_amount: float = 0.0

    @property
    def sales(self) -> float:
        return round(self.unit_price * self.quantity - self.discount_amount, 2)

    @property
    def discount(self) -> float:
        gross = self.unit_price * self.quantity
        return round(min(max(self.discount_amount / gross, 0.0), 0.99), 4) if gross else 0.0


@dataclass
class ImportedOrder:
    id: str
    line: int
    created_at: datetime
    email: str = ""
    customer_id: str = ""
    customer_name: str = ""
    financial_status: str = ""
    fulfillment_status: str = ""
    fulfilled_at: datetime | None = None
    delivered_at: datetime | None = None
    cancelled_at: datetime | None = None
    currency: str = ""
    total: float | None = None
    shipping_method: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    tracking: list[dict[str, str]] = field(default_factory=list)
    lines: list[ImportedOrderLine] = field(default_factory=list)

    def row_hash(self) -> str:
        payload = [
            self.id,
            self.created_at.isoformat(),
            self.email,
            self.customer_id,
            self.customer_name,
            self.financial_status,
            self.fulfillment_status,
            *(d.isoformat() if d else None for d in (self.fulfilled_at, self.delivered_at)),
            self.cancelled_at.isoformat() if self.cancelled_at else None,
            self.currency,
            self.total,
            self.shipping_method,
            self.city,
            self.state,
            self.zip,
            self.tracking,
            [[ln.product_id, ln.quantity, ln.unit_price, ln.discount_amount] for ln in self.lines],
        ]
        blob = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.blake2b(blob.encode(), digest_size=12).hexdigest()


class ProductResolver:
    """Finds the catalogue product an order line names: by a variant's SKU or id (the products
    importer keys a variant by its SKU), by product id (a Shopify handle), then by name (exact,
    then without Shopify's " - <variant title>" suffix: "Classic Tee - M / Blue")."""

    def __init__(self, s: Session, store: str) -> None:
        products = s.execute(
            select(ProductRow.id, ProductRow.name).where(ProductRow.source == store)
        ).all()
        ids = {pid for pid, _ in products}
        self.by_key: dict[str, str] = {pid.lower(): pid for pid in ids}
        for vid, pid in s.execute(select(VariantRow.id, VariantRow.product_id)):
            if pid in ids:
                self.by_key.setdefault(vid.lower(), pid)
        self.by_name: dict[str, str] = {}
        for pid, name in products:
            self.by_name.setdefault(_name_key(name), pid)

    def __call__(self, product_id: str, sku: str, name: str) -> str | None:
        for key in (product_id, sku):
            if key and key.lower() in self.by_key:
                return self.by_key[key.lower()]
        text = name
        while text:
            hit = self.by_name.get(_name_key(text))
            if hit:
                return hit
            head, sep, _ = text.rpartition(" - ")
            text = head if sep else ""
        return None


def _name_key(name: str) -> str:
    return " ".join(name.lower().split())


def detect_orders_format(path: Path) -> str:
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return "jsonl"
    return "shopify" if set(read_header(path)) >= _SHOPIFY_MARKERS else "csv"


def shopify_columns(header: list[str]) -> dict[str, str]:
    have = set(header)
    out = {}
    for name, choices in SHOPIFY_ORDER_COLUMNS.items():
        hit = next((c for c in choices if c in have), None)
        if hit:
            out[name] = hit
    return out


class _Parser:
    """Rows → orders, one row at a time; every problem goes to the report with its line."""

    def __init__(
        self, report: ImportReport, label: str, columns: dict[str, str], currency: str | None
    ) -> None:
        self.report, self.label, self.columns = report, label, columns
        self.currency = currency
        self.orders: dict[str, ImportedOrder] = {}
        self.rejected_orders: dict[str, int] = {}  # order id → the line that rejected it
        self.resolve: ProductResolver | None = None

    def reject(self, line: int, reason: str, field_name: str | None = None) -> None:
        self.report.error(self.label, line, reason, self.columns.get(field_name or "", None))
        self.report.rejected += 1

    def row(self, line: int, row: Mapping[str, Any]) -> None:
        get = lambda f: value(row, self.columns.get(f))  # noqa: E731
        raw_id = get("order_id")
        if not raw_id:
            self.reject(line, "no order id", "order_id")
            return
        oid = canonical_order_id(raw_id)
        if oid in self.rejected_orders:
            self.reject(line, f"order {oid} was rejected on line {self.rejected_orders[oid]}")
            return
        order = self.orders.get(oid)
        if order is None:
            order = self._new_order(line, oid, get)
            if order is None:
                return
            self.orders[oid] = order
        else:
            self._fill(order, line, get)
        nested = row.get(self.columns.get("lines", "")) if "lines" in self.columns else None
        if isinstance(nested, list):
            for item in nested:
                if isinstance(item, Mapping):
                    self._line(order, line, lambda f, item=item: value(item, self.columns.get(f)))
                else:
                    self.reject(line, f"order {oid}: a line must be a JSON object", "lines")
        else:
            self._line(order, line, get)

    def _new_order(self, line: int, oid: str, get) -> ImportedOrder | None:
        try:
            created = parse_when(get("created_at"))
        except ValueError as exc:
            self.rejected_orders[oid] = line
            self.reject(line, f"order {oid}: {exc}", "created_at")
            return None
        if created is None:
            self.rejected_orders[oid] = line
            self.reject(line, f"order {oid}: no order date", "created_at")
            return None
        order = ImportedOrder(oid, line, created)
        self._fill(order, line, get)
        return order

    def _fill(self, order: ImportedOrder, line: int, get) -> None:
        """Order-level fields: the first row that gives one wins (Shopify's later rows leave
        them empty); a later row that contradicts the order date is another order."""
        created = get("created_at")
        if created and line != order.line:
            try:
                when = parse_when(created)
            except ValueError:
                when = None
            if when is not None and when != order.created_at:
                self.report.warn(
                    self.label,
                    line,
                    f"order {order.id} appears again with another date "
                    f"(first on line {order.line}); its lines are added to that order",
                )
        email = normalise_email(get("email"))
        if email and not order.email:
            if valid_email(email):
                order.email = email
            else:
                self.report.warn(
                    self.label,
                    line,
                    f"order {order.id}: not an e-mail address {email!r}; kept as a guest order",
                    self.columns.get("email"),
                )
        for name in ("customer_id", "customer_name", "financial_status", "fulfillment_status"):
            text = get(name)
            if text and not getattr(order, name):
                setattr(order, name, clean_id(text) if name == "customer_id" else text)
        for name in ("shipping_method", "city", "state", "zip", "currency"):
            text = get(name)
            if text and not getattr(order, name):
                setattr(order, name, text.upper() if name == "currency" else text)
        for name in ("fulfilled_at", "delivered_at", "cancelled_at"):
            text = get(name)
            if text and getattr(order, name) is None:
                try:
                    setattr(order, name, parse_when(text))
                except ValueError as exc:
                    self.report.warn(self.label, line, f"order {order.id}: {exc}; ignored")
        total = get("total")
        if total and order.total is None:
            try:
                order.total = parse_money(total, order.currency or self.currency).amount
            except PriceError as exc:
                self.report.warn(self.label, line, f"order {order.id}: total: {exc}; ignored")
        numbers = [n for n in _SPLIT.split(get("tracking_number")) if n]
        if numbers and not order.tracking:
            company, url = get("tracking_company"), get("tracking_url")
            urls = [u for u in _SPLIT.split(url) if u] if url else []
            order.tracking = [
                {"number": n, "company": company, "url": urls[i] if i < len(urls) else ""}
                for i, n in enumerate(numbers)
            ]

    def _line(self, order: ImportedOrder, line: int, get) -> None:
        sku, name, pid = get("sku"), get("product_name"), get("product_id")
        qty_text, price_text = get("quantity"), get("price")
        if not any((sku, name, pid, qty_text, price_text)):
            return  # an order-only row
        try:
            quantity = int(float(qty_text))
            if quantity <= 0 or quantity != float(qty_text):
                raise ValueError
        except ValueError:
            self.reject(
                line, f"order {order.id}: quantity {qty_text!r} is not a whole number above 0"
            )
            return
        try:
            price = parse_money(price_text, order.currency or self.currency).amount
        except PriceError as exc:
            self.reject(line, f"order {order.id}: {exc}", "price")
            return
        discount = 0.0
        if get("discount"):
            try:
                discount = parse_money(get("discount"), order.currency or self.currency).amount
            except PriceError as exc:
                self.report.warn(self.label, line, f"order {order.id}: discount: {exc}; ignored")
        assert self.resolve is not None
        product = self.resolve(pid, sku, name)
        if product is None:
            what = ", ".join(
                f"{k} {v!r}" for k, v in (("product id", pid), ("SKU", sku), ("name", name)) if v
            )
            self.reject(
                line,
                f"order {order.id}: unknown product ({what or 'nothing named'}): not in the "
                "store's catalogue; the line is left out",
                "sku" if sku else "product_name",
            )
            return
        order.lines.append(
            ImportedOrderLine(line, product, quantity, price, min(discount, price * quantity))
        )


def _rows(path: Path, fmt: str, report: ImportReport, progress: bool) -> Iterator[Any]:
    if fmt == "jsonl":
        return iter_jsonl(path, report, progress=progress)
    return iter_csv(path, report, progress=progress)


def parse_orders(
    path: Path,
    report: ImportReport,
    fmt: str,
    resolve: ProductResolver,
    columns: dict[str, str] | None = None,
    currency: str | None = None,
    progress: bool = False,
) -> list[ImportedOrder]:
    """The file's orders with the lines that name catalogue products, in file order."""
    if fmt == "shopify":
        columns = shopify_columns(read_header(path))
    assert columns is not None
    parser = _Parser(report, path.name, columns, currency)
    parser.resolve = resolve
    for line, row in _rows(path, fmt, report, progress):
        parser.row(line, row)
    out = []
    for order in parser.orders.values():
        if not order.lines:
            report.error(
                path.name,
                order.line,
                f"order {order.id} has no line for a product in the catalogue; not imported",
            )
            continue
        if order.currency and currency and order.currency != currency.upper():
            report.warn(
                path.name,
                order.line,
                f"order {order.id} is in {order.currency}, the store's prices in "
                f"{currency.upper()}; its amounts are kept as given",
            )
        out.append(order)
    return out


_CHUNK = 500  # ids per IN (...) query


def _customer_id(order: ImportedOrder, by_email: dict[str, str]) -> str:
    if order.customer_id:
        return order.customer_id
    if order.email:
        return by_email.get(order.email) or customer_id_for_email(order.email)
    return GUEST_PREFIX + re.sub(r"[^0-9A-Za-z-]", "", order.id)[:56]


def _new_customers(
    s: Session, orders: list[ImportedOrder], by_email: dict[str, str]
) -> tuple[dict[str, str], int]:
    """Each order's customer id, and how many customers were new: the customers (and, with an
    e-mail, accounts) the store does not know yet are added for them."""
    known = set(s.scalars(select(CustomerRow.id)))
    accounts = set(s.scalars(select(AccountRow.user_id)))
    out: dict[str, str] = {}
    customers: list[dict[str, Any]] = []
    new_accounts: list[dict[str, Any]] = []
    for order in orders:
        cid = out[order.id] = _customer_id(order, by_email)
        if cid not in known:
            known.add(cid)
            name = order.customer_name or (order.email.split("@")[0] if order.email else "Guest")
            customers.append(
                {
                    "id": cid,
                    "name": fit(name, 128),
                    "segment": "" if order.email else "guest",
                    "city": fit(order.city, 64),
                    "state": fit(order.state, 64),
                    "region": "",
                }
            )
        if order.email and order.email not in by_email:
            by_email[order.email] = cid
            if cid not in accounts:
                accounts.add(cid)
                first, _, last = order.customer_name.partition(" ")
                where = (("city", order.city), ("state", order.state), ("zip", order.zip))
                new_accounts.append(
                    {
                        "user_id": cid,
                        "email": order.email,
                        "first_name": fit(first, 128),
                        "last_name": fit(last, 128),
                        "address": {k: v for k, v in where if v},
                        "payment_methods": {},
                    }
                )
    _insert(s, CustomerRow, customers)
    _insert(s, AccountRow, new_accounts)
    return out, len(customers)


def _insert(s: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """Rows inserted in bulk (Core, in chunks): no ORM object per row."""
    for i in range(0, len(rows), 2000):
        s.execute(insert(table), rows[i : i + 2000])


def write_orders(s: Session, orders: list[ImportedOrder], fmt: str, report: ImportReport) -> int:
    """Add or rewrite each order (its lines and facts) in the open transaction; an order whose
    content and customer are unchanged is left alone. Returns the customers created for the
    orders. Works in a few bulk steps (customers, orders, their lines and facts), not a round
    trip per order."""
    by_email = {
        normalise_email(email): uid
        for uid, email in s.execute(select(AccountRow.user_id, AccountRow.email))
        if email
    }
    customer, created = _new_customers(s, orders, by_email)
    ids = [o.id for o in orders]
    stored: dict[str, tuple[str, str | None]] = {}
    for i in range(0, len(ids), _CHUNK):
        rows = s.execute(
            select(OrderRow.id, OrderRow.customer_id, OrderFactsRow.content_hash)
            .outerjoin(OrderFactsRow, OrderFactsRow.order_id == OrderRow.id)
            .where(OrderRow.id.in_(ids[i : i + _CHUNK]))
        )
        stored.update({oid: (cid, digest) for oid, cid, digest in rows})
    changed: list[tuple[ImportedOrder, str]] = []
    for order in orders:
        digest = order.row_hash()
        report.accepted += 1
        if stored.get(order.id) == (customer[order.id], digest):
            report.unchanged += 1
        else:
            changed.append((order, digest))
    rewritten = [o.id for o, _ in changed if o.id in stored]
    for i in range(0, len(rewritten), _CHUNK):
        chunk = rewritten[i : i + _CHUNK]
        s.execute(delete(OrderLineRow).where(OrderLineRow.order_id.in_(chunk)))
        s.execute(delete(OrderFactsRow).where(OrderFactsRow.order_id.in_(chunk)))
        # Their purchase events are seeded again from the new lines after the commit.
        s.execute(delete(EventRow).where(EventRow.origin == "seed", EventRow.session_id.in_(chunk)))
    fresh: list[dict[str, Any]] = []
    for order, _ in changed:
        values = {
            "customer_id": customer[order.id],
            "order_date": order.created_at.date(),
            "ship_date": day(order.fulfilled_at),
            "ship_mode": fit(order.shipping_method, 32),
            "city": fit(order.city, 64),
            "state": fit(order.state, 64),
            "postal_code": fit(order.zip, 16),
        }
        if order.id in stored:
            s.execute(update(OrderRow).where(OrderRow.id == order.id).values(**values))
            report.updated += 1
        else:
            fresh.append({"id": order.id, **values})
            report.added += 1
    _insert(s, OrderRow, fresh)
    _insert(
        s,
        OrderLineRow,
        [
            {
                "order_id": order.id,
                "product_id": ln.product_id,
                "quantity": ln.quantity,
                "unit_price": ln.unit_price,
                "discount": ln.discount,
                "sales": ln.sales,
            }
            for order, _ in changed
            for ln in order.lines
        ],
    )
    _insert(
        s,
        OrderFactsRow,
        [
            {
                "order_id": order.id,
                "source": fmt,
                "email": fit(order.email, 256),
                "financial_status": fit(order.financial_status.lower(), 32),
                "fulfillment_status": fit(order.fulfillment_status.lower(), 32),
                "fulfilled_at": order.fulfilled_at,
                "delivered_at": order.delivered_at,
                "cancelled_at": order.cancelled_at,
                "currency": fit(order.currency, 8),
                "total": order.total,
                "tracking": order.tracking,
                "content_hash": digest,
            }
            for order, digest in changed
        ],
    )
    return created


FORMATS = ("shopify", "csv", "jsonl")


def import_orders(
    settings: Settings,
    path: Path,
    *,
    store: str,
    format: str | None = None,
    mapping: Path | None = None,
    dry_run: bool = False,
    max_errors: int = 0,
    progress: bool = False,
) -> ImportReport:
    """Parse, validate and match the file's orders; commit them whole (or, over `max_errors`
    rejected rows or on a dry run, not at all); then seed their purchase events. Never raises on
    bad input: problems are in the report, and `report.exit_code()` is non-zero when the import
    was refused or failed."""
    return run_import(
        "orders",
        settings,
        path,
        store=store,
        format=format,
        formats=FORMATS,
        dry_run=dry_run,
        max_errors=max_errors,
        detect=detect_orders_format,
        columns=lambda p, fmt: _generic_columns(p, fmt, mapping),
        run=lambda p, fmt, cols, report, registry, db: _run(
            settings, p, fmt, cols, report, registry, db, progress
        ),
    )


def _generic_columns(path: Path, fmt: str, mapping: Path | None) -> dict[str, str]:
    columns = load_columns(mapping, "orders", ORDER_FIELDS, REQUIRED_FIELDS)
    if not {"sku", "product_id", "product_name"} & set(columns):
        raise MappingError(f"{mapping}: name the lines' sku, product_id or product_name")
    if mapping is None and fmt == "csv":
        missing = [f for f in REQUIRED_FIELDS if f not in read_header(path)]
        if missing:
            raise MappingError(
                f"{path.name} is neither a Shopify orders export nor has the columns "
                f"{list(REQUIRED_FIELDS)}: pass --mapping FILE naming its columns "
                f"({', '.join(ORDER_FIELDS)})"
            )
    return columns


def _run(
    settings: Settings,
    path: Path,
    fmt: str,
    columns: dict[str, str] | None,
    report: ImportReport,
    registry: StoreRegistry,
    db: Database,
    progress: bool,
) -> None:
    manifest = registry.get(report.store)
    report.currency = manifest.currency
    t0 = time.perf_counter()
    with Session(db.engine) as s:
        resolve = ProductResolver(s, report.store)
    orders = parse_orders(path, report, fmt, resolve, columns, manifest.currency, progress)
    report.seconds["parse"] = round(time.perf_counter() - t0, 3)
    new_customers = write_all_or_nothing(db, report, lambda s: write_orders(s, orders, fmt, report))
    if not report.committed:
        return
    from ..events import seed_purchases_from_orders

    seeded = seed_purchases_from_orders(db)
    record_import(
        registry,
        report,
        path,
        fmt,
        purchase_events=seeded,
        customers_created=new_customers,
    )


def order_count(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(OrderRow)) or 0)
