"""Questions about items on screen, and comparisons: code finds the answer in each listing, the
model phrases it, and a claim the listing does not hold is rejected."""

from __future__ import annotations

import re
from collections.abc import Iterator

from retrieval.sources.base import Product

from ..commands.schema import AskAbout, Compare
from ..conversation import ProductCard
from ..generate import gap_after
from ..guards import redact
from .context import TurnContext
from .grounded import ItemRefs, evidence, question_terms
from .phrasing import phrase_checked
from .shopping import on_screen
from .variants import answer as answer_versions

_PRICE_WORDS = re.compile(r"\b(price|cheap|cheaper|cheapest|expensive|cost|costs|budget)\b", re.I)
_PRICE_QUESTION = re.compile(r"\bhow much\b|\bwhat('s| is) the (price|cost)\b|\bprice of\b", re.I)
_SAYS_UNKNOWN = re.compile(
    r"\b(doesn't|does not|don't|do not|isn't|is not)\s+(say|mention|list|state|specify)|"
    r"\bno (mention|information|details?)\b|\bnot (listed|mentioned|stated)\b"
    r"|(没有|没|未|并未|并没有)(提到|提及|说明|注明|写|列出|标明)|没有(相关)?(信息|说明)",
    re.I,
)


def _findings(products: list[Product], question: str) -> list[tuple[Product, list[str]]]:
    terms = question_terms(question)
    found = []
    for p in products:
        text = " ".join([p.name, p.sub_category, p.features])
        found.append((p, evidence(text, terms) if terms else []))
    return found


def _answer_lines(ctx: TurnContext, findings: list[tuple[Product, list[str]]], topic: str) -> str:
    lines = []
    for n, (p, quotes) in enumerate(findings, 1):
        said = "; ".join(f"“{q}”" for q in quotes[:2])
        lines.append(
            ctx.deps.library.text(
                "replies", "item_answer", n=n, name=p.name, price=p.price, said=said, topic=topic
            )
        )
    return "\n".join(lines)


def _show(ctx: TurnContext, products: list[Product]) -> None:
    ctx.reply.cited_ids = ctx.reply.candidate_ids = [p.id for p in products]
    ctx.reply.products = [ProductCard.of(p) for p in products]


def _phrase_about(
    ctx: TurnContext, findings: list[tuple[Product, list[str]]], question: str
) -> bool:
    """The model's answer over the findings; True when it wrote something that passed."""
    products = [p for p, _ in findings]
    refs = ItemRefs.of(products)
    known = any(quotes for _, quotes in findings)
    claims = refs.claims_check(question)

    def grounded(sentence: str) -> list[str]:
        problems = claims(sentence)
        if not known and not _SAYS_UNKNOWN.search(sentence):
            problems.append("answers although no listing says")
        return problems

    first = [True]

    def emit(sentence: str) -> None:
        ctx.say(("" if first[0] else gap_after(ctx.reply.text)) + sentence)
        first[0] = False

    gen = phrase_checked(
        ctx,
        "ask",
        ctx.facts([p.id for p in products]),
        {
            "question": redact(question),
            "items": [
                {
                    "name": p.name,
                    "sub_category": p.sub_category,
                    "features": p.features[:200],
                    "found": quotes,
                }
                for p, quotes in findings
            ],
            "known": known,
        },
        emit=emit,
        max_sentences=2,
        extra_check=grounded,
        render=refs.render,
    )
    return bool(gen and gen.sentences)


def ask_about(ctx: TurnContext, cmd: AskAbout) -> Iterator[None]:
    shown = on_screen(ctx)
    products = [shown[i - 1] for i in cmd.items if 1 <= i <= len(shown)]
    if not products:
        ctx.say_template("nothing_shown")
        return
    ctx.reply.intent = "product_details"
    ctx.state.focus = cmd.items[0] if len(cmd.items) == 1 else ctx.state.focus
    question = cmd.question or ctx.text
    opened = [ctx.call("product_details", product_id=p.id) for p in products]
    _show(ctx, opened)
    if answer_versions(ctx, opened, question):  # "in size M?", "available in black?"
        ctx.record_mentions([p.id for p in opened], kind="click")
        yield
        return
    if _PRICE_QUESTION.search(question):  # the price is the catalogue's, said by code
        said = ""
        for p in opened:
            line = ctx.deps.library.text("replies", "item_price", name=p.name, price=p.price)
            said += (gap_after(said) if said else "") + line
        ctx.say(said)
        ctx.record_mentions([p.id for p in opened], kind="click")
        yield
        return
    findings = _findings(opened, question)
    topic = " ".join(question_terms(question)[:4]) or "that"
    if (
        not question_terms(question)
        or len(opened) == 1
        and not findings[0][1]
        and not _asks_property(question)
    ):
        # "tell me more about the second one": the listing itself.
        p = opened[0]
        ctx.say_template(
            "details",
            name=p.name,
            category=p.category,
            sub_category=p.sub_category,
            price=p.price,
            brand=p.brand,
            features=p.features[:300],
            rating=p.rating,
        )
    elif not _phrase_about(ctx, findings, question):
        ctx.say(_answer_lines(ctx, findings, topic))
    ctx.record_mentions([p.id for p in opened], kind="click")
    yield


def _asks_property(question: str) -> bool:
    return bool(re.search(r"\?|\b(is|does|do|has|have|can|will|which)\b", question, re.I))


def compare(ctx: TurnContext, cmd: Compare) -> Iterator[None]:
    shown = on_screen(ctx)
    if len(shown) < 2:
        ctx.say_template("compare_needs_two")
        return
    rows = [i - 1 for i in cmd.items if 1 <= i <= len(shown)]
    if len(rows) == 1:
        rows.append(0 if rows[0] != 0 else 1)
    products = ctx.call(
        "compare_products",
        product_ids=[shown[r].id for r in rows] if rows else [p.id for p in shown],
    )
    _show(ctx, products)
    aspect = cmd.aspect or ""
    if aspect and not _PRICE_WORDS.search(aspect) and question_terms(aspect):
        findings = _findings(products, aspect)
        if not _phrase_about(ctx, findings, aspect):
            ctx.say(_answer_lines(ctx, findings, " ".join(question_terms(aspect)[:4])))
        yield
        return
    cheapest = min(products, key=lambda p: p.price)
    dearest = max(products, key=lambda p: p.price)
    ctx.say_template(
        "compare",
        products=products,
        cheaper=cheapest.name,
        difference=dearest.price - cheapest.price,
    )
    yield
