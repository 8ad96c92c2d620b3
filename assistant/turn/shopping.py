"""Shopping turns: recommend and refine, details on an item, compare two."""

from __future__ import annotations

import re
from collections.abc import Iterator

from retrieval.catalogue import CatalogueIndex
from retrieval.constraints import ConstraintError, Constraints, parse
from retrieval.home import build_home
from retrieval.sources.base import Product
from retrieval.store import VectorStoreUnavailable

from ..conversation import ConversationState, ProductCard
from ..guards import redact
from ..router import Route, find_ordinals
from ..validate import mentions_any
from .context import TurnContext
from .phrasing import phrase_checked

PICKS = 3
_CHEAPER = re.compile(r"cheaper|less expensive|lower price|budget")
_PRICIER = re.compile(r"more expensive|higher end|premium|better quality")
_OTHER_BRAND = re.compile(r"not that brand|other brand|different brand")
_CARRIED = ("min_price", "max_price", "brands", "exclude_brands", "categories", "sub_categories")


def constraints_for(
    state: ConversationState, route: Route, text: str, catalogue: CatalogueIndex
) -> Constraints:
    """The constraints this turn searches under: a fresh request, or a refinement of the last."""
    try:
        new = parse(text, catalogue.vocabulary)
    except ConstraintError:
        new = Constraints(text=text)
    cur = state.constraints
    if route.intent != "refine":
        # A fresh request replaces the topic but keeps exclusions the shopper set.
        base = Constraints(exclude_brands=cur.exclude_brands) if new.text else cur
        return base.merged_with(new)
    low = text.lower()
    shown = [catalogue.get(i) for i in state.shown if i in catalogue]
    refined = Constraints(text=cur.text)
    if _CHEAPER.search(low) and shown:
        # "Cheaper" means cheaper than the top pick the shopper is looking at.
        refined = Constraints(text=cur.text, max_price=round(shown[0].price - 0.01, 2))
    elif _PRICIER.search(low) and shown:
        refined = Constraints(text=cur.text, min_price=round(max(p.price for p in shown) + 0.01, 2))
    if _OTHER_BRAND.search(low) and shown:
        branded = [p for p in shown if p.brand] or shown
        pick = (
            shown[route.ordinal]
            if route.ordinal is not None and route.ordinal < len(shown)
            else branded[0]
        )
        if pick.brand:
            refined = refined.merged_with(Constraints(exclude_brands=frozenset({pick.brand})))
    # A refinement always moves on from what is on screen.
    refined = refined.merged_with(Constraints(exclude_ids=frozenset(state.shown)))
    extra = Constraints(**{k: getattr(new, k) for k in _CARRIED})
    return cur.merged_with(refined).merged_with(extra)


def recommend(ctx: TurnContext, route: Route) -> Iterator[None]:
    """Picks from the shared pipeline, templated lines, then a short checked comment."""
    text = redact(ctx.text)  # emails and phone numbers are never product words
    state, reply, deps = ctx.state, ctx.reply, ctx.deps
    c = constraints_for(state, route, text, deps.stack.catalogue)
    state.constraints = c
    try:
        recs = ctx.call(
            "search_products", user_id=state.user_id, query=c.text, constraints=c, k=PICKS
        )
    except VectorStoreUnavailable:
        reply.degraded = True
        yield from popular_fallback(ctx)
        return
    reply.timings_ms["retrieval"] = recs.timings_ms["retrieval"]
    reply.timings_ms["scoring"] = recs.timings_ms["scoring"]
    if not recs.items:
        ctx.say_template("no_results", constraints=c.describe(), suggestion=None)
        return
    cards = recs.items
    reply.candidate_ids = recs.candidate_ids
    reply.products = cards
    state.shown = [cd.id for cd in cards]
    state.seen += [i for i in state.shown if i not in state.seen]
    ctx.say_template(
        "recommend_lead", n=len(cards), constraints=c.describe(), personal=not recs.profile.is_cold
    )
    ctx.say_items(cards)
    reply.cited_ids = [cd.id for cd in cards]
    yield
    # The model adds a short, checked comment on the top pick.
    first = [True]

    def emit(sentence: str) -> None:
        ctx.say(("\n\n" if first[0] else " ") + sentence)
        first[0] = False

    pick_names = [cd.name for cd in cards]

    def on_topic(sentence: str) -> list[str]:
        # A comment must be about a pick and say nothing the facts don't support.
        if not mentions_any(sentence, pick_names):
            return ["does not talk about any recommended product"]
        return []

    phrase_checked(
        ctx,
        "recommend",
        ctx.facts(recs.candidate_ids),
        {
            "shopper_summary": recs.profile.explain(),
            "request": text,  # redacted: PII never reaches a model, local or remote
            "picks": [vars(cd) for cd in cards],
            "top": vars(cards[0]),
        },
        emit=emit,
        extra_check=on_topic,
        version=state.prompt_version,
    )
    ctx.record_mentions(reply.cited_ids)


def popular_fallback(ctx: TurnContext) -> Iterator[None]:
    """Search is down: the popular section of the home page, which needs no vector store."""
    page = build_home(ctx.deps.stack.recommendations(), None, per_section=PICKS)
    items = page.sections[0].items if page.sections else []
    ctx.reply.products = list(items)
    ctx.reply.cited_ids = [i.id for i in items]
    ctx.say_template("search_unavailable")
    ctx.say_items(ctx.reply.products)
    yield


def _on_screen(ctx: TurnContext) -> list[Product]:
    cat = ctx.deps.stack.catalogue
    return [cat.get(i) for i in ctx.state.shown if i in cat]


def _pick(ctx: TurnContext, route: Route) -> list[Product]:
    """The product the shopper points at: by name, by ordinal, else the top pick."""
    cat = ctx.deps.stack.catalogue
    low = ctx.text.lower()
    named = [cat.get(i) for i in ctx.state.seen if i in cat and cat.get(i).name.lower() in low]
    if named:
        return named
    shown = _on_screen(ctx)
    if route.ordinal is not None and shown:
        return [shown[min(route.ordinal, len(shown) - 1)] if route.ordinal >= 0 else shown[-1]]
    return shown[:1]


def details(ctx: TurnContext, route: Route) -> Iterator[None]:
    picks = _pick(ctx, route)
    if not picks:
        ctx.say_template("nothing_shown")
        return
    p = ctx.call("product_details", product_id=picks[0].id)
    ctx.reply.cited_ids = ctx.reply.candidate_ids = [p.id]
    ctx.reply.products = [ProductCard.of(p)]
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
    ctx.record_mentions([p.id], kind="click")
    yield


def compare(ctx: TurnContext, route: Route) -> Iterator[None]:
    shown = [p.id for p in _on_screen(ctx)]
    if len(shown) < 2:
        ctx.say_template("compare_needs_two")
        return
    # "the first and the last", "2nd and 3rd": every ordinal named, in range, each once.
    rows: list[int] = []
    for n in find_ordinals(ctx.text):
        row = n if n >= 0 else len(shown) + n
        if 0 <= row < len(shown) and row not in rows:
            rows.append(row)
    if len(rows) == 1:
        rows.append(0 if rows[0] != 0 else 1)
    ids = [shown[r] for r in rows] if len(rows) >= 2 else shown[:2]
    products = ctx.call("compare_products", product_ids=ids)
    cheaper = min(products, key=lambda p: p.price)
    diff = abs(products[0].price - products[1].price)
    ctx.reply.cited_ids = ctx.reply.candidate_ids = [p.id for p in products]
    ctx.reply.products = [ProductCard.of(p) for p in products]
    ctx.say_template("compare", products=products, cheaper=cheaper.name, difference=diff)
    yield
