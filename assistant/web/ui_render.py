"""What the Gradio UI renders: its theme and CSS, and every HTML fragment it shows.

Every string that reaches HTML is escaped here, so a product name or a model sentence can
never inject markup. Nothing here decides a fact. Each fragment takes the UI's language
(`lang`, "en" or "zh"; see `i18n`); English is the default.
"""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from ..conversation import ProductCard, Reply
from .i18n import reason_text, t, table, ui_language

BUSY_TEXT = t("en", "ui.busy")

# The store's currency symbol: one store per process, set when the UI is built.
_CURRENCY = {"symbol": "$"}


def set_currency_symbol(symbol: str) -> None:
    _CURRENCY["symbol"] = symbol


def money(amount: float) -> str:
    return f"{_CURRENCY['symbol']}{amount:,.2f}"


def feature_label(feature: str, lang: str | None = None) -> str:
    """A scoring-core feature in plain words ("Why this?"), in `lang`."""
    key = f"features.{feature}"
    return t(lang, key) if key in table(ui_language(lang)) else feature.replace("_", " ")


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
.sa-notice.sa-warn { background: #fef2f2; color: #991b1b; }
.chat-cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr));
  gap: 8px; margin-top: 8px; }
.chat-card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 8px 10px;
  background: var(--background-fill-primary); font-size: .85rem; }
.chat-card b { display: block; line-height: 1.25; }
.chat-card .cc-price { color: #047857; font-weight: 700; }
.chat-card small { display: block; color: var(--body-text-color-subdued); margin-top: 3px; }
.chat-card .cc-sku { font-size: .72rem; opacity: .8; }
.pc-img { display: block; width: 100%; aspect-ratio: 1 / 1; object-fit: contain;
  border-radius: 8px; background: #fff; margin-bottom: 6px; }
.chat-card .cc-img { display: block; width: 100%; max-height: 140px; object-fit: contain;
  border-radius: 6px; background: #fff; margin-bottom: 4px; }
.sa-typing { opacity: .6; animation: sa-blink 1.2s ease-in-out infinite; }
@keyframes sa-blink { 50% { opacity: .15; } }
#cart-panel { border: 1px solid var(--border-color-primary); border-radius: 12px;
  padding: 10px 12px !important; background: var(--background-fill-secondary);
  gap: 6px !important; align-self: flex-start; }
.sa-cart-head { display: flex; flex-wrap: wrap; justify-content: space-between;
  align-items: baseline; gap: 2px 6px; }
.sa-cart-head strong { font-size: 1.05rem; }
.sa-cart-head span, .sa-cart-empty { color: var(--body-text-color-subdued); font-size: .85rem; }
.sa-cart-row { gap: 6px !important; align-items: center; flex-wrap: nowrap !important; }
.sa-cart-row > * { min-width: 0 !important; }
.sa-cart-line { font-size: .85rem; line-height: 1.3; }
.sa-cart-line .cl-name { font-weight: 600; overflow: hidden; overflow-wrap: anywhere;
  display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical; }
.sa-cart-line .cl-meta { display: block; color: var(--body-text-color-subdued);
  font-size: .8rem; }
button.sa-uncart { flex: 0 0 auto !important; padding: 2px 8px !important;
  font-size: .75rem !important; }
.sa-cart-total { display: flex; justify-content: space-between; font-weight: 700;
  border-top: 1px solid var(--border-color-primary); padding-top: 6px; }
.sa-cart-total .ct-sum { color: #047857; }
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
def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def image_html(url: object, name: object, cls: str) -> str:
    """A product's picture when it has an http(s) URL (imported stores): the shopper's browser
    loads it, the server never fetches it. Anything else (javascript:, data:) shows nothing."""
    src = str(url or "").strip()
    if not src.lower().startswith(("https://", "http://")):
        return ""
    return (
        f'<img class="{cls}" src="{esc(src)}" alt="{esc(name)}" loading="lazy" '
        'referrerpolicy="no-referrer">'
    )


def card_html(item: dict, lang: str | None = None) -> str:
    return (
        f'<div class="pc" data-product-id="{esc(item["id"])}">'
        f"{image_html(item.get('image'), item['name'], 'pc-img')}"
        f'<div class="pc-cat">{esc(item["category"])} · {esc(item["sub_category"])}</div>'
        f'<div class="pc-name" title="{esc(item["name"])}">{esc(item["name"])}</div>'
        f'<div class="pc-price">{money(float(item["price"]))}</div>'
        f'<div class="pc-reason">{esc(reason_text(item.get("reason") or "", lang))}</div></div>'
    )


def why_html(item: dict | None, lang: str | None = None) -> str:
    if not item:
        return ""
    contrib: dict[str, float] = item.get("contributions") or {}
    rows = sorted(
        ((k, v) for k, v in contrib.items() if abs(v) >= 0.005), key=lambda kv: -abs(kv[1])
    )[:7]
    top = max((abs(v) for _, v in rows), default=1.0) or 1.0
    lines = (
        "".join(
            f'<div class="why-row"><span>{esc(feature_label(k, lang))}</span>'
            f'<div class="why-bar {"why-pos" if v >= 0 else "why-neg"}" '
            f'style="width:{max(4, round(100 * abs(v) / top))}%"></div>'
            f'<span class="why-val">{v:+.2f}</span></div>'
            for k, v in rows
        )
        or f"<p>{esc(t(lang, 'ui.why_no_signals'))}</p>"
    )
    return (
        f'<div class="why-box" data-product-id="{esc(item["id"])}">'
        f"<strong>{esc(t(lang, 'ui.why_title', name=item['name']))}</strong>"
        f'<p style="margin:.2rem 0 .5rem">{esc(reason_text(item.get("reason") or "", lang))}</p>'
        f'{lines}<p style="font-size:.75rem;margin-top:.4rem">{esc(t(lang, "ui.why_legend"))}</p>'
        "</div>"
    )


def reply_html(reply: Reply, lang: str | None = None) -> str:
    """The assistant's message: escaped text, then its products as cards.

    Gradio's sanitiser drops data-* attributes in chat messages, so the item number is shown
    as text (as stores do), which also keeps the cards checkable against the catalogue."""
    text = esc(reply.text)
    return text + (("\n\n" + chat_cards_html(reply.products, lang)) if reply.products else "")


def chat_cards_html(products: list[ProductCard], lang: str | None = None) -> str:
    cards = "".join(
        f'<div class="chat-card" data-product-id="{esc(p.id)}">'
        f"{image_html(p.image, p.name, 'cc-img')}<b>{esc(p.name)}</b>"
        f'<span class="cc-price">{money(p.price)}</span> · {esc(p.sub_category)}'
        f"<small>{esc(reason_text(p.reason, lang))}</small>"
        f"<small class='cc-sku'>{esc(t(lang, 'ui.item_id', id=p.id))}</small></div>"
        for p in products
    )
    return f'<div class="chat-cards">{cards}</div>'


def items_text(n: int, lang: str | None = None) -> str:
    return t(lang, "ui.items_one" if n == 1 else "ui.items_many", n=n)


def cart_head_html(cart: dict | None, lang: str | None = None) -> str:
    """The cart panel's heading: the item count and total (the data attributes for tests)."""
    cart = cart or {}
    count, total = int(cart.get("count") or 0), float(cart.get("total") or 0.0)
    summary = (
        f"{items_text(count, lang)} · {money(total)}" if count else t(lang, "ui.cart_empty_short")
    )
    return (
        f'<div class="sa-cart-head" data-count="{count}" data-total="{total:.2f}">'
        f"<strong>{esc(t(lang, 'ui.cart_title'))}</strong><span>{esc(summary)}</span></div>"
    )


def cart_line_html(line: dict) -> str:
    qty, price = int(line["quantity"]), float(line["price"])
    return (
        f'<div class="sa-cart-line" data-product-id="{esc(line["product_id"])}" '
        f'data-quantity="{qty}"><span class="cl-name" title="{esc(line["name"])}">'
        f"{esc(line['name'])}</span><span class='cl-meta'>{qty} × {money(price)} = "
        f"{money(float(line['line_total']))}</span></div>"
    )


def cart_total_html(cart: dict | None, lang: str | None = None) -> str:
    cart = cart or {}
    if not cart.get("lines"):
        return f"<p class='sa-cart-empty'>{esc(t(lang, 'ui.cart_empty'))}</p>"
    return (
        f"<div class='sa-cart-total'><span>{esc(t(lang, 'ui.cart_total'))}</span>"
        f"<span class='ct-sum'>{money(float(cart.get('total') or 0))}</span></div>"
    )


def llm_status_text(status: str, lang: str | None = None) -> str:
    if status == "ready":
        return t(lang, "ui.status_ready")
    if status == "loading":
        return t(lang, "ui.status_loading")
    if status.startswith("unavailable"):
        return t(lang, "ui.status_unavailable")
    return t(lang, "ui.status_templates")
