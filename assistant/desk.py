"""The service desk the agent talks to, and the customer-service turns.

Facts (order status, return eligibility, policy passages) are decided by code in
`assistant.support`; the model may only rephrase them, and its rephrasing must keep every fact.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from retrieval.stack import RetrievalStack

from .generate import generate_checked
from .guards import redact
from .router import Route
from .support import (
    DEFAULT_POLICY,
    AuthRequired,
    KnowledgeBase,
    OrderNotFound,
    OrderService,
    OrderView,
    ReturnDecision,
    ReturnPolicy,
    create_ticket,
    return_eligibility,
)
from .validate import Facts, supported_by

if TYPE_CHECKING:
    from .agent import Agent, TurnContext

log = logging.getLogger(__name__)
STATUS_TEXT = {
    "processing": "being prepared for shipping",
    "in_transit": "on its way",
    "delivered": "delivered",
}
_REASON_TEXT = {
    "window_expired": "the return window ended on {deadline}",
    "not_delivered": "it hasn't been delivered yet; you can return it once it arrives",
    "opened_consumable": "opened consumables can't be returned",
    "assembled_furniture": "assembled furniture can't be returned",
    "product_not_in_order": "that product isn't part of this order",
}
MIN_POLICY_SCORE = 0.35


@dataclass
class SupportDesk:
    stack: RetrievalStack
    orders: OrderService
    knowledge: KnowledgeBase
    policy: ReturnPolicy = DEFAULT_POLICY

    @classmethod
    def from_stack(cls, stack: RetrievalStack) -> SupportDesk:
        kb = KnowledgeBase.from_stack(stack)
        return cls(stack, OrderService(stack.db, stack.clock()), kb)

    def return_decision(
        self, order_id: str, user_id: str | None, product_id: str | None = None
    ) -> tuple[OrderView, ReturnDecision]:
        order = self.orders.get_order(order_id, user_id)
        return order, return_eligibility(order, product_id, self.orders.clock, self.policy)

    def create_ticket(self, user_id: str | None, reason: str, summary: str) -> int:
        return create_ticket(self.stack.db, user_id, reason, summary)


def _order_facts(order: OrderView) -> dict:
    n = sum(line.quantity for line in order.lines)
    first = order.lines[0].name if order.lines else "items"
    items = f"{first}" + (f" and {len(order.lines) - 1} more" if len(order.lines) > 1 else "")
    return {
        "order_id": order.order_id,
        "items": f"{n} item{'s' if n != 1 else ''}: {items}",
        "order_date": order.order_date.isoformat(),
        "status_text": STATUS_TEXT.get(str(order.status), str(order.status)),
        "ship_date": order.ship_date.isoformat() if order.ship_date else None,
        "ship_mode": order.ship_mode,
        "tracking": (
            f"{order.tracking.carrier} {order.tracking.reference}" if order.tracking else None
        ),
        "eta": (
            order.delivery_estimate.isoformat()
            if order.delivery_estimate and str(order.status) != "delivered"
            else None
        ),
    }


def _product_in(order: OrderView, text: str, catalogue) -> str | None:
    low = text.lower()
    for line in order.lines:
        if line.name.lower() in low or line.product_id.lower() in low:
            return line.product_id
    words = set(re.findall(r"[a-z]{4,}", low)) - {"return", "order", "refund", "want", "this"}
    scored = [
        (len(words & set(re.findall(r"[a-z]{4,}", line.name.lower()))), line.product_id)
        for line in order.lines
    ]
    best = max(scored, default=(0, None))
    return best[1] if best[0] >= 1 and len(order.lines) > 1 else None


def _rephrase(
    agent: Agent, ctx: TurnContext, template_text: str, facts: Facts, required: list[str]
) -> None:
    """Let the model phrase code-decided facts; keep its words only if every fact survives."""
    if agent.llm is None:
        agent._say(ctx, template_text)
        return
    prompt = agent.library.get("support")
    parts = prompt.messages(store_name="Superstore", facts=template_text)

    def keeps_facts(sentence: str) -> list[str]:
        return []

    gen = generate_checked(
        agent.llm,
        parts,
        facts,
        emit=None,
        max_sentences=3,
        extra_check=keeps_facts,
        deadline_s=agent.settings.llm_deadline_s,
    )
    agent._note_generation(ctx.reply, gen)
    text = gen.text
    missing = [r for r in required if r and r.lower() not in text.lower()]
    if gen.failed or missing or not text:
        if missing and not gen.failed:
            ctx.reply.fallback = True
            ctx.reply.validation_problems.append(f"rephrasing dropped facts: {missing}")
        agent._say(ctx, template_text)
    else:
        agent._say(ctx, text)


def support_turn(
    agent: Agent, ctx: TurnContext, route: Route, text: str, kind: str
) -> Iterator[None]:
    state, reply, lib = ctx.state, ctx.reply, agent.library
    tools = agent.tools
    if not state.user_id:
        reply.refused = "auth_required"
        agent._say(ctx, lib.text("replies", "auth_required"))
        yield
        return
    order_id = route.order_ids[0] if route.order_ids else state.last_order_id
    if order_id is None:
        if kind == "status":
            orders = tools.desk.orders.list_orders(state.user_id, limit=5)
            agent._say(
                ctx,
                lib.text(
                    "replies",
                    "order_list",
                    orders=[
                        {
                            "id": o.order_id,
                            "order_date": o.order_date.isoformat(),
                            "status_text": STATUS_TEXT.get(str(o.status), str(o.status)),
                        }
                        for o in orders
                    ],
                ),
            )
        else:
            agent._say(ctx, lib.text("replies", "order_needs_id"))
        yield
        return
    try:
        if kind == "status":
            order = tools.call(reply, "order_status", order_id=order_id, user_id=state.user_id)
            decision = None
        else:
            order = tools.call(reply, "order_status", order_id=order_id, user_id=state.user_id)
            product = _product_in(order, text, agent.stack.catalogue)
            _, decision = tools.call(
                reply,
                "return_eligibility",
                order_id=order_id,
                user_id=state.user_id,
                product_id=product,
            )
    except (OrderNotFound, AuthRequired):
        reply.refused = "order_not_found"
        agent._say(ctx, lib.text("replies", "order_not_found", order_id=order_id))
        yield
        return
    state.last_order_id = order.order_id
    f = _order_facts(order)
    dates = {d for d in (f["order_date"], f["ship_date"], f["eta"]) if d}
    prices: set[float] = set()
    if decision is None:
        template = lib.text("replies", "order_status", **f)
        required = [order.order_id, f["status_text"]]
    else:
        product_name = next(
            (
                ln.name
                for ln in order.lines
                if ln.product_id == decision.explanation_facts.get("product_id")
            ),
            None,
        ) or ("the items" if len(order.lines) > 1 else order.lines[0].name)
        deadline = decision.deadline.isoformat() if decision.deadline else ""
        if deadline:
            dates.add(deadline)
        reason = _REASON_TEXT.get(str(decision.reason_code), str(decision.reason_code))
        template = lib.text(
            "replies",
            "return_decision",
            eligible=decision.eligible,
            product=product_name,
            order_id=order.order_id,
            deadline=deadline,
            fee=decision.restocking_fee,
            refund=decision.refund_amount,
            reason=reason.format(deadline=deadline),
        )
        prices = {x for x in (decision.restocking_fee, decision.refund_amount) if x}
        required = [order.order_id, deadline] + (["can't"] if not decision.eligible else [])
        reply.citations = [{"doc": "returns", "section": str(decision.reason_code), "text": ""}]
    facts = Facts(
        candidate_ids=[ln.product_id for ln in order.lines],
        catalogue=agent.stack.catalogue,
        user_text=text,
        extra_prices=prices | {ln.unit_price for ln in order.lines},
        order_ids={order.order_id},
        dates=dates,
        forbidden_phrases=agent._system_lines,
    )
    _rephrase(agent, ctx, template, facts, required)
    yield


def policy_turn(agent: Agent, ctx: TurnContext, text: str) -> Iterator[None]:
    reply, lib = ctx.reply, agent.library
    citations = agent.tools.call(reply, "policy_answer", question=text)
    good = [c for c in citations if c.score >= MIN_POLICY_SCORE]
    if not good:
        agent._say(ctx, lib.text("replies", "policy_unknown"))
        yield
        return
    reply.citations = [
        {"doc": c.doc, "section": c.section, "id": c.id, "score": round(c.score, 3)} for c in good
    ]
    top = good[0]
    template = lib.text("replies", "policy_answer", text=top.text.strip())
    sources = " ".join(c.text for c in good[:1])
    numbers = set(re.findall(r"\d+", sources))

    def grounded(sentence: str) -> list[str]:
        extra = set(re.findall(r"\d+", sentence)) - numbers
        if extra:
            return [f"states numbers {sorted(extra)} that the policy does not"]
        if not supported_by(sentence, sources):
            return ["says things the policy passage does not"]
        return []

    if agent.llm is not None:
        prompt = agent.library.get("policy")
        # One passage, trimmed: prompt length is time-to-first-token on a CPU.
        parts = prompt.messages(
            store_name="Superstore",
            question=redact(text),  # PII never reaches a model, local or remote
            passages=[{"doc": top.doc, "text": top.text[:600]}],
        )
        facts = Facts(
            candidate_ids=[],
            catalogue=agent.stack.catalogue,
            user_text=text,
            percents={p.replace(" ", "") for c in good for p in re.findall(r"\d+\s?%", c.text)},
            allow_promo_words=True,
            forbidden_phrases=agent._system_lines,
        )
        gen = generate_checked(
            agent.llm,
            parts,
            facts,
            emit=None,
            max_sentences=2,
            extra_check=grounded,
            deadline_s=agent.settings.llm_deadline_s,
        )
        agent._note_generation(reply, gen)
        if gen.sentences and not gen.failed:
            agent._say(ctx, gen.text + f" (Source: {top.doc}.md, “{top.section}”)")
            yield
            return
    agent._say(ctx, template + f" (Source: {top.doc}.md, “{top.section}”)")
    yield
