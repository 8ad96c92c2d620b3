"""Short, factual reasons built from the scoring core's feature contributions."""

from __future__ import annotations

import math

import numpy as np

from .items import ItemFeatures
from .profile import Profile
from .scoring import Ranked


def _co_purchase_anchor(items: ItemFeatures, profile: Profile, item: int) -> int | None:
    hist, _ = profile.history_weights()
    if not hist.size:
        return None
    sims = np.asarray(items.cooc[hist][:, item].todense()).ravel()
    return int(hist[int(np.argmax(sims))]) if sims.max() > 0 else None


def reason(
    items: ItemFeatures,
    names: list[str],
    profile: Profile,
    ranked: Ranked,
    row: int,
    query: str | None = None,
) -> str:
    """One line, from the top positive contribution; names come from the catalogue only."""
    item = int(ranked.items[row])
    sub = items.sub_category_names[items.sub_category[item]]
    for feature, _value in ranked.top_reasons(row, n=3):
        if feature == "query_sim" and query:
            return f"Matches what you asked for: “{query[:60]}”"
        if feature == "co_purchase":
            anchor = _co_purchase_anchor(items, profile, item)
            if anchor is not None:
                how = "you bought" if anchor in profile.purchased else "you looked at"
                return f"Often bought with {names[anchor]}, which {how}"
        if feature == "session_sim" and profile.session_items:
            return f"Similar to {names[profile.session_items[-1]]}, which you just looked at"
        if feature == "sub_category_affinity":
            return f"You often shop for {sub}"
        if feature == "category_affinity":
            return f"Fits your interest in {items.category_names[items.category[item]]}"
        if feature == "brand_affinity" and items.brand[item] >= 0:
            return f"From {items.brand_names[items.brand[item]]}, a brand you buy"
        if feature == "price_fit":
            band = profile.price_band()
            if band:
                return f"In your usual price range (around ${math.expm1(band[0]):,.0f})"
        if feature == "profile_sim":
            return "Similar to products you have bought"
        if feature in ("popularity", "trend"):
            return f"Popular with other shoppers in {sub}"
        if feature == "long_tail":
            return f"A less-known pick in {sub}"
    return f"A popular pick in {sub}"
