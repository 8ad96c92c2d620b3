"""Support tickets: a hand-off to a human, stored in the `tickets` table."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select

from retrieval.clock import StoreClock
from retrieval.db import Database, TicketRow

log = logging.getLogger(__name__)
MAX_SUMMARY_CHARS = 4000  # a ticket is a summary, not a transcript


class TicketReason(StrEnum):
    """Known reasons; `create_ticket` accepts any short string, these keep reports tidy."""

    RETURN = "return"
    REFUND = "refund"
    ORDER_ISSUE = "order_issue"
    DAMAGED = "damaged"
    WARRANTY = "warranty"
    PRIVACY = "privacy"
    HUMAN_REQUESTED = "human_requested"
    OTHER = "other"


@dataclass(frozen=True)
class TicketView:
    id: int
    user_id: str | None
    reason: str
    summary: str
    created_at: datetime
    status: str


def create_ticket(
    db: Database,
    user_id: str | None,
    reason: str,
    summary: str,
    clock: StoreClock | None = None,
) -> int:
    """Store a ticket and return its id. Anonymous tickets are allowed (user_id None)."""
    reason = str(reason).strip().lower()[:64] or TicketReason.OTHER.value
    summary = summary.strip()
    if not summary:
        raise ValueError("a ticket needs a summary")
    now = (clock or StoreClock()).now()
    with db.session() as s:
        row = TicketRow(
            user_id=user_id or None,
            reason=reason,
            summary=summary[:MAX_SUMMARY_CHARS],
            created_at=now,
            status="open",
        )
        s.add(row)
        s.flush()
        ticket_id = row.id
    log.info("ticket %d created (reason=%s, user=%s)", ticket_id, reason, user_id or "anonymous")
    return ticket_id


def list_tickets(db: Database, user_id: str) -> list[TicketView]:
    """The shopper's tickets, newest first."""
    with db.session() as s:
        rows = s.scalars(
            select(TicketRow)
            .where(TicketRow.user_id == user_id)
            .order_by(TicketRow.created_at.desc(), TicketRow.id.desc())
        ).all()
        return [
            TicketView(r.id, r.user_id, r.reason, r.summary, r.created_at, r.status) for r in rows
        ]
