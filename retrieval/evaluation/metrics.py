"""Top-k ranking metrics, pure numpy.

Conventions (RecBole's): binary relevance; Recall@k = hits / |relevant|; NDCG@k uses
DCG = sum_j rel_j / log2(j + 2) over ranks j = 0..k-1 and an ideal DCG over min(|relevant|, k)
hits. Per-user metrics are returned as arrays so callers can average or bootstrap them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def hits_matrix(topk: np.ndarray, relevant: Sequence[set[int]]) -> np.ndarray:
    """(n_users, k) bool: whether the item at each rank is relevant for that user."""
    topk = np.asarray(topk)
    if topk.shape[0] != len(relevant):
        raise ValueError("one relevant set per row of topk")
    return np.array(
        [[int(i) in rel for i in row] for row, rel in zip(topk, relevant, strict=True)],
        dtype=bool,
    ).reshape(topk.shape)


def recall_at_k(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    n_relevant = np.asarray(n_relevant, dtype=np.float64)
    if np.any(n_relevant <= 0):
        raise ValueError("every evaluated user needs at least one relevant item")
    return hits.sum(axis=1) / n_relevant


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(k) + 2.0)


def ndcg_at_k(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    k = hits.shape[1]
    disc = _discounts(k)
    dcg = hits.astype(np.float64) @ disc
    ideal_len = np.minimum(np.asarray(n_relevant, dtype=np.int64), k)
    if np.any(ideal_len <= 0):
        raise ValueError("every evaluated user needs at least one relevant item")
    idcg = np.concatenate([[0.0], np.cumsum(disc)])[ideal_len]
    return dcg / idcg


def catalogue_coverage(topk: np.ndarray, n_items: int) -> float:
    """Fraction of the catalogue that appears in at least one user's top-k."""
    return float(np.unique(np.asarray(topk)).size / n_items)


def head_items(item_counts: np.ndarray, mass: float = 0.8) -> np.ndarray:
    """Bool mask of the most popular items that together make up `mass` of all interactions.

    The smallest such set by descending count (ties by item index); items with zero count are
    never head items.
    """
    counts = np.asarray(item_counts, dtype=np.float64)
    total = counts.sum()
    mask = np.zeros(counts.size, dtype=bool)
    if total <= 0:
        return mask
    order = np.argsort(-counts, kind="stable")
    cum = np.cumsum(counts[order])
    n_head = int(np.searchsorted(cum, mass * total - 1e-9 * total) + 1)
    mask[order[:n_head]] = True
    mask &= counts > 0
    return mask


def long_tail_share(topk: np.ndarray, head_mask: np.ndarray) -> float:
    """Fraction of recommendation slots filled with items outside the popular head."""
    topk = np.asarray(topk)
    if topk.size == 0:
        return 0.0
    return float(1.0 - head_mask[topk].mean())
