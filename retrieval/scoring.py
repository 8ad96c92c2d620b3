"""The scoring core: the one seam that ranks products for chat, the home page, evaluation and
A/B tests alike (in the spirit of RecBole's predict / full_sort_predict).

    core.score(profile, context, candidates) -> Ranked   # scores + per-feature contributions
    core.full_rank(profile, context, k)      -> Ranked   # over the whole catalogue

The score is a logistic model over standardised features, so each feature's contribution is
simply weight × standardised value: the explanations read those contributions directly.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .items import ItemFeatures
from .profile import Profile

log = logging.getLogger(__name__)

FEATURES: tuple[str, ...] = (
    "query_sim",  # the shopper's words vs the product text
    "profile_sim",  # the decayed profile vector vs the product
    "session_sim",  # items touched in this session (real-time interest)
    "sub_category_affinity",
    "category_affinity",
    "brand_affinity",
    "price_fit",  # closeness to the shopper's usual price band
    "popularity",
    "trend",  # recent popularity
    "co_purchase",  # item-to-item: bought together with the shopper's items
    "bought_before",
    "collaborative",  # ALS: the shopper's folded-in factor vs the item's factor
)
COL = {name: i for i, name in enumerate(FEATURES)}  # a feature's column in the matrices
# Used until `shopassist train` has written a model: sensible, hand-set, on standardised features.
DEFAULT_WEIGHTS = {
    "query_sim": 0.0,
    "profile_sim": 0.5,
    "session_sim": 0.0,
    "sub_category_affinity": 0.5,
    "category_affinity": 0.2,
    "brand_affinity": 0.2,
    "price_fit": 0.2,
    "popularity": 0.5,
    "trend": 0.2,
    "co_purchase": 0.5,
    "bought_before": 0.0,
    "collaborative": 0.4,
}
MODEL_FORMAT = 1


@dataclass
class ScoringParams:
    """Knobs an A/B variant may change without retraining."""

    query_weight: float = 2.5  # logged searches with outcomes are too few to learn this yet
    session_weight: float = 0.8  # seeded history has no sessions, so this cannot be learned yet
    long_tail_boost: float = 0.0  # added × (1 - popularity)
    mmr_lambda: float = 0.85  # 1 = pure relevance, lower = more diverse
    mmr_pool: int = 200
    # Soft slots, in cosine units added to the query similarity (RecommendationService.soft_boost):
    # a category the shopper merely mentions, and each attribute word the product's text holds.
    soft_category_boost: float = 0.01
    attribute_boost: float = 0.04
    max_attribute_boosts: int = 2
    # The enriched product type against the noun phrase asked for: × 1 for the same type,
    # × 0.5 for its parent or child type ("lamp" for "desk lamp"), 0 for a sibling or other.
    # 0.15 from a grid (0, 0.06, 0.1, 0.15, 0.2) on evals/search: nDCG@10 0.869 → 0.902; the
    # set is flat from 0.1 to 0.2 (bench/search.py --quality).
    type_boost: float = 0.15
    # Taken off a product that goes with the thing asked for rather than being one (a bulb for
    # a desk lamp, a mat for a chair): the shopper named the head noun.
    accessory_penalty: float = 0.2


@dataclass
class ScoringModel:
    weights: np.ndarray
    bias: float = 0.0
    mean: np.ndarray = field(default_factory=lambda: np.zeros(len(FEATURES)))
    std: np.ndarray = field(default_factory=lambda: np.ones(len(FEATURES)))
    version: str = "default"
    meta: dict = field(default_factory=dict)

    @classmethod
    def default(cls) -> ScoringModel:
        return cls(np.array([DEFAULT_WEIGHTS[f] for f in FEATURES]), version="default")

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"scoring-{self.version}.json"
        payload = {
            "format": MODEL_FORMAT,
            "features": list(FEATURES),
            "version": self.version,
            "weights": self.weights.tolist(),
            "bias": self.bias,
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "meta": self.meta,
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=2))
        tmp.replace(path)  # atomic: a crash never leaves a half-written model
        (directory / "LATEST").write_text(path.name)
        return path

    @classmethod
    def load(cls, path: Path) -> ScoringModel:
        data = json.loads(path.read_text())
        if data.get("format") != MODEL_FORMAT or data.get("features") != list(FEATURES):
            raise ValueError(
                f"{path} was trained for other features; retrain with `shopassist train`"
            )
        return cls(
            np.array(data["weights"]),
            float(data["bias"]),
            np.array(data["mean"]),
            np.array(data["std"]),
            data["version"],
            data.get("meta", {}),
        )

    @classmethod
    def load_latest(cls, directory: Path) -> ScoringModel:
        latest = directory / "LATEST"
        if not latest.exists():
            log.warning(
                "no trained scoring model in %s; using default weights (run `shopassist train`)",
                directory,
            )
            return cls.default()
        try:
            return cls.load(directory / latest.read_text().strip())
        except (OSError, ValueError, KeyError) as exc:
            log.warning("cannot load scoring model (%s); using default weights", exc)
            return cls.default()


@dataclass
class Context:
    """What the conversation adds to the shopper's profile."""

    query_vec: np.ndarray | None = None
    session_items: list[int] = field(default_factory=list)
    exclude: set[int] = field(default_factory=set)
    mask: np.ndarray | None = None  # hard constraints as a boolean mask over items
    # Soft slots (a category merely mentioned, attribute words): per item, added to the query
    # similarity before it is standardised, so they rank within the query's own signal.
    query_boost: np.ndarray | None = None
    base: np.ndarray | None = None  # profile-only features of every item, shared by a page


@dataclass
class Ranked:
    items: np.ndarray  # item indices, best first
    scores: np.ndarray
    contributions: np.ndarray  # (n, F+1): per-feature, then long-tail boost
    features: np.ndarray  # raw feature values (n, F)
    timings_ms: dict[str, float] = field(default_factory=dict)

    names: tuple[str, ...] = FEATURES + ("long_tail",)

    def __len__(self) -> int:
        return len(self.items)

    def take(self, rows: np.ndarray | slice) -> Ranked:
        """The given rows, in the given order (a selection, a re-order or a prefix)."""
        return Ranked(
            self.items[rows],
            self.scores[rows],
            self.contributions[rows],
            self.features[rows],
            dict(self.timings_ms),
        )

    def head(self, k: int) -> Ranked:
        return self.take(slice(0, k))

    def contribution_dict(self, row: int) -> dict[str, float]:
        return {n: float(v) for n, v in zip(self.names, self.contributions[row], strict=True)}

    def top_reasons(self, row: int, n: int = 2) -> list[tuple[str, float]]:
        c = self.contribution_dict(row)
        return [kv for kv in sorted(c.items(), key=lambda kv: -kv[1])[:n] if kv[1] > 0]


class ScoringCore:
    def __init__(
        self,
        items: ItemFeatures,
        model: ScoringModel | None = None,
        params: ScoringParams | None = None,
    ) -> None:
        self.items = items
        self.model = model or ScoringModel.default()
        self.params = params or ScoringParams()
        self._stats: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def with_params(self, params: ScoringParams) -> ScoringCore:
        return ScoringCore(self.items, self.model, params)

    # Features ----------------------------------------------------------------------------
    def _sims(self, cand: np.ndarray, vecs: np.ndarray) -> np.ndarray:
        """Cosine of candidates with one or more unit vectors, without copying a big gather."""
        it = self.items
        if len(cand) * 4 > len(it):
            return (it.vectors @ vecs.T)[cand]
        return it.vectors[cand] @ vecs.T

    def features(self, profile: Profile, context: Context, cand: np.ndarray) -> np.ndarray:
        it = self.items
        session = (profile.session_items + list(context.session_items))[-5:]
        if context.base is not None:
            # Page-level cache: only the context-dependent columns are computed here.
            x = context.base[cand].copy()
            if context.query_vec is not None:
                x[:, COL["query_sim"]] = self._sims(cand, context.query_vec[None, :])[:, 0]
                self._boost(x, context, cand)
            if context.session_items and session:
                x[:, COL["session_sim"]] = self._sims(cand, it.vectors[session]).max(axis=1)
            return x
        x = np.zeros((len(cand), len(FEATURES)), dtype=np.float32)
        if context.query_vec is not None:
            x[:, COL["query_sim"]] = self._sims(cand, context.query_vec[None, :])[:, 0]
            self._boost(x, context, cand)
        pv = profile.vector()
        if pv is not None:
            x[:, COL["profile_sim"]] = self._sims(cand, pv[None, :])[:, 0]
        if session:
            x[:, COL["session_sim"]] = self._sims(cand, it.vectors[session]).max(axis=1)
        self._fill_profile_columns(profile, x, cand)
        return x

    @staticmethod
    def _boost(x: np.ndarray, context: Context, cand: np.ndarray) -> None:
        if context.query_boost is not None:
            x[:, COL["query_sim"]] += context.query_boost[cand]

    def _fill_profile_columns(
        self, profile: Profile, x: np.ndarray, cand: np.ndarray | None = None
    ) -> None:
        """Columns that need no vector math (affinities, price, popularity, co-purchase)."""
        it = self.items
        if cand is None:
            cand = np.arange(len(it))
        x[:, COL["sub_category_affinity"]] = profile.sub_category_share()[it.sub_category[cand]]
        x[:, COL["category_affinity"]] = profile.category_share()[it.category[cand]]
        b = it.brand[cand]
        x[:, COL["brand_affinity"]] = np.where(b >= 0, profile.brand_share()[np.maximum(b, 0)], 0.0)
        band = profile.price_band()
        if band is not None:
            z = (it.log_price[cand] - band[0]) / band[1]
            x[:, COL["price_fit"]] = np.where(it.has_price[cand], np.exp(-0.5 * z * z), 0.0)
        x[:, COL["popularity"]] = it.popularity[cand]
        x[:, COL["trend"]] = it.trend[cand]
        hist, w = profile.history_weights()
        if hist.size:
            row = np.asarray(it.cooc_votes[hist].T @ w).ravel()
            x[:, COL["co_purchase"]] = row[cand]
        if profile.purchased:
            bought = np.zeros(len(it), dtype=bool)
            bought[np.fromiter(profile.purchased.keys(), dtype=np.int64)] = True
            x[:, COL["bought_before"]] = bought[cand]
        if hist.size and it.factors is not None:
            u = it.fold_in(hist, w)
            x[:, COL["collaborative"]] = it.factors[cand] @ u

    def user_stats(self, profile: Profile) -> tuple[np.ndarray, np.ndarray]:
        """Each feature's mean and spread over the whole catalogue for this shopper.

        Features are standardised per shopper before the weights apply: "how strongly does
        this item co-occur with *your* history, compared with other items" is comparable
        across shoppers with 2 or 200 purchases; the raw value is not. Cached per profile
        state, so a page or a chat turn computes it once."""
        key = (id(profile), profile.user_id, profile.n_events, len(profile.session_items))
        hit = self._stats.get(key)
        if hit is None:
            x, _ = self.page_context(profile)
            mu, sd = x.mean(axis=0), x.std(axis=0)
            mu[[COL["query_sim"], COL["session_sim"]]] = (
                0.0  # query and session similarity are centred per candidate set
            )
            sd[[COL["query_sim"], COL["session_sim"]]] = 1.0
            sd[sd < 1e-6] = 1.0
            hit = (mu.astype(np.float32), sd.astype(np.float32))
            if len(self._stats) > 512:
                self._stats.clear()
            self._stats[key] = hit
        return hit

    def page_context(
        self, profile: Profile, extra: list[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Profile-only features for every item, computed once and shared by a page's sections,
        plus each item's similarity to the `extra` items. All vector work is one matrix product:
        at 100k items a pass over the vectors is memory-bound, so one pass instead of three."""
        it = self.items
        n = len(it)
        pv = profile.vector()
        session = profile.session_items[-5:]
        extra = extra or []
        cols = ([pv] if pv is not None else []) + [it.vectors[i] for i in session + extra]
        x = np.zeros((n, len(FEATURES)), dtype=np.float32)
        S = it.page_sims(np.stack(cols)) if cols else np.zeros((n, 0), dtype=np.float32)
        j = 0
        if pv is not None:
            x[:, COL["profile_sim"]] = S[:, 0]
            j = 1
        if session:
            x[:, COL["session_sim"]] = S[:, j : j + len(session)].max(axis=1)
        self._fill_profile_columns(profile, x)
        return x, S[:, len(cols) - len(extra) :]

    # Scoring -----------------------------------------------------------------------------
    def score(
        self, profile: Profile, context: Context, candidates: np.ndarray, top: int | None = None
    ) -> Ranked:
        """Score the given candidates (e.g. Chroma's) and sort them, best first (the best
        `top` only, when given: a partial sort is much cheaper over a whole catalogue)."""
        t0 = time.perf_counter()
        cand = np.asarray(candidates, dtype=np.int64)
        x = self.features(profile, context, cand)
        t1 = time.perf_counter()
        m = self.model
        mu, sd = self.user_stats(profile)
        z = (x - mu) / sd
        contrib = np.zeros((len(cand), len(FEATURES) + 1), dtype=np.float32)
        contrib[:, : len(FEATURES)] = m.weights * (z - m.mean) / m.std
        if m.weights[COL["query_sim"]] == 0 and context.query_vec is not None:
            # Query relevance, centred on this candidate set so it ranks within it.
            q = x[:, COL["query_sim"]]
            contrib[:, COL["query_sim"]] = (
                self.params.query_weight * (q - q.mean()) / (q.std() + 1e-6)
            )
        if m.weights[COL["session_sim"]] == 0 and (profile.session_items or context.session_items):
            s_ = x[:, COL["session_sim"]]
            contrib[:, COL["session_sim"]] = (
                self.params.session_weight * (s_ - s_.mean()) / (s_.std() + 1e-6)
            )
        if self.params.long_tail_boost:
            contrib[:, -1] = self.params.long_tail_boost * (1.0 - self.items.popularity[cand])
        scores = m.bias + contrib.sum(axis=1)
        if top is not None and len(scores) > top:
            part = np.argpartition(-scores, top - 1)[:top]
            order = part[np.argsort(-scores[part], kind="stable")]
        else:
            order = np.argsort(-scores, kind="stable")
        t2 = time.perf_counter()
        return Ranked(
            cand[order],
            scores[order],
            contrib[order],
            x[order],
            {"features": (t1 - t0) * 1e3, "score": (t2 - t1) * 1e3},
        )

    def predict(self, profile: Profile, context: Context, candidates: np.ndarray) -> np.ndarray:
        """Scores in the candidates' own order (RecBole's `predict`)."""
        ranked = self.score(profile, context, candidates)
        out = np.empty(len(ranked), dtype=np.float32)
        pos = {int(i): s for i, s in zip(ranked.items, ranked.scores, strict=True)}
        for j, c in enumerate(np.asarray(candidates)):
            out[j] = pos[int(c)]
        return out

    def candidate_pool(
        self, profile: Profile, context: Context, exclude_purchased: bool = True
    ) -> np.ndarray:
        n = len(self.items)
        keep = np.ones(n, dtype=bool) if context.mask is None else context.mask.copy()
        if context.exclude:
            keep[list(context.exclude)] = False
        if exclude_purchased and profile.purchased:
            bought = np.fromiter(profile.purchased.keys(), dtype=np.int64)
            keep[bought[~self.items.consumable[bought]]] = False  # consumables may be re-bought
        return np.flatnonzero(keep)

    def full_rank(
        self,
        profile: Profile,
        context: Context,
        k: int = 10,
        *,
        diversify: bool = True,
        exclude_purchased: bool = True,
    ) -> Ranked:
        """Rank the whole catalogue (RecBole's `full_sort_predict`), then MMR for diversity."""
        cand = self.candidate_pool(profile, context, exclude_purchased)
        ranked = self.score(profile, context, cand, top=max(k, self.params.mmr_pool))
        if not diversify:
            return ranked.head(k)
        t = time.perf_counter()
        out = mmr(ranked.head(self.params.mmr_pool), self.items.vectors, k, self.params.mmr_lambda)
        out.timings_ms["mmr"] = (time.perf_counter() - t) * 1e3
        return out

    def describe(self) -> dict:
        return {
            "model_version": self.model.version,
            "params": asdict(self.params),
            "weights": dict(zip(FEATURES, map(float, self.model.weights), strict=True)),
        }


def mmr(ranked: Ranked, vectors: np.ndarray, k: int, lam: float) -> Ranked:
    """Maximal marginal relevance: trade a little score for items unlike those already picked."""
    n = len(ranked)
    if n <= 1 or lam >= 1.0:
        return ranked.head(k)
    s = ranked.scores
    rel = (s - s.min()) / (s.max() - s.min() + 1e-9)
    V = vectors[ranked.items]
    chosen: list[int] = [0]
    max_sim = V @ V[0]
    available = np.ones(n, dtype=bool)
    available[0] = False
    while len(chosen) < min(k, n):
        gain = lam * rel - (1 - lam) * max_sim
        gain[~available] = -math.inf
        j = int(np.argmax(gain))
        chosen.append(j)
        available[j] = False
        max_sim = np.maximum(max_sim, V @ V[j])
    return ranked.take(np.array(chosen))
