"""Return eligibility, decided purely by code from the order, the clock and the policy.

The LLM only phrases a `ReturnDecision`; it never decides whether a return is allowed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from retrieval.clock import StoreClock

from .orders import CLOSED_STATUSES, OrderLineView, OrderStatus, OrderView
from .policy import DEFAULT_POLICY, ReturnPolicy

log = logging.getLogger(__name__)


class ReturnReason(StrEnum):
    ELIGIBLE = "eligible"
    PARTIALLY_ELIGIBLE = "partially_eligible"  # whole order: some lines can go back, some not
    NOT_DELIVERED = "not_delivered"
    WINDOW_EXPIRED = "window_expired"
    OPENED_CONSUMABLE = "opened_consumable"
    ASSEMBLED_FURNITURE = "assembled_furniture"
    PRODUCT_NOT_IN_ORDER = "product_not_in_order"
    ORDER_CLOSED = "order_closed"  # an imported order its shop cancelled, refunded or restocked


@dataclass(frozen=True)
class ReturnDecision:
    eligible: bool
    reason_code: ReturnReason
    explanation_facts: dict[str, Any]
    deadline: date | None  # last day a return can be started; None when there is nothing to return
    refund_amount: float | None  # after any restocking fee; None when not eligible
    restocking_fee: float = 0.0
    conditions: tuple[str, ...] = ()  # what must hold on receipt, e.g. "unopened"
    lines: tuple[ReturnDecision, ...] = field(default=())  # per line, for a whole-order request


def return_eligibility(
    order: OrderView,
    product_id: str | None,
    clock: StoreClock,
    policy: ReturnPolicy = DEFAULT_POLICY,
    *,
    opened: bool | None = None,
    assembled: bool | None = None,
) -> ReturnDecision:
    """Can this order (or one product in it) be returned today, and for how much?

    `opened` / `assembled` are what the shopper told us; None means "not stated", in which case
    the decision is eligible with the matching condition ("unopened", "unassembled")."""
    if product_id is not None:
        line = order.line(product_id)
        if line is None:
            return ReturnDecision(
                eligible=False,
                reason_code=ReturnReason.PRODUCT_NOT_IN_ORDER,
                explanation_facts={"order_id": order.order_id, "product_id": product_id},
                deadline=None,
                refund_amount=None,
            )
        return _line_decision(order, line, clock.today(), policy, opened, assembled)

    per_line = tuple(
        _line_decision(order, ln, clock.today(), policy, opened, assembled) for ln in order.lines
    )
    ok = [d for d in per_line if d.eligible]
    if not ok:
        # Report the first line's reason: for a single-shipment order they share dates.
        first = per_line[0] if per_line else None
        return ReturnDecision(
            eligible=False,
            reason_code=first.reason_code if first else ReturnReason.PRODUCT_NOT_IN_ORDER,
            explanation_facts={**(first.explanation_facts if first else {}), "scope": "order"},
            deadline=first.deadline if first else None,
            refund_amount=None,
            lines=per_line,
        )
    fee = round(sum(d.restocking_fee for d in ok), 2)
    refund = round(sum(d.refund_amount or 0.0 for d in ok), 2)
    facts = {
        "scope": "order",
        "order_id": order.order_id,
        "eligible_products": [d.explanation_facts["product_id"] for d in ok],
        "ineligible_products": [
            d.explanation_facts["product_id"] for d in per_line if not d.eligible
        ],
        "refund_business_days": f"{policy.refund_business_days_min}-{policy.refund_business_days_max}",
        "refund_method": policy.refund_method,
    }
    return ReturnDecision(
        eligible=True,
        reason_code=ReturnReason.ELIGIBLE
        if len(ok) == len(per_line)
        else ReturnReason.PARTIALLY_ELIGIBLE,
        explanation_facts=facts,
        deadline=min(d.deadline for d in ok if d.deadline),
        refund_amount=refund,
        restocking_fee=fee,
        conditions=tuple(dict.fromkeys(c for d in ok for c in d.conditions)),
        lines=per_line,
    )


def _line_decision(
    order: OrderView,
    line: OrderLineView,
    today: date,
    policy: ReturnPolicy,
    opened: bool | None,
    assembled: bool | None,
) -> ReturnDecision:
    window = policy.window_for(line.category)
    facts: dict[str, Any] = {
        "order_id": order.order_id,
        "product_id": line.product_id,
        "product_name": line.name,
        "category": line.category,
        "window_days": window,
        "today": today.isoformat(),
        "order_status": order.status.value,
    }
    if order.status in CLOSED_STATUSES:
        facts["closed_as"] = order.status.value
        return ReturnDecision(False, ReturnReason.ORDER_CLOSED, facts, None, None)
    # The window starts at delivery: the imported delivery date, else the estimate (derived).
    delivered_on = order.delivered_on or order.delivery_estimate
    if "delivered_on" in order.derived or order.delivered_on is None:
        facts["delivery_date_derived"] = True
    if order.status is not OrderStatus.DELIVERED or delivered_on is None:
        # The window starts at delivery; until then the deadline is provisional.
        deadline = delivered_on + timedelta(days=window) if delivered_on else None
        facts["delivery_estimate"] = delivered_on.isoformat() if delivered_on else None
        return ReturnDecision(False, ReturnReason.NOT_DELIVERED, facts, deadline, None)

    deadline = delivered_on + timedelta(days=window)
    facts |= {
        "delivered_on": delivered_on.isoformat(),
        "deadline": deadline.isoformat(),
        "days_since_delivery": (today - delivered_on).days,
    }
    if today > deadline:  # the deadline day itself still counts
        facts["days_past_deadline"] = (today - deadline).days
        return ReturnDecision(False, ReturnReason.WINDOW_EXPIRED, facts, deadline, None)

    conditions: list[str] = []
    if line.sub_category in policy.unopened_only_sub_categories:
        if opened:
            return ReturnDecision(False, ReturnReason.OPENED_CONSUMABLE, facts, deadline, None)
        conditions.append("unopened")
    fee = 0.0
    if line.category in policy.furniture_categories:
        if assembled:
            return ReturnDecision(False, ReturnReason.ASSEMBLED_FURNITURE, facts, deadline, None)
        conditions.append("unassembled")
        fee = round(line.line_total * policy.restocking_fee_rate, 2)
        facts["restocking_fee_rate"] = policy.restocking_fee_rate
    refund = round(line.line_total - fee, 2)
    facts |= {
        "days_left": (deadline - today).days,
        "paid": line.line_total,
        "refund_business_days": f"{policy.refund_business_days_min}-{policy.refund_business_days_max}",
        "refund_method": policy.refund_method,
    }
    return ReturnDecision(
        eligible=True,
        reason_code=ReturnReason.ELIGIBLE,
        explanation_facts=facts,
        deadline=deadline,
        refund_amount=refund,
        restocking_fee=fee,
        conditions=tuple(conditions),
    )
