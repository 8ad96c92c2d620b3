"""Which handler answers which intent."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..router import Route
from .context import TurnContext
from .service import handoff, order_status, policy, return_request
from .shopping import compare, details, recommend
from .smalltalk import greeting

# A handler yields after each piece it is ready to show, so a front end can stream it.
Handler = Callable[[TurnContext, Route], Iterator[None]]

HANDLERS: dict[str, Handler] = {
    "recommend": recommend,
    "refine": recommend,
    "product_details": details,
    "compare": compare,
    "order_status": order_status,
    "return_request": return_request,
    "policy": policy,
    "handoff": handoff,
    "greeting": greeting,
}
