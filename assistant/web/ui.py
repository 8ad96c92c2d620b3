"""The shopper-facing Gradio UI: a personalised home page and a chat with the assistant.

Nothing here decides a fact: home pages come from `retrieval.home` (the scoring core), chat
replies from `Agent.stream`. This module only lays them out. Every string that reaches HTML
is escaped here, so a product name or a model sentence can never inject markup.
"""

from __future__ import annotations

import html
import logging
import uuid
from typing import Any

import gradio as gr

from ..conversation import ConversationState, ProductCard, Reply
from .shop import Shop

log = logging.getLogger(__name__)

NEW_VISITOR = "__new__"
SHOPPERS_LISTED = 50
UI_PER_SECTION = 6
BUSY_TEXT = "The assistant is busy with other shoppers right now. Please try again in a moment."

# Plain-language labels for the scoring core's features ("Why this?").
FEATURE_LABELS = {
    "query_sim": "Matches what you asked for",
    "profile_sim": "Similar to what you buy",
    "session_sim": "Similar to what you just viewed",
    "sub_category_affinity": "A sub-category you shop",
    "category_affinity": "A category you shop",
    "brand_affinity": "A brand you like",
    "price_fit": "Fits your usual price range",
    "popularity": "Popular with shoppers",
    "trend": "Trending now",
    "co_purchase": "Bought together with your items",
    "bought_before": "You bought it before",
    "long_tail": "Hidden-gem boost",
}

UI_CSS = """
.gradio-container { max-width: 1180px !important; margin: 0 auto !important; }
#sa-header h1 { margin: 0; font-size: 1.55rem; }
#sa-header p { margin: .2rem 0 0; color: var(--body-text-color-subdued); }
#llm-status { font-size: .9rem; }
.sa-section h2 { font-size: 1.15rem; margin: 1.1rem 0 .2rem; }
.sa-section p { margin: 0; color: var(--body-text-color-subdued); font-size: .9rem; }
.sa-cards { display: grid !important; gap: 12px !important;
  grid-template-columns: repeat(auto-fill, minmax(175px, 1fr)); }
.sa-card > :first-child { flex-grow: 1; }
.sa-cards > * { min-width: 0 !important; width: auto !important; }
.sa-card { border: 1px solid var(--border-color-primary); border-radius: 12px !important;
  padding: 12px !important; background: var(--background-fill-primary);
  justify-content: space-between; }
.pc-cat { font-size: .75rem; text-transform: uppercase; letter-spacing: .03em;
  color: var(--body-text-color-subdued); }
.pc-name { font-weight: 600; line-height: 1.3; margin: 4px 0; min-height: 2.6em;
  display: -webkit-box; -webkit-line-clamp: 3; -webkit-box-orient: vertical; overflow: hidden; }
.pc-price { font-weight: 700; color: #047857; font-size: 1.05rem; }
.pc-reason { font-size: .82rem; color: var(--body-text-color-subdued); margin-top: 4px;
  min-height: 2.4em; }
.sa-actions { gap: 6px !important; flex-wrap: nowrap !important; }
.sa-actions button { padding: 4px 6px !important; font-size: .8rem !important;
  white-space: nowrap; }
.sa-actions .sa-view { flex: 0 0 auto !important; }
.sa-actions .sa-cart { flex: 1 1 auto !important; }
button.sa-why { background: transparent !important; border: none !important;
  box-shadow: none !important; color: var(--color-accent) !important;
  text-decoration: underline; font-size: .8rem !important; padding: 2px !important; }
#why-panel .why-box { border: 1px solid var(--border-color-primary); border-radius: 12px;
  padding: 12px 14px; background: var(--background-fill-secondary); }
.why-row { display: grid; grid-template-columns: minmax(120px, 1.4fr) 2fr 56px; gap: 8px;
  align-items: center; font-size: .85rem; margin: 3px 0; }
.why-bar { height: 10px; border-radius: 5px; }
.why-pos { background: #10b981; } .why-neg { background: #f87171; }
.why-val { text-align: right; font-variant-numeric: tabular-nums; }
.sa-notice { padding: 8px 12px; border-radius: 8px; background: #ecfdf5; color: #065f46;
  font-size: .9rem; }
.chat-cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr));
  gap: 8px; margin-top: 8px; }
.chat-card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 8px 10px;
  background: var(--background-fill-primary); font-size: .85rem; }
.chat-card b { display: block; line-height: 1.25; }
.chat-card .cc-price { color: #047857; font-weight: 700; }
.chat-card small { display: block; color: var(--body-text-color-subdued); margin-top: 3px; }
.chat-card .cc-sku { font-size: .72rem; opacity: .8; }
@media (max-width: 640px) {
  .sa-card { min-width: 150px !important; }
  .why-row { grid-template-columns: 1fr 1fr 48px; }
}
"""


def ui_theme() -> gr.themes.Base:
    # System fonts only: the app must render offline, with no font CDN.
    return gr.themes.Soft(
        primary_hue="blue",
        neutral_hue="slate",
        font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
        font_mono=["ui-monospace", "monospace"],
    )


# HTML fragments (all escaped) ----------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def card_html(item: dict) -> str:
    return (
        f'<div class="pc" data-product-id="{_e(item["id"])}">'
        f'<div class="pc-cat">{_e(item["category"])} · {_e(item["sub_category"])}</div>'
        f'<div class="pc-name" title="{_e(item["name"])}">{_e(item["name"])}</div>'
        f'<div class="pc-price">${float(item["price"]):,.2f}</div>'
        f'<div class="pc-reason">{_e(item.get("reason") or "")}</div></div>'
    )


def why_html(item: dict | None) -> str:
    if not item:
        return ""
    contrib: dict[str, float] = item.get("contributions") or {}
    rows = sorted(
        ((k, v) for k, v in contrib.items() if abs(v) >= 0.005), key=lambda kv: -abs(kv[1])
    )[:7]
    top = max((abs(v) for _, v in rows), default=1.0) or 1.0
    lines = (
        "".join(
            f'<div class="why-row"><span>{_e(FEATURE_LABELS.get(k, k.replace("_", " ")))}</span>'
            f'<div class="why-bar {"why-pos" if v >= 0 else "why-neg"}" '
            f'style="width:{max(4, round(100 * abs(v) / top))}%"></div>'
            f'<span class="why-val">{v:+.2f}</span></div>'
            for k, v in rows
        )
        or "<p>No strong signals: this is a popular pick.</p>"
    )
    return (
        f'<div class="why-box" data-product-id="{_e(item["id"])}">'
        f"<strong>Why “{_e(item['name'])}”?</strong>"
        f'<p style="margin:.2rem 0 .5rem">{_e(item.get("reason") or "")}</p>{lines}'
        '<p style="font-size:.75rem;margin-top:.4rem">Green pushed it up, red pulled it down.</p>'
        "</div>"
    )


def reply_html(reply: Reply) -> str:
    """The assistant's message: escaped text, then its products as cards.

    Gradio's sanitiser drops data-* attributes in chat messages, so the item number is shown
    as text (as stores do), which also keeps the cards checkable against the catalogue."""
    text = _e(reply.text)
    return text + (("\n\n" + chat_cards_html(reply.products)) if reply.products else "")


def chat_cards_html(products: list[ProductCard]) -> str:
    cards = "".join(
        f'<div class="chat-card" data-product-id="{_e(p.id)}"><b>{_e(p.name)}</b>'
        f'<span class="cc-price">${p.price:,.2f}</span> · {_e(p.sub_category)}'
        f"<small>{_e(p.reason)}</small><small class='cc-sku'>Item {_e(p.id)}</small></div>"
        for p in products
    )
    return f'<div class="chat-cards">{cards}</div>'


def llm_status_text(status: str) -> str:
    if status == "ready":
        return "Assistant ready."
    if status == "loading":
        return (
            "The language model is still loading: answers are written from templates "
            "until it's ready."
        )
    if status.startswith("unavailable"):
        return "Answers are written from templates (the language model is unavailable)."
    return "Answers are written from templates."


# The app -------------------------------------------------------------------------------------
def _shown(value: str) -> Any:
    return gr.HTML(value=value, visible=bool(value))


def _find_item(home: dict, product_id: str) -> dict | None:
    for section in (home.get("page") or {}).get("sections", []):
        for item in section["items"]:
            if item["id"] == product_id:
                return item
    return None


def build_ui(shop: Shop) -> gr.Blocks:
    runtime = shop.runtime
    customers = shop.customers(SHOPPERS_LISTED)
    choices = [
        (f"{c.name} ({c.segment}, {c.city})" if c.city else c.name, c.id) for c in customers
    ] + [("New visitor (not signed in)", NEW_VISITOR)]
    default_user = customers[0].id if customers else NEW_VISITOR

    def as_user(choice: str | None) -> str | None:
        return None if not choice or choice == NEW_VISITOR else choice

    def home_state(user: str | None, bucket: str) -> dict:
        view = shop.home(user, bucket, per_section=UI_PER_SECTION)
        return {"page": view.page.as_json(), "variant": view.variant}

    def greeting(user: str | None) -> str:
        name = shop.customer_name(user)
        if name:
            return (
                f"<div class='sa-section'><p>Signed in as <strong>{_e(name)}</strong>. "
                "Picks are personalised from your orders and what you do here.</p></div>"
            )
        return (
            "<div class='sa-section'><p>Welcome! You're browsing as a new visitor: "
            "these are popular picks. Sign in for personalised ones.</p></div>"
        )

    with gr.Blocks(title="Superstore assistant") as demo:
        bucket = gr.State("")
        user_state = gr.State(None)
        home = gr.State({})
        conv = gr.State(None)

        with gr.Row(equal_height=True, elem_id="sa-top"):
            with gr.Column(scale=3, min_width=280):
                gr.HTML(
                    "<div id='sa-header'><h1>Superstore assistant</h1>"
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

        with gr.Tabs():
            with gr.Tab("For you", id="home", elem_id="tab-home"):
                hello = gr.HTML(elem_id="home-hello")
                # Hidden until they have something to say, so they take no space.
                notice = gr.HTML(elem_id="home-notice", visible=False)
                why = gr.HTML(elem_id="why-panel", visible=False)

                @gr.render(inputs=[home], triggers=[home.change])
                def render_home(state: dict) -> None:
                    page = state.get("page") if state else None
                    if not page:
                        gr.HTML("<p>Loading your picks…</p>")
                        return
                    for section in page["sections"]:
                        gr.HTML(
                            f"<div class='sa-section'><h2>{_e(section['title'])}</h2></div>",
                            key=f"title-{section['key']}",
                        )
                        with gr.Row(elem_classes="sa-cards", equal_height=True):
                            for item in section["items"]:
                                _card(item)

                def _card(item: dict) -> None:
                    pid = item["id"]
                    with gr.Column(min_width=180, elem_classes="sa-card", elem_id=f"card-{pid}"):
                        gr.HTML(card_html(item))
                        with gr.Row(elem_classes="sa-actions"):
                            view = gr.Button(
                                "View",
                                size="sm",
                                elem_id=f"view-{pid}",
                                elem_classes="sa-view",
                                min_width=0,
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
                    for btn, kind in ((view, "view"), (cart, "add_to_cart")):
                        btn.click(
                            _acting(pid, kind),
                            [user_state, bucket, home],
                            [home, notice, why],
                            api_visibility="private",
                        )
                    explain.click(
                        lambda state, p=pid: _shown(why_html(_find_item(state, p))),
                        [home],
                        [why],
                        api_visibility="private",
                        queue=False,
                    )

                def _acting(pid: str, kind: str):
                    def act(user: str | None, b: str, state: dict):
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
                            f"<strong>{_e(item['name'])}</strong>, {extra}</div>"
                        )
                        return home_state(user, b), _shown(msg), _shown(why_html(item))

                    return act

            with gr.Tab("Chat", id="chat", elem_id="tab-chat"):
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
                    send = gr.Button(
                        "Send", variant="primary", scale=1, min_width=80, elem_id="chat-send"
                    )
                with gr.Row():
                    for example in (
                        "Recommend a bookcase under $200",
                        "Where is my order?",
                        "What is your return policy?",
                    ):
                        gr.Button(example, size="sm", variant="secondary").click(
                            lambda e=example: e, None, box, api_visibility="private", queue=False
                        )
                    clear = gr.Button("New conversation", size="sm", elem_id="chat-clear")

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
            user = as_user(choice)
            extra = (
                [(shop.customer_name(user) or user, user)]
                if user and user not in {c.id for c in customers}
                else []
            )
            return (
                b,
                user,
                gr.Dropdown(choices=choices + extra, value=choice),
                home_state(user, b),
                greeting(user),
                _shown(""),
                _shown(""),
                [],
                None,
            )

        def on_switch(choice: str, b: str):
            user = as_user(choice)
            return user, home_state(user, b), greeting(user), _shown(""), _shown(""), [], None

        outs = [user_state, home, hello, notice, why, chatbot, conv]
        demo.load(
            on_load,
            None,
            [bucket, user_state, shopper, home, hello, notice, why, chatbot, conv],
            api_visibility="private",
        )
        shopper.input(on_switch, [shopper, bucket], outs, api_visibility="private")

        def respond(message: str, history: list, user: str | None, state: ConversationState | None):
            message = (message or "").strip()
            if not message:
                yield "", history, state
                return
            if state is None or state.user_id != user:
                state = ConversationState(user_id=user)
            history = [
                *history,
                {"role": "user", "content": message},
                {"role": "assistant", "content": "…"},
            ]
            yield "", history, state
            if not shop.chat_slots.acquire(timeout=20):
                history[-1] = {"role": "assistant", "content": BUSY_TEXT}
                yield "", history, state
                return
            try:
                text = ""
                for piece in runtime.agent.stream(state, message):
                    if isinstance(piece, Reply):
                        history[-1] = {"role": "assistant", "content": reply_html(piece)}
                    else:
                        text += piece
                        history[-1] = {"role": "assistant", "content": _e(text)}
                    yield "", history, state
            except Exception:
                log.exception("chat turn failed")
                history[-1] = {
                    "role": "assistant",
                    "content": "Sorry, something went wrong. Please try again.",
                }
                yield "", history, state
            finally:
                shop.chat_slots.release()

        chat_io = ([box, chatbot, user_state, conv], [box, chatbot, conv])
        box.submit(respond, *chat_io, api_name="chat", concurrency_limit=2, concurrency_id="chat")
        send.click(
            respond, *chat_io, api_visibility="private", concurrency_limit=2, concurrency_id="chat"
        )
        clear.click(
            lambda: ([], None), None, [chatbot, conv], api_visibility="private", queue=False
        )

        def on_like(state: ConversationState | None, user: str | None, data: gr.LikeData):
            liked = data.liked if isinstance(data.liked, bool) else None
            value = data.value
            text = value if isinstance(value, str) else str(value)
            index = data.index if isinstance(data.index, int) else int(data.index[0])
            session = state.session_id if state else "no-session"
            try:
                shop.record_feedback(user, session, index, liked, text)
            except Exception as exc:
                log.error("could not store feedback: %s", exc)

        chatbot.like(on_like, [conv, user_state], None, api_visibility="private")

        def tick():
            s = runtime.llm_status
            return llm_status_text(s), gr.Timer(active=s == "loading")

        timer.tick(tick, None, [status, timer], api_visibility="private", queue=False)

    return demo
