"""Order look-ups for support: authorised, with a status derived by code from the dates, or
read from the shop's own fields for an imported order.

A shopper only ever sees their own orders. An order that exists but belongs to someone else
raises exactly the same `OrderNotFound` as one that does not exist, so the assistant cannot be
used as an oracle for which order numbers are real.

Superstore's orders have dates only: status, delivery estimate and tracking are all derived.
An imported order (`OrderFactsRow`: Shopify's financial and fulfilment statuses, fulfilled /
cancelled / delivered times, tracking) is answered from those fields; what is still worked out
by code (a delivery estimate, "delivered" from that estimate) is named in `OrderView.derived`,
and no tracking number is ever invented for it.
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
from retrieval.db import Database, OrderFactsRow, OrderLineRow, OrderRow, ProductRow

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
# A shop's own order names, as Shopify numbers them: "#1001". Typed "#1001", "# 1001", "order
# number 1001", "order no. 1001", or "order 1001" after a word that makes "order" the noun ("my
# order 1001", "return order 1001"); "I want to order 100 pens" is no order number.
_SHOP_ORDER_ID = re.compile(
    r"(?:(?<![\w#])#\s?"
    r"|\border\s+(?:number|no\.?|num\.?|nr\.?)\s*:?\s*#?\s*"
    r"|\b(?:my|the|this|that|your|an|about|for|of|return|track|cancel|check)\s+order\s+#?\s*)"
    r"(\d{3,12})\b",
    re.I,
)
_SHOP_ORDER_ALONE = re.compile(r"#?\s*(\d{3,12})")


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
    DELIVERED = "delivered"  # delivery estimate reached (or, imported, the delivery date)
    # Only imported orders say these (their shop's own fields):
    PARTIALLY_SHIPPED = "partially_shipped"  # some items fulfilled, some not yet
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    RETURNED = "returned"  # its items were restocked


# An imported order in one of these states has nothing left to deliver or return.
CLOSED_STATUSES = frozenset({OrderStatus.CANCELLED, OrderStatus.REFUNDED, OrderStatus.RETURNED})


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
    url: str = ""


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
    # Facts code worked out rather than read from the shop's data ("status", "delivery_estimate",
    # "tracking", "delivered_on"): replies and the API label them as derived / estimated.
    derived: tuple[str, ...] = ()
    # The day it was delivered: imported, or (named in `derived`) the delivery estimate.
    delivered_on: date | None = None
    imported: bool = False  # answered from the shop's own order fields (OrderFactsRow)

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
    """Canonical form of one order number ("CA-2017-152156", or a shop's "#1001"), or None if
    it is not one."""
    m = _ORDER_ID.fullmatch(text.strip())
    if m:
        return _canonical(m)
    shop = _SHOP_ORDER_ALONE.fullmatch(text.strip()) or _SHOP_ORDER_ID.fullmatch(text.strip())
    return f"#{shop.group(1)}" if shop else None


def shop_order_ids(text: str) -> list[tuple[int, str]]:
    """A shop's own order numbers in free text ("#1001"), canonical, with where each starts."""
    return [(m.start(), f"#{m.group(1)}") for m in _SHOP_ORDER_ID.finditer(text)]


def find_order_ids(text: str) -> list[str]:
    """Order numbers mentioned in free text, canonical and de-duplicated, in order of mention."""
    found = [(m.start(), _canonical(m)) for m in _ORDER_ID.finditer(text)] + shop_order_ids(text)
    return list(dict.fromkeys(oid for _, oid in sorted(found)))


def _canonical(m: re.Match[str]) -> str:
    return f"{m.group(1).upper()}-{m.group(2)}-{m.group(3)}"


# A shop's own shipping method names, read by their words (checked in order).
_TRANSIT_WORDS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"same[- ]day|local delivery|pick ?up|collect", re.I), 0),
    (re.compile(r"overnight|next[- ]day|24 ?h", re.I), 1),
    (re.compile(r"express|priority|expedited|first class", re.I), 2),
)


def transit_days(ship_mode: str) -> int:
    """Days from shipping to delivery: Superstore's ship modes exactly, a shop's method by its
    words ("Express Shipping" 2), else the Standard Class default."""
    if ship_mode in TRANSIT_DAYS:
        return TRANSIT_DAYS[ship_mode]
    for pattern, days in _TRANSIT_WORDS:
        if pattern.search(ship_mode):
            return days
    return DEFAULT_TRANSIT_DAYS


def delivery_estimate(ship_date: date | None, ship_mode: str) -> date | None:
    if ship_date is None:
        return None
    return ship_date + timedelta(days=transit_days(ship_mode))


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


@dataclass(frozen=True)
class ImportedState:
    """An imported order's status as its shop's fields give it, with what code had to work out
    (named in `derived`)."""

    status: OrderStatus
    ship_date: date | None
    delivery_estimate: date | None
    delivered_on: date | None
    derived: tuple[str, ...]


_SHIPPED = frozenset({"fulfilled", "shipped", "in_transit", "in transit", "sent"})
_PARTIAL = frozenset({"partial", "partially_fulfilled", "partially fulfilled", "partially_shipped"})
_RETURNED = frozenset({"restocked", "returned"})


def imported_status(
    order_date: date, ship_date: date | None, ship_mode: str, facts: OrderFactsRow, today: date
) -> ImportedState:
    """Status from the shop's fields: cancelled / refunded / restocked as they say; delivered on
    an imported delivery date; shipped from the fulfilment status. Only what the fields leave
    open is derived: the delivery estimate (ship date + transit days by shipping method), and
    "delivered" once that estimate has passed without a delivery date."""
    fin = (facts.financial_status or "").strip().lower()
    ful = (facts.fulfillment_status or "").strip().lower()
    derived: list[str] = []
    shipped_on = facts.fulfilled_at.date() if facts.fulfilled_at else ship_date
    delivered = facts.delivered_at.date() if facts.delivered_at else None
    is_shipped = ful in _SHIPPED or ful == "delivered" or delivered is not None
    if (is_shipped or ful in _PARTIAL) and shipped_on is None:
        shipped_on, derived = order_date, ["ship_date"]  # shipped, date not exported
    estimate = delivery_estimate(shipped_on, ship_mode) if not delivered else None
    if estimate is not None:
        derived.append("delivery_estimate")

    def state(status: OrderStatus, *more: str, on: date | None = None) -> ImportedState:
        return ImportedState(status, shipped_on, estimate, on, tuple(derived + list(more)))

    if facts.cancelled_at is not None or fin == "voided":
        return ImportedState(OrderStatus.CANCELLED, None, None, None, ())
    if ful in _RETURNED:
        return state(OrderStatus.RETURNED)
    if fin == "refunded":
        return state(OrderStatus.REFUNDED)
    if delivered is not None:
        return state(OrderStatus.DELIVERED, on=delivered)
    if ful == "delivered":  # a generic export's status word, without a date
        return state(OrderStatus.DELIVERED, "delivered_on", on=estimate)
    if is_shipped:
        if estimate is not None and today >= estimate:
            return state(OrderStatus.DELIVERED, "status", "delivered_on", on=estimate)
        return state(OrderStatus.IN_TRANSIT)
    if ful in _PARTIAL:
        return state(OrderStatus.PARTIALLY_SHIPPED)
    return ImportedState(OrderStatus.PROCESSING, None, None, None, ())


def imported_tracking(facts: OrderFactsRow) -> Tracking | None:
    """The first tracking entry the export gave, as given; None when it gave none."""
    for t in facts.tracking or []:
        number = str(t.get("number") or "").strip()
        if number:
            company = str(t.get("company") or "").strip()
            return Tracking(company or "carrier", number, str(t.get("url") or "").strip())
    return None


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
            return self._view(order, lines, s.get(OrderFactsRow, canonical))

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
            facts = {
                f.order_id: f
                for f in s.scalars(select(OrderFactsRow).where(OrderFactsRow.order_id.in_(ids)))
            }
        today = self.clock.today()

        def status(o: OrderRow) -> OrderStatus:
            if o.id in facts:
                return imported_status(
                    o.order_date, o.ship_date, o.ship_mode, facts[o.id], today
                ).status
            return derive_status(o.order_date, o.ship_date, o.ship_mode, today)

        return [
            OrderSummary(
                order_id=o.id,
                order_date=o.order_date,
                status=status(o),
                items=totals.get(o.id, (0, 0.0))[0],
                total=round(totals.get(o.id, (0, 0.0))[1], 2),
            )
            for o in orders
        ]

    def _view(
        self, order: OrderRow, lines: tuple[OrderLineView, ...], facts: OrderFactsRow | None = None
    ) -> OrderView:
        today = self.clock.today()
        if facts is not None:
            got = imported_status(order.order_date, order.ship_date, order.ship_mode, facts, today)
            return OrderView(
                order_id=order.id,
                customer_id=order.customer_id,
                order_date=order.order_date,
                ship_date=got.ship_date,
                ship_mode=order.ship_mode,
                status=got.status,
                delivery_estimate=got.delivery_estimate,
                tracking=imported_tracking(facts),  # never invented for a real shop's order
                lines=lines,
                city=order.city,
                state=order.state,
                derived=got.derived,
                delivered_on=got.delivered_on,
                imported=True,
            )
        status = derive_status(order.order_date, order.ship_date, order.ship_mode, today)
        estimate = delivery_estimate(order.ship_date, order.ship_mode)
        delivered = status is OrderStatus.DELIVERED
        return OrderView(
            order_id=order.id,
            customer_id=order.customer_id,
            order_date=order.order_date,
            ship_date=order.ship_date,
            ship_mode=order.ship_mode,
            status=status,
            delivery_estimate=estimate,
            # No tracking until the parcel is with the carrier.
            tracking=None
            if status is OrderStatus.PROCESSING
            else tracking_for(order.id, order.ship_mode),
            lines=lines,
            city=order.city,
            state=order.state,
            derived=("status", "delivery_estimate", "tracking")
            + (("delivered_on",) if delivered else ()),
            delivered_on=estimate if delivered else None,
        )
