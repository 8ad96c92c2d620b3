"""Support tickets are stored and listed per shopper."""

from datetime import date

import pytest

from assistant.support import StoreClock, TicketReason, create_ticket, list_tickets
from retrieval.db import TicketRow


def test_tickets_are_stored(stack):
    clock = StoreClock(date(2017, 12, 31))
    first = create_ticket(stack.db, "TK-00001", TicketReason.RETURN, "Chair arrived broken", clock)
    second = create_ticket(stack.db, "TK-00001", "Human_Requested ", "wants a person", clock)
    anon = create_ticket(stack.db, None, "other", "question about invoices", clock)
    assert len({first, second, anon}) == 3
    got = list_tickets(stack.db, "TK-00001")
    assert [t.id for t in got] == [second, first]  # newest first
    assert got[0].reason == "human_requested" and got[1].summary == "Chair arrived broken"
    assert all(t.status == "open" and t.created_at.date() == date(2017, 12, 31) for t in got)
    with stack.db.session() as s:
        row = s.get(TicketRow, anon)
        assert row is not None and row.user_id is None
    assert list_tickets(stack.db, "TK-NOBODY") == []


def test_ticket_needs_a_summary(stack):
    with pytest.raises(ValueError):
        create_ticket(stack.db, "TK-00002", "other", "   ")
