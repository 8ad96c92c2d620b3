"""The model interface and the full-ranking evaluation harness.

Every model scores ALL items for a user (no sampled negatives). The harness optionally masks the
items in the user's train history, takes the top-k and computes the metrics in `metrics.py`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from retrieval.evaluation import metrics
from retrieval.evaluation.data import InteractionData


@runtime_checkable
class Recommender(Protocol):
    """RecBole-style recommender: fit on train interactions, then score the whole catalogue.

    `fit` gets the full `InteractionData`, so content-aware models can read `item_text`,
    `item_category` and `item_price` next to the interactions.
    """

    name: str

    def fit(self, train: InteractionData) -> None: ...

    def full_sort_predict(self, users: np.ndarray) -> np.ndarray:
        """(len(users), n_items) float scores; higher is better."""
        ...


@dataclass(frozen=True)
class EvalConfig:
    k: int = 10
    # Mask the user's train items before ranking. On for all three data sets: MovieLens and the
    # baskets have no repeats by construction and only ~0.7% of Superstore's test targets are
    # repeat purchases (reported per split as `target_repeat_share`); they count as misses.
    mask_history: bool = True
    batch_size: int = 512  # users per scoring batch: bounds memory at batch * n_items floats
    head_mass: float = 0.8  # the "popular head" for long-tail share: items making 80% of train


@dataclass(frozen=True)
class Metrics:
    recall: float
    ndcg: float
    coverage: float
    long_tail: float
    n_users: int
    # Standard errors of the per-user means: with ~1k test users they are ~0.01 on Recall@10,
    # so smaller gaps between models are noise.
    recall_se: float = 0.0
    ndcg_se: float = 0.0

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """(n, k) item indices by descending score.

    Equal scores inside the top-k rank by lower item index; which of several items tied exactly at
    the k-th score gets in is up to argpartition (reproducible for the same input).
    """
    n_items = scores.shape[1]
    k = min(k, n_items)
    # argpartition narrows to the k best, a stable sort orders them (and makes ties reproducible).
    part = (
        np.argpartition(-scores, k - 1, axis=1)[:, :k]
        if k < n_items
        else np.tile(np.arange(n_items), (scores.shape[0], 1))
    )
    part = np.sort(part, axis=1)
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def recommend(
    model: Recommender, train: InteractionData, users: np.ndarray, cfg: EvalConfig
) -> np.ndarray:
    """Top-k item indices for `users`, scored in batches."""
    history = train.user_items() if cfg.mask_history else None
    out = []
    for start in range(0, len(users), cfg.batch_size):
        batch = users[start : start + cfg.batch_size]
        scores = np.asarray(model.full_sort_predict(batch), dtype=np.float64)
        if scores.shape != (len(batch), train.n_items):
            raise ValueError(
                f"{model.name}: full_sort_predict returned {scores.shape}, "
                f"expected {(len(batch), train.n_items)}"
            )
        scores = np.where(np.isnan(scores), -np.inf, scores)
        if history is not None:
            rows = history[batch]
            scores[np.repeat(np.arange(len(batch)), np.diff(rows.indptr)), rows.indices] = -np.inf
        out.append(top_k(scores, cfg.k))
    return np.concatenate(out) if out else np.empty((0, cfg.k), dtype=np.int64)


def evaluate_model(
    model: Recommender,
    train: InteractionData,
    test: dict[int, set[int]],
    cfg: EvalConfig | None = None,
) -> Metrics:
    """Score a fitted model on held-out targets with full ranking."""
    cfg = cfg or EvalConfig()
    users = np.array(sorted(test), dtype=np.int64)
    topk = recommend(model, train, users, cfg)
    relevant = [test[int(u)] for u in users]
    n_rel = np.array([len(r) for r in relevant])
    hits = metrics.hits_matrix(topk, relevant)
    counts = np.bincount(train.item, minlength=train.n_items)
    head = metrics.head_items(counts, cfg.head_mass)
    recall = metrics.recall_at_k(hits, n_rel)
    ndcg = metrics.ndcg_at_k(hits, n_rel)
    return Metrics(
        recall=float(recall.mean()),
        ndcg=float(ndcg.mean()),
        coverage=metrics.catalogue_coverage(topk, train.n_items),
        long_tail=metrics.long_tail_share(topk, head),
        n_users=len(users),
        recall_se=_se(recall),
        ndcg_se=_se(ndcg),
    )


def _se(x: np.ndarray) -> float:
    return float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else 0.0
