"""Customer-service turns: order status, returns, policy answers and the hand-off.

Facts (status, eligibility, passages) are decided by `SupportDesk`; the model may only rephrase
them, and its rephrasing must keep every fact or the template answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..commands.schema import Handoff, OrderStatus, PolicyQuestion, ReturnRequest
from ..generate import gap_after
from ..guards import redact
from ..support import AuthRequired, OrderNotFound, OrderView, ReturnDecision
from ..support.knowledge import unsupported_terms
from ..validate import Facts, fold_width, supported_by, zh_numbers_in
from .context import TurnContext
from .phrasing import phrase_checked

MIN_POLICY_SCORE = 0.35
_NOT_PRODUCT_WORDS = {"return", "order", "refund", "want", "this"}


# Statuses only an imported order has (its shop's own fields).
IMPORTED_STATUSES = frozenset({"partially_shipped", "cancelled", "refunded", "returned"})
_CLOSED = frozenset({"cancelled", "refunded", "returned"})


def status_text(ctx: TurnContext, status: object, estimated: bool = False) -> str:
    """ "being prepared for shipping", "on its way", "delivered", in the shopper's language;
    an imported order's own statuses ("cancelled", "partly shipped"), and, `estimated`, a
    "delivered" that code worked out from the ship date, said as an estimate."""
    key = "imported_status_text" if estimated or str(status) in IMPORTED_STATUSES else "status_text"
    return ctx.deps.library.text("replies", key, status=str(status), estimated=estimated)


def _order_facts(ctx: TurnContext, order: OrderView) -> dict[str, Any]:
    n = sum(line.quantity for line in order.lines)
    first = order.lines[0].name if order.lines else "items"
    more = len(order.lines) - 1 if len(order.lines) > 1 else 0
    delivered = str(order.status) == "delivered"
    # Derived facts are said as such: "delivered by our estimate", and a ship date the shop's
    # export did not give is not stated at all.
    estimated = order.imported and delivered and "status" in order.derived
    ship_date = None if "ship_date" in order.derived else order.ship_date
    return {
        "order_id": order.order_id,
        "items": ctx.deps.library.text("replies", "order_items", n=n, first=first, more=more),
        "order_date": order.order_date.isoformat(),
        "status_text": status_text(ctx, order.status, estimated),
        "ship_date": ship_date.isoformat() if ship_date else None,
        "ship_mode": order.ship_mode,
        "tracking": (
            f"{order.tracking.carrier} {order.tracking.reference}" if order.tracking else None
        ),
        "eta": (
            order.delivery_estimate.isoformat()
            if order.delivery_estimate and not delivered and str(order.status) not in _CLOSED
            else None
        ),
    }


def _product_in(order: OrderView, text: str) -> str | None:
    """The order line the shopper names, by name, id or enough shared words."""
    low = text.lower()
    for line in order.lines:
        if line.name.lower() in low or line.product_id.lower() in low:
            return line.product_id
    words = set(re.findall(r"[a-z]{4,}", low)) - _NOT_PRODUCT_WORDS
    scored = [
        (len(words & set(re.findall(r"[a-z]{4,}", line.name.lower()))), line.product_id)
        for line in order.lines
    ]
    best = max(scored, default=(0, None))
    return best[1] if best[0] >= 1 and len(order.lines) > 1 else None


def _rephrase(ctx: TurnContext, template_text: str, facts: Facts, required: list[str]) -> None:
    """Let the model phrase code-decided facts; keep its words only if every fact survives."""
    gen = phrase_checked(ctx, "support", facts, {"facts": template_text}, max_sentences=3)
    if gen is None:
        ctx.say(template_text)
        return
    text = gen.text
    missing = [r for r in required if r and r.lower() not in text.lower()]
    if gen.failed or missing or not text:
        if missing and not gen.failed:
            ctx.reply.fallback = True
            ctx.reply.validation_problems.append(f"rephrasing dropped facts: {missing}")
        ctx.say(template_text)
    else:
        ctx.say(text)


def _list_orders(ctx: TurnContext, user_id: str) -> None:
    orders = ctx.deps.desk.orders.list_orders(user_id, limit=5)
    listed = [
        {
            "id": o.order_id,
            "order_date": o.order_date.isoformat(),
            "status_text": status_text(ctx, o.status),
        }
        for o in orders
    ]
    ctx.say_template("order_list", orders=listed)


_LATEST = re.compile(r"\b(latest|last|most recent|newest)\b", re.I)


def order_status(ctx: TurnContext, cmd: OrderStatus) -> Iterator[None]:
    ctx.reply.intent = "order_status"
    yield from _order_turn(ctx, cmd.order_id, returning=False)


def return_request(ctx: TurnContext, cmd: ReturnRequest) -> Iterator[None]:
    ctx.reply.intent = "return_request"
    yield from _order_turn(ctx, cmd.order_id, returning=True)


def _order_turn(ctx: TurnContext, named: str | None, returning: bool) -> Iterator[None]:
    state, reply = ctx.state, ctx.reply
    if not state.user_id:
        reply.refused = "auth_required"
        ctx.say_template("auth_required")
        yield
        return
    order_id = named or state.last_order_id
    if order_id is None and _LATEST.search(ctx.text):
        latest = ctx.deps.desk.orders.list_orders(state.user_id, limit=1)
        order_id = latest[0].order_id if latest else None
    if order_id is None:
        if returning:
            ctx.say_template("order_needs_id")
        else:
            _list_orders(ctx, state.user_id)
        yield
        return
    decision: ReturnDecision | None = None
    try:
        order = ctx.call("order_status", order_id=order_id, user_id=state.user_id)
        if returning:
            _, decision = ctx.call(
                "return_eligibility",
                order_id=order_id,
                user_id=state.user_id,
                product_id=_product_in(order, ctx.text),
            )
    except (OrderNotFound, AuthRequired):
        reply.refused = "order_not_found"
        ctx.say_template("order_not_found", order_id=order_id)
        yield
        return
    state.last_order_id = order.order_id
    f = _order_facts(ctx, order)
    dates = {d for d in (f["order_date"], f["ship_date"], f["eta"]) if d}
    prices: set[float] = set()
    if decision is None:
        template = ctx.deps.library.text("replies", "order_status", **f)
        required = [order.order_id, f["status_text"]]
        if _CONTENTS.search(ctx.text):  # "what was in it?": the answer is the items
            required += [ln.name for ln in order.lines[:3]]
    else:
        template, required, deadline = _return_template(ctx, order, decision)
        if deadline:
            dates.add(deadline)
        prices = {x for x in (decision.restocking_fee, decision.refund_amount) if x}
        reply.citations = [{"doc": "returns", "section": str(decision.reason_code), "text": ""}]
    facts = ctx.facts(
        [ln.product_id for ln in order.lines],
        extra_prices=prices | {ln.unit_price for ln in order.lines},
        order_ids={order.order_id},
        dates=dates,
    )
    _rephrase(ctx, template, facts, required)
    yield


_CONTENTS = re.compile(
    r"\b(in it|in that order|what (did|was|were)|items?|contents?|bought|ordered)\b", re.I
)


def _return_template(
    ctx: TurnContext, order: OrderView, decision: ReturnDecision
) -> tuple[str, list[str], str]:
    lib = ctx.deps.library
    named = decision.explanation_facts.get("product_id")
    product = next((ln.name for ln in order.lines if ln.product_id == named), None) or (
        lib.text("replies", "return_items") if len(order.lines) > 1 else order.lines[0].name
    )
    deadline = decision.deadline.isoformat() if decision.deadline else ""
    reason = lib.text("replies", "return_reason", code=str(decision.reason_code), deadline=deadline)
    if str(decision.reason_code) == "order_closed":  # an imported order cancelled, refunded ...
        closed = status_text(ctx, decision.explanation_facts.get("closed_as", "cancelled"))
        reason = lib.text("replies", "return_reason_closed", status_text=closed)
    template = lib.text(
        "replies",
        "return_decision",
        eligible=decision.eligible,
        product=product,
        order_id=order.order_id,
        deadline=deadline,
        fee=decision.restocking_fee,
        refund=decision.refund_amount,
        reason=reason,
    )
    refused = [lib.text("replies", "return_refused_word")] if not decision.eligible else []
    required = [order.order_id, deadline, *refused]
    if decision.eligible and decision.restocking_fee:
        # A rephrasing that drops the fee hides money the shopper will not get back.
        required += [lib.text("replies", "restocking_fee_word"), f"${decision.restocking_fee:.2f}"]
    return template, required, deadline


def policy(ctx: TurnContext, cmd: PolicyQuestion) -> Iterator[None]:
    ctx.reply.intent = "policy"
    citations = ctx.call("policy_answer", question=ctx.text)
    good = [c for c in citations if c.score >= MIN_POLICY_SCORE]
    if not good:
        ctx.say_template("policy_unknown")
        yield
        return
    ctx.reply.citations = [
        {"doc": c.doc, "section": c.section, "id": c.id, "score": round(c.score, 3)} for c in good
    ]
    top = good[0]
    source = ctx.deps.library.text("replies", "policy_source", doc=top.doc, section=top.section)
    numbers = set(re.findall(r"\d+", top.text))

    def grounded(sentence: str) -> list[str]:
        # A Chinese answer's numbers may be full-width or in Chinese numerals ("三十天").
        said = set(re.findall(r"\d+", fold_width(sentence))) | set(zh_numbers_in(sentence))
        extra = said - numbers
        if extra:
            return [f"states numbers {sorted(extra)} that the policy does not"]
        if not supported_by(sentence, top.text):
            return ["says things the policy passage does not"]
        if off := unsupported_terms(sentence, top.text):  # a Chinese answer's topic words
            return [f"speaks of {off} that the policy passage does not"]
        return []

    facts = ctx.facts(
        [],
        percents={p.replace(" ", "") for c in good for p in re.findall(r"\d+\s?%", c.text)},
        allow_promo_words=True,
    )
    gen = phrase_checked(
        ctx,
        "policy",
        facts,
        {
            "question": redact(ctx.text),  # PII never reaches a model, local or remote
            # One passage, trimmed: prompt length is time-to-first-token on a CPU.
            "passages": [{"doc": top.doc, "text": top.text[:600]}],
        },
        max_sentences=2,
        extra_check=grounded,
    )
    if gen is not None and gen.sentences and not gen.failed:
        ctx.say(gen.text + gap_after(gen.text) + source)
    else:
        ctx.say_template("policy_answer", text=top.text.strip())
        ctx.say(" " + source)
    yield


def handoff(
    ctx: TurnContext, cmd: Handoff | None = None, reason: str = "requested"
) -> Iterator[None]:
    ctx.reply.intent = "handoff"
    ticket = ctx.state.ticket_id
    if ticket is None:  # one ticket per conversation: "open another one" is not a new case
        ticket = ctx.call(
            "handoff_to_human",
            user_id=ctx.state.user_id,
            reason=reason,
            summary=redact(ctx.text)[:500],
        )
        ctx.state.ticket_id = ticket
    ctx.reply.ticket_id = ticket
    ctx.say_template("handoff", ticket_id=ticket, signed_in=bool(ctx.state.user_id))
    yield
