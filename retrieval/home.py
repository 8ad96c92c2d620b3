"""The personalised home page: sections ranked only by the shared scoring core."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .profile import Profile
from .recommend import Recommendation, RecommendationService
from .scoring import Context, Ranked, ScoringParams

HomeItem = Recommendation  # a home-page item is a recommendation like any other


@dataclass
class HomeSection:
    key: str
    title: str
    items: list[Recommendation]


@dataclass
class HomePage:
    user_id: str | None
    profile_summary: str
    cold_start: bool
    sections: list[HomeSection]
    timings_ms: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict:
        return asdict(self)

    def item_ids(self) -> list[str]:
        return [i.id for s in self.sections for i in s.items]


def _items(
    svc: RecommendationService, profile: Profile, ranked: Ranked, anchor: int | None = None
) -> list[Recommendation]:
    out = svc.explained(profile, ranked)
    if anchor is not None:
        # "Because you bought X": the reason names the anchor, not the features.
        for rec, idx in zip(out, ranked.items, strict=True):
            bought_with = svc.items.cooc[anchor, int(idx)] > 0
            how = "Often bought with" if bought_with else "Goes well with"
            rec.reason = f"{how} {svc.names[anchor]}"
    return out


def _anchor(profile: Profile) -> int | None:
    """The most recent durable purchase (or, failing that, the latest item touched)."""
    if profile.purchased:
        return max(profile.purchased, key=lambda i: profile.purchased[i])
    return profile.session_items[-1] if profile.session_items else None


def build_home(
    svc: RecommendationService,
    user_id: str | None,
    per_section: int = 8,
    params: ScoringParams | None = None,
) -> HomePage:
    t0 = time.perf_counter()
    core = svc.core_for(params)
    profile = svc.profile(user_id)
    items = svc.items
    used: set[int] = set(profile.session_items)  # just looked at: not news on the home page
    sections: list[HomeSection] = []
    anchor = None if profile.is_cold else _anchor(profile)
    base, anchor_sims = core.page_context(profile, extra=[anchor] if anchor is not None else [])

    def add(
        key: str, title: str, ctx: Context, k: int = per_section, anchor: int | None = None
    ) -> None:
        ctx.exclude |= used
        ctx.base = base
        ranked = core.full_rank(profile, ctx, k)
        if len(ranked):
            used.update(int(i) for i in ranked.items)
            sections.append(HomeSection(key, title, _items(svc, profile, ranked, anchor)))

    if profile.is_cold:
        add("popular", "Popular right now", Context())
        for c, name in enumerate(items.category_names):
            add(
                f"top-{name.lower().replace(' ', '-')}",
                f"Top picks in {name}",
                Context(mask=items.category == c),
                k=max(4, per_section // 2),
            )
    else:
        add("for-you", "For you", Context())
        if anchor is not None:
            neighbours = items.cooc[anchor].indices
            sims = anchor_sims[:, 0]
            # The 61 nearest items; a small catalogue (the retail store has 50) gives them all.
            near = min(60, len(sims) - 1)
            similar = np.argpartition(-sims, near)[: near + 1]
            mask = np.zeros(len(items), dtype=bool)
            mask[np.concatenate([neighbours, similar])] = True
            mask[anchor] = False
            name = svc.catalogue.products[anchor].name
            add(
                "because",
                f"Because you bought {name}",
                Context(session_items=[anchor], mask=mask),
                anchor=anchor,
            )
        top_subs = profile.top_sub_categories(3)
        if top_subs:
            wanted = [items.sub_category_names.index(s) for s in top_subs]
            add(
                "popular-in-categories",
                f"Popular in {', '.join(top_subs)}",
                Context(mask=np.isin(items.sub_category, wanted)),
            )
    return HomePage(
        user_id,
        profile.explain(),
        profile.is_cold,
        sections,
        {"total": round((time.perf_counter() - t0) * 1e3, 2)},
    )
