"""Actions under the retail store's policy (tau2-bench data): each allowed and each refused,
amounts in cents, gift-card balances, idempotency and the audit log. Database only: no
vectors, no model."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from assistant.support.actions import ActionKind, ActionRefused, ActionService
from assistant.support.identity import IdentificationLocked, IdentityService
from assistant.support.orders import OrderNotFound
from retrieval.db import ActionLogRow, Database
from retrieval.sources import get_source
from retrieval.store_state import export_store

from .conftest import RAW


@pytest.fixture(scope="module")
def pristine():
    if not (RAW / "tau2" / "retail" / "db.json").exists():
        pytest.fail("the tau2 retail data is missing: run `make data` (make test does it)")
    return get_source("retail").load(RAW)


@pytest.fixture
def db(tmp_path, pristine) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'retail.db'}")
    database.load_catalogue(pristine)
    return database


@pytest.fixture
def actions(db) -> ActionService:
    return ActionService(db)


def order(db, order_id):
    return export_store(db)["orders"][order_id]


def user(db, user_id):
    return export_store(db)["users"][user_id]


# yusuf_rossi_9620: #W2378156 delivered (credit card), #W4776164 pending.
YUSUF, DELIVERED, PENDING = "yusuf_rossi_9620", "#W2378156", "#W4776164"


def test_cancel_pending_refunds_and_records_the_reason(db, actions):
    p = actions.propose(ActionKind.CANCEL, YUSUF, PENDING, reason="no longer needed")
    paid = order(db, PENDING)["payment_history"][0]["amount"]
    assert p.amount == paid
    assert order(db, PENDING)["status"] == "pending"  # a proposal changes nothing
    out = actions.execute(p, "s1")
    o = order(db, PENDING)
    assert out.status == o["status"] == "cancelled"
    assert o["cancel_reason"] == "no longer needed"
    assert o["payment_history"][-1] == {
        "transaction_type": "refund",
        "amount": paid,
        "payment_method_id": o["payment_history"][0]["payment_method_id"],
    }


@pytest.mark.parametrize(
    ("order_id", "reason", "code"),
    [
        (DELIVERED, "no longer needed", "wrong_status"),
        (PENDING, "found it cheaper", "bad_reason"),
    ],
)
def test_cancel_refused(actions, order_id, reason, code):
    with pytest.raises(ActionRefused) as exc:
        actions.propose(ActionKind.CANCEL, YUSUF, order_id, reason=reason)
    assert exc.value.code == code


def test_another_customers_order_is_not_found_like_a_missing_one(actions):
    with pytest.raises(OrderNotFound):
        actions.propose(ActionKind.CANCEL, "noah_brown_6181", PENDING, reason="no longer needed")
    with pytest.raises(OrderNotFound):
        actions.propose(ActionKind.CANCEL, YUSUF, "#W0000000", reason="no longer needed")


def test_gift_card_refund_is_immediate_and_to_the_cent(db, actions, pristine):
    paid_by_gift = next(
        (o, a)
        for o in pristine.order_states
        if o.status == "pending"
        and len(o.payment_history) == 1
        and o.payment_history[0]["payment_method_id"].startswith("gift_card")
        for a in pristine.accounts
        if a.user_id == o.user_id
    )
    o, a = paid_by_gift
    card = o.payment_history[0]["payment_method_id"]
    before = a.payment_methods[card]["balance"]
    actions.execute(
        actions.propose(ActionKind.CANCEL, a.user_id, o.order_id, reason="ordered by mistake")
    )
    after = user(db, a.user_id)["payment_methods"][card]["balance"]
    assert round(after * 100) == round(before * 100) + round(o.payment_history[0]["amount"] * 100)


def test_modify_items_prices_each_item_by_its_own_new_version_once(db, actions):
    o = order(db, PENDING)
    shirt = next(it for it in o["items"] if it["name"] == "T-Shirt")
    variants = [v for v in actions.variants(shirt["product_id"]) if v["available"]]
    new = next(v for v in variants if v["item_id"] != shirt["item_id"])
    p = actions.propose(
        ActionKind.MODIFY_ITEMS,
        YUSUF,
        PENDING,
        item_ids=[shirt["item_id"]],
        new_item_ids=[new["item_id"]],
        payment_method_id="credit_card_9513926",
    )
    assert p.amount == round(new["price"] - shirt["price"], 2)
    actions.execute(p)
    after = order(db, PENDING)
    changed = next(it for it in after["items"] if it["item_id"] == new["item_id"])
    assert changed["price"] == new["price"] and changed["options"] == new["options"]
    assert after["status"] == "pending (item modified)"
    # Items change once; after that the order can't be cancelled or modified either.
    for kind, extra in [
        (
            ActionKind.MODIFY_ITEMS,
            {"item_ids": [new["item_id"]], "new_item_ids": [shirt["item_id"]]},
        ),
        (ActionKind.CANCEL, {"reason": "no longer needed"}),
    ]:
        with pytest.raises(ActionRefused) as exc:
            actions.propose(kind, YUSUF, PENDING, payment_method_id="credit_card_9513926", **extra)
        assert exc.value.code == "wrong_status"


def test_modify_items_refuses_another_product_and_unavailable_versions(db, actions):
    o = order(db, PENDING)
    shirt = next(it for it in o["items"] if it["name"] == "T-Shirt")
    other = next(it for it in o["items"] if it["name"] != "T-Shirt")
    gone = next((v for v in actions.variants(shirt["product_id"]) if not v["available"]), None)
    cases = [(other["item_id"], "other_product")]
    if gone:
        cases.append((gone["item_id"], "unavailable"))
    for new_id, code in cases:
        with pytest.raises(ActionRefused) as exc:
            actions.propose(
                ActionKind.MODIFY_ITEMS,
                YUSUF,
                PENDING,
                item_ids=[shirt["item_id"]],
                new_item_ids=[new_id],
                payment_method_id="credit_card_9513926",
            )
        assert exc.value.code == code


def test_modify_address_and_payment(db, actions, pristine):
    address = {
        "address1": "1 Main St",
        "address2": "",
        "city": "Austin",
        "state": "TX",
        "zip": "78701",
    }
    actions.execute(actions.propose(ActionKind.MODIFY_ADDRESS, YUSUF, PENDING, address=address))
    assert order(db, PENDING)["address"] == address | {"country": "USA"}
    # Payment: to a gift card with enough balance; the old method is refunded.
    o, a, card = next(
        (o, a, mid)
        for o in pristine.order_states
        if o.status == "pending" and len(o.payment_history) == 1
        for a in pristine.accounts
        if a.user_id == o.user_id
        for mid, m in a.payment_methods.items()
        if m["source"] == "gift_card"
        and m["balance"] >= o.payment_history[0]["amount"]
        and mid != o.payment_history[0]["payment_method_id"]
    )
    amount = o.payment_history[0]["amount"]
    before = a.payment_methods[card]["balance"]
    actions.execute(
        actions.propose(ActionKind.MODIFY_PAYMENT, a.user_id, o.order_id, payment_method_id=card)
    )
    after = order(db, o.order_id)["payment_history"]
    assert [p["transaction_type"] for p in after] == ["payment", "payment", "refund"]
    balance = user(db, a.user_id)["payment_methods"][card]["balance"]
    assert round(balance * 100) == round(before * 100) - round(amount * 100)
    with pytest.raises(ActionRefused) as exc:  # the payment changes once
        actions.propose(
            ActionKind.MODIFY_PAYMENT,
            a.user_id,
            o.order_id,
            payment_method_id=o.payment_history[0]["payment_method_id"],
        )
    assert exc.value.code == "payment_changed"
    with pytest.raises(ActionRefused) as exc:
        actions.propose(
            ActionKind.MODIFY_PAYMENT, YUSUF, PENDING, payment_method_id="credit_card_0000000"
        )
    assert exc.value.code == "payment_not_on_file"


def test_return_to_original_or_gift_card_only(db, actions):
    items = [it["item_id"] for it in order(db, DELIVERED)["items"][:2]]
    with pytest.raises(ActionRefused) as exc:  # a card that isn't on file
        actions.propose(
            ActionKind.RETURN,
            YUSUF,
            DELIVERED,
            item_ids=items,
            payment_method_id="credit_card_1111111",
        )
    assert exc.value.code == "payment_not_on_file"
    with pytest.raises(ActionRefused) as exc:
        actions.propose(
            ActionKind.RETURN,
            YUSUF,
            PENDING,
            item_ids=items,
            payment_method_id="credit_card_9513926",
        )
    assert exc.value.code in ("wrong_status", "item_not_in_order")
    p = actions.propose(
        ActionKind.RETURN, YUSUF, DELIVERED, item_ids=items, payment_method_id="credit_card_9513926"
    )
    prices = [it["price"] for it in order(db, DELIVERED)["items"][:2]]
    assert round(p.amount * 100) == sum(round(x * 100) for x in prices)
    actions.execute(p)
    o = order(db, DELIVERED)
    assert o["status"] == "return requested"
    assert (
        o["return_items"] == sorted(items)
        and o["return_payment_method_id"] == "credit_card_9513926"
    )
    with pytest.raises(ActionRefused):  # returns and exchanges happen once
        actions.propose(
            ActionKind.EXCHANGE,
            YUSUF,
            DELIVERED,
            item_ids=items[:1],
            new_item_ids=items[:1],
            payment_method_id="credit_card_9513926",
        )


def test_return_refuses_a_refund_to_a_method_other_than_the_original(pristine):
    found = next(
        (o, mid)
        for o in pristine.order_states
        if o.status == "delivered"
        for a in pristine.accounts
        if a.user_id == o.user_id
        for mid, m in a.payment_methods.items()
        if m["source"] != "gift_card" and mid != o.payment_history[0]["payment_method_id"]
    )
    o, other = found
    db = Database("sqlite://")
    db.load_catalogue(pristine)
    with pytest.raises(ActionRefused) as exc:
        ActionService(db).propose(
            ActionKind.RETURN,
            o.user_id,
            o.order_id,
            item_ids=[o.items[0]["item_id"]],
            payment_method_id=other,
        )
    assert exc.value.code == "refund_method"


def test_exchange_records_the_price_difference_and_runs_once(db, actions):
    # The expected exchange of tau2 train task 0.
    p = actions.propose(
        ActionKind.EXCHANGE,
        YUSUF,
        DELIVERED,
        item_ids=["1151293680", "4983901480"],
        new_item_ids=["7706410293", "7747408585"],
        payment_method_id="credit_card_9513926",
    )
    assert p.amount == -16.63
    first, again = actions.execute(p, "s1"), actions.execute(p, "s1")
    assert not first.repeated and again.repeated
    o = order(db, DELIVERED)
    assert o["status"] == "exchange requested"
    assert o["exchange_price_difference"] == -16.63
    assert o["exchange_new_items"] == ["7706410293", "7747408585"]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ActionLogRow)) == 1


def test_user_address_and_export_reset_round_trip(tmp_path, db, actions, pristine):
    address = {
        "address1": "9 Elm St",
        "address2": "Apt 2",
        "city": "Boston",
        "state": "MA",
        "zip": "02108",
        "country": "USA",
    }
    actions.execute(actions.propose(ActionKind.USER_ADDRESS, YUSUF, address=address))
    assert user(db, YUSUF)["address"] == address
    db.reset_store_state(pristine)
    assert user(db, YUSUF)["address"] == next(
        a.address for a in pristine.accounts if a.user_id == YUSUF
    )
    exported = export_store(db)
    assert set(exported) == {"products", "users", "orders"}
    assert len(exported["orders"]) == 1000 and len(exported["users"]) == 500


def test_identification_never_says_which_part_was_wrong_and_is_rate_limited(db):
    ids = IdentityService(db)
    assert ids.identify(first_name="Yusuf", last_name="Rossi", zip="19122") == YUSUF
    assert ids.identify(email="YUSUF.ROSSI7301@example.com") in (YUSUF, None)
    assert ids.identify(first_name="Yusuf", last_name="Rossi", zip="00000", client="ip1") is None
    for _ in range(30):
        try:
            ids.identify(email="nobody@example.com", client="ip1")
        except IdentificationLocked:
            break
    else:
        pytest.fail("identification attempts were never limited per client")
    with pytest.raises(IdentificationLocked):  # even a right answer, once locked
        ids.identify(first_name="Yusuf", last_name="Rossi", zip="19122", client="ip1")
    with pytest.raises(IdentificationLocked):
        ids.identify(first_name="Yusuf", last_name="Rossi", zip="19122", conversation_failures=5)
