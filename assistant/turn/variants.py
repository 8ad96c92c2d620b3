"""Versions of products in chat: "the water bottle in blue, 1000ml", "do you have this in size M?",
"is the second one available in black?".

Code reads the shopper's option words against the catalogue's own variant options
(`retrieval.variants`), looks the versions up in the variants table through a tool, and says what
holds them: each version's price and whether it can be bought, or that there is none and which
options there are instead. Templates (replies: variant_*) phrase it. A version that cannot be
bought is called unavailable, never offered. A store with one version per product has no options,
so none of this runs there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from retrieval.constraints import Constraints
from retrieval.sources.base import Product, Variant
from retrieval.variants import MAX_VERSIONS, Fit, OptionMention, fit_variants

from ..commands.rules import unknown_versions
from ..conversation import ProductCard
from .context import TurnContext

# "Is it available?", "in stock?": a question about buying it at all, with no option named.
_STOCK = re.compile(
    r"\b(available|availability|in stock|out of stock|sold out|can i (buy|order|get) (it|this|one))\b",
    re.I,
)
# A sentence of the model that offers a product as obtainable.
_BUYABLE = re.compile(r"\b(available|in stock|comes? in|can (buy|order|get))\b", re.I)


def mentions(ctx: TurnContext, c: Constraints | None = None) -> list[OptionMention]:
    """The option values asked for: this message's, then the active search's (in that order)."""
    index = ctx.deps.stack.catalogue.vocabulary.options
    if not index:
        return []
    found = index.find(ctx.text)
    for attr in sorted(c.attributes) if c is not None else ():
        found += [m for m in index.find(attr) if m.choices not in {f.choices for f in found}]
    return found


def with_options(ctx: TurnContext, c: Constraints) -> Constraints:
    """The search's attributes with the options this message names: a new value of an option
    replaces the old one ("in black" after "in blue"), others accumulate ("size M" too)."""
    index = ctx.deps.stack.catalogue.vocabulary.options
    said = index.find(ctx.text) if index else []
    if not said:
        return c
    keys = frozenset().union(*(m.keys for m in said))
    kept = {a for a in c.attributes if not any(m.keys & keys for m in index.find(a))}
    return replace(c, attributes=frozenset(kept | {m.label for m in said}))


def fits_for(
    ctx: TurnContext, product_ids: Sequence[str], asked: list[OptionMention]
) -> dict[str, Fit]:
    """product id → Fit, for the products that have options (through the variants tool)."""
    if not asked or not product_ids:
        return {}
    versions = ctx.call("product_variants", product_ids=list(product_ids))
    out: dict[str, Fit] = {}
    for pid in product_ids:
        fit = fit_variants(versions.get(pid, []), asked)
        if fit is not None:
            out[pid] = fit
    return out


def card_variants(versions: Iterable[Variant]) -> list[dict]:
    """The versions a card carries (every one its text prices), buyable ones first."""
    return [
        {"id": v.id, "options": dict(v.options), "price": v.price, "available": v.available}
        for v in sorted(versions, key=lambda v: not v.available)
    ]


def shown_prices(fits: Iterable[Fit]) -> set[float]:
    """Prices of the versions a reply shows: facts the validator must accept."""
    return {v.price for f in fits for v in f.matches}


def _version(ctx: TurnContext, fit: Fit, v: Variant) -> str:
    return ctx.deps.library.text("replies", "variant_version", label=fit.label(v), price=v.price)


def _values(ctx: TurnContext, entries: Iterable[tuple[str, Sequence[str], str]]) -> list[str]:
    return [
        ctx.deps.library.text("replies", "variant_values", key=k, values=list(vals), given=given)
        for k, vals, given in entries
    ]


def _slots(ctx: TurnContext, fit: Fit) -> dict:
    """What the variant templates need, every fact from the fit."""
    available = [_version(ctx, fit, v) for v in fit.available]
    return {
        "asked": fit.asked_label(),
        "wanted": ", ".join([*dict.fromkeys(fit.labels), *(m.label for m in fit.missing)]),
        "missing": [m.label for m in fit.missing],
        "available": available[:MAX_VERSIONS],
        "more": max(0, len(available) - MAX_VERSIONS),
        "versions": [_version(ctx, fit, v) for v in fit.matches][:MAX_VERSIONS],
        "instead": _values(ctx, fit.instead),
    }


def note(ctx: TurnContext, fit: Fit) -> str:
    """One clause for a search card: the versions in what was asked, or what there is."""
    slots = _slots(ctx, fit)
    slots["unavailable"] = len(fit.unavailable) if fit.available else 0
    return ctx.deps.library.text("replies", "variant_note", **slots)


def annotate(ctx: TurnContext, cards: list[ProductCard], fits: dict[str, Fit]) -> None:
    """Each card whose product has what was asked names its versions, in the reason and as
    data (`variants`), so every front end shows them."""
    for cd in cards:
        fit = fits.get(cd.id)
        if fit is None or not fit.asked or fit.missing:
            continue  # only a product that has every option named speaks of its versions
        cd.variants = card_variants(fit.matches)
        said = note(ctx, fit)
        cd.reason = f"{cd.reason}. {said}" if cd.reason else said


def availability_check(
    fits: dict[str, Fit], products: Sequence[Product]
) -> Callable[[str], list[str]]:
    """A check for the model's sentences: it may not offer a product as obtainable in what
    was asked when no version of it in that can be bought."""

    def check(sentence: str) -> list[str]:
        if not fits or not _BUYABLE.search(sentence):
            return []
        low = sentence.lower()
        named = [p for p in products if p.name.lower() in low] or list(products)
        return [
            f"offers {p.name} as asked, which cannot be bought"
            for p in named
            if (fit := fits.get(p.id)) is not None and fit.asked and not fit.available
        ]

    return check


def answer(ctx: TurnContext, products: list[Product], question: str) -> bool:
    """Answer a question about versions of the products ("in size M?", "available in black?",
    "in stock?") from the variants table; False when it is not one (the caller answers)."""
    index = ctx.deps.stack.catalogue.vocabulary.options
    if not index:
        return False  # one version per product: nothing to say beyond the listing
    asked = index.find(question) or [
        OptionMention(w, frozenset()) for w in unknown_versions(question)
    ]  # "in orange": no version has it; the answer says so, with what there is
    if not asked and not _STOCK.search(question):
        return False
    versions = ctx.call("product_variants", product_ids=[p.id for p in products])
    fits = {p.id: fit_variants(versions.get(p.id, []), asked) for p in products}
    if asked:
        about = [p for p in products if (f := fits[p.id]) is not None and f.relevant]
        about = about or [p for p in products if fits[p.id] is not None]
        if not about:
            return False
        lines = [_answer_one(ctx, p, fits[p.id]) for p in about]  # type: ignore[arg-type]
    else:
        about = [p for p in products if len(versions.get(p.id, [])) > 1]
        if not about:
            return False
        lines = [_stock(ctx, p, versions[p.id]) for p in about]
    cards = [ProductCard.of(p) for p in about]
    for cd in cards:
        fit = fits.get(cd.id)
        # A stock answer prices the product's versions: the card carries them all.
        cd.variants = card_variants(fit.matches if fit is not None else versions.get(cd.id, []))
    ctx.reply.products = cards
    ctx.reply.cited_ids = ctx.reply.candidate_ids = [p.id for p in about]
    ctx.say("\n".join(lines))
    return True


def _answer_one(ctx: TurnContext, p: Product, fit: Fit) -> str:
    slots = _slots(ctx, fit)
    slots["unavailable"] = [_version(ctx, fit, v) for v in fit.unavailable][:MAX_VERSIONS]
    slots["options"] = _values(ctx, ((k, vals, "") for k, vals in fit.options.items()))
    return ctx.deps.library.text("replies", "variant_answer", name=p.name, **slots)


def _stock(ctx: TurnContext, p: Product, versions: list[Variant]) -> str:
    buyable = [v.price for v in versions if v.available]
    options: dict[str, list[str]] = {}
    for v in versions:
        if v.available:
            for k, val in v.options.items():
                if val not in options.setdefault(k, []):
                    options[k].append(val)
    return ctx.deps.library.text(
        "replies",
        "variant_stock",
        name=p.name,
        n=len(versions),
        n_available=len(buyable),
        low=min(buyable, default=0.0),
        high=max(buyable, default=0.0),
        options=_values(ctx, ((k, vals, "") for k, vals in options.items())),
    )
