"""Cart commands in chat: add an item on screen, remove a cart line, show the cart."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from ..commands.schema import CartAdd, CartRemove, CartShow
from ..support import CartError
from .context import TurnContext
from .shopping import on_screen

log = logging.getLogger(__name__)


def _owner(ctx: TurnContext) -> dict[str, Any]:
    return {"user_id": ctx.state.user_id, "session_id": ctx.state.session_id}


def _note(ctx: TurnContext, cart: Any) -> None:
    ctx.reply.intent = "cart"
    ctx.reply.cart = asdict(cart)


def _cart_call(ctx: TurnContext, tool: str, **kwargs: Any) -> Any | None:
    """The tool's cart, or None after saying why it could not be done."""
    try:
        return ctx.call(tool, **_owner(ctx), **kwargs)
    except CartError as exc:
        ctx.say_template("cart_problem", code=exc.code)  # the limit, in the shopper's words
    except Exception as exc:  # noqa: BLE001 - a database outage must not cost the reply
        log.error("cart %s failed: %s", tool, exc)
        ctx.say_template("cart_unavailable")
    return None


def cart_add(ctx: TurnContext, cmd: CartAdd) -> Iterator[None]:
    shown = on_screen(ctx)
    product = shown[cmd.item - 1]
    cart = _cart_call(ctx, "cart_add", product_id=product.id, quantity=cmd.quantity)
    if cart is not None:
        _note(ctx, cart)
        ctx.reply.cited_ids = [product.id]
        ctx.say_template(
            "cart_added",
            quantity=cmd.quantity,
            name=product.name,
            price=product.price,
            count=cart.count,
            total=cart.total,
        )
    yield


def cart_remove(ctx: TurnContext, cmd: CartRemove) -> Iterator[None]:
    current = _cart_call(ctx, "cart_show")
    if current is None:
        yield
        return
    if not 1 <= cmd.item <= len(current.lines):
        _note(ctx, current)
        ctx.say_template("cart_show", lines=current.lines, total=current.total)
        yield
        return
    line = current.lines[cmd.item - 1]
    cart = _cart_call(ctx, "cart_remove", product_id=line.product_id)
    if cart is not None:
        _note(ctx, cart)
        ctx.say_template("cart_removed", name=line.name, count=cart.count, total=cart.total)
    yield


def cart_show(ctx: TurnContext, cmd: CartShow) -> Iterator[None]:
    cart = _cart_call(ctx, "cart_show")
    if cart is not None:
        _note(ctx, cart)
        ctx.say_template("cart_show", lines=cart.lines, total=cart.total)
    yield
