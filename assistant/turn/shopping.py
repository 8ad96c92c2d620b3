"""Shopping turns: search and refine, with the constraint memory kept per topic."""

from __future__ import annotations

import re
from collections.abc import Iterator

from retrieval.catalogue import CatalogueIndex
from retrieval.constraints import Constraints, Vocabulary
from retrieval.home import build_home
from retrieval.sources.base import Product
from retrieval.store import VectorStoreUnavailable

from ..commands.check import singular
from ..commands.schema import Refine, Search
from ..conversation import ConversationState
from ..generate import gap_after
from ..guards import redact
from ..i18n import constraints_text
from ..validate import product_names_in
from .context import TurnContext
from .grounded import ItemRefs
from .phrasing import phrase_checked
from .variants import annotate, availability_check, fits_for, mentions, shown_prices, with_options

PICKS = 3
_BACK_TO = re.compile(r"\b(back to|return to|again)\b", re.I)


# Words that end a noun phrase: a category word right before one is the thing asked for.
_PHRASE_END = frozenset(
    [
        "for",
        "with",
        "under",
        "below",
        "over",
        "above",
        "from",
        "in",
        "on",
        "at",
        "to",
        "that",
        "which",
        "who",
        "and",
        "or",
        "but",
        "by",
        "than",
        "around",
        "about",
        "between",
        "less",
        "more",
        "cheaper",
        "please",
        "i",
        "my",
        "me",
    ]
)


def names_the_thing(query: str, name: str) -> bool:
    """True when a word of category `name` is a head noun in the query ("desk chair for long
    hours", "chairs under $200"), not a modifier inside a compound ("paper shredder")."""
    words = re.findall(r"[a-z]+", query.lower())
    keys = {singular(w) for w in re.findall(r"[a-z]+", name.lower())}
    return not words or any(
        singular(w) in keys and (i + 1 == len(words) or words[i + 1] in _PHRASE_END)
        for i, w in enumerate(words)
    )


def _head(query: str) -> str:
    words = re.findall(r"[a-z]+", query.lower())
    return singular(words[-1]) if words else ""


def split_categories(
    names: list[str], query: str, vocab: Vocabulary
) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(hard categories, hard sub-categories, soft): a category filters only when it is the
    thing asked for, the query's head noun ("desk chair" → Chairs); a category word used as a
    modifier ("paper shredder") only boosts."""
    cats: set[str] = set()
    subs: set[str] = set()
    soft: set[str] = set()
    for name in names:
        if names_the_thing(query, name):
            (cats if name in vocab.categories else subs).add(name)
        else:
            soft.add(name)
    return frozenset(cats), frozenset(subs), frozenset(soft)


def topic_key(c: Constraints) -> str:
    named = sorted(c.sub_categories) or sorted(c.categories)
    # "bookcases" read as a filter and "bookcase" read as words are one topic.
    return singular(named[0]) if named else _head(c.text)


def search_constraints(
    state: ConversationState, cmd: Search, vocab: Vocabulary, text: str
) -> Constraints:
    """A new request replaces the topic's slots; exclusions the shopper set carry over. A bare
    return to an earlier topic ("back to the bookcases") restores that topic's slots."""
    cats, subs, soft = split_categories(list(cmd.categories), cmd.query, vocab)
    new = Constraints(
        text=cmd.query,
        min_price=cmd.min_price,
        max_price=cmd.max_price,
        categories=cats,
        sub_categories=subs,
        brands=frozenset(cmd.brands),
        exclude_brands=frozenset(cmd.exclude_brands) | state.constraints.exclude_brands,
        soft_categories=soft,
        attributes=frozenset(cmd.attributes),
        sort=cmd.sort,
    )
    bare = cmd.min_price is None and cmd.max_price is None and not cmd.brands and not cmd.attributes
    saved = state.topics.get(topic_key(new))
    if (
        saved is not None
        and bare
        and (_BACK_TO.search(text) or not cmd.query or new.text == saved.text)
    ):
        return saved.merged_with(Constraints(exclude_brands=new.exclude_brands))
    return new


def refine_constraints(
    state: ConversationState, cmd: Refine, catalogue: CatalogueIndex
) -> Constraints:
    """Change what the refinement names; keep every other slot (the budget above all)."""
    cur = state.constraints
    shown = [catalogue.get(i) for i in state.shown if i in catalogue]
    lo = cmd.min_price if cmd.min_price is not None else cur.min_price
    hi = cmd.max_price if cmd.max_price is not None else cur.max_price
    lo_strict = cur.min_exclusive and cmd.min_price is None
    hi_strict = cur.max_exclusive and cmd.max_price is None
    if cmd.price_direction == "cheaper" and shown:
        # Cheaper than the item in focus (the one asked about, else the top pick): strictly
        # below its real price, so "under $57.98" names a price the catalogue holds.
        focus = shown[state.focus - 1] if state.focus and state.focus <= len(shown) else shown[0]
        if hi is None or focus.price <= hi:
            hi, hi_strict = focus.price, True
    elif cmd.price_direction == "pricier" and shown:
        top = max(p.price for p in shown)
        if lo is None or top >= lo:
            lo, lo_strict = top, True
    exclude = set(cur.exclude_brands) | set(cmd.exclude_brands)
    if cmd.exclude_brand_of is not None and shown:
        pointed = shown[min(cmd.exclude_brand_of, len(shown)) - 1]
        # "Not that brand" about an unbranded item means the brand on screen.
        branded = pointed if pointed.brand else next((p for p in shown if p.brand), None)
        if branded is not None and branded.brand:
            exclude.add(branded.brand)
    query = cmd.query or cur.text
    cats, subs, soft = split_categories(list(cmd.categories), query, catalogue.vocabulary)
    brands = (frozenset(cmd.brands) or cur.brands) - exclude
    moved_on = cmd.price_direction or cmd.exclude_brand_of or cmd.exclude_brands
    nothing_new = not (cmd.query or cmd.categories or cmd.brands or cmd.attributes or cmd.sort)
    return Constraints(
        text=query,
        min_price=lo,
        max_price=hi,
        min_exclusive=lo_strict,
        max_exclusive=hi_strict,
        categories=cats or (cur.categories if not subs else frozenset()),
        sub_categories=subs or (cur.sub_categories if not cats else frozenset()),
        brands=brands,
        exclude_brands=frozenset(exclude) - brands,
        # "Cheaper", "not that brand", "more like these": move on from what is on screen.
        exclude_ids=cur.exclude_ids
        | (frozenset(state.shown) if moved_on or nothing_new else frozenset()),
        soft_categories=soft | cur.soft_categories,
        attributes=cur.attributes | frozenset(cmd.attributes),
        sort=cmd.sort or cur.sort,
    )


def recommend(ctx: TurnContext, cmd: Search | Refine) -> Iterator[None]:
    """Picks from the shared pipeline, templated lines, then the model's checked comment."""
    state, reply, deps = ctx.state, ctx.reply, ctx.deps
    catalogue = deps.stack.catalogue
    if isinstance(cmd, Refine) and state.shown:
        c = refine_constraints(state, cmd, catalogue)
        reply.intent = "refine"
    else:
        if isinstance(cmd, Refine):  # nothing to refine yet: a search with those slots
            cmd = Search(
                **cmd.model_dump(
                    exclude={"type", "price_direction", "exclude_brand_of"}, exclude_none=True
                )
                | {"query": cmd.query or ""}
            )
        c = search_constraints(state, cmd, catalogue.vocabulary, ctx.text)
        reply.intent = "recommend"
    c = with_options(ctx, c)  # "in blue, 1000ml": option values of the store's variants
    state.constraints = c
    query = redact(" ".join([c.text, *sorted(c.attributes)]).strip())
    try:
        recs = ctx.call(
            "search_products", user_id=state.user_id, query=query, constraints=c, k=PICKS
        )
    except VectorStoreUnavailable:
        reply.degraded = True
        yield from popular_fallback(ctx)
        return
    reply.timings_ms["retrieval"] = recs.timings_ms["retrieval"]
    reply.timings_ms["scoring"] = recs.timings_ms["scoring"]
    if not recs.items:
        described = constraints_text(c.describe(), ctx.state.language)
        ctx.say_template("no_results", constraints=described or c.text, suggestion=None)
        return
    state.topics[topic_key(c)] = c
    cards = recs.items
    fits = fits_for(ctx, [cd.id for cd in cards], mentions(ctx, c))
    annotate(ctx, cards, fits)
    reply.candidate_ids = recs.candidate_ids
    reply.products = cards
    state.shown = [cd.id for cd in cards]
    state.focus = None
    state.seen += [i for i in state.shown if i not in state.seen]
    ctx.say_template(
        "recommend_lead",
        n=len(cards),
        constraints=constraints_text(c.describe(), ctx.state.language),
        personal=not recs.profile.is_cold,
    )
    ctx.say_items(cards)
    reply.cited_ids = [cd.id for cd in cards]
    yield
    products = [catalogue.get(cd.id) for cd in cards]
    refs = ItemRefs.of(products, [cd.reason for cd in cards])
    first = [True]

    def emit(sentence: str) -> None:
        ctx.say(("\n\n" if first[0] else gap_after(ctx.reply.text)) + sentence)
        first[0] = False

    named = frozenset().union(*(product_names_in(cd.reason, catalogue) for cd in cards))
    claims, stock = refs.claims_check(ctx.text), availability_check(fits, products)
    phrase_checked(
        ctx,
        "recommend",
        # A version's price shown on a card is a fact too.
        ctx.facts(recs.candidate_ids, named_ids=named, extra_prices=shown_prices(fits.values())),
        {
            "shopper_summary": recs.profile.explain(),
            "request": redact(ctx.text),  # PII never reaches a model, local or remote
            "search": c.describe(),
            "picks": [vars(cd) for cd in cards],
            "top": vars(cards[0]),
        },
        emit=emit,
        extra_check=lambda sentence: claims(sentence) + stock(sentence),
        version=state.prompt_version,
        render=refs.render,
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


def on_screen(ctx: TurnContext) -> list[Product]:
    cat = ctx.deps.stack.catalogue
    return [cat.get(i) for i in ctx.state.shown if i in cat]
