"""Behaviour events: validated, durable, idempotent ingestion.

Every event carries an id that is its idempotency key: a client that retries after a crash
cannot create a duplicate. A bad event in a batch is reported and the rest are still stored.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from sqlalchemy import func, select

from .db import Database, EventRow, OrderFactsRow, OrderLineRow, OrderRow

log = logging.getLogger(__name__)

EventType = Literal["view", "click", "add_to_cart", "purchase", "search", "chat_mention"]
EVENT_TYPES: tuple[str, ...] = (
    "view",
    "click",
    "add_to_cart",
    "purchase",
    "search",
    "chat_mention",
)
CLOCK_SKEW = timedelta(minutes=5)
MAX_BATCH = 1000


class EventIn(BaseModel):
    """One event as a client sends it."""

    model_config = {"extra": "forbid", "str_strip_whitespace": True}

    id: str = Field(
        default_factory=lambda: uuid.uuid4().hex,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9:_.\-]+$",
    )
    user_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9:_.\-@]+$")
    type: EventType
    product_id: str | None = Field(default=None, max_length=64)
    ts: datetime | None = None
    session_id: str | None = Field(default=None, max_length=64)
    query: str | None = Field(default=None, max_length=1000)

    @field_validator("ts")
    @classmethod
    def _utc_naive(cls, v: datetime | None) -> datetime | None:
        # Store naive UTC so SQLite and PostgreSQL compare the same way.
        if v is not None and v.tzinfo is not None:
            v = v.astimezone(UTC).replace(tzinfo=None)
        return v

    @model_validator(mode="after")
    def _needs_target(self) -> EventIn:
        if self.type == "search":
            if not self.query:
                raise ValueError("a search event needs a query")
        elif not self.product_id:
            raise ValueError(f"a {self.type} event needs a product_id")
        return self


@dataclass(frozen=True)
class EventError:
    index: int
    event_id: str | None
    code: str  # invalid | unknown_product | future_timestamp | duplicate
    message: str


@dataclass
class IngestResult:
    accepted: list[str] = field(default_factory=list)
    errors: list[EventError] = field(default_factory=list)

    @property
    def duplicates(self) -> list[str]:
        return [e.event_id for e in self.errors if e.code == "duplicate" and e.event_id]


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _insert_ignore(db: Database):
    """INSERT … ON CONFLICT DO NOTHING for the engine's dialect (idempotent under races)."""
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    return insert(EventRow).on_conflict_do_nothing(index_elements=["id"])


def ingest(
    db: Database,
    events: Sequence[dict[str, Any] | EventIn],
    product_exists: Callable[[str], bool],
    now: datetime | None = None,
    origin: str = "live",
) -> IngestResult:
    """Validate and store a batch. Valid events commit together; each bad one is reported."""
    if len(events) > MAX_BATCH:
        raise ValueError(f"a batch holds at most {MAX_BATCH} events, got {len(events)}")
    now = now or utcnow()
    result = IngestResult()
    valid: list[tuple[int, EventIn]] = []
    seen: set[str] = set()
    for i, raw in enumerate(events):
        # Anything else (None, a list, a string) is an invalid event, reported like any other.
        raw_id = raw.get("id") if isinstance(raw, dict) else getattr(raw, "id", None)
        try:
            ev = raw if isinstance(raw, EventIn) else EventIn.model_validate(raw)
        except ValidationError as exc:
            msg = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'event'}: {e['msg']}" for e in exc.errors()
            )
            result.errors.append(EventError(i, str(raw_id) if raw_id else None, "invalid", msg))
            continue
        if ev.product_id and not product_exists(ev.product_id):
            result.errors.append(
                EventError(i, ev.id, "unknown_product", f"unknown product id {ev.product_id!r}")
            )
            continue
        if ev.ts is not None and ev.ts > now + CLOCK_SKEW:
            result.errors.append(
                EventError(
                    i, ev.id, "future_timestamp", f"timestamp {ev.ts.isoformat()} is in the future"
                )
            )
            continue
        if ev.id in seen:
            result.errors.append(
                EventError(i, ev.id, "duplicate", f"event id {ev.id!r} appears twice in this batch")
            )
            continue
        seen.add(ev.id)
        valid.append((i, ev))

    if not valid:
        return result
    with db.session() as s:
        existing = set(
            s.scalars(select(EventRow.id).where(EventRow.id.in_([e.id for _, e in valid])))
        )
        rows = []
        for i, ev in valid:
            if ev.id in existing:
                result.errors.append(
                    EventError(i, ev.id, "duplicate", f"event id {ev.id!r} is already stored")
                )
                continue
            rows.append(
                {
                    "id": ev.id,
                    "user_id": ev.user_id,
                    "product_id": ev.product_id,
                    "type": ev.type,
                    "ts": ev.ts or now,
                    "session_id": ev.session_id,
                    "query": ev.query,
                    "origin": origin,
                }
            )
        if rows:
            s.execute(_insert_ignore(db), rows)
        result.accepted = [str(r["id"]) for r in rows]
    result.errors.sort(key=lambda e: e.index)
    return result


@dataclass(frozen=True)
class StoredEvent:
    id: str
    user_id: str
    product_id: str | None
    type: str
    ts: datetime
    session_id: str | None
    origin: str


def user_events(db: Database, user_id: str, since: datetime | None = None) -> list[StoredEvent]:
    with db.session() as s:
        q = select(EventRow).where(EventRow.user_id == user_id)
        if since is not None:
            q = q.where(EventRow.ts >= since)
        rows = s.scalars(q.order_by(EventRow.ts, EventRow.id)).all()
        return [
            StoredEvent(r.id, r.user_id, r.product_id, r.type, r.ts, r.session_id, r.origin)
            for r in rows
        ]


def all_events(db: Database, types: Iterable[str] = EVENT_TYPES) -> list[StoredEvent]:
    with db.session() as s:
        rows = s.scalars(
            select(EventRow)
            .where(EventRow.type.in_(list(types)))
            .order_by(EventRow.ts, EventRow.id)
        ).all()
        return [
            StoredEvent(r.id, r.user_id, r.product_id, r.type, r.ts, r.session_id, r.origin)
            for r in rows
        ]


def seed_purchases_from_orders(db: Database) -> int:
    """Real purchase history: one event per order line, at its order date. Idempotent.
    An imported order its shop cancelled (or voided) was never a purchase and seeds nothing."""
    with db.session() as s:
        lines = s.execute(
            select(
                OrderLineRow.id,
                OrderLineRow.order_id,
                OrderLineRow.product_id,
                OrderRow.customer_id,
                OrderRow.order_date,
            )
            .join(OrderRow, OrderRow.id == OrderLineRow.order_id)
            .outerjoin(OrderFactsRow, OrderFactsRow.order_id == OrderRow.id)
            .where(
                OrderFactsRow.cancelled_at.is_(None),
                func.coalesce(OrderFactsRow.financial_status, "") != "voided",
            )
        ).all()
        if not lines:
            return 0
        before = s.scalar(
            select(func.count()).select_from(EventRow).where(EventRow.origin == "seed")
        )
        rows = [
            {
                "id": f"seed:{oid}:{pid}",
                "user_id": cust,
                "product_id": pid,
                "type": "purchase",
                "ts": datetime.combine(odate, datetime.min.time()),
                "session_id": oid,
                "query": None,
                "origin": "seed",
            }
            for _lid, oid, pid, cust, odate in lines
        ]
        for start in range(0, len(rows), 2000):
            s.execute(_insert_ignore(db), rows[start : start + 2000])
        after = s.scalar(
            select(func.count()).select_from(EventRow).where(EventRow.origin == "seed")
        )
    return int((after or 0) - (before or 0))
