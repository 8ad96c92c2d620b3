"""Which handler runs which command."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .account import account_action
from .cart import cart_add, cart_remove, cart_show
from .context import TurnContext
from .items import ask_about, compare
from .service import handoff, order_status, policy, return_request
from .shopping import recommend
from .smalltalk import clarify, decline, smalltalk

# A handler yields after each piece it is ready to show, so a front end can stream it.
Handler = Callable[[TurnContext, Any], Iterator[None]]

HANDLERS: dict[str, Handler] = {
    "search": recommend,
    "refine": recommend,
    "ask_about": ask_about,
    "compare": compare,
    "cart_add": cart_add,
    "cart_remove": cart_remove,
    "cart_show": cart_show,
    "order_status": order_status,
    "return_request": return_request,
    "order_action": account_action,
    "policy_question": policy,
    "handoff": handoff,
    "smalltalk": smalltalk,
    "clarify": clarify,
    "decline": decline,
}
