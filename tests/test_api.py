"""The HTTP API end to end through FastAPI's TestClient: every endpoint, good and bad input."""

import json
import threading
import time
from contextlib import contextmanager

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app import create_app
from assistant.conversation import Reply
from assistant.runtime import Runtime
from assistant.web import i18n
from assistant.web.identity import issue_token, verify_token
from assistant.web.shop import Shop
from assistant.web.ui_chat import make_respond
from assistant.web.ui_render import BUSY_TEXT
from retrieval.db import EventRow, ExposureRow, OrderRow
from tests.support import CUSTOMER, SECRET, ThreadedServer, auth

ORIGIN = "http://shop.example"


@pytest.fixture(scope="module")
def runtime(runtime_factory) -> Runtime:
    # A private data dir: these tests record events and must not disturb the shared stack.
    return runtime_factory("web-api", cors_origins=[ORIGIN])


@pytest.fixture(scope="module")
def client(runtime) -> TestClient:
    return TestClient(create_app(runtime.settings, runtime))


@pytest.fixture(scope="module")
def orders(runtime) -> dict[str, str]:
    """One of the customer's orders and one of somebody else's, from the database."""
    with runtime.stack.db.session() as s:
        own = s.scalar(
            select(OrderRow.id)
            .where(OrderRow.customer_id == CUSTOMER)
            .order_by(OrderRow.order_date.desc())
        )
        other = s.scalar(select(OrderRow.id).where(OrderRow.customer_id != CUSTOMER))
    return {"own": own, "other": other}


def assert_error(resp, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    if code:
        assert body["error"]["code"] == code
    return body["error"]


# Health, identity, docs ------------------------------------------------------------------
def test_health(client, runtime):
    body = client.get("/api/health").json()
    assert body["status"] == "ok"
    assert body["catalogue_size"] == len(runtime.stack.catalogue) > 1000
    assert body["chroma"]["ok"] is True and body["llm_status"] == runtime.llm_status


def test_me_trusts_only_valid_tokens(client):
    assert client.get("/api/me", headers=auth()).json() == {
        "signed_in": True,
        "user_id": CUSTOMER,
        "name": "Claire Gute",
    }
    assert (
        client.get("/api/me", headers={"X-Shopper-Token": issue_token(SECRET, CUSTOMER)}).json()[
            "user_id"
        ]
        == CUSTOMER
    )
    forged = auth(secret="not-the-server-secret")
    assert client.get("/api/me", headers=forged).json()["signed_in"] is False
    assert (
        client.get("/api/me", headers={"Authorization": "Bearer garbage"}).json()["signed_in"]
        is False
    )


def test_openapi_docs(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/chat",
        "/api/home/{user}",
        "/api/events",
        "/api/orders/{order_id}",
        "/api/health",
    ):
        assert path in paths


def test_unknown_api_path_is_json_404(client):
    assert_error(client.get("/api/nope"), 404, "not_found")
    assert_error(client.post("/api/nope", json={}), 404, "not_found")


# Chat ------------------------------------------------------------------------------------
def test_chat_recommends_grounded_products(client, runtime):
    resp = client.post("/api/chat", json={"message": "I need a bookcase under $200"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["intent"] == "recommend" and body["signed_in"] is False
    assert len(body["session_id"]) >= 8 and body["products"]
    cat = runtime.stack.catalogue
    for p in body["products"]:
        assert cat.get(p["id"]).name == p["name"] and p["price"] <= 200
        assert p["name"] in body["text"]
    # The same keys as `shopassist ask --json`.
    assert {
        "text",
        "intent",
        "cited_ids",
        "tool_calls",
        "timings_ms",
        "generated",
        "fallback",
        "refused",
    } <= set(body)


def test_chat_session_keeps_state(client):
    first = client.post("/api/chat", json={"message": "office chairs"}).json()
    sid = first["session_id"]
    again = client.post("/api/chat", json={"message": "cheaper", "session_id": sid}).json()
    assert again["session_id"] == sid and again["intent"] == "refine"
    top = first["products"][0]["price"]
    assert again["products"] and all(p["price"] < top for p in again["products"])
    fresh = client.post(
        "/api/chat", json={"message": "cheaper", "session_id": "brand-new-session"}
    ).json()
    assert fresh["session_id"] == "brand-new-session" and fresh["intent"] != "refine"


def test_session_ids_do_not_cross_shoppers(client, orders):
    sid = "shared-session-123"
    own = client.post(
        "/api/chat",
        headers=auth(),
        json={"message": f"where is my order {orders['own']}?", "session_id": sid},
    ).json()
    assert own["refused"] is None and orders["own"] in own["text"]
    # Another caller replaying the session id gets a fresh, anonymous conversation.
    other = client.post(
        "/api/chat", json={"message": "and where is it now?", "session_id": sid}
    ).json()
    assert other["signed_in"] is False and orders["own"] not in other["text"]


def test_chat_order_status_needs_the_owner(client, orders):
    own = client.post(
        "/api/chat", headers=auth(), json={"message": f"Where is my order {orders['own']}?"}
    ).json()
    assert own["intent"] == "order_status" and own["refused"] is None
    assert orders["own"] in own["text"] and own["signed_in"] is True
    theirs = client.post(
        "/api/chat", headers=auth(), json={"message": f"Where is my order {orders['other']}?"}
    ).json()
    assert theirs["refused"] == "order_not_found"
    anonymous = client.post("/api/chat", json={"message": f"Where is order {orders['own']}?"})
    assert anonymous.json()["refused"] == "auth_required"
    forged = client.post(
        "/api/chat",
        headers=auth(secret="forged"),
        json={"message": f"Where is my order {orders['own']}?"},
    ).json()
    assert forged["signed_in"] is False and forged["refused"] == "auth_required"


def test_chat_never_takes_identity_from_the_body(client, orders):
    resp = client.post(
        "/api/chat", json={"message": f"where is order {orders['own']}?", "user_id": CUSTOMER}
    )
    assert_error(resp, 422, "validation_error")


def test_chat_stream_sends_pieces_then_the_reply(client):
    with client.stream("POST", "/api/chat", json={"message": "a bookcase", "stream": True}) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        raw = "".join(resp.iter_text())
    frames = [f for f in raw.split("\n\n") if f.strip()]
    events = [
        (
            f.split("\n")[0].removeprefix("event: "),
            json.loads(f.split("\n")[1].removeprefix("data: ")),
        )
        for f in frames
    ]
    kinds = [k for k, _ in events]
    assert kinds[-1] == "reply" and kinds.count("delta") >= 1
    final = events[-1][1]
    assert "".join(d["text"] for k, d in events if k == "delta") == final["text"]
    assert final["products"] and final["session_id"] == resp.headers["x-session-id"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"message": 42}, 422, "validation_error"),
        ({"message": ""}, 422, "validation_error"),
        ({}, 422, "validation_error"),
        ({"message": "hi", "stream": "maybe"}, 422, "validation_error"),
        ({"message": "hi", "session_id": "../../etc"}, 422, "validation_error"),
        (["message"], 422, "validation_error"),
        ({"message": "hi", "lang": "fr"}, 422, "validation_error"),
        ({"message": "hi", "lang": 7}, 422, "validation_error"),
    ],
)
def test_chat_rejects_bad_input(client, body, status, code):
    assert_error(client.post("/api/chat", json=body), status, code)


def test_chat_takes_the_shoppers_language(client):
    shop = client.app.state.web.shop
    # Chosen: the conversation answers in it, even to a message in the other language.
    body = client.post("/api/chat", json={"message": "I need a bookcase", "lang": "zh-CN"}).json()
    assert body["language"] == "zh"
    state = shop.sessions.get(None, body["session_id"]).state
    assert (state.language, state.language_fixed) == ("zh", True)
    again = client.post("/api/chat", json={"message": "cheaper", "session_id": state.session_id})
    assert again.json()["language"] == "zh"  # kept without being sent again
    # Not sent: replies follow the message, as before.
    plain = client.post("/api/chat", json={"message": "I need a bookcase"}).json()
    assert plain["language"] == "en"
    assert not shop.sessions.get(None, plain["session_id"]).state.language_fixed
    bad = assert_error(client.post("/api/chat", json={"message": "hi", "lang": "fr"}), 422)
    assert "lang" in bad["message"] and "en, zh" in bad["message"]


def test_malformed_json_is_400(client):
    resp = client.post(
        "/api/chat", content=b'{"message": "hi"', headers={"Content-Type": "application/json"}
    )
    assert_error(resp, 400, "malformed_json")


def test_long_message_gets_a_polite_reply(client, runtime):
    limit = runtime.settings.max_message_chars
    body = client.post("/api/chat", json={"message": "x" * (limit + 1)}).json()
    assert body["refused"] == "too_long" and body["products"] == []


def test_huge_body_is_413(client):
    big = {"message": "x" * 70_000}
    assert_error(client.post("/api/chat", json=big), 413, "payload_too_large")

    def chunks():  # no Content-Length: the limit is enforced while reading
        yield b'{"message": "'
        for _ in range(100):
            yield b"y" * 1024
        yield b'"}'

    resp = client.post("/api/chat", content=chunks(), headers={"Content-Type": "application/json"})
    assert_error(resp, 413, "payload_too_large")


def test_chat_rate_limit_is_429(runtime):
    settings = runtime.settings.model_copy(update={"chat_per_minute": 2})
    limited = TestClient(create_app(settings, runtime))
    for _ in range(2):
        assert limited.post("/api/chat", json={"message": "hello"}).status_code == 200
    resp = limited.post("/api/chat", json={"message": "hello"})
    assert_error(resp, 429, "rate_limited")
    assert int(resp.headers["retry-after"]) >= 1


# Admission: one gate, no queue -----------------------------------------------------------
@contextmanager
def all_slots_taken(lane):
    """Hold every slot of a lane, as that many long turns (or reads) in flight would."""
    taken = 0
    while lane.slots.try_acquire():
        taken += 1
    try:
        yield taken
    finally:
        for _ in range(taken):
            lane.slots.release()


def test_chat_over_the_in_flight_limit_is_503_at_once(client, orders):
    shop = client.app.state.web.shop
    with all_slots_taken(shop.chat) as taken:
        assert taken == shop.settings.chat_max_in_flight
        for stream in (False, True):
            t = time.perf_counter()
            resp = client.post("/api/chat", json={"message": "a bookcase", "stream": stream})
            assert time.perf_counter() - t < 2.0  # refused, not queued
            assert_error(resp, 503, "busy")
            assert int(resp.headers["retry-after"]) == shop.settings.busy_retry_after_s
        # Cheap reads have their own budget: a full chat lane does not hold them up.
        assert client.get(f"/api/orders/{orders['own']}", headers=auth()).status_code == 200
        assert client.get(f"/api/home/{CUSTOMER}", headers=auth()).status_code == 200
        assert client.get("/api/health").status_code == 200
        pid = client.app.state.web.runtime.stack.catalogue.products[0].id
        assert client.get(f"/api/products/{pid}").status_code == 200
    assert client.post("/api/chat", json={"message": "a bookcase"}).status_code == 200
    assert shop.chat.slots.held == 0


def test_reads_over_their_budget_are_503_and_chat_still_answers(client, orders, runtime):
    shop = client.app.state.web.shop
    pid = runtime.stack.catalogue.products[0].id
    with all_slots_taken(shop.reads):
        for path in (f"/api/orders/{orders['own']}", f"/api/products/{pid}", "/api/health"):
            resp = client.get(path, headers=auth())
            assert_error(resp, 503, "busy")
            assert resp.headers["retry-after"]
        # Home pages rank the catalogue: a budget of their own, so they can't crowd out
        # order look-ups either.
        assert client.get(f"/api/home/{CUSTOMER}", headers=auth()).status_code == 200
        assert client.post("/api/chat", json={"message": "a bookcase"}).status_code == 200
    with all_slots_taken(shop.homes):
        assert_error(client.get(f"/api/home/{CUSTOMER}", headers=auth()), 503, "busy")
        assert client.get(f"/api/orders/{orders['own']}", headers=auth()).status_code == 200
    with all_slots_taken(shop.writes):
        ev = {"id": "evt-busy-1", "type": "view", "product_id": pid}
        assert_error(client.post("/api/events", headers=auth(), json=ev), 503, "busy")
    # Not stored, not cached under its key: the retry is stored.
    assert client.post("/api/events", headers=auth(), json=ev).json()["accepted"] == ["evt-busy-1"]
    assert client.get(f"/api/orders/{orders['own']}", headers=auth()).status_code == 200
    # Refused before any look-up: no token, no slot taken, same 401 as ever.
    assert_error(client.get(f"/api/orders/{orders['own']}"), 401, "unauthorized")


def test_one_turn_at_a_time_per_conversation(client):
    shop = client.app.state.web.shop
    sid = "busy-conversation-1"
    turn = shop.chat_turn("hello", user_id=None, session_id=sid)  # admitted, still "running"
    try:
        resp = client.post("/api/chat", json={"message": "hello again", "session_id": sid})
        assert_error(resp, 429, "session_busy")
        other = client.post("/api/chat", json={"message": "hello", "session_id": "another-one"})
        assert other.status_code == 200  # other conversations are not held up
    finally:
        turn.close()
    assert client.post("/api/chat", json={"message": "hi", "session_id": sid}).status_code == 200


def test_a_streamed_turn_holds_its_slot_until_the_stream_ends(client):
    shop = client.app.state.web.shop
    turn = shop.chat_turn("a bookcase under $200", user_id=None, session_id="streamed-turn-1")
    pieces = turn.stream()
    first = next(pieces)
    assert isinstance(first, str) and shop.chat.slots.held == 1
    rest = list(pieces)
    assert isinstance(rest[-1], Reply) and shop.chat.slots.held == 0
    # A turn admitted but dropped unstarted gives its slot back when closed.
    dropped = shop.chat_turn("hi", user_id=None, session_id="streamed-turn-2")
    assert shop.chat.slots.held == 1
    dropped.close()
    dropped.close()  # idempotent
    assert shop.chat.slots.held == 0
    # Through the API: nothing is left held after a stream.
    with client.stream("POST", "/api/chat", json={"message": "a lamp", "stream": True}) as resp:
        assert resp.status_code == 200
        "".join(resp.iter_text())
    assert shop.chat.slots.held == 0


def _wait_until(cond, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)
    return cond()


@pytest.mark.parametrize("client_leaves", [False, True])
def test_streamed_chat_over_http_holds_its_slot_to_the_end(runtime, monkeypatch, client_leaves):
    gate = threading.Event()

    def gated_stream(state, message):  # the first piece, then wait: a long generation
        yield "Hello "
        gate.wait(30)
        yield "there."
        yield Reply(text="Hello there.", intent="greeting")

    monkeypatch.setattr(runtime.agent, "stream", gated_stream)
    app = create_app(runtime.settings, runtime, ui=False)
    shop = app.state.web.shop
    server = ThreadedServer(app)
    server.start()
    try:
        body = {"message": "hi", "stream": True}
        with httpx.stream("POST", f"{server.url}/api/chat", json=body, timeout=30) as resp:
            assert resp.status_code == 200
            lines = resp.iter_lines()
            assert next(lines) == "event: delta"
            assert shop.chat.slots.held == 1  # mid-stream: the turn still holds its slot
            if not client_leaves:
                gate.set()
                rest = "\n".join(lines)
                assert "event: reply" in rest
        gate.set()
        assert _wait_until(lambda: shop.chat.slots.held == 0), "the slot was never released"
        assert httpx.post(f"{server.url}/api/chat", json={"message": "hi"}).status_code == 200
    finally:
        gate.set()
        server.stop()


def test_the_ui_goes_through_the_same_gate(client):
    shop = client.app.state.web.shop
    respond = make_respond(shop)
    with all_slots_taken(shop.chat):
        t = time.perf_counter()
        *_, (box, history, sid) = respond("a bookcase", [], CUSTOMER, None, None)
        assert time.perf_counter() - t < 2.0
    assert history[-1] == {"role": "assistant", "content": BUSY_TEXT} and sid
    *_, (_, history, sid2) = respond("a bookcase", [], CUSTOMER, sid, None)
    assert sid2 == sid and "chat-card" in history[-1]["content"]
    assert shop.chat.slots.held == 0
    # The UI's language switch goes with the turn; the UI's own words follow it.
    with all_slots_taken(shop.chat):
        *_, (_, history, sid3) = respond("a bookcase", [], CUSTOMER, None, "zh")
    assert history[-1]["content"] == i18n.t("zh", "ui.busy") != BUSY_TEXT
    *_, (_, history, _) = respond("a bookcase", [], CUSTOMER, sid3, "zh")
    state = shop.sessions.get(CUSTOMER, sid3).state
    assert (state.language, state.language_fixed) == ("zh", True)
    assert "商品编号" in history[-1]["content"]  # the cards' labels


def test_the_ui_is_rate_limited_like_the_api(runtime):
    settings = runtime.settings.model_copy(update={"chat_per_minute": 1})
    respond = make_respond(Shop(runtime, settings))
    *_, (_, first, _) = respond("hello", [], "AA-10315", None, None)
    *_, (_, second, _) = respond("hello", [], "AA-10315", None, None)
    assert first[-1]["content"] != BUSY_TEXT and second[-1]["content"] == BUSY_TEXT


def test_chat_uses_the_prompt_version_of_its_ab_variant(client):
    shop = client.app.state.web.shop
    exp = shop.experiment("reco-prompt")
    assert exp is not None
    by_variant: dict[str, str] = {}
    for n in range(200):  # bucketing is a stable hash: find one shopper id per variant
        by_variant.setdefault(exp.assign(f"ab-{n}").name, f"ab-{n}")
    assert len(by_variant) == len(exp.variants)
    for variant, bucket in by_variant.items():
        turn = shop.chat_turn("a bookcase", user_id=None, session_id=bucket)
        try:
            turn.reply()
            wanted = next(v.prompt_version for v in exp.variants if v.name == variant)
            assert turn.state.prompt_version == wanted
        finally:
            turn.close()


# Home pages ------------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["anonymous", "new"])
def test_cold_start_home(client, who):
    body = client.get(f"/api/home/{who}").json()
    assert body["cold_start"] is True and body["user_id"] is None
    assert body["sections"][0]["items"]


def test_own_home_is_personal_and_logs_exposures(client, runtime):
    with runtime.stack.db.session() as s:
        before = s.scalar(select(func.count()).select_from(ExposureRow))
    body = client.get(f"/api/home/{CUSTOMER}?per_section=4", headers=auth()).json()
    assert body["cold_start"] is False and body["user_id"] == CUSTOMER
    assert body["experiment"] == "home-diversity" and body["variant"] in {"control", "diverse"}
    items = [i for s in body["sections"] for i in s["items"]]
    assert all(len(s["items"]) <= 4 for s in body["sections"])
    assert all(i["contributions"] and i["reason"] for i in items)
    with runtime.stack.db.session() as s:
        after = s.scalar(select(func.count()).select_from(ExposureRow))
    assert after - before == len(items)


def test_home_access_rules(client):
    assert_error(client.get(f"/api/home/{CUSTOMER}"), 401, "unauthorized")
    other = client.get("/api/home/AA-10315", headers=auth())
    unknown = client.get("/api/home/ZZ-99999", headers=auth())
    assert_error(other, 404, "user_not_found")
    assert_error(unknown, 404, "user_not_found")
    # A valid token for an id that is no customer is still "no such shopper".
    assert_error(client.get("/api/home/ZZ-99999", headers=auth("ZZ-99999")), 404)
    assert_error(client.get("/api/home/new?per_section=0"), 422, "validation_error")


def test_products(client, runtime):
    pid = runtime.stack.catalogue.products[0].id
    assert client.get(f"/api/products/{pid}").json()["id"] == pid
    assert_error(client.get("/api/products/NOPE-123"), 404, "product_not_found")


# Events ----------------------------------------------------------------------------------
def _event_count(runtime, user=CUSTOMER) -> int:
    with runtime.stack.db.session() as s:
        return s.scalar(
            select(func.count())
            .select_from(EventRow)
            .where(EventRow.user_id == user, EventRow.origin == "live")
        )


def test_single_event_and_idempotent_retry(client, runtime):
    pid = runtime.stack.catalogue.products[5].id
    before = _event_count(runtime)
    ev = {"id": "evt-single-1", "type": "view", "product_id": pid}
    first = client.post("/api/events", headers=auth(), json=ev)
    assert first.status_code == 200
    assert first.json() == {"accepted": ["evt-single-1"], "duplicates": [], "errors": []}
    retry = client.post("/api/events", headers=auth(), json=ev)
    assert retry.status_code == 200 and retry.json()["duplicates"] == ["evt-single-1"]
    assert _event_count(runtime) == before + 1


def test_batch_partial_success_is_207(client, runtime):
    pids = [p.id for p in runtime.stack.catalogue.products[10:12]]
    batch = {
        "events": [
            {"id": "evt-b-1", "type": "click", "product_id": pids[0]},
            {"id": "evt-b-2", "type": "view", "product_id": "NOPE-404"},
            {"id": "evt-b-3", "type": "teleport", "product_id": pids[1]},
            {"id": "evt-b-4", "type": "add_to_cart", "product_id": pids[1], "user_id": "AA-10315"},
            {
                "id": "evt-b-5",
                "type": "purchase",
                "product_id": pids[1],
                "ts": "2999-01-01T00:00:00Z",
            },
            "not an object",
            {"id": "evt-b-7", "type": "add_to_cart", "product_id": pids[1], "user_id": CUSTOMER},
        ]
    }
    resp = client.post("/api/events", headers=auth(), json=batch)
    assert resp.status_code == 207
    body = resp.json()
    assert body["accepted"] == ["evt-b-1", "evt-b-7"]
    codes = {e["index"]: e["code"] for e in body["errors"]}
    assert codes == {
        1: "unknown_product",
        2: "invalid",
        3: "user_mismatch",
        4: "future_timestamp",
        5: "invalid",
    }
    # Retrying the whole batch stores nothing new and reports the stored ones as duplicates.
    before = _event_count(runtime)
    again = client.post("/api/events", headers=auth(), json=batch).json()
    assert again["accepted"] == [] and sorted(again["duplicates"]) == ["evt-b-1", "evt-b-7"]
    assert _event_count(runtime) == before


def test_idempotency_key_replays_the_first_response(client, runtime):
    pid = runtime.stack.catalogue.products[20].id
    batch = [{"type": "view", "product_id": pid}]  # no event ids: the header protects it
    headers = {**auth(), "Idempotency-Key": "req-42"}
    before = _event_count(runtime)
    first = client.post("/api/events", headers=headers, json=batch)
    second = client.post("/api/events", headers=headers, json=batch)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() and second.headers["idempotency-replayed"] == "true"
    assert _event_count(runtime) == before + 1
    changed = client.post(
        "/api/events", headers=headers, json=[{"type": "click", "product_id": pid}]
    )
    assert_error(changed, 422, "idempotency_key_reused")


def test_events_errors(client, runtime):
    pid = runtime.stack.catalogue.products[0].id
    assert_error(client.post("/api/events", json={"type": "view", "product_id": pid}), 401)
    all_bad = client.post(
        "/api/events", headers=auth(), json=[{"type": "view", "product_id": "NOPE"}]
    )
    assert all_bad.status_code == 422 and all_bad.json()["errors"][0]["code"] == "unknown_product"
    assert_error(client.post("/api/events", headers=auth(), json=[]), 422)
    assert_error(client.post("/api/events", headers=auth(), json={"events": "x"}), 422)
    assert_error(client.post("/api/events", headers=auth(), json="a string"), 422)


def test_events_change_the_home_page(client, runtime):
    before = client.get(f"/api/home/{CUSTOMER}", headers=auth()).json()
    first = before["sections"][0]["items"][0]["id"]
    resp = client.post(
        "/api/events",
        headers=auth(),
        json={"type": "view", "product_id": first, "session_id": "visit-1"},
    )
    assert resp.status_code == 200
    # Something just looked at in this visit is no news: it leaves the home page.
    after = client.get(f"/api/home/{CUSTOMER}", headers=auth()).json()
    assert first not in {i["id"] for s in after["sections"] for i in s["items"]}


# Orders ----------------------------------------------------------------------------------
def test_own_order(client, orders):
    body = client.get(f"/api/orders/{orders['own']}", headers=auth()).json()
    assert body["order_id"] == orders["own"] and body["lines"]
    assert body["status"] in {"processing", "in_transit", "delivered"}
    assert body["total"] == pytest.approx(sum(ln["line_total"] for ln in body["lines"]), abs=0.02)


def test_other_and_unknown_orders_look_the_same(client, orders):
    other = client.get(f"/api/orders/{orders['other']}", headers=auth())
    unknown = client.get("/api/orders/CA-2099-000000", headers=auth())
    assert_error(other, 404, "order_not_found")
    assert other.json() == unknown.json()


def test_orders_need_a_valid_token(client, orders):
    assert_error(client.get(f"/api/orders/{orders['own']}"), 401, "unauthorized")
    forged = client.get(f"/api/orders/{orders['own']}", headers=auth(secret="forged"))
    assert_error(forged, 401, "unauthorized")


# CORS, widget, UI ------------------------------------------------------------------------
def test_cors_is_restricted(client):
    pre = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    ok = client.options("/api/chat", headers={"Origin": ORIGIN, **pre})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == ORIGIN
    bad = client.options("/api/chat", headers={"Origin": "http://evil.example", **pre})
    assert "access-control-allow-origin" not in bad.headers
    simple = client.get("/api/health", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


def test_widget_and_demo_page(client):
    js = client.get("/widget.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert "innerHTML" not in js.text.split("*/", 1)[1]  # replies are rendered as text
    assert client.get("/static/widget/widget.js").text == js.text
    import re

    def token_of(page: str) -> str:
        return re.search(r'data-token="([^"]*)"', page).group(1)

    assert verify_token(SECRET, token_of(client.get("/widget-demo").text)) == CUSTOMER
    forged = token_of(client.get("/widget-demo?mode=forged").text)
    assert forged and verify_token(SECRET, forged) is None
    assert token_of(client.get("/widget-demo?mode=anonymous").text) == ""
    assert client.get("/widget-demo?mode=bogus").status_code == 422
    # Its words in each language come inside the script; a Chinese page says so.
    strings = json.loads(re.search(r"var STRINGS = (\{.*?\});\n", js.text).group(1))
    assert set(strings) == {"en", "zh"} and strings["zh"]["send"] == "发送"
    assert '<html lang="en">' in client.get("/widget-demo").text
    assert '<html lang="zh-CN">' in client.get("/widget-demo?lang=zh").text
    assert client.get("/widget-demo?lang=fr").status_code == 422


def test_gradio_ui_is_mounted(client):
    resp = client.get("/")
    assert resp.status_code == 200 and "gradio" in resp.text.lower()
