"""SQLAlchemy tables and the engine. SQLite by default; any SQLAlchemy URL (PostgreSQL) works."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from .sources.base import CatalogueData

log = logging.getLogger(__name__)


class Base(DeclarativeBase):
    pass


class ProductRow(Base):
    __tablename__ = "products"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(64), index=True)
    sub_category: Mapped[str] = mapped_column(String(64), index=True)
    price: Mapped[float] = mapped_column(Float)
    brand: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    source: Mapped[str] = mapped_column(String(32))
    features: Mapped[str] = mapped_column(Text, default="")
    rating: Mapped[float | None] = mapped_column(Float, nullable=True)
    consumable: Mapped[bool] = mapped_column(default=False)
    content_hash: Mapped[str] = mapped_column(String(32))


class CustomerRow(Base):
    __tablename__ = "customers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    segment: Mapped[str] = mapped_column(String(64), default="")
    city: Mapped[str] = mapped_column(String(64), default="")
    state: Mapped[str] = mapped_column(String(64), default="")
    region: Mapped[str] = mapped_column(String(64), default="")


class OrderRow(Base):
    __tablename__ = "orders"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    order_date: Mapped[date] = mapped_column(Date)
    ship_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    ship_mode: Mapped[str] = mapped_column(String(32))
    city: Mapped[str] = mapped_column(String(64), default="")
    state: Mapped[str] = mapped_column(String(64), default="")
    postal_code: Mapped[str] = mapped_column(String(16), default="")


class OrderLineRow(Base):
    __tablename__ = "order_lines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[float] = mapped_column(Float)
    discount: Mapped[float] = mapped_column(Float)
    sales: Mapped[float] = mapped_column(Float)


class OrderFactsRow(Base):
    """What an imported order says about itself (its shop's payment and fulfilment statuses,
    when it shipped, was delivered or cancelled, tracking): order status and returns read these
    instead of deriving them from dates. Orders without a row (Superstore) are derived.
    A table of its own, so a database made before imports existed gains it by `create_all`."""

    __tablename__ = "order_facts"
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    source: Mapped[str] = mapped_column(String(32))  # the import format: shopify, csv, jsonl
    email: Mapped[str] = mapped_column(String(256), default="")
    financial_status: Mapped[str] = mapped_column(String(32), default="")
    fulfillment_status: Mapped[str] = mapped_column(String(32), default="")
    fulfilled_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    currency: Mapped[str] = mapped_column(String(8), default="")
    total: Mapped[float | None] = mapped_column(Float, nullable=True)
    # [{"number": ..., "company": ..., "url": ...}], as the export gives them; never invented.
    tracking: Mapped[list] = mapped_column(JSON, default=list)
    content_hash: Mapped[str] = mapped_column(String(32), default="")


class VariantRow(Base):
    """A buyable version of a product: its own id, options, price and availability."""

    __tablename__ = "variants"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    price: Mapped[float] = mapped_column(Float)
    available: Mapped[bool] = mapped_column(default=True)


class AccountRow(Base):
    """A customer account where the store has them: identification facts, default address and
    the payment methods on file (gift card balances included)."""

    __tablename__ = "accounts"
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(256), index=True)
    first_name: Mapped[str] = mapped_column(String(128))
    last_name: Mapped[str] = mapped_column(String(128))
    address: Mapped[dict] = mapped_column(JSON)
    payment_methods: Mapped[dict] = mapped_column(JSON)


class OrderStateRow(Base):
    """The live side of an order in a store that tracks it (see sources.base.OrderState)."""

    __tablename__ = "order_states"
    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(32))
    address: Mapped[dict] = mapped_column(JSON)
    items: Mapped[list] = mapped_column(JSON)
    fulfillments: Mapped[list] = mapped_column(JSON, default=list)
    payment_history: Mapped[list] = mapped_column(JSON, default=list)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)


class ActionLogRow(Base):
    """The audit log of actions on orders and accounts. `key` is the confirmed proposal's id:
    unique, so a repeated "yes" or a retried request runs an action once."""

    __tablename__ = "action_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    ts: Mapped[datetime] = mapped_column(DateTime)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    session_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    args: Mapped[dict] = mapped_column(JSON)
    result: Mapped[dict] = mapped_column(JSON)


class EventRow(Base):
    """One behaviour event. The id is the idempotency key: a retried write is a no-op."""

    __tablename__ = "events"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    product_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    type: Mapped[str] = mapped_column(String(16))
    ts: Mapped[datetime] = mapped_column(DateTime)
    session_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    query: Mapped[str | None] = mapped_column(Text, nullable=True)
    origin: Mapped[str] = mapped_column(String(16), default="live")  # "seed" = from real orders
    __table_args__ = (Index("ix_events_user_ts", "user_id", "ts"),)


class TicketRow(Base):
    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    reason: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), default="open")


class ExposureRow(Base):
    """A/B exposure or click, per experiment and variant."""

    __tablename__ = "exposures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment: Mapped[str] = mapped_column(String(64), index=True)
    variant: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    product_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))  # "exposure" | "click"
    ts: Mapped[datetime] = mapped_column(DateTime)


class ChatLogRow(Base):
    """Redacted chat turns, kept for feedback and privacy export/delete."""

    __tablename__ = "chat_logs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    session_id: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    meta: Mapped[dict] = mapped_column(JSON, default=dict)
    ts: Mapped[datetime] = mapped_column(DateTime)


class CartLineRow(Base):
    """One line of a shopper's cart. `owner` is "u:<user id>" or "s:<session id>" (anonymous);
    the price is never stored: it is the catalogue's at read time. No foreign key to products,
    so a catalogue reload never fails on a cart (a vanished product is skipped when read)."""

    __tablename__ = "cart_lines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(96))
    product_id: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    added_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (Index("ux_cart_lines_owner_product", "owner", "product_id", unique=True),)


RowT = TypeVar("RowT", bound=Base)


def row_from(table: type[RowT], record: object, **values: Any) -> RowT:
    """A `table` row from a source record: each of the record's fields that is a column of the
    table, plus `values` (which supply or override columns)."""
    columns = table.__table__.columns.keys()
    found = {k: v for k, v in vars(record).items() if k in columns}
    return table(**(found | values))


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets readers run during writes; synchronous=FULL so a committed event survives a kill.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 5})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    Base.metadata.create_all(engine)
    return engine


class Database:
    """Owns the engine and hands out transactional sessions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as s, s.begin():
            yield s

    def has_catalogue(self, source: str | None = None) -> bool:
        """Whether products are loaded (from `source`, when given)."""
        query = select(ProductRow.id).limit(1)
        if source is not None:
            query = query.where(ProductRow.source == source)
        with self.session() as s:
            return s.scalar(query) is not None

    def load_catalogue(self, data: CatalogueData) -> None:
        """Replace products, customers and orders with the source's records, in one transaction."""
        from sqlalchemy import delete

        with self.session() as s:
            for table in (
                OrderStateRow,
                AccountRow,
                VariantRow,
                OrderFactsRow,
                OrderLineRow,
                OrderRow,
                CustomerRow,
                ProductRow,
            ):
                s.execute(delete(table))
            s.add_all(row_from(ProductRow, p, content_hash=p.content_hash()) for p in data.products)
            s.add_all(row_from(CustomerRow, c) for c in data.customers)
            s.flush()
            for o in data.orders:
                s.add(row_from(OrderRow, o))
            s.add_all(row_from(VariantRow, v) for v in data.variants_or_single())
            s.flush()
            s.add_all(
                row_from(OrderLineRow, ln, order_id=o.id) for o in data.orders for ln in o.lines
            )
            self._add_store_state(s, data)
        log.info(
            "loaded %d products, %d customers, %d orders",
            len(data.products),
            len(data.customers),
            len(data.orders),
        )

    def reset_store_state(self, data: CatalogueData) -> None:
        """Restore accounts, live orders and variant availability to the source's pristine
        records, in one transaction (the audit log is kept)."""
        from sqlalchemy import delete

        with self.session() as s:
            for table in (OrderStateRow, AccountRow):
                s.execute(delete(table))
            for v in data.variants_or_single():
                row = s.get(VariantRow, v.id)
                if row is not None:
                    row.price, row.available, row.options = v.price, v.available, dict(v.options)
            self._add_store_state(s, data)

    @staticmethod
    def _add_store_state(s: Session, data: CatalogueData) -> None:
        s.add_all(row_from(AccountRow, a) for a in data.accounts)
        s.add_all(row_from(OrderStateRow, o) for o in data.order_states)
