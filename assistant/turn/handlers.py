"""Which handler answers which intent."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..router import Route
from . import service, shopping, smalltalk
from .context import TurnContext

# A handler yields after each piece it is ready to show, so a front end can stream it.
Handler = Callable[[TurnContext, Route], Iterator[None]]

HANDLERS: dict[str, Handler] = {
    "recommend": shopping.recommend,
    "refine": shopping.recommend,
    "product_details": shopping.details,
    "compare": shopping.compare,
    "order_status": service.order_status,
    "return_request": service.return_request,
    "policy": service.policy,
    "handoff": service.handoff,
    "greeting": smalltalk.greeting,
}
