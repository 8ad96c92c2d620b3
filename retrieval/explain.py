"""Short, factual reasons built from the scoring core's feature contributions."""

from __future__ import annotations

import math
import re

from .constraints import PHRASE_END, wordset
from .enrichment import Enrichment
from .items import ItemFeatures
from .profile import Profile
from .scoring import Ranked
from .sources.base import Product

# A feature is a reason only when its raw value is convincing on its own terms.
_MIN_RAW = {
    "session_sim": 0.6,
    "profile_sim": 0.5,
    "sub_category_affinity": 0.15,
    "category_affinity": 0.3,
    "brand_affinity": 0.15,
    "price_fit": 0.6,
    "co_purchase": 1e-9,
    "query_sim": 0.3,
}


# Words that are never part of the product phrase a reason quotes.
_FILLER = wordset(
    """hi hello hey ok okay please thanks a an the some need want looking look find get buy
    show recommend suggest setting set up i'm im i've i'd am would like got have has any
    new good nice great decent cheap best really very just also"""
)
_WORD = re.compile(r"[A-Za-z0-9][\w'&-]*|[.,;:!?()]")
MAX_PHRASE_WORDS = 4


def _stem(word: str) -> str:
    w = word.lower().strip("'")
    for suffix, keep in (("ies", "y"), ("ses", "s"), ("shes", "sh"), ("ches", "ch"), ("s", "")):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            return w[: len(w) - len(suffix)] + keep
    return w


def _stems(text: str) -> set[str]:
    return {_stem(w) for w in re.findall(r"[A-Za-z0-9]+", text)}


def _name_head(name: str) -> str:
    """The head noun of a product name: its last word before a comma, "with" or "for"."""
    core = re.split(r",|\bwith\b|\bfor\b|\bw/", name, maxsplit=1, flags=re.I)[0]
    words = re.findall(r"[A-Za-z]+", core)
    return _stem(words[-1]) if words else ""


def query_phrase(query: str, product: Product, enrichment: Enrichment | None = None) -> str | None:
    """The few words of the shopper's message that this product matches ("desk chair" out of
    "hi, I'm setting up a small home office. I need a desk chair"): the query word that names
    the product's type (its sub-category, enriched type or name head), else any word of its
    text, widened left over the words that modify it. None when no word matches."""
    tokens = _WORD.findall(query)
    if not tokens:
        return None
    words = set(_stems(f"{product.name} {product.category} {product.sub_category}"))
    types = _stems(product.sub_category) | {_name_head(product.name)}
    if enrichment is not None:
        words |= _stems(f"{enrichment.product_type} {' '.join(enrichment.attributes)}")
        types |= _stems(enrichment.product_type)

    def content(tok: str) -> bool:
        low = tok.lower()
        return tok[0].isalnum() and low not in PHRASE_END and low not in _FILLER

    best, best_score = -1, 0
    for i, tok in enumerate(tokens):
        if not content(tok):
            continue
        s = _stem(tok)
        score = 2 if s in types else 1 if s in words else 0
        if score and score >= best_score:  # ties: the later word, usually the head
            best, best_score = i, score
    if best < 0:
        return None
    lo = hi = best
    while lo > 0 and hi - lo + 1 < MAX_PHRASE_WORDS and content(tokens[lo - 1]):
        lo -= 1
    while (
        hi + 1 < len(tokens)
        and hi - lo + 1 < MAX_PHRASE_WORDS
        and content(tokens[hi + 1])
        and _stem(tokens[hi + 1]) in words
    ):
        hi += 1
    return " ".join(tokens[lo : hi + 1]).lower()


def _co_purchase_anchor(items: ItemFeatures, profile: Profile, item: int) -> int | None:
    """The shopper's item most co-purchased with `item` (scans the item's sparse row)."""
    row = items.cooc[item]
    best, best_sim = None, 0.0
    for j, sim in zip(row.indices, row.data, strict=True):
        if sim > best_sim and (int(j) in profile.history or int(j) in profile.purchased):
            best, best_sim = int(j), float(sim)
    return best


def _phrase(
    feature: str,
    items: ItemFeatures,
    names: list[str],
    profile: Profile,
    item: int,
    query: str | None,
) -> str | None:
    sub = items.sub_category_names[items.sub_category[item]]
    if feature == "query_sim" and query:
        return f"matches “{query}”"
    if feature == "co_purchase":
        anchor = _co_purchase_anchor(items, profile, item)
        if anchor is not None:
            how = "you bought" if anchor in profile.purchased else "you looked at"
            return f"often bought with {names[anchor]}, which {how}"
    if feature == "session_sim" and profile.session_items:
        return f"similar to {names[profile.session_items[-1]]}, which you just looked at"
    if feature == "sub_category_affinity":
        bought = any(items.sub_category[j] == items.sub_category[item] for j in profile.purchased)
        return f"you often buy {sub}" if bought else f"you often look at {sub}"
    if feature == "category_affinity":
        return f"fits your interest in {items.category_names[items.category[item]]}"
    if feature == "brand_affinity" and items.brand[item] >= 0:
        return f"from {items.brand_names[items.brand[item]]}, a brand you buy"
    if feature == "price_fit":
        band = profile.price_band()
        if band:
            return f"in your usual price range (around ${math.expm1(band[0]):,.0f})"
    if feature == "profile_sim":
        return "similar to products you have bought"
    if feature in ("popularity", "trend"):
        return f"popular with other shoppers in {sub}"
    if feature == "long_tail":
        return f"a less-known pick in {sub}"
    return None


def reason(
    items: ItemFeatures,
    names: list[str],
    profile: Profile,
    ranked: Ranked,
    row: int,
    query: str | None = None,
    max_parts: int = 2,
) -> str:
    """One line from the strongest convincing contributions; names come from the catalogue."""
    item = int(ranked.items[row])
    raw = dict(zip(ranked.names, ranked.features[row], strict=False))
    parts: list[str] = []
    for feature, _value in ranked.top_reasons(row, n=5):
        if raw.get(feature, 1.0) < _MIN_RAW.get(feature, -math.inf):
            continue
        phrase = _phrase(feature, items, names, profile, item, query)
        if phrase and phrase not in parts:
            parts.append(phrase)
        if len(parts) >= max_parts:
            break
    if not parts:
        parts = [f"a popular pick in {items.sub_category_names[items.sub_category[item]]}"]
    text = "; ".join(parts)
    return text[0].upper() + text[1:]
