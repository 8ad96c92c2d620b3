"""The /widget-demo page: a fake store embedding the widget with a server-signed token.

`?mode=signed` (default) signs a token for the demo customer, `?mode=forged` shows what an
attacker gets by editing a token to impersonate someone else (the signature no longer
matches, so the widget is anonymous), `?mode=anonymous` sends no token at all. `?lang=zh`
makes it a Chinese page (`<html lang="zh-CN">`), which the widget follows.
"""

from __future__ import annotations

import base64
import html
import json
from importlib import resources
from typing import Literal

from .identity import issue_token
from .shop import Shop

DemoMode = Literal["signed", "forged", "anonymous"]
DEMO_CUSTOMER = "CG-12520"  # Claire Gute, who has several real orders in the demo data
DEMO_TTL_S = 3600


def demo_customer(shop: Shop) -> str | None:
    if shop.is_customer(DEMO_CUSTOMER):
        return DEMO_CUSTOMER
    first = shop.customers(1)
    return first[0].id if first else None


def forge(token: str, new_sub: str) -> str:
    """Swap the token's subject and keep the old signature: what a tampering client would do."""
    payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = new_sub
    raw = json.dumps(claims, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode() + "." + sig


def render_demo(shop: Shop, secret: str, mode: DemoMode, lang: str = "en") -> str:
    template = resources.files(__package__).joinpath("widget/demo.html").read_text("utf-8")
    user = demo_customer(shop)
    name = shop.customer_name(user) or "a demo shopper"
    token = ""
    if mode == "signed" and user:
        token = issue_token(secret, user, DEMO_TTL_S)
        account = f"Signed in as {name}"
        title = "Signed-in shopper"
        text = (
            f"The store's server signed a shopper token for {name} ({user}) and put it in "
            "the widget's data-token attribute. Ask the widget about your orders."
        )
    elif mode == "forged" and user:
        victim = next((c.id for c in shop.customers(5) if c.id != user), "AA-10315")
        token = forge(issue_token(secret, user, DEMO_TTL_S), victim)
        account = f"Pretending to be {victim}"
        title = "Forged token"
        text = (
            f"This token was edited to claim customer {victim} while keeping the old "
            "signature. The assistant rejects it and treats the visitor as anonymous."
        )
    else:
        account = "Not signed in"
        title = "Anonymous visitor"
        text = "No token: the widget can recommend products but won't discuss any order."
    values = {
        "token": token,
        "api": "",
        "account": account,
        "mode_title": title,
        "mode_text": text,
        "lang": "zh-CN" if lang == "zh" else "en",
        "query_lang": "&lang=zh" if lang == "zh" else "",
        "widget_title": "Acme 帮助中心" if lang == "zh" else "Acme help desk",
    }
    for key, value in values.items():
        template = template.replace("{{" + key + "}}", html.escape(value, quote=True))
    return template
