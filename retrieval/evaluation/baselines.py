"""Baseline recommenders implementing `Recommender`: popularity, item-KNN, ALS and BPR.

ALS and BPR come from `implicit` 0.7 (CPU, user-items CSR API). Each class lists a small
`param_grid` that the runner searches on the validation split.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from threadpoolctl import threadpool_limits

from retrieval.evaluation.data import InteractionData

log = logging.getLogger(__name__)

SEED = 42
THREADS = 2


class Popularity:
    """Scores every item by how many distinct train users interacted with it."""

    name = "popularity"
    param_grid: ClassVar[dict[str, list]] = {}

    def fit(self, train: InteractionData) -> None:
        self._scores = np.asarray(train.binary_user_items().sum(axis=0)).ravel().astype(np.float32)

    def full_sort_predict(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self._scores, (len(users), self._scores.size)).copy()


class ItemKNN:
    """Item-based KNN on binary co-occurrence with shrunk cosine similarity.

    sim(i, j) = c_ij / (sqrt(c_ii * c_jj) + shrink); for each candidate item j only its `k` most
    similar items vote, and a user's score for j is the sum of sim(i, j) over their history i.
    """

    name = "itemknn"
    param_grid: ClassVar[dict[str, list]] = {
        "k": [10, 25, 50, 100, 200, 400, 1000],
        "shrink": [0.0, 10.0, 50.0],
    }

    def __init__(self, k: int = 100, shrink: float = 10.0) -> None:
        self.k = k
        self.shrink = shrink

    def fit(self, train: InteractionData) -> None:
        x = train.binary_user_items()
        self._x = x
        co = (x.T @ x).toarray().astype(np.float32)  # dense: catalogues here are a few thousand
        norms = np.sqrt(np.diag(co)).astype(np.float32)
        sim = co / (np.outer(norms, norms) + self.shrink + 1e-9)
        np.fill_diagonal(sim, 0.0)
        n = sim.shape[0]
        if self.k < n:
            # Keep, per column j (candidate), the k largest similarities.
            drop = np.argpartition(-sim, self.k, axis=0)[self.k :, :]
            np.put_along_axis(sim, drop, 0.0, axis=0)
        self._sim = sp.csr_matrix(sim)

    def full_sort_predict(self, users: np.ndarray) -> np.ndarray:
        return (self._x[users] @ self._sim).toarray()


class _ImplicitMF:
    """Shared fit/predict for `implicit` factor models."""

    name = "mf"

    def _make(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def fit(self, train: InteractionData) -> None:
        # implicit warns (and slows down) when BLAS runs its own thread pool next to its threads;
        # it checks in the constructor, so build the model inside the limit too.
        with threadpool_limits(1, "blas"):
            model = self._make()
            model.fit(train.user_items().astype(np.float32), show_progress=False)
        self._user = np.asarray(model.user_factors)
        self._item = np.asarray(model.item_factors)

    def full_sort_predict(self, users: np.ndarray) -> np.ndarray:
        return self._user[users] @ self._item.T


class ALS(_ImplicitMF):
    """Implicit-feedback ALS (Hu, Koren, Volinsky) with confidence 1 + alpha * count."""

    name = "als"
    param_grid: ClassVar[dict[str, list]] = {
        "factors": [32, 128],
        "regularization": [0.1, 1.0, 10.0],
        "alpha": [0.5, 2.0, 10.0],
    }

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.1,
        alpha: float = 1.0,
        iterations: int = 15,
        seed: int = SEED,
    ) -> None:
        self.factors, self.regularization, self.alpha = factors, regularization, alpha
        self.iterations, self.seed = iterations, seed

    def _make(self):
        return AlternatingLeastSquares(
            factors=self.factors,
            regularization=self.regularization,
            alpha=self.alpha,
            iterations=self.iterations,
            num_threads=THREADS,
            random_state=self.seed,
        )


class BPR(_ImplicitMF):
    """Bayesian personalised ranking (SGD, one sampled negative per positive).

    With 2 threads the hogwild SGD is not bit-for-bit reproducible; scores vary slightly per run.
    """

    name = "bpr"
    param_grid: ClassVar[dict[str, list]] = {
        "factors": [32, 128],
        "learning_rate": [0.01, 0.05],
        "regularization": [0.001, 0.01],
    }

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        iterations: int = 100,
        seed: int = SEED,
    ) -> None:
        self.factors, self.learning_rate, self.regularization = (
            factors,
            learning_rate,
            regularization,
        )
        self.iterations, self.seed = iterations, seed

    def _make(self):
        return BayesianPersonalizedRanking(
            factors=self.factors,
            learning_rate=self.learning_rate,
            regularization=self.regularization,
            iterations=self.iterations,
            num_threads=THREADS,
            random_state=self.seed,
        )
