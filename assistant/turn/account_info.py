"""Questions about the shopper's own orders and account, asked in the middle of a service
conversation: "what's the tracking number?", "which address did it go to?", "what material is
each t-shirt?", "how much will I get back in total?", "what's my gift card balance now?".

Every answer is a template over the store's data and what this conversation has done; nothing
is estimated. `answer_questions` says nothing when the message asks none of these.
"""

from __future__ import annotations

import re
from typing import Any

from ..commands import account_slots as slots
from ..support.actions import ActionKind, Proposal, payment_label
from .context import TurnContext

_QUESTION_START = re.compile(
    r"^\s*(what|what's|whats|which|how|where|is|are|was|were|does|did|do|can you tell|tell me)\b",
    re.I,
)
_TRACKING = re.compile(r"\btracking\b", re.I)
_ADDRESS_Q = re.compile(
    r"\b(which|what) address\b|\bwhere (was|is|did) (it|the order|my order|that order)\b|"
    r"\baddress (was|is) (it|the order) (sent|going|shipped)",
    re.I,
)
_STATUS_Q = re.compile(r"\bin transit\b|\bstatus\b|\bhas it (shipped|arrived)\b", re.I)
_REFUND_TOTAL = re.compile(
    r"\bhow much\b.{0,40}\b(get back|be refunded|refund|receive|save)\b|\btotal (refund|amount)\b",
    re.I,
)
_PAID_TOTAL = re.compile(
    r"\bhow much\b.{0,30}\b(did|do) i pay\b|\btotal (price|cost|amount)\b.{0,30}\b(order|paid)\b|"
    r"\bhow much (was|is|were|are) (the|my)\b",
    re.I,
)
_NAMED_TOTAL_Q = re.compile(r"\btotal (price|cost|amount)\b|\bhow much\b.{0,40}\ball\b", re.I)
_BALANCE = re.compile(r"\bbalance\b", re.I)
_ITEM_FACTS = re.compile(
    r"\bwhat(?:'s| is| are)?\b.{0,20}\b(material|size|colou?r|storage|capacity|battery|"
    r"options?|version|kind|type)\b|\bwhich\b.{0,20}\b(are they|items|ones)\b",
    re.I,
)


_NUMBERS = {"two": 2, "both": 2, "three": 3, "four": 4, "2": 2, "3": 3, "4": 4}
_COUNT = re.compile(r"\b(two|both|three|four|2|3|4) (?:of )?(?:the )?[\w-]+s\b", re.I)


def questions(text: str) -> list[str]:
    """The sentences of the message that ask something."""
    parts = re.split(r"(?<=[?!.])\s+", text.strip())
    return [p for p in parts if p.endswith("?") or _QUESTION_START.match(p)]


def asks_about_orders(text: str) -> bool:
    """Whether the message asks one of the questions answered here."""
    kinds = (
        _TRACKING,
        _ADDRESS_Q,
        _STATUS_Q,
        _REFUND_TOTAL,
        _PAID_TOTAL,
        _BALANCE,
        _ITEM_FACTS,
        _NAMED_TOTAL_Q,
    )
    return any(k.search(q) for q in questions(text) for k in kinds)


def record_refund(ctx: TurnContext, proposal: Proposal) -> None:
    """Keeps what an executed action refunds, for "how much will I get back in total?"."""
    refund = 0.0
    if proposal.kind in (ActionKind.CANCEL, ActionKind.RETURN):
        refund = proposal.amount
    elif proposal.kind in (ActionKind.EXCHANGE, ActionKind.MODIFY_ITEMS) and proposal.amount < 0:
        refund = -proposal.amount
    if refund > 0:
        ctx.state.refunds.append(
            {"order_id": proposal.order_id, "kind": str(proposal.kind), "amount": refund}
        )


def answer_questions(ctx: TurnContext, text: str, pending: Proposal | None) -> bool:
    """Answers the questions about the shopper's orders in `text`; True when it said anything."""
    asked = questions(text)
    if not asked or ctx.state.user_id is None:
        return False
    actions = ctx.deps.desk.actions
    orders = actions.orders_of(ctx.state.user_id)
    account = actions.account(ctx.state.user_id) or {}
    said = False
    for q in asked:
        facts = _answer(ctx, q, orders, account, pending)
        if facts:
            ctx.say(facts + " ")
            said = True
    return said


def _answer(
    ctx: TurnContext,
    q: str,
    orders: list[dict[str, Any]],
    account: dict[str, Any],
    pending: Proposal | None,
) -> str:
    lib = ctx.deps.library
    if _REFUND_TOTAL.search(q):
        done = list(ctx.state.refunds)
        if pending is not None and pending.kind in (ActionKind.CANCEL, ActionKind.RETURN):
            done.append({"order_id": pending.order_id, "kind": "pending", "amount": pending.amount})
        if done:
            return lib.text(
                "account", "info_refunds", total=sum(r["amount"] for r in done), refunds=done
            )
    if _BALANCE.search(q):
        cards = [
            m for m in account.get("payment_methods", {}).values() if m.get("source") == "gift_card"
        ]
        if cards:
            return lib.text("account", "info_balance", cards=[payment_label(m) for m in cards])
    named_total = _named_total(q, orders)
    if named_total:
        return lib.text("account", "info_named_total", **named_total)
    order = _order_meant(ctx, q, orders)
    if order is None:
        return ""
    oid = order["order_id"]
    ctx.state.last_order_id = oid  # the order being talked about: "take it off my order"
    out: list[str] = []
    if _TRACKING.search(q):
        tracking = [t for f in order["fulfillments"] for t in f.get("tracking_id", [])]
        out.append(
            lib.text(
                "account",
                "info_tracking",
                order_id=oid,
                tracking=", ".join(tracking),
                status=order["status"],
            )
        )
    if _ADDRESS_Q.search(q):
        out.append(
            lib.text(
                "account", "info_address", order_id=oid, address=address_text(order["address"])
            )
        )
    if _STATUS_Q.search(q):
        out.append(lib.text("account", "info_status", order_id=oid, status=order["status"]))
    names = sorted({it["name"] for it in order["items"]})
    item_named = bool(slots.named_products(q, names))  # "how much was the speaker?"
    if _PAID_TOTAL.search(q) and not _ITEM_FACTS.search(q) and not item_named:
        out.append(_paid(ctx, q, order, orders))
    elif _ITEM_FACTS.search(q) or _PAID_TOTAL.search(q):
        out.append(_items(ctx, q, order))
    return " ".join(o for o in out if o)


def _order_meant(ctx: TurnContext, q: str, orders: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The order a question is about: named by id, by the products in it (and "cancelled" /
    "pending" / "received"), else the one this conversation is about, else the only one."""
    by_id = {o["order_id"]: o for o in orders}
    for oid in slots.order_ids(q):
        if oid in by_id:
            return by_id[oid]
    low = q.lower()
    pool = orders
    context = ctx.state.last_order_id
    if slots.OTHER_ORDER.search(ctx.text) and context:  # "my other order with two t-shirts"
        pool = [o for o in orders if o["order_id"] != context] or orders
        context = None
    if _TRACKING.search(q) or "transit" in low:  # only shipped orders have tracking
        pool = [o for o in pool if o["fulfillments"]] or pool
    if "cancel" not in ctx.text.lower():
        pool = [o for o in pool if o["status"] != "cancelled"] or pool
    for status in ("cancelled", "pending", "delivered", "processed"):
        if status in low:
            pool = [o for o in orders if o["status"].startswith(status)] or pool
    said = slots.said_status(q)
    if said:
        pool = [o for o in pool if o["status"] in said] or pool
    names = sorted({it["name"] for o in pool for it in o["items"]})
    named = set(slots.named_products(q, names))
    if named:
        holding = [o for o in pool if named & {it["name"] for it in o["items"]}]
        count = _COUNT.search(ctx.text)
        if count and len(holding) > 1:  # "the order with two t-shirts"
            n = _NUMBERS.get(count.group(1).lower(), 0)
            holding = [
                o for o in holding if sum(it["name"] in named for it in o["items"]) == n
            ] or holding
        if len(holding) == 1:
            return holding[0]
        if holding:
            pool = holding
    if context in {o["order_id"] for o in pool}:
        return by_id[context]
    if len(pool) == 1:
        return pool[0]
    if q != ctx.text:  # "I lost the tablet I just received. What's the tracking number?"
        return _order_meant(ctx, ctx.text, orders)
    return None


def _items(ctx: TurnContext, q: str, order: dict[str, Any]) -> str:
    names = sorted({it["name"] for it in order["items"]})
    named = set(slots.named_products(q, names))
    items = [it for it in order["items"] if not named or it["name"] in named]
    if len(named) == 1:  # "can you take it off my order?" next refers to this item
        ctx.state.last_item = {"order_id": order["order_id"], "name": next(iter(named))}
    return ctx.deps.library.text(
        "account",
        "info_items",
        order_id=order["order_id"],
        items=[
            {"name": it["name"], "options": options_text(it["options"]), "price": it["price"]}
            for it in items
        ],
    )


def _paid(ctx: TurnContext, q: str, order: dict[str, Any], orders: list[dict[str, Any]]) -> str:
    """What the order's items cost; "the remaining items" leaves out those being returned."""
    gone = set(order["extra"].get("return_items") or [])
    remaining = bool(re.search(r"\b(remaining|rest|other|kept|keeping)\b", q, re.I))
    items = [it for it in order["items"] if not (remaining and it["item_id"] in gone)]
    return ctx.deps.library.text(
        "account",
        "info_paid",
        order_id=order["order_id"],
        total=sum(it["price"] for it in items),
        remaining=remaining and bool(gone),
        count=len(items),
    )


def _named_total(q: str, orders: list[dict[str, Any]]) -> dict[str, Any] | None:
    """ "The total price of all the grills I've bought": one product across the orders."""
    if not re.search(r"\b(all|every)\b", q, re.I) or not re.search(r"\btotal|how much\b", q, re.I):
        return None
    names = sorted({it["name"] for o in orders for it in o["items"]})
    named = slots.named_products(q, names)
    if len(named) != 1:
        return None
    prices = [
        (o["order_id"], it["price"])
        for o in orders
        if o["status"] != "cancelled"
        for it in o["items"]
        if it["name"] == named[0]
    ]
    if not prices:
        return None
    return {
        "name": named[0],
        "total": sum(p for _, p in prices),
        "lines": [{"order_id": oid, "price": p} for oid, p in prices],
    }


def options_text(options: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in options.items()) or "standard"


def address_text(a: dict[str, str]) -> str:
    parts = [
        a.get("address1"),
        a.get("address2"),
        a.get("city"),
        f"{a.get('state', '')} {a.get('zip', '')}".strip(),
        a.get("country"),
    ]
    return ", ".join(p for p in parts if p)
