"""The recommendation service the app talks to: item features fitted on the event log, live
profiles that update as events arrive, and the scoring core behind every ranking."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from .catalogue import CatalogueIndex
from .clock import StoreClock
from .db import Database
from .events import EventIn, IngestResult, StoredEvent, all_events, ingest, user_events
from .items import ItemFeatures
from .profile import Profile
from .scoring import Context, ScoringCore, ScoringModel, ScoringParams
from .train import InteractionLog, calibrated_default

log = logging.getLogger(__name__)


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

    def __post_init__(self) -> None:
        self.items = item_features_from_catalogue(self.catalogue)
        self.names = [p.name for p in self.catalogue.products]
        self._profiles: dict[str, Profile] = {}
        self._lock = threading.RLock()
        self.refit_items()
        self.core = ScoringCore(self.items, self.model, self.params)

    def interaction_log(self) -> InteractionLog:
        events = [e for e in all_events(self.db) if e.product_id in self.items.position]
        users = {u: i for i, u in enumerate(sorted({e.user_id for e in events}))}
        return InteractionLog(
            np.array([users[e.user_id] for e in events], dtype=np.int64),
            np.array([self.items.position[e.product_id] for e in events], dtype=np.int64),
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

    def record(self, events: list[dict | EventIn]) -> IngestResult:
        """Store events durably, then fold the accepted ones into live profiles."""
        import uuid

        # Give id-less events their id now, so the stored event and the profile agree.
        events = [
            ({"id": uuid.uuid4().hex, **e} if isinstance(e, dict) and not e.get("id") else e)
            for e in events
        ]
        result = ingest(self.db, events, lambda pid: pid in self.catalogue, now=self.clock.now())
        accepted = set(result.accepted)
        with self._lock:
            for raw in events:
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
    def rank(
        self,
        user_id: str | None,
        candidate_ids: list[str],
        query_vec: np.ndarray | None = None,
        params: ScoringParams | None = None,
    ):
        """Re-rank retrieved candidates (chat) with the shared core."""
        profile = self.profile(user_id)
        cand = self.catalogue_indices(candidate_ids)
        return profile, self.core_for(params).score(profile, Context(query_vec=query_vec), cand)

    def catalogue_indices(self, ids: list[str]) -> np.ndarray:
        return np.array(
            [self.items.position[i] for i in ids if i in self.items.position], dtype=np.int64
        )

    def now(self) -> datetime:
        return self.clock.now()
