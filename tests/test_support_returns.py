"""Return eligibility is decided by code: windows, edge days, categories, fees."""

import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from assistant.support import (
    DEFAULT_POLICY,
    OrderService,
    ReturnPolicy,
    ReturnReason,
    StoreClock,
    return_eligibility,
)
from assistant.support.orders import (
    OrderLineView,
    OrderView,
    delivery_estimate,
    derive_status,
)

KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"
SHIP = date(2017, 11, 26)
DELIVERED = SHIP + timedelta(days=5)  # Standard Class → 2017-12-01


def line(pid: str, category: str, sub: str, total: float) -> OrderLineView:
    return OrderLineView(pid, f"{sub} item", category, sub, 1, total, 0.0, total)


BINDER = line("OFF-BI-1", "Office Supplies", "Binders", 50.0)
PHONE = line("TEC-PH-1", "Technology", "Phones", 300.0)
CHAIR = line("FUR-CH-1", "Furniture", "Chairs", 200.0)
PAPER = line("OFF-PA-1", "Office Supplies", "Paper", 12.5)


def order_at(today: date, *lines: OrderLineView, ship: date = SHIP) -> OrderView:
    mode = "Standard Class"
    return OrderView(
        order_id="CA-2017-000001",
        customer_id="AA-00001",
        order_date=ship - timedelta(days=3),
        ship_date=ship,
        ship_mode=mode,
        status=derive_status(ship - timedelta(days=3), ship, mode, today),
        delivery_estimate=delivery_estimate(ship, mode),
        tracking=None,
        lines=lines,
    )


def decide(today: date, ln: OrderLineView, **kw):
    return return_eligibility(order_at(today, ln), ln.product_id, StoreClock(today), **kw)


def test_inside_window():
    d = decide(DELIVERED + timedelta(days=10), BINDER)
    assert d.eligible and d.reason_code is ReturnReason.ELIGIBLE
    assert d.deadline == date(2017, 12, 31)
    assert d.refund_amount == 50.0 and d.restocking_fee == 0.0
    assert d.explanation_facts["days_left"] == 20
    assert d.explanation_facts["refund_business_days"] == "5-10"


def test_edge_day_is_inclusive():
    assert decide(DELIVERED + timedelta(days=30), BINDER).eligible
    late = decide(DELIVERED + timedelta(days=31), BINDER)
    assert not late.eligible and late.reason_code is ReturnReason.WINDOW_EXPIRED
    assert late.explanation_facts["days_past_deadline"] == 1
    assert late.refund_amount is None


def test_forty_days_after_delivery_is_outside_the_window():
    d = decide(DELIVERED + timedelta(days=40), BINDER)
    assert not d.eligible and d.reason_code is ReturnReason.WINDOW_EXPIRED
    assert d.deadline == DELIVERED + timedelta(days=30)


def test_technology_has_fifteen_days():
    assert decide(DELIVERED + timedelta(days=15), PHONE).eligible
    d = decide(DELIVERED + timedelta(days=16), PHONE)
    assert not d.eligible and d.reason_code is ReturnReason.WINDOW_EXPIRED
    assert d.deadline == DELIVERED + timedelta(days=15)
    assert d.explanation_facts["window_days"] == 15


def test_not_yet_delivered():
    d = decide(SHIP + timedelta(days=2), BINDER)  # in transit
    assert not d.eligible and d.reason_code is ReturnReason.NOT_DELIVERED
    assert d.deadline == DELIVERED + timedelta(days=30)  # provisional
    processing = decide(SHIP - timedelta(days=1), BINDER)
    assert processing.reason_code is ReturnReason.NOT_DELIVERED


def test_furniture_restocking_fee_and_assembly():
    d = decide(DELIVERED + timedelta(days=5), CHAIR)
    assert d.eligible and d.conditions == ("unassembled",)
    assert d.restocking_fee == 20.0 and d.refund_amount == 180.0
    odd = line("FUR-TA-1", "Furniture", "Tables", 333.33)
    d = decide(DELIVERED, odd)
    assert d.restocking_fee == 33.33 and d.refund_amount == 300.0
    assembled = decide(DELIVERED, CHAIR, assembled=True)
    assert not assembled.eligible and assembled.reason_code is ReturnReason.ASSEMBLED_FURNITURE


def test_consumables_only_unopened():
    d = decide(DELIVERED, PAPER)
    assert d.eligible and d.conditions == ("unopened",) and d.refund_amount == 12.5
    opened = decide(DELIVERED, PAPER, opened=True)
    assert not opened.eligible and opened.reason_code is ReturnReason.OPENED_CONSUMABLE
    assert decide(DELIVERED, BINDER, opened=True).eligible  # binders are not consumables here


def test_product_not_in_order():
    missing = return_eligibility(order_at(DELIVERED, BINDER), "NOPE", StoreClock(DELIVERED))
    assert not missing.eligible and missing.reason_code is ReturnReason.PRODUCT_NOT_IN_ORDER


def test_whole_order_sums_eligible_lines():
    today = DELIVERED + timedelta(days=20)  # phone window over, the rest still open
    d = return_eligibility(order_at(today, BINDER, PHONE, CHAIR), None, StoreClock(today))
    assert d.eligible and d.reason_code is ReturnReason.PARTIALLY_ELIGIBLE
    assert d.refund_amount == 50.0 + 180.0 and d.restocking_fee == 20.0
    assert d.explanation_facts["ineligible_products"] == ["TEC-PH-1"]
    assert d.deadline == DELIVERED + timedelta(days=30)
    assert len(d.lines) == 3
    late = today + timedelta(days=30)
    none = return_eligibility(order_at(late, BINDER, PHONE), None, StoreClock(late))
    assert not none.eligible and none.reason_code is ReturnReason.WINDOW_EXPIRED


def test_custom_policy():
    strict = ReturnPolicy(window_days=14, restocking_fee_rate=0.2)
    d = return_eligibility(
        order_at(DELIVERED, CHAIR), CHAIR.product_id, StoreClock(DELIVERED), strict
    )
    assert d.deadline == DELIVERED + timedelta(days=14) and d.refund_amount == 160.0


def test_real_order(stack):
    # CA-2017-134404: Same Day, delivered 2017-12-27; a technology line and office supplies.
    clock = StoreClock(date(2017, 12, 31))
    view = OrderService(stack.db, clock).get_order("CA-2017-134404", "DR-12880")
    tech = next(ln for ln in view.lines if ln.category == "Technology")
    d = return_eligibility(view, tech.product_id, clock)
    assert d.eligible and d.deadline == date(2018, 1, 11)
    assert d.refund_amount == pytest.approx(tech.line_total)
    assert not return_eligibility(view, tech.product_id, clock.shifted(12)).eligible


def test_returns_doc_states_the_policy_numbers():
    text = (KNOWLEDGE / "returns.md").read_text(encoding="utf-8")
    p = DEFAULT_POLICY
    day_counts = {int(n) for n in re.findall(r"\b(\d+)[- ]days?\b", text)}
    assert day_counts == {p.window_days, p.technology_window_days}
    assert {int(n) for n in re.findall(r"(\d+)%", text)} == {round(p.restocking_fee_rate * 100)}
    assert re.findall(r"(\d+)[–-](\d+) business days", text) == [
        (str(p.refund_business_days_min), str(p.refund_business_days_max))
    ]
    paid, refunded = map(
        float, re.search(r"\$(\d+\.\d\d) for is refunded \$(\d+\.\d\d)", text).groups()
    )
    assert refunded == pytest.approx(paid * (1 - p.restocking_fee_rate))
    for sub in p.unopened_only_sub_categories:
        assert sub.lower() in text.lower()
