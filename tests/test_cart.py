"""Shopping carts: the service on the store's database (SQLite; PostgreSQL in the scale-out
pass), the agent's cart tools, the /api/cart endpoints end to end, and the UI's card button."""

import threading
from dataclasses import asdict

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app import create_app
from assistant.conversation import Reply
from assistant.runtime import Runtime
from assistant.support import MAX_LINES, MAX_QUANTITY, Cart, CartError, CartOwner, CartService
from assistant.web.shop import Shop
from assistant.web.ui import _adding, read_cart
from retrieval.db import CartLineRow, EventRow
from retrieval.events import utcnow
from tests.support import CUSTOMER, auth

OTHER = "AA-10315"  # another real customer
ORIGIN = "http://shop.example"


@pytest.fixture(scope="module")
def runtime(runtime_factory) -> Runtime:
    # A private data dir: carts and add_to_cart events must not disturb the shared stack.
    return runtime_factory("cart", cors_origins=[ORIGIN])


@pytest.fixture(scope="module")
def carts(runtime) -> CartService:
    return runtime.desk.cart


@pytest.fixture(scope="module")
def pids(runtime) -> list[str]:
    return [p.id for p in runtime.stack.catalogue.products[:60]]


@pytest.fixture(scope="module")
def client(runtime) -> TestClient:
    return TestClient(create_app(runtime.settings, runtime, ui=False))


_n = iter(range(10**6))


def anon() -> CartOwner:
    """A fresh anonymous shopper: each test starts from an empty cart."""
    return CartOwner.of(None, f"sess-cart-{next(_n):06d}")


def error_code(fn, *args, **kwargs) -> str:
    with pytest.raises(CartError) as info:
        fn(*args, **kwargs)
    return info.value.code


def _live_events(runtime, user: str, kind: str = "add_to_cart") -> list[EventRow]:
    with runtime.stack.db.session() as s:
        q = select(EventRow).where(
            EventRow.user_id == user, EventRow.type == kind, EventRow.origin == "live"
        )
        return list(s.scalars(q))


# The service -------------------------------------------------------------------------------
def test_add_merges_and_prices_from_the_catalogue(carts, runtime, pids):
    me = anon()
    assert carts.get(me) == Cart()
    carts.add(me, pids[0])
    carts.add(me, pids[1], 2)
    cart = carts.add(me, pids[0], 3)  # more of a line already there: one line, 4 of it
    assert [(ln.product_id, ln.quantity) for ln in cart.lines] == [(pids[0], 4), (pids[1], 2)]
    for ln in cart.lines:
        p = runtime.stack.catalogue.get(ln.product_id)
        assert (ln.name, ln.price) == (p.name, round(p.price, 2))
        assert ln.line_total == round(ln.price * ln.quantity, 2)
    assert cart.count == 6
    assert cart.total == round(sum(ln.line_total for ln in cart.lines), 2)
    assert carts.get(me) == cart
    assert set(asdict(cart)) == {"lines", "count", "total", "currency"}  # `reply.cart`


def test_set_quantity_remove_and_clear(carts, pids):
    me = anon()
    carts.add(me, pids[0])
    carts.add(me, pids[1])
    assert carts.set_quantity(me, pids[1], 7).quantity_of(pids[1]) == 7
    assert [ln.product_id for ln in carts.set_quantity(me, pids[1], 0).lines] == [pids[0]]
    assert error_code(carts.set_quantity, me, pids[1], 3) == "not_in_cart"
    assert carts.remove(me, pids[0]) == Cart()
    assert error_code(carts.remove, me, pids[0]) == "not_in_cart"
    carts.add(me, pids[2], 5)
    assert carts.clear(me) == Cart() == carts.get(me)
    assert carts.clear(me) == Cart()  # clearing an empty cart is fine


def test_limits_and_unknown_products(carts, pids):
    me = anon()
    for bad in (0, -1, MAX_QUANTITY + 1, True, 1.5, "2"):
        assert error_code(carts.add, me, pids[0], bad) == "bad_quantity"
    assert error_code(carts.set_quantity, me, pids[0], MAX_QUANTITY + 1) == "bad_quantity"
    assert error_code(carts.add, me, "NOPE-404") == "unknown_product"
    carts.add(me, pids[0], MAX_QUANTITY - 1)
    assert error_code(carts.add, me, pids[0], 2) == "quantity_limit"
    assert carts.add(me, pids[0]).quantity_of(pids[0]) == MAX_QUANTITY
    for pid in pids[1:MAX_LINES]:
        carts.add(me, pid)
    assert len(carts.get(me).lines) == MAX_LINES
    assert error_code(carts.add, me, pids[MAX_LINES]) == "cart_full"
    assert carts.add(me, pids[1]).quantity_of(pids[1]) == 2  # more of a line still fits
    assert carts.get(me).total == round(sum(ln.line_total for ln in carts.get(me).lines), 2)


def test_owners_never_see_each_others_carts(carts, pids):
    assert CartOwner.of(CUSTOMER, "sess-x-123").key == f"u:{CUSTOMER}"  # the user wins
    same_text = CartOwner.of(None, CUSTOMER)  # a session id that spells a user id
    assert same_text.key == f"s:{CUSTOMER}" != CartOwner.of(CUSTOMER, None).key
    assert error_code(CartOwner.of, None, None) == "bad_owner"
    assert error_code(CartOwner.of, "x" * 65, None) == "bad_owner"

    user, other, visitor = CartOwner.of(OTHER, None), CartOwner.of("AB-10015", None), anon()
    carts.clear(user)
    carts.add(user, pids[3])
    carts.add(same_text, pids[4])
    carts.add(visitor, pids[5])
    assert [ln.product_id for ln in carts.get(user).lines] == [pids[3]]
    assert [ln.product_id for ln in carts.get(CartOwner.of(OTHER, "any-session")).lines] == [
        pids[3]
    ]
    assert [ln.product_id for ln in carts.get(same_text).lines] == [pids[4]]
    assert [ln.product_id for ln in carts.get(visitor).lines] == [pids[5]]
    assert carts.get(other) == Cart() and carts.get(anon()) == Cart()
    assert error_code(carts.remove, visitor, pids[3]) == "not_in_cart"  # not theirs to remove
    carts.clear(visitor)
    assert carts.get(user).count == 1 and carts.get(same_text).count == 1


def test_merge_brings_a_sessions_cart_along(carts, pids):
    old, new = anon(), anon()
    carts.add(old, pids[0], 2)
    carts.add(old, pids[1])
    carts.add(new, pids[1], MAX_QUANTITY - 1)
    merged = carts.merge(old, new)
    assert {ln.product_id: ln.quantity for ln in merged.lines} == {
        pids[0]: 2,
        pids[1]: MAX_QUANTITY,  # quantities add up, capped
    }
    assert carts.get(old) == Cart()


def test_a_product_gone_from_the_catalogue_is_not_shown(carts, runtime, pids):
    me = anon()
    carts.add(me, pids[0])
    with runtime.stack.db.session() as s:
        now = utcnow()
        row = CartLineRow(owner=me.key, product_id="GONE-1", quantity=3)
        row.added_at = row.updated_at = now
        s.add(row)
    cart = carts.get(me)
    assert [ln.product_id for ln in cart.lines] == [pids[0]] and cart.count == 1


def test_concurrent_adds_of_one_product_add_up(carts, pids):
    me = anon()
    errors: list[Exception] = []

    def add() -> None:
        try:
            for _ in range(3):
                carts.add(me, pids[7])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=add) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert carts.get(me).quantity_of(pids[7]) == 12


def test_adding_records_add_to_cart_for_signed_in_shoppers_only(carts, runtime, pids):
    recs = runtime.stack.recommendations()
    position = recs.items.position[pids[8]]
    profile = recs.profile(CUSTOMER)  # cached, then updated in place by `record`
    n_before, weight_before = profile.n_events, profile.history.get(position, 0.0)
    stored_before = len(_live_events(runtime, CUSTOMER))

    carts.add(CartOwner.of(CUSTOMER, "sess-signed-1"), pids[8], 2)
    events = _live_events(runtime, CUSTOMER)
    assert len(events) == stored_before + 1
    assert (events[-1].product_id, events[-1].session_id) == (pids[8], "sess-signed-1")
    profile = recs.profile(CUSTOMER)
    assert profile.n_events == n_before + 1
    assert profile.history.get(position, 0.0) > weight_before  # folded in: it counts now

    carts.add(CartOwner.of(CUSTOMER, None), pids[8], record_event=False)
    assert len(_live_events(runtime, CUSTOMER)) == stored_before + 1

    anonymous_before = _live_events(runtime, "sess-anon-ev")
    carts.add(CartOwner.of(None, "sess-anon-ev"), pids[8])
    assert _live_events(runtime, "sess-anon-ev") == anonymous_before == []
    carts.clear(CartOwner.of(CUSTOMER, None))


# The agent's tools -------------------------------------------------------------------------
def test_cart_tools_record_their_calls(runtime, pids):
    tools = runtime.agent.deps.tools
    assert {"cart_add", "cart_remove", "cart_show"} <= set(tools.names())
    assert tools.desk.cart is runtime.desk.cart  # one service for the web and the agent
    reply = Reply(text="", intent="cart")
    who = {"user_id": None, "session_id": "sess-tools-1"}
    cart = tools.call(reply, "cart_add", **who, product_id=pids[9], quantity=2)
    assert cart.count == 2
    assert tools.call(reply, "cart_show", **who) == cart
    with pytest.raises(CartError):
        tools.call(reply, "cart_add", **who, product_id="NOPE-1")
    assert tools.call(reply, "cart_remove", **who, product_id=pids[9]) == Cart()
    calls = [(c.name, c.ok, c.error) for c in reply.tool_calls]
    assert calls == [
        ("cart_add", True, None),
        ("cart_show", True, None),
        ("cart_add", False, "CartError"),
        ("cart_remove", True, None),
    ]
    assert reply.tool_calls[0].args == {**who, "product_id": pids[9], "quantity": 2}
    # The signed-in shopper's cart is theirs whichever conversation asks.
    tools.cart_add(CUSTOMER, "sess-a", pids[10])
    assert tools.cart_show(CUSTOMER, "sess-b").count == 1
    assert tools.cart_show(None, "sess-a") == Cart()
    tools.desk.cart.clear(CartOwner.of(CUSTOMER, None))


# The HTTP API ------------------------------------------------------------------------------
def assert_error(resp, status: int, code: str | None = None) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    if code:
        assert body["error"]["code"] == code, body


def test_api_anonymous_cart_lives_in_its_session(client, runtime, pids):
    empty = client.get("/api/cart")
    assert empty.status_code == 200
    assert empty.json() == {
        "lines": [],
        "count": 0,
        "total": 0.0,
        "currency": "USD",
        "session_id": None,
    }
    first = client.post("/api/cart", json={"product_id": pids[0], "quantity": 2})
    assert first.status_code == 200, first.text
    body = first.json()
    sid = body["session_id"]
    assert sid and first.headers["x-session-id"] == sid
    p = runtime.stack.catalogue.get(pids[0])
    assert body["lines"] == [
        {
            "product_id": pids[0],
            "name": p.name,
            "price": round(p.price, 2),
            "quantity": 2,
            "line_total": round(round(p.price, 2) * 2, 2),
        }
    ]
    assert body["count"] == 2 and body["currency"] == "USD"
    again = client.post(f"/api/cart?session_id={sid}", json={"product_id": pids[0]})
    assert again.json()["lines"][0]["quantity"] == 3
    assert client.get(f"/api/cart?session_id={sid}").json() == again.json()
    assert client.get("/api/cart?session_id=someone-else-42").json()["count"] == 0
    assert client.get("/api/cart", headers=auth()).json()["session_id"] is None  # not theirs
    gone = client.delete(f"/api/cart/{pids[0]}?session_id={sid}")
    assert gone.status_code == 200 and gone.json()["count"] == 0
    assert_error(client.delete(f"/api/cart/{pids[0]}?session_id={sid}"), 404, "not_in_cart")


def test_api_signed_in_cart_and_clear(client, runtime, pids):
    client.delete("/api/cart", headers=auth())
    before = len(_live_events(runtime, CUSTOMER))
    resp = client.post("/api/cart", headers=auth(), json={"product_id": pids[1]})
    assert resp.status_code == 200 and resp.json()["session_id"] is None
    assert "x-session-id" not in resp.headers
    assert len(_live_events(runtime, CUSTOMER)) == before + 1  # the event, as the buttons do
    client.post("/api/cart?session_id=sess-api-9", headers=auth(), json={"product_id": pids[2]})
    mine = client.get("/api/cart?session_id=another-one", headers=auth()).json()
    assert [ln["product_id"] for ln in mine["lines"]] == [pids[1], pids[2]]
    assert client.get("/api/cart", headers=auth(OTHER)).json()["lines"] != mine["lines"]
    # A forged token is anonymous: it never reaches the shopper's cart.
    forged = auth(secret="forged")
    assert client.get("/api/cart", headers=forged).json()["count"] == 0
    assert client.post("/api/cart", headers=forged, json={"product_id": pids[3]}).json()[
        "session_id"
    ]
    assert client.get("/api/cart", headers=auth()).json() == mine
    cleared = client.delete("/api/cart", headers=auth())
    assert cleared.status_code == 200 and cleared.json()["lines"] == []
    assert client.get("/api/cart", headers=auth()).json()["count"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"product_id": "X", "quantity": 0},
        {"product_id": "X", "quantity": 100},
        {"product_id": "X", "quantity": "2"},
        {"product_id": "X", "quantity": 1.5},
        {"product_id": "X", "price": 0.01},  # a price is never the client's to give
        {"product_id": "X", "user_id": OTHER},  # nor an identity
        {"quantity": 1},
        {"product_id": ""},
    ],
)
def test_api_rejects_bad_bodies(client, body):
    assert_error(client.post("/api/cart", headers=auth(), json=body), 422, "validation_error")


def test_api_errors(client, pids):
    assert_error(
        client.post("/api/cart", headers=auth(), json={"product_id": "NOPE-404"}),
        404,
        "unknown_product",
    )
    assert_error(client.delete("/api/cart/NOPE-404", headers=auth()), 404, "not_in_cart")
    assert_error(client.delete(f"/api/cart/{pids[0]}"), 404, "not_in_cart")  # no session
    assert_error(client.get("/api/cart?session_id=bad id!"), 422, "validation_error")
    sid = "sess-api-limit-1"
    ok = client.post(f"/api/cart?session_id={sid}", json={"product_id": pids[0], "quantity": 99})
    assert ok.status_code == 200
    assert_error(
        client.post(f"/api/cart?session_id={sid}", json={"product_id": pids[0]}),
        422,
        "quantity_limit",
    )


def test_api_is_documented_and_allowed_cross_origin(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"get", "post", "delete"} <= set(paths["/api/cart"])
    assert "404" in paths["/api/cart"]["post"]["responses"]
    assert "404" in paths["/api/cart/{product_id}"]["delete"]["responses"]
    pre = {"Access-Control-Request-Method": "DELETE", "Origin": ORIGIN}
    ok = client.options("/api/cart/OFF-1", headers=pre)
    assert ok.status_code == 200 and "DELETE" in ok.headers["access-control-allow-methods"]


# The UI's card button ----------------------------------------------------------------------
def test_the_card_button_fills_the_cart_and_records_one_event(runtime, carts, pids):
    shop = Shop(runtime)
    before = len(_live_events(runtime, CUSTOMER))
    carts.clear(CartOwner.of(CUSTOMER, None))
    home, notice, _why, cart = _adding(shop, pids[11])(CUSTOMER, "bucket-1", "conv-1", {})
    assert [ln["product_id"] for ln in cart["lines"]] == [pids[11]]
    assert "Added to your cart" in notice.value and home["page"]
    assert len(_live_events(runtime, CUSTOMER)) == before + 1  # once, not twice
    assert read_cart(shop, CUSTOMER, "another-conv") == cart
    # A new visitor's card button fills their session's cart, with no event.
    anon_cart = _adding(shop, pids[12])(None, "bucket-2", "conv-anon-1", {})[3]
    assert anon_cart["count"] == 1 and read_cart(shop, None, "conv-anon-1") == anon_cart
    assert read_cart(shop, None, None) == asdict(Cart())
    carts.clear(CartOwner.of(CUSTOMER, None))
