"""The store's "today" for customer service.

The demo data is historical (Superstore orders end 2017-12-30), so support logic never calls
`date.today()`: it takes a `StoreClock`. We reuse the recommendation side's clock so the whole app
agrees on one "today"."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from retrieval.clock import StoreClock
from retrieval.db import Database, OrderRow

__all__ = ["StoreClock", "default_store_today"]


def default_store_today(db: Database) -> date | None:
    """The day after the last order in the data (2017-12-31 for Superstore); None without orders."""
    with db.session() as s:
        last: date | None = s.scalar(select(func.max(OrderRow.order_date)))
    return last + timedelta(days=1) if last else None
