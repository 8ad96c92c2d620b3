"""Privacy: export everything we hold about a shopper, or delete what they generated.

Delete removes behaviour events, chat logs, tickets, A/B exposures and the live profile (and
with it the profile vector derived from those events). Orders are kept: they are the store's
business records (tax, warranty), and the purchase history seeded from them goes with the
events, so it no longer shapes recommendations.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select

from retrieval.db import (
    CartLineRow,
    ChatLogRow,
    CustomerRow,
    EventRow,
    ExposureRow,
    OrderRow,
    TicketRow,
)
from retrieval.settings import Settings
from retrieval.stack import RetrievalStack


class UnknownShopper(LookupError):
    pass


@dataclass(frozen=True)
class DeletionReport:
    user_id: str
    events: int
    chat_logs: int
    tickets: int
    exposures: int


def _iso(v):
    return v.isoformat() if hasattr(v, "isoformat") else v


def _record(row: object, *names: str) -> dict[str, Any]:
    """The named columns of a row, dates and times as ISO strings: one exported record."""
    return {n: _iso(getattr(row, n)) for n in names}


def _known(stack: RetrievalStack, user_id: str) -> bool:
    with stack.db.session() as s:
        if s.get(CustomerRow, user_id) is not None:
            return True
        return bool(
            s.scalar(select(func.count()).select_from(EventRow).where(EventRow.user_id == user_id))
        )


def export_user(stack: RetrievalStack, user_id: str) -> dict:
    if not _known(stack, user_id):
        raise UnknownShopper(f"unknown shopper {user_id!r}")
    with stack.db.session() as s:
        c = s.get(CustomerRow, user_id)
        out: dict[str, Any] = {
            "user_id": user_id,
            "customer": _record(c, "name", "segment", "city", "state", "region") if c else None,
            "orders": [
                _record(o, "id", "order_date", "ship_mode")
                for o in s.scalars(select(OrderRow).where(OrderRow.customer_id == user_id))
            ],
            "events": [
                _record(e, "id", "type", "product_id", "ts", "session_id", "origin")
                for e in s.scalars(
                    select(EventRow).where(EventRow.user_id == user_id).order_by(EventRow.ts)
                )
            ],
            "chat_logs": [
                _record(r, "session_id", "role", "text", "ts", "meta")
                for r in s.scalars(
                    select(ChatLogRow).where(ChatLogRow.user_id == user_id).order_by(ChatLogRow.ts)
                )
            ],
            "tickets": [
                _record(t, "id", "reason", "summary", "created_at", "status")
                for t in s.scalars(select(TicketRow).where(TicketRow.user_id == user_id))
            ],
            "cart": [
                _record(ln, "product_id", "quantity", "added_at")
                for ln in s.scalars(select(CartLineRow).where(CartLineRow.owner == f"u:{user_id}"))
            ],
            "ab_exposures": [
                _record(x, "experiment", "variant", "kind", "product_id", "ts")
                for x in s.scalars(select(ExposureRow).where(ExposureRow.user_id == user_id))
            ],
        }
    profile = stack.recommendations().profile(user_id)
    out["profile"] = {"summary": profile.explain(), "events_folded": profile.n_events}
    return out


def delete_user(stack: RetrievalStack, user_id: str) -> DeletionReport:
    if not _known(stack, user_id):
        raise UnknownShopper(f"unknown shopper {user_id!r}")
    with stack.db.session() as s:  # one transaction: all or nothing
        counts = [
            s.execute(delete(t).where(t.user_id == user_id)).rowcount  # type: ignore[attr-defined]
            for t in (EventRow, ChatLogRow, TicketRow, ExposureRow)
        ]
        s.execute(delete(CartLineRow).where(CartLineRow.owner == f"u:{user_id}"))
    stack.recommendations().forget(user_id)
    return DeletionReport(user_id, *counts)


def _handler(args: argparse.Namespace, settings: Settings) -> int:
    stack = RetrievalStack.build(settings)
    try:
        if args.action == "export":
            sys.stdout.write(json.dumps(export_user(stack, args.user), indent=2) + "\n")
        else:
            r = delete_user(stack, args.user)
            sys.stdout.write(
                f"deleted for {r.user_id}: {r.events} events, {r.chat_logs} chat "
                f"log lines, {r.tickets} tickets, {r.exposures} A/B exposures\n"
            )
    except UnknownShopper as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("privacy", help="export or delete a shopper's data")
    p.add_argument("action", choices=["export", "delete"])
    p.add_argument("--user", required=True)
    p.set_defaults(handler=_handler)
