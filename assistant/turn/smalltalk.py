"""Small talk: greetings and thanks, answered from a template with the shopper's name."""

from __future__ import annotations

from collections.abc import Iterator

from ..router import Route
from .context import TurnContext


def greeting(ctx: TurnContext, route: Route) -> Iterator[None]:
    ctx.say_template("greeting", name=ctx.deps.tools.customer_first_name(ctx.state.user_id))
    yield
