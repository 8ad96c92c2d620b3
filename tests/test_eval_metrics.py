"""Metric functions and the top-k harness against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from retrieval.evaluation import metrics
from retrieval.evaluation.data import InteractionData
from retrieval.evaluation.protocol import EvalConfig, evaluate_model, recommend, top_k


def test_hits_recall_ndcg_by_hand() -> None:
    topk = np.array([[3, 1, 4], [5, 9, 2], [6, 5, 3]])
    relevant = [{1, 7}, {8}, {6, 5, 3, 0}]
    hits = metrics.hits_matrix(topk, relevant)
    assert hits.tolist() == [[False, True, False], [False, False, False], [True, True, True]]
    n_rel = np.array([2, 1, 4])
    assert metrics.recall_at_k(hits, n_rel) == pytest.approx([0.5, 0.0, 0.75])
    # user 0: DCG = 1/log2(3); IDCG over min(2, 3) = 2 slots = 1 + 1/log2(3)
    # user 2: all 3 slots hit and |rel| = 4 > k, so IDCG over 3 slots: NDCG = 1
    expected0 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert metrics.ndcg_at_k(hits, n_rel) == pytest.approx([expected0, 0.0, 1.0])


def test_ndcg_single_target_positions() -> None:
    hits = np.eye(4, dtype=bool)  # the single target at rank 0, 1, 2, 3
    got = metrics.ndcg_at_k(hits, np.ones(4))
    assert got == pytest.approx([1.0, 1 / math.log2(3), 0.5, 1 / math.log2(5)])


def test_metrics_reject_users_without_targets() -> None:
    with pytest.raises(ValueError):
        metrics.recall_at_k(np.zeros((1, 3), bool), np.array([0]))
    with pytest.raises(ValueError):
        metrics.ndcg_at_k(np.zeros((1, 3), bool), np.array([0]))


def test_coverage_and_long_tail() -> None:
    topk = np.array([[0, 1], [0, 2]])
    assert metrics.catalogue_coverage(topk, 10) == pytest.approx(0.3)
    # counts 50, 30, 10, 10, 0: 80% of 100 is reached by items 0 and 1.
    head = metrics.head_items(np.array([50, 30, 10, 10, 0]))
    assert head.tolist() == [True, True, False, False, False]
    assert metrics.long_tail_share(topk, head) == pytest.approx(0.25)  # only item 2 is tail
    # counts 50, 29, ...: items 0-2 are needed to reach 80.
    assert metrics.head_items(np.array([50, 29, 11, 10])).tolist() == [True, True, True, False]
    assert not metrics.head_items(np.zeros(3)).any()


def test_top_k_orders_and_breaks_ties_by_index() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.9, 0.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    assert top_k(scores, 3).tolist() == [[1, 3, 2], [0, 1, 2]]
    assert top_k(scores, 9).shape == (2, 5)


def _tiny(n_users: int, n_items: int, user, item) -> InteractionData:
    return InteractionData(
        n_users=n_users,
        n_items=n_items,
        user=np.array(user),
        item=np.array(item),
        ts=np.zeros(len(user)),
        user_ids=[str(u) for u in range(n_users)],
        item_ids=[str(i) for i in range(n_items)],
        item_text=[f"item {i}" for i in range(n_items)],
        item_category=["unknown"] * n_items,
    )


class FixedScores:
    name = "fixed"

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = scores
        self.calls: list[int] = []

    def fit(self, train: InteractionData) -> None:
        pass

    def full_sort_predict(self, users: np.ndarray) -> np.ndarray:
        self.calls.append(len(users))
        return self.scores[users]


def test_harness_masks_history_and_batches() -> None:
    # 3 users, 5 items; every user prefers items 0 > 1 > 2 > 3 > 4.
    train = _tiny(3, 5, user=[0, 1, 1], item=[0, 0, 1])
    model = FixedScores(np.tile(np.array([5.0, 4.0, 3.0, 2.0, 1.0]), (3, 1)))
    cfg = EvalConfig(k=2, batch_size=2)
    users = np.array([0, 1, 2])
    assert recommend(model, train, users, cfg).tolist() == [[1, 2], [2, 3], [0, 1]]
    assert model.calls == [2, 1]
    unmasked = EvalConfig(k=2, batch_size=2, mask_history=False)
    assert recommend(model, train, users, unmasked).tolist() == [[0, 1]] * 3

    m = evaluate_model(model, train, {0: {2}, 1: {4}, 2: {0, 3}}, cfg)
    # recall: 1, 0, 1/2; ndcg: 1/log2(3), 0, 1/(1 + 1/log2(3))
    assert m.recall == pytest.approx((1 + 0 + 0.5) / 3)
    assert m.ndcg == pytest.approx((1 / math.log2(3) + 0 + 1 / (1 + 1 / math.log2(3))) / 3)
    assert m.coverage == pytest.approx(4 / 5)  # items 0..3
    # train counts 2, 1, 0, 0, 0: head (80% of 3) is items 0 and 1; tail slots: 2, 2, 3 of 6
    assert m.long_tail == pytest.approx(3 / 6)
    assert m.n_users == 3


def test_harness_rejects_wrong_score_shape() -> None:
    train = _tiny(2, 3, user=[0], item=[0])
    with pytest.raises(ValueError, match="full_sort_predict"):
        evaluate_model(FixedScores(np.zeros((2, 4))), train, {1: {0}})
