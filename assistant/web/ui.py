"""The shopper-facing Gradio UI: a personalised home page, a chat with the assistant and the
shopper's cart beside them.

Nothing here decides a fact: home pages come from `retrieval.home` (the scoring core), chat
replies from the agent through `Shop.chat_turn` (`ui_chat`), carts from the desk's
`CartService`. This module only lays them out; the HTML it shows is built, escaped, in
`ui_render`.

The cart's owner is the shopper, or for a new visitor the chat's session id (`conv`, set when
the page loads), so the card buttons and chat commands ("add the second one to my cart") fill
the same cart.

The language switch (English / 中文) is per shopper too: kept in the page's state (`lang`,
None until the shopper chooses), remembered for a signed-in shopper's next visit, and taken
from `?lang=zh` in a link. Choosing it translates the UI (`i18n`) and sends the language with
each chat turn, so the conversation answers in it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import gradio as gr

from retrieval.importing.money import currency_symbol

from ..lang import normalise_language
from ..support.cart import Cart, CartError, CartOwner
from .i18n import section_title, t
from .shop import Shop
from .ui_chat import make_on_like, make_respond
from .ui_render import (
    card_html,
    cart_head_html,
    cart_line_html,
    cart_total_html,
    esc,
    items_text,
    llm_status_text,
    set_currency_symbol,
    why_html,
)

log = logging.getLogger(__name__)

NEW_VISITOR = "__new__"
SHOPPERS_LISTED = 50
UI_PER_SECTION = 6
EXAMPLE_KEYS = ("ui.example_1", "ui.example_2", "ui.example_3")
LANGUAGE_CHOICES = [("English", "en"), ("中文", "zh")]


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


def _greeting(shop: Shop, user: str | None, lang: str | None = None) -> str:
    name = shop.customer_name(user)
    if name:
        text = t(lang, "ui.greeting_signed_in", name=esc(name))  # the table's own markup only
    else:
        text = esc(t(lang, "ui.greeting_new_visitor"))
    return f"<div class='sa-section'><p>{text}</p></div>"


def _header(store: str, lang: str | None = None) -> str:
    return (
        f"<div id='sa-header'><h1>{esc(t(lang, 'ui.header_title', store=store))}</h1>"
        f"<p>{esc(t(lang, 'ui.header_subtitle'))}</p></div>"
    )


def _extra(lang: str | None, user: str | None) -> str:
    return t(lang, "ui.notice_extra_signed_in" if user else "ui.notice_extra_new_visitor")


def _marks(lang: str | None) -> tuple[str, str, str]:
    """The colon, semicolon and comma between a notice's parts, in `lang`'s punctuation."""
    return ("：", "；", "，") if normalise_language(lang) == "zh" else (": ", "; ", ", ")


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


def _adding(shop: Shop, pid: str) -> Callable[..., tuple]:
    """A card's "Add to cart": into the real cart, then the event and re-rank, as before."""

    def add(
        user: str | None, b: str, conv: str | None, state: dict, lang: str | None = None
    ) -> tuple:
        item = _find_item(state, pid) or {"id": pid, "name": pid}
        conv = conv or b  # the page sets `conv` on load; the bucket is only a fallback
        try:
            cart = shop.runtime.desk.cart.add(CartOwner.of(user, conv), pid, record_event=False)
        except CartError as exc:
            why_not = t(lang, "ui.notice_cant_add", name=esc(item["name"]), reason=esc(exc.message))
            msg = f"<div class='sa-notice sa-warn' data-kind='cart_error'>{why_not}</div>"
            return gr.skip(), _shown(msg), gr.skip(), read_cart(shop, user, conv)
        # The add_to_cart event and the A/B click, exactly as the button recorded them before.
        shop.home_click(user, b, pid, "add_to_cart")
        in_cart = t(
            lang,
            "ui.notice_added_cart",
            items=items_text(cart.count, lang),
            total=f"${cart.total:,.2f}",
        )
        colon, semi, _ = _marks(lang)
        msg = (
            f"<div class='sa-notice' data-kind='add_to_cart'>{esc(t(lang, 'ui.notice_added'))}"
            f"{colon}<strong>{esc(item['name'])}</strong> {esc(in_cart)}{semi}"
            f"{esc(_extra(lang, user))}</div>"
        )
        home_now = _home_state(shop, user, b)
        return home_now, _shown(msg), _shown(why_html(item, lang)), _cart_state(cart)

    return add


def _removing(shop: Shop, pid: str) -> Callable[[str | None, str | None], dict]:
    def remove(user: str | None, conv: str | None) -> dict:
        try:
            return _cart_state(shop.runtime.desk.cart.remove(CartOwner.of(user, conv), pid))
        except CartError:  # gone already (another tab, or the chat): show what is there
            return read_cart(shop, user, conv)

    return remove


def _acting(shop: Shop, pid: str, kind: str) -> Callable[..., tuple]:
    """A card button's handler: record the click, then re-rank the home page."""

    def act(user: str | None, b: str, state: dict, lang: str | None = None) -> tuple:
        item = _find_item(state, pid) or {"id": pid, "name": pid}
        shop.home_click(user, b, pid, kind)
        done = t(lang, "ui.notice_added" if kind == "add_to_cart" else "ui.notice_viewed")
        colon, _, comma = _marks(lang)
        msg = (
            f"<div class='sa-notice' data-kind='{kind}'>{esc(done)}{colon}"
            f"<strong>{esc(item['name'])}</strong>{comma}{esc(_extra(lang, user))}</div>"
        )
        return _home_state(shop, user, b), _shown(msg), _shown(why_html(item, lang))

    return act


def _home_tab(
    shop: Shop,
    user_state: gr.State,
    bucket: gr.State,
    home: gr.State,
    conv: gr.State,
    cart_state: gr.State,
    lang_state: gr.State,
) -> tuple:
    hello = gr.HTML(elem_id="home-hello")
    # Hidden until they have something to say, so they take no space.
    notice = gr.HTML(elem_id="home-notice", visible=False)
    why = gr.HTML(elem_id="why-panel", visible=False)

    def card(item: dict, lang: str | None) -> None:
        pid = item["id"]
        with gr.Column(min_width=180, elem_classes="sa-card", elem_id=f"card-{pid}"):
            gr.HTML(card_html(item, lang))
            with gr.Row(elem_classes="sa-actions"):
                view = gr.Button(
                    t(lang, "ui.view"),
                    size="sm",
                    elem_id=f"view-{pid}",
                    elem_classes="sa-view",
                    min_width=0,
                )
                cart = gr.Button(
                    t(lang, "ui.add_to_cart"),
                    size="sm",
                    variant="primary",
                    elem_id=f"cart-{pid}",
                    elem_classes="sa-cart",
                    min_width=0,
                )
            explain = gr.Button(
                t(lang, "ui.why_this"),
                size="sm",
                variant="secondary",
                elem_id=f"why-{pid}",
                elem_classes="sa-why",
            )
        view.click(
            _acting(shop, pid, "view"),
            [user_state, bucket, home, lang_state],
            [home, notice, why],
            api_visibility="private",
        )
        cart.click(
            _adding(shop, pid),
            [user_state, bucket, conv, home, lang_state],
            [home, notice, why, cart_state],
            api_visibility="private",
        )
        explain.click(
            lambda state, lang, p=pid: _shown(why_html(_find_item(state, p), lang)),
            [home, lang_state],
            [why],
            api_visibility="private",
            queue=False,
        )

    @gr.render(inputs=[home, lang_state], triggers=[home.change, lang_state.change])
    def render_home(state: dict, lang: str | None) -> None:
        page = state.get("page") if state else None
        if not page:
            gr.HTML(f"<p>{esc(t(lang, 'ui.loading_picks'))}</p>")
            return
        for section in page["sections"]:
            title = section_title(section["key"], section["title"], lang)
            gr.HTML(
                f"<div class='sa-section'><h2>{esc(title)}</h2></div>",
                key=f"title-{section['key']}",
            )
            with gr.Row(elem_classes="sa-cards", equal_height=True):
                for item in section["items"]:
                    card(item, lang)

    return hello, notice, why


def _cart_panel(
    shop: Shop, user_state: gr.State, conv: gr.State, cart_state: gr.State, lang_state: gr.State
) -> None:
    """The cart beside the tabs: one line per product with a remove button, and the total."""

    @gr.render(inputs=[cart_state, lang_state], triggers=[cart_state.change, lang_state.change])
    def render_cart(state: dict, lang: str | None) -> None:
        gr.HTML(cart_head_html(state, lang), padding=False, key="cart-head")
        for line in (state or {}).get("lines", []):
            pid = line["product_id"]
            with gr.Row(elem_classes="sa-cart-row", key=f"cart-row-{pid}"):
                gr.HTML(cart_line_html(line), padding=False)
                gr.Button(
                    t(lang, "ui.remove"),
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
        gr.HTML(cart_total_html(state, lang), padding=False, key="cart-total")


def _chat_tab() -> tuple:
    chatbot = gr.Chatbot(
        elem_id="chatbot",
        height=520,
        label=t("en", "ui.chatbot_label"),
        placeholder=t("en", "ui.chatbot_placeholder"),
        latex_delimiters=[],
        feedback_options=("Like", "Dislike"),
        buttons=["copy"],
    )
    with gr.Row():
        box = gr.Textbox(
            placeholder=t("en", "ui.input_placeholder"),
            show_label=False,
            scale=5,
            max_lines=4,
            elem_id="chat-input",
            autofocus=False,
        )
        send = gr.Button(
            t("en", "ui.send"), variant="primary", scale=1, min_width=80, elem_id="chat-send"
        )
    with gr.Row():
        examples = []
        for n, key in enumerate(EXAMPLE_KEYS, 1):
            example = gr.Button(
                t("en", key), size="sm", variant="secondary", elem_id=f"chat-example-{n}"
            )
            # The button's own label, in whichever language it shows now.
            example.click(lambda e: e, example, box, api_visibility="private", queue=False)
            examples.append(example)
        clear = gr.Button(t("en", "ui.new_conversation"), size="sm", elem_id="chat-clear")
    return chatbot, box, send, examples, clear


def build_ui(shop: Shop) -> gr.Blocks:
    runtime = shop.runtime
    store = shop.stack.store_name
    set_currency_symbol(currency_symbol(shop.stack.currency))
    customers = shop.customers(SHOPPERS_LISTED)
    listed = [(f"{c.name} ({c.segment}, {c.city})" if c.city else c.name, c.id) for c in customers]
    listed_ids = {c.id for c in customers}
    default_user = customers[0].id if customers else NEW_VISITOR

    def shopper_choices(lang: str | None, user: str | None) -> list[tuple[str, str]]:
        # Deep links (?shopper=ID) may pick a real customer who is not listed: add them.
        extra = (
            [(shop.customer_name(user) or user, user)] if user and user not in listed_ids else []
        )
        return listed + extra + [(t(lang, "ui.new_visitor"), NEW_VISITOR)]

    with gr.Blocks(title=f"{store} assistant") as demo:
        bucket = gr.State("")
        user_state = gr.State(None)
        home = gr.State({})
        conv = gr.State(None)  # the chat's session id in the shop's session store
        cart_state = gr.State({})  # the shopper's cart, as `reply.cart` carries it
        lang_state = gr.State(None)  # the language the shopper chose ("en" / "zh"), or None

        with gr.Row(equal_height=True, elem_id="sa-top"):
            with gr.Column(scale=3, min_width=280):
                header = gr.HTML(_header(store))
            with gr.Column(scale=2, min_width=280):
                shopper = gr.Dropdown(
                    choices=shopper_choices(None, None),
                    value=default_user,
                    label=t("en", "ui.shopper_label"),
                    filterable=True,
                    elem_id="shopper",
                )
            with gr.Column(scale=1, min_width=150):
                # Labelled in both languages: whoever can't read one can read the other.
                lang_switch = gr.Radio(
                    choices=LANGUAGE_CHOICES,
                    value="en",
                    label="Language · 语言",
                    elem_id="lang-switch",
                )
        status = gr.Markdown(llm_status_text(runtime.llm_status), elem_id="llm-status")
        timer = gr.Timer(2.0, active=runtime.llm_status == "loading")

        with gr.Row(elem_id="sa-main"):
            with gr.Column(scale=4, min_width=320), gr.Tabs():
                with gr.Tab(t("en", "ui.tab_home"), id="home", elem_id="tab-home") as tab_home:
                    hello, notice, why = _home_tab(
                        shop, user_state, bucket, home, conv, cart_state, lang_state
                    )
                with gr.Tab(t("en", "ui.tab_chat"), id="chat", elem_id="tab-chat") as tab_chat:
                    chatbot, box, send, examples, clear = _chat_tab()
            with gr.Column(scale=1, min_width=240, elem_id="cart-panel"):
                _cart_panel(shop, user_state, conv, cart_state, lang_state)

        # The words on the page in a language: everything but the per-shopper panels.
        chrome = [header, shopper, status, tab_home, tab_chat, box, send, *examples, clear]

        def chrome_in(lang: str | None, user: str | None, choice: str) -> list[Any]:
            return [
                _header(store, lang),
                gr.Dropdown(
                    choices=shopper_choices(lang, user),
                    value=choice,
                    label=t(lang, "ui.shopper_label"),
                ),
                llm_status_text(runtime.llm_status, lang),
                gr.Tab(label=t(lang, "ui.tab_home")),
                gr.Tab(label=t(lang, "ui.tab_chat")),
                gr.Textbox(placeholder=t(lang, "ui.input_placeholder")),
                gr.Button(t(lang, "ui.send")),
                *(gr.Button(t(lang, key)) for key in EXAMPLE_KEYS),
                gr.Button(t(lang, "ui.new_conversation")),
            ]

        def chat_in(lang: str | None, **value: Any) -> Any:
            return gr.Chatbot(
                label=t(lang, "ui.chatbot_label"),
                placeholder=t(lang, "ui.chatbot_placeholder"),
                **value,
            )

        # Events -------------------------------------------------------------------------
        def on_load(request: gr.Request):
            b = uuid.uuid4().hex
            params = request.query_params if request else {}
            wanted = params.get("shopper")
            # Deep links (?shopper=ID) pick a listed or any real customer, as the switcher does.
            choice = (
                wanted
                if wanted and (shop.is_customer(wanted) or wanted == NEW_VISITOR)
                else default_user
            )
            user = _as_user(choice)
            # ?lang=zh in a link, else what this shopper chose last time, else not chosen.
            lang = normalise_language(params.get("lang")) or shop.preferred_language(user)
            session = uuid.uuid4().hex  # the chat's, and a new visitor's cart's
            return (
                b,
                user,
                _home_state(shop, user, b),
                _greeting(shop, user, lang),
                _shown(""),
                _shown(""),
                chat_in(lang, value=[]),
                session,
                read_cart(shop, user, session),
                lang,
                lang or "en",
                *chrome_in(lang, user, choice),
            )

        def on_switch(choice: str, b: str, lang: str | None):
            user = _as_user(choice)
            lang = shop.preferred_language(user) or lang  # theirs, else this page's choice
            home_now = _home_state(shop, user, b)
            session = uuid.uuid4().hex  # someone else now: a new visitor starts an empty cart
            return (
                user,
                home_now,
                _greeting(shop, user, lang),
                _shown(""),
                _shown(""),
                chat_in(lang, value=[]),
                session,
                read_cart(shop, user, session),
                lang,
                lang or "en",
                *chrome_in(lang, user, choice),
            )

        def on_language(choice: str, user: str | None):
            lang = normalise_language(choice) or "en"
            shop.remember_language(user, lang)
            return (
                lang,
                _greeting(shop, user, lang),
                _shown(""),
                _shown(""),
                chat_in(lang),
                *chrome_in(lang, user, user or NEW_VISITOR),
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

        page = [hello, notice, why, chatbot, conv, cart_state, lang_state, lang_switch, *chrome]
        demo.load(on_load, None, [bucket, user_state, home, *page], api_visibility="private")
        shopper.input(
            on_switch,
            [shopper, bucket, lang_state],
            [user_state, home, *page],
            api_visibility="private",
        )
        lang_switch.input(
            on_language,
            [lang_switch, user_state],
            [lang_state, hello, notice, why, chatbot, *chrome],
            api_visibility="private",
        )
        # The page's own language, for screen readers and the browser's spell-checking.
        lang_switch.change(
            None,
            [lang_switch],
            None,
            js="(v) => { document.documentElement.lang = v === 'zh' ? 'zh-CN' : 'en'; }",
            api_visibility="private",
        )

        # No Gradio concurrency limit on chat: Shop.chat_turn admits or refuses at once.
        respond = make_respond(shop)
        chat_io = ([box, chatbot, user_state, conv, lang_state], [box, chatbot, conv])

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

        def tick(lang: str | None):
            s = runtime.llm_status
            return llm_status_text(s, lang), gr.Timer(active=s == "loading")

        timer.tick(tick, [lang_state], [status, timer], api_visibility="private", queue=False)

    return demo
