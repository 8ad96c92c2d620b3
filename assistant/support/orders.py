"""Order look-ups for support: authorised, with a status derived by code from the dates.

A shopper only ever sees their own orders. An order that exists but belongs to someone else
raises exactly the same `OrderNotFound` as one that does not exist, so the assistant cannot be
used as an oracle for which order numbers are real.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from sqlalchemy import select

from retrieval.clock import StoreClock
from retrieval.db import Database, OrderLineRow, OrderRow, ProductRow

log = logging.getLogger(__name__)

# Business days are ignored on purpose: the data has no calendar, and a simple, stated
# estimate is easier to explain than a precise-looking one.
TRANSIT_DAYS: dict[str, int] = {
    "Same Day": 0,
    "First Class": 2,
    "Second Class": 3,
    "Standard Class": 5,
}
DEFAULT_TRANSIT_DAYS = 5  # an unknown ship mode is treated like Standard Class

# Order numbers look like "CA-2017-152156": a two-letter prefix, the year and six digits.
# Separators may be dashes, spaces or missing, since shoppers type them all ways.
_ORDER_ID = re.compile(
    r"\b([a-z]{2})\s*[-\u2010-\u2015_/ ]?\s*(20\d\d)\s*[-\u2010-\u2015_/ ]?\s*(\d{6})\b", re.I
)


class AuthRequired(PermissionError):
    """Order details need a signed-in shopper."""


class OrderNotFound(LookupError):
    """No such order for this shopper (whether it does not exist or is someone else's)."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id} was not found")
        self.order_id = order_id


class OrderStatus(StrEnum):
    PROCESSING = "processing"  # placed, not yet handed to the carrier
    IN_TRANSIT = "in_transit"  # shipped, delivery estimate not reached yet
    DELIVERED = "delivered"  # delivery estimate reached


@dataclass(frozen=True)
class OrderLineView:
    product_id: str
    name: str
    category: str
    sub_category: str
    quantity: int
    unit_price: float  # list price per unit, before discount
    discount: float  # fraction, 0.2 = 20 % off
    line_total: float  # what the shopper paid for the line


@dataclass(frozen=True)
class Tracking:
    carrier: str
    reference: str


@dataclass(frozen=True)
class OrderView:
    order_id: str
    customer_id: str
    order_date: date
    ship_date: date | None
    ship_mode: str
    status: OrderStatus
    delivery_estimate: date | None
    tracking: Tracking | None
    lines: tuple[OrderLineView, ...]
    city: str = ""
    state: str = ""

    @property
    def total(self) -> float:
        return round(sum(ln.line_total for ln in self.lines), 2)

    def line(self, product_id: str) -> OrderLineView | None:
        return next((ln for ln in self.lines if ln.product_id == product_id), None)


@dataclass(frozen=True)
class OrderSummary:
    order_id: str
    order_date: date
    status: OrderStatus
    items: int
    total: float


def normalise_order_id(text: str) -> str | None:
    """Canonical "CA-2017-152156" form of one order number, or None if it is not one."""
    m = _ORDER_ID.fullmatch(text.strip())
    return _canonical(m) if m else None


def find_order_ids(text: str) -> list[str]:
    """Order numbers mentioned in free text, canonical and de-duplicated, in order of mention."""
    return list(dict.fromkeys(_canonical(m) for m in _ORDER_ID.finditer(text)))


def _canonical(m: re.Match[str]) -> str:
    return f"{m.group(1).upper()}-{m.group(2)}-{m.group(3)}"


def delivery_estimate(ship_date: date | None, ship_mode: str) -> date | None:
    if ship_date is None:
        return None
    return ship_date + timedelta(days=TRANSIT_DAYS.get(ship_mode, DEFAULT_TRANSIT_DAYS))


def derive_status(
    order_date: date, ship_date: date | None, ship_mode: str, today: date
) -> OrderStatus:
    """Processing until it ships (and at least on the day it is placed), in transit until the
    delivery estimate, delivered from the estimate on."""
    if today < order_date + timedelta(days=1) or ship_date is None or today < ship_date:
        return OrderStatus.PROCESSING
    estimate = delivery_estimate(ship_date, ship_mode)
    assert estimate is not None
    return OrderStatus.IN_TRANSIT if today < estimate else OrderStatus.DELIVERED


def _digest(order_id: str) -> bytes:
    return hashlib.sha256(f"shopassist-tracking:{order_id}".encode()).digest()


def tracking_for(order_id: str, ship_mode: str) -> Tracking:
    """A plausible, deterministic tracking reference: carrier by ship mode, number from a hash.

    The demo data has no real tracking numbers; deriving one keeps answers stable across runs."""
    n = int.from_bytes(_digest(order_id), "big")
    digits = str(n).rjust(30, "0")
    if ship_mode == "Same Day":
        return Tracking("Metro Courier", f"MC{digits[:10]}")
    if ship_mode == "First Class":
        alnum = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"  # UPS style: 1Z + 6 shipper + 2 service + 8
        body = ""
        for _ in range(6):
            n, r = divmod(n, len(alnum))
            body += alnum[r]
        return Tracking("UPS", f"1Z{body}01{digits[-8:]}")
    if ship_mode == "Second Class":
        return Tracking("FedEx", digits[-12:])
    return Tracking("USPS", f"9400{digits[-18:]}")


class OrderService:
    """Order status and history, always scoped to the signed-in shopper."""

    def __init__(self, db: Database, clock: StoreClock) -> None:
        self.db = db
        self.clock = clock

    def get_order(self, order_id: str, requester_user_id: str | None) -> OrderView:
        if not requester_user_id:
            raise AuthRequired("sign in to see order details")
        canonical = normalise_order_id(order_id) or order_id.strip().upper()
        with self.db.session() as s:
            order = s.get(OrderRow, canonical)
            if order is None:
                log.info("order lookup: %s does not exist", canonical)
                raise OrderNotFound(canonical)
            if order.customer_id != requester_user_id:
                # Same exception and message as "does not exist": no existence oracle.
                log.warning(
                    "authorisation failure: user %s asked for order %s of another customer",
                    requester_user_id,
                    canonical,
                )
                raise OrderNotFound(canonical)
            rows = s.execute(
                select(OrderLineRow, ProductRow)
                .join(ProductRow, ProductRow.id == OrderLineRow.product_id)
                .where(OrderLineRow.order_id == canonical)
                .order_by(OrderLineRow.id)
            ).all()
            lines = tuple(
                OrderLineView(
                    product_id=p.id,
                    name=p.name,
                    category=p.category,
                    sub_category=p.sub_category,
                    quantity=ln.quantity,
                    unit_price=round(ln.unit_price, 2),
                    discount=ln.discount,
                    line_total=round(ln.sales, 2),
                )
                for ln, p in rows
            )
            return self._view(order, lines)

    def list_orders(self, user_id: str | None, limit: int = 10) -> list[OrderSummary]:
        """The shopper's orders, most recent first."""
        if not user_id:
            raise AuthRequired("sign in to see your orders")
        with self.db.session() as s:
            orders = s.scalars(
                select(OrderRow)
                .where(OrderRow.customer_id == user_id)
                .order_by(OrderRow.order_date.desc(), OrderRow.id.desc())
                .limit(limit)
            ).all()
            ids = [o.id for o in orders]
            totals: dict[str, tuple[int, float]] = {}
            for ln in s.scalars(select(OrderLineRow).where(OrderLineRow.order_id.in_(ids))):
                items, total = totals.get(ln.order_id, (0, 0.0))
                totals[ln.order_id] = (items + ln.quantity, total + ln.sales)
        today = self.clock.today()
        return [
            OrderSummary(
                order_id=o.id,
                order_date=o.order_date,
                status=derive_status(o.order_date, o.ship_date, o.ship_mode, today),
                items=totals.get(o.id, (0, 0.0))[0],
                total=round(totals.get(o.id, (0, 0.0))[1], 2),
            )
            for o in orders
        ]

    def _view(self, order: OrderRow, lines: tuple[OrderLineView, ...]) -> OrderView:
        status = derive_status(
            order.order_date, order.ship_date, order.ship_mode, self.clock.today()
        )
        return OrderView(
            order_id=order.id,
            customer_id=order.customer_id,
            order_date=order.order_date,
            ship_date=order.ship_date,
            ship_mode=order.ship_mode,
            status=status,
            delivery_estimate=delivery_estimate(order.ship_date, order.ship_mode),
            # No tracking until the parcel is with the carrier.
            tracking=None
            if status is OrderStatus.PROCESSING
            else tracking_for(order.id, order.ship_mode),
            lines=lines,
            city=order.city,
            state=order.state,
        )
