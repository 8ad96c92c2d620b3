"""The shared scoring core behind the evaluation protocol (RecBole-style fit / full_sort_predict).

The very same `ScoringCore`, `Profile` and training code that rank the store's home page and chat
candidates rank every item here; only the item side-info comes from the evaluation data set.
"""

from __future__ import annotations

import logging

import numpy as np

from retrieval.embed import Encoder
from retrieval.items import ItemFeatures
from retrieval.profile import Profile
from retrieval.scoring import Context, ScoringCore, ScoringParams
from retrieval.train import InteractionLog, TrainConfig, train_scoring_model

from .data import InteractionData

log = logging.getLogger(__name__)
_VECTOR_CACHE: dict[tuple[str, ...], np.ndarray] = {}


def item_vectors(texts: list[str], encoder: Encoder | None = None) -> np.ndarray:
    """Embed item texts once per process (tuning refits the model many times)."""
    key = tuple(texts)
    if key not in _VECTOR_CACHE:
        _VECTOR_CACHE[key] = (encoder or Encoder(batch_size=64, threads=2)).encode(texts)
    return _VECTOR_CACHE[key]


class CoreRecommender:
    name = "core"
    param_grid = {"neighbours": [10, 200], "half_life_days": [1.0, 180.0]}

    def __init__(
        self,
        prior_strength: float = 0.0,
        half_life_days: float = 180.0,
        negatives: int = 30,
        neighbours: int = 50,
        seed: int = 0,
    ) -> None:
        self.neighbours = neighbours
        self.cfg = TrainConfig(
            negatives=negatives,
            prior_strength=prior_strength,
            seed=seed,
            half_life_days=half_life_days,
        )
        self.half_life_days = half_life_days

    def fit(self, train: InteractionData) -> None:
        vectors = item_vectors(train.item_text)
        items = ItemFeatures.from_attributes(
            train.item_ids,
            vectors,
            train.item_category,
            train.item_category,
            [None] * train.n_items,
            train.item_price,
        )
        items.cooc_top_k = self.neighbours
        kind = np.full(len(train.user), "purchase")
        ts = train.ts.astype(np.float64)
        if np.ptp(ts) == 0:
            # Baskets without dates: a seeded order picks each user's pseudo-target for
            # training (seconds apart, so decay is negligible), mirroring the split itself.
            ts = np.random.default_rng(self.cfg.seed).permutation(len(ts)).astype(np.float64)
        log_ = InteractionLog(train.user, train.item, ts, kind, train.n_users)
        model = train_scoring_model(items, log_, self.cfg)
        items.fit_interactions(
            train.user,
            train.item,
            train.ts.astype(np.float64),
            train.n_users,
            float(train.ts.max()),
        )
        self.core = ScoringCore(items, model, ScoringParams(mmr_lambda=1.0))
        self.model = model
        order = np.argsort(train.ts, kind="stable")
        self.history: dict[int, list[tuple[int, float]]] = {}
        for i in order:
            self.history.setdefault(int(train.user[i]), []).append(
                (int(train.item[i]), float(train.ts[i]))
            )

    def profile(self, user: int) -> Profile:
        p = Profile(str(user), self.core.items, half_life_days=self.half_life_days)
        for item, ts in self.history.get(user, []):
            p.add(item, "purchase", ts)
        return p

    def full_sort_predict(self, users: np.ndarray) -> np.ndarray:
        n = len(self.core.items)
        everything = np.arange(n)
        out = np.empty((len(users), n), dtype=np.float32)
        for row, u in enumerate(users):
            out[row] = self.core.predict(self.profile(int(u)), Context(), everything)
        return out
