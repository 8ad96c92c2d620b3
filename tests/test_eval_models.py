"""Baselines and the runner: a synthetic sanity check, tuning isolation, a real Superstore smoke run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from retrieval.evaluation.baselines import ALS, BPR, ItemKNN, Popularity
from retrieval.evaluation.data import InteractionData, Split
from retrieval.evaluation.datasets import SUPERSTORE_CSV, load_superstore
from retrieval.evaluation.protocol import Recommender, evaluate_model
from retrieval.evaluation.run import (
    BASELINES,
    ModelSpec,
    evaluate_split,
    markdown_table,
    write_json,
)
from retrieval.evaluation.splitting import leave_last_event_out

from .eval_fixtures import DATA, need


def clustered(seed: int = 0) -> Split:
    """4 clusters of 10 items; each user buys 6 items of one cluster. Cluster 0 has 3x the users,
    so global popularity points everyone at cluster 0 while co-occurrence finds the right cluster."""
    rng = np.random.default_rng(seed)
    clusters = [0] * 90 + [1] * 30 + [2] * 30 + [3] * 30
    users, items = [], []
    for u, c in enumerate(clusters):
        for i in rng.choice(10, size=6, replace=False):
            users.append(u)
            items.append(c * 10 + int(i))
    n_items = 40
    data = InteractionData(
        n_users=len(clusters),
        n_items=n_items,
        user=np.array(users),
        item=np.array(items),
        ts=np.zeros(len(users)),
        user_ids=[f"u{u}" for u in range(len(clusters))],
        item_ids=[f"i{i}" for i in range(n_items)],
        item_text=[f"item {i}" for i in range(n_items)],
        item_category=[f"c{i // 10}" for i in range(n_items)],
    )
    order = rng.permutation(len(users))
    return leave_last_event_out("clustered", data, event=np.arange(len(users)), tiebreak=order)


def test_itemknn_beats_popularity_on_clusters() -> None:
    split = clustered()
    res = {}
    for model in (Popularity(), ItemKNN(k=20, shrink=0.0)):
        model.fit(split.train)
        res[model.name] = evaluate_model(model, split.train, split.test)
    assert res["itemknn"].recall > 0.9  # 4 of 10 cluster items are unseen: all fit in a top-10
    # Popularity only serves the 90 cluster-0 users (60%), and not all of them.
    assert res["popularity"].recall <= 0.6
    assert res["itemknn"].ndcg > res["popularity"].ndcg + 0.3
    assert res["itemknn"].coverage > res["popularity"].coverage


@pytest.mark.parametrize("cls", [ALS, BPR])
def test_implicit_models_learn_the_clusters(cls) -> None:
    split = clustered()
    model = cls(factors=8, seed=0)
    model.fit(split.train)
    scores = model.full_sort_predict(np.arange(split.train.n_users))
    assert scores.shape == (split.train.n_users, split.train.n_items)
    m = evaluate_model(model, split.train, split.test)
    assert m.recall > 0.5
    assert isinstance(model, Recommender)


class Spy:
    """Records what it was fitted on; scores by popularity."""

    fits: list[int] = []

    def __init__(self, bonus: float = 0.0) -> None:
        self.name = "spy"
        self.bonus = bonus
        self._pop = Popularity()

    def fit(self, train: InteractionData) -> None:
        Spy.fits.append(len(train))
        self._pop.fit(train)

    def full_sort_predict(self, users: np.ndarray) -> np.ndarray:
        return self._pop.full_sort_predict(users) + self.bonus


def test_tuning_uses_validation_only() -> None:
    split = clustered()
    Spy.fits = []
    rows = evaluate_split(split, {"spy": ModelSpec(Spy, {"bonus": [0.0, 1.0]})})
    assert split.valid is not None
    # Two tuning fits on valid.train (which excludes valid and test targets), then the final fit.
    assert Spy.fits == [len(split.valid.train)] * 2 + [len(split.train)]
    assert rows[0].params == {"bonus": 0.0}  # ties keep the first candidate
    assert rows[0].valid_ndcg is not None


def test_superstore_smoke(tmp_path: Path) -> None:
    """All baselines on the real Superstore split; its purchases are close to random, so every
    model sits near the random-ranking level (10 / 1862 = 0.0054 recall)."""
    split = load_superstore(need(DATA / SUPERSTORE_CSV))
    # Adding a model is one line: a bare factory works alongside the specs.
    models = {**BASELINES, "knn-fixed": lambda: ItemKNN(k=50, shrink=5.0)}
    rows = evaluate_split(split, models, tune_params=False)
    by = {r.model: r for r in rows}
    assert set(by) == {"popularity", "itemknn", "bpr", "als", "knn-fixed"}
    for r in rows:
        assert r.n_users == len(split.test) > 700
        assert 0.0 <= r.recall < 0.05 and 0.0 <= r.ndcg < 0.05
        assert 0.0 < r.coverage <= 1.0 and 0.0 <= r.long_tail <= 1.0
        assert r.mask_history and r.k == 10
    assert by["popularity"].coverage < 0.02 and by["popularity"].long_tail == 0.0
    assert by["itemknn"].coverage > 0.3
    table = markdown_table(rows)
    assert table.count("\n") == len(rows) + 1 and "| superstore | als |" in table
    write_json(rows, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())[0]["model"] == "popularity"
