"""The recommendation service the app talks to: item features fitted on the event log, live
profiles that update as events arrive, and the scoring core behind every ranking.

    recs = svc.recommend(user_id, constraints, k=3)   # search → score → de-dup → MMR → reasons

Chat, the home page and the API all speak `Recommendation`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from .catalogue import CatalogueIndex
from .clock import StoreClock
from .constraints import ATTRIBUTE_WORDS, Constraints, head_phrase
from .db import Database
from .enrichment import goes_with, type_match
from .events import EventIn, IngestResult, StoredEvent, all_events, ingest, user_events
from .explain import query_phrase, reason
from .items import ItemFeatures
from .profile import Profile
from .scoring import Context, Ranked, ScoringCore, ScoringModel, ScoringParams, mmr
from .search import ProductSearch
from .sources.base import Product
from .train import InteractionLog, calibrated_default

log = logging.getLogger(__name__)
CANDIDATES = 40  # retrieved before the core re-ranks: enough to diversify, cheap to score
PROFILE_BLEND = 0.2  # how much the shopper's profile vector conditions the search


def query_with_attributes(text: str, attributes: frozenset[str]) -> str:
    """The embedded query: the shopper's words plus attribute words they do not already hold."""
    low = text.lower()
    extra = [a for a in sorted(attributes) if a.lower() not in low]
    return " ".join([text, *extra]).strip()


def sort_picks(
    items: list[Recommendation], order: str | None, ratings: dict[str, float]
) -> list[Recommendation]:
    """The final picks in the shopper's order; relevance (the ranking's) when none is asked.
    Ties and products without a rating keep their relevance order."""
    if order == "price_asc":
        return sorted(items, key=lambda r: r.price)
    if order == "price_desc":
        return sorted(items, key=lambda r: -r.price)
    if order == "rating":
        return sorted(items, key=lambda r: -ratings.get(r.id, float("-inf")))
    return items


@dataclass
class Recommendation:
    """One product put in front of a shopper, with why. The one shape for chat cards, home-page
    items and API responses."""

    id: str
    name: str
    category: str
    sub_category: str
    price: float
    reason: str = ""
    score: float = 0.0
    contributions: dict[str, float] = field(default_factory=dict)
    # The versions that answer what the shopper named ("in blue, 1000ml"): id, options, price
    # and availability of each. Empty when nothing was named or the store has one version.
    variants: list[dict] = field(default_factory=list)
    # The product's main image URL (an imported store's), for cards: the shopper's browser loads
    # it; the server never fetches it. None when the product has none.
    image: str | None = None

    @classmethod
    def of(cls, product: Product, reason: str = "") -> Recommendation:
        return cls(
            product.id, product.name, product.category, product.sub_category, product.price, reason
        )


@dataclass
class Recommendations:
    """What `recommend` found: the picks, the candidates they came from, and for whom."""

    items: list[Recommendation]
    candidate_ids: list[str]
    profile: Profile
    plan: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)


def item_features_from_catalogue(catalogue: CatalogueIndex) -> ItemFeatures:
    P = catalogue.products
    return ItemFeatures.from_attributes(
        [p.id for p in P],
        catalogue.vectors,
        [p.category for p in P],
        [p.sub_category for p in P],
        [p.brand for p in P],
        np.array([p.price for p in P], dtype=np.float64),
        np.array([p.consumable for p in P], dtype=bool),
    )


@dataclass
class RecommendationService:
    catalogue: CatalogueIndex
    db: Database
    clock: StoreClock
    model: ScoringModel
    params: ScoringParams = field(default_factory=ScoringParams)

    search: ProductSearch | None = None

    def __post_init__(self) -> None:
        self.items = item_features_from_catalogue(self.catalogue)
        self.names = [p.name for p in self.catalogue.products]
        self._texts = [self.catalogue.text(i).lower() for i in range(len(self.catalogue))]
        self._term_masks: dict[str, np.ndarray] = {}
        self._types = [
            (e.product_type if (e := self.catalogue.enrichment.get(p.id)) else "")
            for p in self.catalogue.products
        ]
        self._type_scores: dict[tuple[str, ...], np.ndarray] = {}
        self._ratings = {p.id: p.rating for p in self.catalogue.products if p.rating is not None}
        self._profiles: dict[str, Profile] = {}
        self._lock = threading.RLock()
        self.refit_items()
        self.core = ScoringCore(self.items, self.model, self.params)

    def interaction_log(self) -> InteractionLog:
        events = [
            e
            for e in all_events(self.db)
            if e.product_id is not None and e.product_id in self.items.position
        ]
        users = {u: i for i, u in enumerate(sorted({e.user_id for e in events}))}
        return InteractionLog(
            np.array([users[e.user_id] for e in events], dtype=np.int64),
            np.array([self.items.position[str(e.product_id)] for e in events], dtype=np.int64),
            np.array([e.ts.timestamp() for e in events], dtype=np.float64),
            np.array([e.type for e in events]),
            max(len(users), 1),
        )

    def refit_items(self) -> None:
        """Popularity, trend and co-purchase from every stored event (seconds at this scale)."""
        log_ = self.interaction_log()
        if self.model.version == "default":
            self.model = calibrated_default(self.items, log_)
        self.items.fit_interactions(
            log_.user, log_.item, log_.ts, log_.n_users, self.clock.now().timestamp()
        )

    def _has_term(self, term: str) -> np.ndarray:
        """Items whose text holds `term` as a word or phrase (cached per term)."""
        term = term.lower()
        hit = self._term_masks.get(term)
        if hit is None:
            pat = re.compile(rf"(?<![\w-]){re.escape(term)}(?![\w-])")
            hit = np.fromiter((bool(pat.search(t)) for t in self._texts), bool, len(self._texts))
            if len(self._term_masks) > 4096:
                self._term_masks.clear()
            self._term_masks[term] = hit
        return hit

    def _type_scores_for(self, phrase: tuple[str, ...], params: ScoringParams) -> np.ndarray:
        """Per item, in cosine units: how well its enriched type answers `phrase`, less the
        accessory penalty for things that go with the phrase's head (cached per phrase)."""
        key = (*phrase, f"{params.type_boost}|{params.accessory_penalty}")
        hit = self._type_scores.get(key)
        if hit is None:
            head = phrase[-1]
            hit = np.array(
                [
                    params.type_boost * (type_match(phrase, t) if t else 0.0)
                    - params.accessory_penalty * goes_with(head, name, t)
                    for t, name in zip(self._types, self.names, strict=True)
                ],
                np.float32,
            )
            if len(self._type_scores) > 4096:
                self._type_scores.clear()
            self._type_scores[key] = hit
        return hit

    def soft_boost(self, c: Constraints, params: ScoringParams) -> np.ndarray | None:
        """Per item: the type, soft-category and attribute boosts for these constraints, or None.
        The sizes are cosine units (`ScoringParams`): MiniLM's query-product cosines spread
        about 0.1 within a candidate set, so a boost nudges; a much closer text still wins."""
        phrase = head_phrase(c.text) if params.type_boost or params.accessory_penalty else ()
        if phrase and (phrase[-1] in ATTRIBUTE_WORDS or not phrase[-1].isalpha()):
            phrase = ()  # "something black": no noun to match types against
        if not c.soft_categories and not c.attributes and not phrase:
            return None
        it = self.items
        boost = np.zeros(len(it), dtype=np.float32)
        if phrase:
            boost += self._type_scores_for(phrase, params)
        if c.soft_categories:
            cats = [i for i, n in enumerate(it.category_names) if n in c.soft_categories]
            subs = [i for i, n in enumerate(it.sub_category_names) if n in c.soft_categories]
            soft = np.isin(it.category, cats) | np.isin(it.sub_category, subs)
            boost += params.soft_category_boost * soft
        if c.attributes:
            hits = sum(self._has_term(a).astype(np.float32) for a in c.attributes)
            boost += params.attribute_boost * np.minimum(hits, params.max_attribute_boosts)
        return boost

    def core_for(self, params: ScoringParams | None) -> ScoringCore:
        return self.core if params is None else self.core.with_params(params)

    # Profiles ----------------------------------------------------------------------------
    def _fold(self, profile: Profile, events: list[StoredEvent]) -> Profile:
        for e in events:
            if e.product_id in self.items.position:
                # Past sessions are history; only live events open the current session.
                profile.add(self.items.position[e.product_id], e.type, e.ts.timestamp(), None)
        return profile

    def profile(self, user_id: str | None) -> Profile:
        """Cached; built from the event log once, then updated in place by `record`."""
        if not user_id:
            return Profile("anonymous", self.items)
        with self._lock:
            if user_id not in self._profiles:
                self._profiles[user_id] = self._fold(
                    Profile(user_id, self.items), user_events(self.db, user_id)
                )
            return self._profiles[user_id]

    def record(self, events: Sequence[dict | EventIn]) -> IngestResult:
        """Store events durably, then fold the accepted ones into live profiles."""
        import uuid

        # Give id-less events their id now, so the stored event and the profile agree.
        stamped: list[dict | EventIn] = [
            ({"id": uuid.uuid4().hex, **e} if isinstance(e, dict) and not e.get("id") else e)
            for e in events
        ]
        result = ingest(self.db, stamped, lambda pid: pid in self.catalogue, now=self.clock.now())
        accepted = set(result.accepted)
        with self._lock:
            for raw in stamped:
                ev = raw if isinstance(raw, EventIn) else None
                if ev is None:
                    try:
                        ev = EventIn.model_validate(raw)
                    except ValueError:
                        continue
                if ev.id not in accepted or ev.user_id not in self._profiles or not ev.product_id:
                    continue
                ts = (ev.ts or self.clock.now()).timestamp()  # as stored by ingest
                self._profiles[ev.user_id].add(
                    self.items.position[ev.product_id], ev.type, ts, ev.session_id
                )
        return result

    def forget(self, user_id: str) -> None:
        with self._lock:
            self._profiles.pop(user_id, None)

    # Ranking -----------------------------------------------------------------------------
    def recommend(
        self,
        user_id: str | None,
        constraints: Constraints,
        k: int = 3,
        query_text: str | None = None,
        *,
        candidates: int = CANDIDATES,
        params: ScoringParams | None = None,
    ) -> Recommendations:
        """Search under the constraints (conditioned on the profile), re-rank with the shared
        core, show each name once, diversify with MMR and explain each pick.

        Embeds the query once and reads the profile once. Raises `VectorStoreUnavailable` when
        the vector store is down and the plan needed it."""
        if self.search is None:
            raise RuntimeError("this RecommendationService was built without a ProductSearch")
        t0 = time.perf_counter()
        profile = self.profile(user_id)
        text = query_with_attributes(constraints.text, constraints.attributes)
        qvec = self.search.encoder.encode_one(text or "popular products")
        pv = None if profile.is_cold else profile.vector()
        found = self.search.search(
            constraints,
            k=candidates,
            query_vec=qvec,
            profile_vec=pv,
            profile_weight=PROFILE_BLEND if pv is not None else 0.0,
        )
        t1 = time.perf_counter()
        cand_ids = [h.product.id for h in found.hits]
        if not cand_ids:
            ms = round((t1 - t0) * 1e3, 2)
            return Recommendations([], [], profile, found.plan, {"retrieval": ms, "scoring": 0.0})
        core = self.core_for(params)
        context = Context(
            query_vec=qvec if text else None,
            query_boost=self.soft_boost(constraints, core.params) if text else None,
        )
        ranked = core.score(profile, context, self.catalogue_indices(cand_ids))
        picks = mmr(self._first_of_each_name(ranked), self.items.vectors, k, core.params.mmr_lambda)
        items = self.explained(profile, picks, query_text if query_text is not None else text)
        items = sort_picks(items, constraints.sort, self._ratings)
        t2 = time.perf_counter()
        timings = {
            **{f"search_{n}": round(v, 2) for n, v in found.timings_ms.items()},
            "retrieval": round((t1 - t0) * 1e3, 2),
            "scoring": round((t2 - t1) * 1e3, 2),
        }
        return Recommendations(items, cand_ids, profile, found.plan, timings)

    def explained(
        self, profile: Profile, ranked: Ranked, query: str | None = None
    ) -> list[Recommendation]:
        """Ranked rows as recommendations, each with its score, contributions and reason."""
        out = []
        for row, idx in enumerate(ranked.items):
            product = self.catalogue.products[int(idx)]
            phrase = (
                query_phrase(query, product, self.catalogue.enrichment.get(product.id))
                if query
                else None
            )
            rec = Recommendation.of(
                product, reason(self.items, self.names, profile, ranked, row, query=phrase)
            )
            rec.image = self.catalogue.images.get(product.id)
            rec.score = round(float(ranked.scores[row]), 4)
            rec.contributions = {n: round(v, 4) for n, v in ranked.contribution_dict(row).items()}
            out.append(rec)
        return out

    def _first_of_each_name(self, ranked: Ranked) -> Ranked:
        """The catalogue repeats some names under different ids: keep each name's best row."""
        first: dict[str, int] = {}
        for row, idx in enumerate(ranked.items):
            first.setdefault(self.names[int(idx)].lower(), row)
        return ranked.take(np.array(sorted(first.values()), dtype=np.int64))

    def catalogue_indices(self, ids: list[str]) -> np.ndarray:
        return np.array(
            [self.items.position[i] for i in ids if i in self.items.position], dtype=np.int64
        )

    def now(self) -> datetime:
        return self.clock.now()
