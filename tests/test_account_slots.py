"""The account flow's readers of the shopper's words (assistant/commands/account_slots.py):
confirmation, several requests, statuses, comparisons, versions, payment, addresses."""

from __future__ import annotations

import pytest

from assistant.commands import account_slots as slots
from assistant.support.actions import ActionKind

PENDING = "#W4776164"


@pytest.mark.parametrize(
    "text",
    [
        "Yes",
        "yes please",
        "Yes, go ahead with both.",
        "Yes, same credit card.",
        "Yes, just the thermostat. Go ahead.",
        "yes, and also cancel #W1234567",
        f"yes, {PENDING} is the one",
    ],
)
def test_an_explicit_yes_confirms(text):
    assert slots.confirms(text, PENDING)


@pytest.mark.parametrize(
    "text",
    [
        "Do it later, not now",
        "OK, I need to think about it first",
        "yes... no, don't do it",
        "sure thing, what does cancelling cost me?",
        "confirm cancelling order #W6247578",
        "yes for order #W4604258",
        "okay whatever you say, I am not confirming anything",
        "Proceed? Hmm, not sure yet",
        "yes, but make it the blue one",
        "no",
        "Cancel order #W4776164",
    ],
)
def test_anything_less_than_a_go_ahead_does_not_confirm(text):
    assert not slots.confirms(text, PENDING)


def test_several_requests_are_split_but_corrections_and_fallbacks_are_not():
    split = slots.split_requests(
        "I want to cancel all my pending orders because I no longer need them, and return "
        "the smart watch I received, nothing else."
    )
    assert len(split) == 2 and split[0].startswith("I want to cancel")
    assert split[1].startswith("return the smart watch")
    for one in (
        "I won't exchange it; I'd like to return it",
        "Can I exchange it for the same tablet? If that's not available, I'll just return it.",
        "I want to cancel the bookshelf I received. I mean return it, refund to my card.",
        "Change the shipping address on all my pending orders, and make it my default address",
    ):
        assert slots.split_requests(one) == [one]
    assert slots.split_requests("Change the address, and I'll return the rest later") == [
        "Change the address"
    ]


def test_the_status_words_point_at_orders():
    assert slots.said_status("the grill I just ordered") == ("pending",)
    assert slots.said_status("the helmet I received") == ("delivered",)
    assert slots.said_status("she hasn't received them") == ("pending", "processed")
    # both said: the first belongs to the item
    text = "the hose I received, like the one in my pending order"
    assert slots.said_status(text) == ("delivered",)
    assert slots.said_status("my order") == ()


def test_comparisons_pick_by_price():
    assert slots.price_pick("the cheapest version") == "min"
    assert slots.price_pick("return the more expensive one") == "max"
    assert slots.price_pick("the blue one") is None
    order = {
        "items": [
            {"item_id": "a", "name": "Tablet", "price": 900.0, "options": {"color": "black"}},
            {"item_id": "b", "name": "Tablet", "price": 990.0, "options": {"color": "gold"}},
        ]
    }
    assert slots.pick_items("return the more expensive tablet", order) == ["b"]
    assert slots.pick_items("return the gold tablet", order) == ["b"]


VARIANTS = [
    {"item_id": "k1", "options": {"switch": "linear", "size": "full size"}, "price": 272.0, "available": True},
    {"item_id": "k2", "options": {"switch": "clicky", "size": "80%"}, "price": 237.0, "available": True},
    {"item_id": "k3", "options": {"switch": "clicky", "size": "full size"}, "price": 269.0, "available": False},
    {"item_id": "k4", "options": {"switch": "tactile", "size": "full size"}, "price": 226.0, "available": True},
]  # fmt: skip
KEYBOARD = {"item_id": "k1", "options": {"switch": "linear", "size": "full size"}, "price": 272.0}


def test_a_value_the_item_already_has_is_required_too():
    # "clicky and full size": the only clicky full-size one is unavailable; no partial match
    choice = slots.pick_version("one that's clicky and full size", KEYBOARD, VARIANTS)
    assert choice.variant is None
    assert choice.wanted == {"switch": "clicky", "size": "full size"}
    assert slots.pick_version("a clicky one", KEYBOARD, VARIANTS).variant["item_id"] == "k2"


def test_superlatives_and_comparatives_pick_among_available_versions():
    assert slots.pick_version("the cheapest version", KEYBOARD, VARIANTS).variant["item_id"] == "k4"
    dearest = slots.pick_version("the most expensive one", KEYBOARD, VARIANTS)
    assert dearest.variant["item_id"] == "k2"  # k1 is the item itself, k3 unavailable
    cheaper_same_size = slots.pick_version(
        "only if there's a cheaper one in the same size", KEYBOARD, VARIANTS
    )
    assert cheaper_same_size.variant["item_id"] == "k4"


def test_letter_sizes_are_read_in_words_and_never_from_a_stray_letter():
    assert slots.option_hits("the small t-shirt", {"size": "S"}) == 1
    assert slots.option_hits("one size smaller, so XL", {"size": "XL"}) == 1
    assert slots.option_hits("it's fine", {"size": "S"}) == 0
    assert slots.option_hits("extra large please", {"size": "L"}) == 0


METHODS = {
    "paypal_1": {"source": "paypal"},
    "credit_card_1": {"source": "credit_card", "brand": "visa", "last_four": "7285"},
}


def test_payment_preferences_and_methods_not_on_file():
    text = "I'd prefer PayPal. If that's not possible, my credit card is fine."
    assert slots.payment_choices(text, METHODS) == ["paypal_1", "credit_card_1"]
    # a gift card the shopper doesn't have is never read as "the card on file"
    assert slots.payment_method("refund to my gift card", METHODS) is None
    assert slots.payment_method("to gift card gift_card_6566420", METHODS) == "gift_card_6566420"
    assert slots.payment_method("the Visa ending in 9999", METHODS) is None


def test_products_set_aside_and_products_that_only_describe_the_order():
    names = ["Backpack", "T-Shirt", "Vacuum Cleaner"]
    assert slots.excluded_products("the t-shirt. Not the backpack, the t-shirt!", names) == [
        "Backpack"
    ]
    order = {
        "items": [
            {"item_id": "b", "name": "Backpack", "price": 1.0, "options": {}},
            {"item_id": "v", "name": "Vacuum Cleaner", "price": 1.0, "options": {}},
        ]
    }
    assert slots.pick_items("return the backpack I got with the vacuum cleaner", order) == ["b"]
    assert slots.named_products("change the watch", ["Wristwatch", "Electric Kettle"]) == [
        "Wristwatch"
    ]
    assert slots.named_products("the bookshelves", ["Bookshelf"]) == ["Bookshelf"]


def test_an_address_is_read_up_to_the_end_of_its_sentence():
    got = slots.address(
        "My correct address is 445 Maple Drive, Suite 394, Fort Worth, TX 76165, USA. "
        "Please fix it on all my orders."
    )
    assert got == {
        "address1": "445 Maple Drive",
        "address2": "Suite 394",
        "city": "Fort Worth",
        "state": "TX",
        "zip": "76165",
        "country": "USA",
    }


def test_the_default_address_as_a_destination_is_an_order_address_change():
    assert slots.action_kind("Please ship it to my default address instead.") is (
        ActionKind.MODIFY_ADDRESS
    )
    assert slots.action_kind("update my default address to 1 Main St") is ActionKind.USER_ADDRESS
    assert slots.action_kind("what's the tracking number of my cancelled order?") is None
    assert slots.action_kind("change the luggage set to red") == "change_items"
