"""Small talk, clarifying questions and declines: short replies with no products in them."""

from __future__ import annotations

from collections.abc import Iterator

from ..commands.schema import Clarify, Decline, SmallTalk
from ..guards import redact
from ..validate import PROMO, check, prices_in
from .context import TurnContext
from .phrasing import phrase_checked

_TEMPLATES = {"thanks": "thanks", "goodbye": "goodbye"}
_DECLINES = {"discount": "refuse_price", "unsafe": "refuse_injection", "off_topic": "off_topic"}


def smalltalk(ctx: TurnContext, cmd: SmallTalk) -> Iterator[None]:
    ctx.reply.intent = "greeting"
    name = ctx.deps.tools.customer_first_name(ctx.state.user_id)
    if cmd.kind in _TEMPLATES:
        ctx.say_template(_TEMPLATES[cmd.kind], name=name)
    elif cmd.kind == "other":
        gen = phrase_checked(
            ctx,
            "smalltalk",
            ctx.facts([]),
            {"message": redact(ctx.text), "name": name},
            emit=ctx.say,
            max_sentences=1,
            extra_check=_no_shop_facts,
        )
        if gen is None or not gen.sentences:
            ctx.say_template("greeting", name=name)
    else:
        ctx.say_template("greeting", name=name)
    yield


def _no_shop_facts(sentence: str) -> list[str]:
    problems = []
    if prices_in(sentence):
        problems.append("small talk states a price")
    if PROMO.search(sentence):
        problems.append("small talk promises a promotion")
    return problems


def clarify(ctx: TurnContext, cmd: Clarify) -> Iterator[None]:
    """Code's own questions (a bad item reference) are said as they are; the model's question
    is shown only when it states no facts, else the template asks."""
    ctx.reply.intent = "clarify"
    question = cmd.question.strip()
    facts = ctx.facts([])
    if question.endswith(("?", "？")) and len(question) <= 200 and check(question, facts).ok:
        ctx.say(question)
    else:
        ctx.say_template("clarify")
    yield


def decline(ctx: TurnContext, cmd: Decline) -> Iterator[None]:
    ctx.reply.refused = ctx.reply.refused or (
        "price_manipulation" if cmd.reason == "discount" else cmd.reason
    )
    ctx.say_template(_DECLINES.get(cmd.reason, "refuse_injection"))
    yield
