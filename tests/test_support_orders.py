"""Order status, tracking and authorisation against the real Superstore orders."""

import logging
from datetime import date

import pytest

from assistant.support import (
    AuthRequired,
    OrderNotFound,
    OrderService,
    OrderStatus,
    StoreClock,
    default_store_today,
    find_order_ids,
)
from assistant.support.orders import derive_status, normalise_order_id, tracking_for

TODAY = date(2017, 12, 31)


@pytest.fixture(scope="module")
def orders(stack) -> OrderService:
    return OrderService(stack.db, StoreClock(TODAY))


def test_default_store_today_is_day_after_last_order(stack):
    assert default_store_today(stack.db) == TODAY


def test_delivered_order_details_and_tracking(orders):
    # Same Day, ordered and shipped 2017-12-27, bought by DR-12880.
    view = orders.get_order("CA-2017-134404", "DR-12880")
    assert view.status is OrderStatus.DELIVERED
    assert view.ship_mode == "Same Day"
    assert view.order_date == view.ship_date == view.delivery_estimate == date(2017, 12, 27)
    assert view.lines and all(ln.name and ln.quantity > 0 for ln in view.lines)
    assert {ln.category for ln in view.lines} == {"Technology", "Office Supplies"}
    assert view.total == pytest.approx(sum(ln.line_total for ln in view.lines))
    assert view.tracking is not None and view.tracking.carrier == "Metro Courier"
    again = orders.get_order("ca 2017 134404", "DR-12880")  # tolerant of how it is typed
    assert again == view


def test_in_transit_and_processing(orders):
    # Second Class, shipped 2017-12-31: in transit until 2018-01-03.
    transit = orders.get_order("US-2017-162068", "PC-18745")
    assert transit.status is OrderStatus.IN_TRANSIT
    assert transit.delivery_estimate == date(2018, 1, 3)
    assert transit.tracking and transit.tracking.carrier == "FedEx"
    # Ordered 2017-12-30, ships 2018-01-03: not with the carrier yet, so no tracking.
    waiting = orders.get_order("CA-2017-156720", "JM-15580")
    assert waiting.status is OrderStatus.PROCESSING
    assert waiting.tracking is None
    assert waiting.delivery_estimate == date(2018, 1, 8)  # Standard Class: ship date + 5


def test_status_follows_the_clock(stack):
    at = lambda d: OrderService(stack.db, StoreClock(d)).get_order("CA-2017-156720", "JM-15580")  # noqa: E731
    assert at(date(2018, 1, 2)).status is OrderStatus.PROCESSING
    assert at(date(2018, 1, 3)).status is OrderStatus.IN_TRANSIT
    assert at(date(2018, 1, 7)).status is OrderStatus.IN_TRANSIT
    assert at(date(2018, 1, 8)).status is OrderStatus.DELIVERED
    assert at(date(2018, 1, 3)).tracking == at(date(2018, 1, 8)).tracking


@pytest.mark.parametrize(
    ("order_date", "ship_date", "mode", "today", "expected"),
    [
        (date(2017, 6, 1), date(2017, 6, 1), "Same Day", date(2017, 6, 1), "processing"),
        (date(2017, 6, 1), date(2017, 6, 1), "Same Day", date(2017, 6, 2), "delivered"),
        (date(2017, 6, 1), None, "Standard Class", date(2017, 7, 1), "processing"),
        (date(2017, 6, 1), date(2017, 6, 3), "First Class", date(2017, 6, 4), "in_transit"),
        (date(2017, 6, 1), date(2017, 6, 3), "First Class", date(2017, 6, 5), "delivered"),
        (date(2017, 6, 1), date(2017, 6, 3), "Second Class", date(2017, 6, 5), "in_transit"),
        (date(2017, 6, 1), date(2017, 6, 3), "Standard Class", date(2017, 6, 7), "in_transit"),
        (date(2017, 6, 1), date(2017, 6, 3), "Standard Class", date(2017, 6, 8), "delivered"),
    ],
)
def test_derive_status_rules(order_date, ship_date, mode, today, expected):
    assert derive_status(order_date, ship_date, mode, today).value == expected


def test_tracking_is_deterministic_and_carrier_styled():
    ups = tracking_for("CA-2017-152156", "First Class")
    assert ups == tracking_for("CA-2017-152156", "First Class")
    assert ups.carrier == "UPS" and ups.reference.startswith("1Z") and len(ups.reference) == 18
    assert tracking_for("CA-2017-152157", "First Class") != ups
    usps = tracking_for("CA-2017-152156", "Standard Class")
    assert usps.carrier == "USPS" and usps.reference.isdigit() and len(usps.reference) == 22
    assert len(tracking_for("US-2016-118983", "Second Class").reference) == 12


def test_someone_elses_order_looks_exactly_like_a_missing_one(orders, caplog):
    with caplog.at_level(logging.INFO, logger="assistant.support.orders"):
        with pytest.raises(OrderNotFound) as other:
            orders.get_order("CA-2017-134404", "PO-18865")  # exists, belongs to DR-12880
        with pytest.raises(OrderNotFound) as missing:
            orders.get_order("CA-2017-999999", "PO-18865")
    assert type(other.value) is type(missing.value)
    assert str(other.value).replace("134404", "X") == str(missing.value).replace("999999", "X")
    assert "DR-12880" not in str(other.value)
    assert any("authorisation failure" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("who", [None, ""])
def test_anonymous_needs_sign_in(orders, who):
    with pytest.raises(AuthRequired):
        orders.get_order("CA-2017-134404", who)
    with pytest.raises(AuthRequired):
        orders.list_orders(who)


def test_list_orders_most_recent_first(orders):
    got = orders.list_orders("PO-18865", limit=3)
    assert len(got) == 3
    assert got[0].order_id == "CA-2017-143259"  # 2017-12-30, ships 2018-01-03
    assert got[0].status is OrderStatus.PROCESSING
    dates = [o.order_date for o in got]
    assert dates == sorted(dates, reverse=True)
    assert all(o.items > 0 and o.total > 0 for o in got)
    assert len(orders.list_orders("PO-18865", limit=100)) > 3
    assert orders.list_orders("NOBODY-1") == []


def test_find_order_ids():
    text = (
        "Where is ca-2017-152156? Also US 2016 118983 and CA-2017-152156 again, "
        "and us2015108966, but not 2017-152156 or CA-17-152156."
    )
    assert find_order_ids(text) == ["CA-2017-152156", "US-2016-118983", "US-2015-108966"]
    assert find_order_ids("no order here, call 555 2017 123") == []
    assert normalise_order_id(" us–2016–118983 ") == "US-2016-118983"
    assert normalise_order_id("hello") is None
