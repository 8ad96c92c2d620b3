"""Short, factual reasons built from the scoring core's feature contributions."""

from __future__ import annotations

import math

from .items import ItemFeatures
from .profile import Profile
from .scoring import Ranked

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
        return f"matches “{query[:60]}”"
    if feature == "co_purchase":
        anchor = _co_purchase_anchor(items, profile, item)
        if anchor is not None:
            how = "you bought" if anchor in profile.purchased else "you looked at"
            return f"often bought with {names[anchor]}, which {how}"
    if feature == "session_sim" and profile.session_items:
        return f"similar to {names[profile.session_items[-1]]}, which you just looked at"
    if feature == "sub_category_affinity":
        return f"you often shop for {sub}"
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
