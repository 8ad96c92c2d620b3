"""The shopper-facing Gradio UI: a personalised home page, a chat with the assistant and the
shopper's cart beside them.

Nothing here decides a fact: home pages come from `retrieval.home` (the scoring core), chat
replies from the agent through `Shop.chat_turn` (`ui_chat`), carts from the desk's
`CartService`. This module only lays them out; the HTML it shows is built, escaped, in
`ui_render`.

The cart's owner is the shopper, or for a new visitor the chat's session id (`conv`, set when
the page loads), so the card buttons and chat commands ("add the second one to my cart") fill
the same cart.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import gradio as gr

from ..support.cart import Cart, CartError, CartOwner
from .shop import Shop
from .ui_chat import make_on_like, make_respond
from .ui_render import (
    card_html,
    cart_head_html,
    cart_line_html,
    cart_total_html,
    esc,
    llm_status_text,
    why_html,
)

log = logging.getLogger(__name__)

NEW_VISITOR = "__new__"
SHOPPERS_LISTED = 50
UI_PER_SECTION = 6
EXAMPLES = (
    "Recommend a bookcase under $200",
    "Where is my order?",
    "What is your return policy?",
)


def _shown(value: str) -> Any:
    return gr.HTML(value=value, visible=bool(value))


def _find_item(home: dict, product_id: str) -> dict | None:
    for section in (home.get("page") or {}).get("sections", []):
        for item in section["items"]:
            if item["id"] == product_id:
                return item
    return None


def _as_user(choice: str | None) -> str | None:
    return None if not choice or choice == NEW_VISITOR else choice


def _greeting(shop: Shop, user: str | None) -> str:
    name = shop.customer_name(user)
    if name:
        return (
            f"<div class='sa-section'><p>Signed in as <strong>{esc(name)}</strong>. "
            "Picks are personalised from your orders and what you do here.</p></div>"
        )
    return (
        "<div class='sa-section'><p>Welcome! You're browsing as a new visitor: "
        "these are popular picks. Sign in for personalised ones.</p></div>"
    )


def _home_state(shop: Shop, user: str | None, bucket: str) -> dict:
    view = shop.home(user, bucket, per_section=UI_PER_SECTION)
    return {"page": view.page.as_json(), "variant": view.variant}


def _cart_state(cart: Cart) -> dict:
    """The cart as the UI keeps it: the same shape as a chat reply's `reply.cart`."""
    return asdict(cart)


def read_cart(shop: Shop, user: str | None, conv: str | None) -> dict:
    """The shopper's cart now (empty when there is no shopper or session yet)."""
    if not user and not conv:
        return _cart_state(Cart())
    try:
        return _cart_state(shop.runtime.desk.cart.get(CartOwner.of(user, conv)))
    except Exception as exc:  # a cart outage must not break the page
        log.error("could not read the cart: %s", exc)
        return {**_cart_state(Cart()), "unavailable": True}


def _adding(shop: Shop, pid: str) -> Callable[[str | None, str, str | None, dict], tuple]:
    """A card's "Add to cart": into the real cart, then the event and re-rank, as before."""

    def add(user: str | None, b: str, conv: str | None, state: dict) -> tuple:
        item = _find_item(state, pid) or {"id": pid, "name": pid}
        conv = conv or b  # the page sets `conv` on load; the bucket is only a fallback
        try:
            cart = shop.runtime.desk.cart.add(CartOwner.of(user, conv), pid, record_event=False)
        except CartError as exc:
            msg = (
                f"<div class='sa-notice sa-warn' data-kind='cart_error'>Couldn't add "
                f"<strong>{esc(item['name'])}</strong>: {esc(exc.message)}</div>"
            )
            return gr.skip(), _shown(msg), gr.skip(), read_cart(shop, user, conv)
        # The add_to_cart event and the A/B click, exactly as the button recorded them before.
        shop.home_click(user, b, pid, "add_to_cart")
        extra = (
            "your picks below have been updated."
            if user
            else "sign in to get picks that learn from this."
        )
        msg = (
            f"<div class='sa-notice' data-kind='add_to_cart'>Added to your cart: "
            f"<strong>{esc(item['name'])}</strong> (your cart: {cart.count} "
            f"item{'s' if cart.count != 1 else ''}, ${cart.total:,.2f}); {extra}</div>"
        )
        home_now = _home_state(shop, user, b)
        return home_now, _shown(msg), _shown(why_html(item)), _cart_state(cart)

    return add


def _removing(shop: Shop, pid: str) -> Callable[[str | None, str | None], dict]:
    def remove(user: str | None, conv: str | None) -> dict:
        try:
            return _cart_state(shop.runtime.desk.cart.remove(CartOwner.of(user, conv), pid))
        except CartError:  # gone already (another tab, or the chat): show what is there
            return read_cart(shop, user, conv)

    return remove


def _acting(shop: Shop, pid: str, kind: str) -> Callable[[str | None, str, dict], tuple]:
    """A card button's handler: record the click, then re-rank the home page."""

    def act(user: str | None, b: str, state: dict) -> tuple:
        item = _find_item(state, pid) or {"id": pid, "name": pid}
        shop.home_click(user, b, pid, kind)
        done = "Added to your cart" if kind == "add_to_cart" else "Viewed"
        extra = (
            "your picks below have been updated."
            if user
            else "sign in to get picks that learn from this."
        )
        msg = (
            f"<div class='sa-notice' data-kind='{kind}'>{done}: "
            f"<strong>{esc(item['name'])}</strong>, {extra}</div>"
        )
        return _home_state(shop, user, b), _shown(msg), _shown(why_html(item))

    return act


def _home_tab(
    shop: Shop,
    user_state: gr.State,
    bucket: gr.State,
    home: gr.State,
    conv: gr.State,
    cart_state: gr.State,
) -> tuple:
    hello = gr.HTML(elem_id="home-hello")
    # Hidden until they have something to say, so they take no space.
    notice = gr.HTML(elem_id="home-notice", visible=False)
    why = gr.HTML(elem_id="why-panel", visible=False)

    def card(item: dict) -> None:
        pid = item["id"]
        with gr.Column(min_width=180, elem_classes="sa-card", elem_id=f"card-{pid}"):
            gr.HTML(card_html(item))
            with gr.Row(elem_classes="sa-actions"):
                view = gr.Button(
                    "View", size="sm", elem_id=f"view-{pid}", elem_classes="sa-view", min_width=0
                )
                cart = gr.Button(
                    "Add to cart",
                    size="sm",
                    variant="primary",
                    elem_id=f"cart-{pid}",
                    elem_classes="sa-cart",
                    min_width=0,
                )
            explain = gr.Button(
                "Why this?",
                size="sm",
                variant="secondary",
                elem_id=f"why-{pid}",
                elem_classes="sa-why",
            )
        view.click(
            _acting(shop, pid, "view"),
            [user_state, bucket, home],
            [home, notice, why],
            api_visibility="private",
        )
        cart.click(
            _adding(shop, pid),
            [user_state, bucket, conv, home],
            [home, notice, why, cart_state],
            api_visibility="private",
        )
        explain.click(
            lambda state, p=pid: _shown(why_html(_find_item(state, p))),
            [home],
            [why],
            api_visibility="private",
            queue=False,
        )

    @gr.render(inputs=[home], triggers=[home.change])
    def render_home(state: dict) -> None:
        page = state.get("page") if state else None
        if not page:
            gr.HTML("<p>Loading your picks…</p>")
            return
        for section in page["sections"]:
            gr.HTML(
                f"<div class='sa-section'><h2>{esc(section['title'])}</h2></div>",
                key=f"title-{section['key']}",
            )
            with gr.Row(elem_classes="sa-cards", equal_height=True):
                for item in section["items"]:
                    card(item)

    return hello, notice, why


def _cart_panel(shop: Shop, user_state: gr.State, conv: gr.State, cart_state: gr.State) -> None:
    """The cart beside the tabs: one line per product with a remove button, and the total."""

    @gr.render(inputs=[cart_state], triggers=[cart_state.change])
    def render_cart(state: dict) -> None:
        gr.HTML(cart_head_html(state), padding=False, key="cart-head")
        for line in (state or {}).get("lines", []):
            pid = line["product_id"]
            with gr.Row(elem_classes="sa-cart-row", key=f"cart-row-{pid}"):
                gr.HTML(cart_line_html(line), padding=False)
                gr.Button(
                    "Remove",
                    size="sm",
                    variant="secondary",
                    elem_id=f"uncart-{pid}",
                    elem_classes="sa-uncart",
                    min_width=0,
                ).click(
                    _removing(shop, pid),
                    [user_state, conv],
                    [cart_state],
                    api_visibility="private",
                )
        gr.HTML(cart_total_html(state), padding=False, key="cart-total")


def _chat_tab() -> tuple:
    chatbot = gr.Chatbot(
        elem_id="chatbot",
        height=520,
        label="Assistant",
        placeholder="Ask for product ideas (“a bookcase under $200”), "
        "an order's status, or our return policy.",
        latex_delimiters=[],
        feedback_options=("Like", "Dislike"),
        buttons=["copy"],
    )
    with gr.Row():
        box = gr.Textbox(
            placeholder="Type a message…",
            show_label=False,
            scale=5,
            max_lines=4,
            elem_id="chat-input",
            autofocus=False,
        )
        send = gr.Button("Send", variant="primary", scale=1, min_width=80, elem_id="chat-send")
    with gr.Row():
        for example in EXAMPLES:
            gr.Button(example, size="sm", variant="secondary").click(
                lambda e=example: e, None, box, api_visibility="private", queue=False
            )
        clear = gr.Button("New conversation", size="sm", elem_id="chat-clear")
    return chatbot, box, send, clear


def build_ui(shop: Shop) -> gr.Blocks:
    runtime = shop.runtime
    store = shop.stack.store_name
    customers = shop.customers(SHOPPERS_LISTED)
    choices = [
        (f"{c.name} ({c.segment}, {c.city})" if c.city else c.name, c.id) for c in customers
    ] + [("New visitor (not signed in)", NEW_VISITOR)]
    default_user = customers[0].id if customers else NEW_VISITOR

    with gr.Blocks(title=f"{store} assistant") as demo:
        bucket = gr.State("")
        user_state = gr.State(None)
        home = gr.State({})
        conv = gr.State(None)  # the chat's session id in the shop's session store
        cart_state = gr.State({})  # the shopper's cart, as `reply.cart` carries it

        with gr.Row(equal_height=True, elem_id="sa-top"):
            with gr.Column(scale=3, min_width=280):
                gr.HTML(
                    f"<div id='sa-header'><h1>{esc(store)} assistant</h1>"
                    "<p>Personal picks and help with your orders.</p></div>"
                )
            with gr.Column(scale=2, min_width=280):
                shopper = gr.Dropdown(
                    choices=choices,
                    value=default_user,
                    label="Signed in as",
                    filterable=True,
                    elem_id="shopper",
                )
        status = gr.Markdown(llm_status_text(runtime.llm_status), elem_id="llm-status")
        timer = gr.Timer(2.0, active=runtime.llm_status == "loading")

        with gr.Row(elem_id="sa-main"):
            with gr.Column(scale=4, min_width=320), gr.Tabs():
                with gr.Tab("For you", id="home", elem_id="tab-home"):
                    hello, notice, why = _home_tab(shop, user_state, bucket, home, conv, cart_state)
                with gr.Tab("Chat", id="chat", elem_id="tab-chat"):
                    chatbot, box, send, clear = _chat_tab()
            with gr.Column(scale=1, min_width=240, elem_id="cart-panel"):
                _cart_panel(shop, user_state, conv, cart_state)

        # Events -------------------------------------------------------------------------
        def on_load(request: gr.Request):
            b = uuid.uuid4().hex
            wanted = request.query_params.get("shopper") if request else None
            # Deep links (?shopper=ID) pick a listed or any real customer, as the switcher does.
            choice = (
                wanted
                if wanted and (shop.is_customer(wanted) or wanted == NEW_VISITOR)
                else default_user
            )
            user = _as_user(choice)
            extra = (
                [(shop.customer_name(user) or user, user)]
                if user and user not in {c.id for c in customers}
                else []
            )
            session = uuid.uuid4().hex  # the chat's, and a new visitor's cart's
            return (
                b,
                user,
                gr.Dropdown(choices=choices + extra, value=choice),
                _home_state(shop, user, b),
                _greeting(shop, user),
                _shown(""),
                _shown(""),
                [],
                session,
                read_cart(shop, user, session),
            )

        def on_switch(choice: str, b: str):
            user = _as_user(choice)
            home_now = _home_state(shop, user, b)
            session = uuid.uuid4().hex  # someone else now: a new visitor starts an empty cart
            return (
                user,
                home_now,
                _greeting(shop, user),
                _shown(""),
                _shown(""),
                [],
                session,
                read_cart(shop, user, session),
            )

        def new_conversation(user: str | None, old: str | None):
            session = uuid.uuid4().hex
            if not user and old:  # a new visitor's cart belongs to the session: bring it along
                try:
                    shop.runtime.desk.cart.merge(
                        CartOwner.of(None, old), CartOwner.of(None, session)
                    )
                except Exception as exc:
                    log.error("could not carry the cart over: %s", exc)
            return [], session, read_cart(shop, user, session)

        outs = [user_state, home, hello, notice, why, chatbot, conv, cart_state]
        demo.load(
            on_load,
            None,
            [bucket, user_state, shopper, home, hello, notice, why, chatbot, conv, cart_state],
            api_visibility="private",
        )
        shopper.input(on_switch, [shopper, bucket], outs, api_visibility="private")

        # No Gradio concurrency limit on chat: Shop.chat_turn admits or refuses at once.
        respond = make_respond(shop)
        chat_io = ([box, chatbot, user_state, conv], [box, chatbot, conv])

        # After each turn, the cart as stored now: a chat command ("add the second one to my
        # cart") may have changed it (its reply carries `reply.cart`; the store is the truth).
        def refresh_cart(user: str | None, c: str | None) -> dict:
            return read_cart(shop, user, c)

        after: dict[str, Any] = {"api_visibility": "private"}
        box.submit(respond, *chat_io, api_name="chat", concurrency_limit=None).then(
            refresh_cart, [user_state, conv], [cart_state], **after
        )
        send.click(respond, *chat_io, api_visibility="private", concurrency_limit=None).then(
            refresh_cart, [user_state, conv], [cart_state], **after
        )
        clear.click(
            new_conversation,
            [user_state, conv],
            [chatbot, conv, cart_state],
            api_visibility="private",  # queued: a cart change re-renders the panel
        )
        chatbot.like(make_on_like(shop), [conv, user_state], None, api_visibility="private")

        def tick():
            s = runtime.llm_status
            return llm_status_text(s), gr.Timer(active=s == "loading")

        timer.tick(tick, None, [status, timer], api_visibility="private", queue=False)

    return demo
