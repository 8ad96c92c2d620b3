"""Item-side features shared by every ranking: vectors, category codes, price, popularity,
trend and the item-to-item co-purchase graph. Built from the catalogue and the event log, or
from any evaluation data set, so the scoring core runs the same way on both."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


def codes(values: list[str]) -> tuple[np.ndarray, list[str]]:
    vocab = sorted(set(values))
    index = {v: i for i, v in enumerate(vocab)}
    return np.array([index[v] for v in values], dtype=np.int32), vocab


def cooccurrence(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    n_users: int,
    n_items: int,
    top_k: int = 50,
    shrink: float = 10.0,
) -> sp.csr_matrix:
    """Item-item cosine of co-interaction, shrunk for rare pairs, top-k neighbours per row."""
    if len(item_idx) == 0:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    ui = sp.csr_matrix(
        (np.ones(len(item_idx), dtype=np.float32), (user_idx, item_idx)), shape=(n_users, n_items)
    )
    ui.data[:] = 1.0  # binary: a repeat purchase is not extra evidence of co-purchase
    co = (ui.T @ ui).tocsr().astype(np.float32)
    co.setdiag(0)
    co.eliminate_zeros()
    norms = np.sqrt(np.asarray(ui.sum(axis=0)).ravel()) + 1e-9
    co = co.tocoo()
    vals = co.data / (norms[co.row] * norms[co.col] + shrink)
    sim = sp.csr_matrix((vals.astype(np.float32), (co.row, co.col)), shape=(n_items, n_items))
    return _top_k_rows(sim, top_k)


def _top_k_rows(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    rows, cols, vals = [], [], []
    for r in range(m.shape[0]):
        start, end = m.indptr[r], m.indptr[r + 1]
        if end == start:
            continue
        data, idx = m.data[start:end], m.indices[start:end]
        if end - start > k:
            keep = np.argpartition(-data, k - 1)[:k]
            data, idx = data[keep], idx[keep]
        rows.append(np.full(len(idx), r))
        cols.append(idx)
        vals.append(data)
    if not rows:
        return sp.csr_matrix(m.shape, dtype=np.float32)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=m.shape
    )


LOWDIM_FROM = 20_000  # items; below this the exact 384-d product costs under a millisecond
LOWDIM = 64


def _pca_projection(
    vectors: np.ndarray, dims: int = LOWDIM, sample: int = 5000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = vectors[rng.choice(len(vectors), min(sample, len(vectors)), replace=False)]
    _, _, vt = np.linalg.svd(rows - rows.mean(axis=0), full_matrices=False)
    proj = np.ascontiguousarray(vt[:dims].T, dtype=np.float32)  # (d, dims)
    low = vectors @ proj
    low /= np.linalg.norm(low, axis=1, keepdims=True) + 1e-9
    return proj, np.ascontiguousarray(low, dtype=np.float32)


ALS_FACTORS, ALS_REG, ALS_ALPHA, ALS_ITERATIONS = 64, 1.0, 2.0, 15


def implicit_item_factors(
    user_idx: np.ndarray, item_idx: np.ndarray, n_users: int, n_items: int, seed: int = 0
) -> np.ndarray | None:
    """Item factors from implicit-feedback ALS (the `implicit` library), or None without it."""
    if len(item_idx) == 0:
        return None
    try:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    ui = sp.csr_matrix(
        (np.ones(len(item_idx), dtype=np.float32), (user_idx, item_idx)), shape=(n_users, n_items)
    )
    ui.data[:] = 1.0
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=ALS_FACTORS,
            regularization=ALS_REG,
            alpha=ALS_ALPHA,
            iterations=ALS_ITERATIONS,
            num_threads=2,
            random_state=seed,
        )
        model.fit(ui, show_progress=False)
    return np.asarray(model.item_factors, dtype=np.float32)


@dataclass
class ItemFeatures:
    ids: list[str]
    vectors: np.ndarray  # (n, d) unit rows
    category: np.ndarray  # int codes
    sub_category: np.ndarray
    brand: np.ndarray  # -1 = unknown brand
    price: np.ndarray  # nan = no price
    consumable: np.ndarray  # bool
    popularity: np.ndarray = field(default=None)  # type: ignore[arg-type]  # [0, 1], log-scaled
    trend: np.ndarray = field(default=None)  # type: ignore[arg-type]  # recent popularity
    cooc: sp.csr_matrix = field(default=None)
    category_names: list[str] = field(default_factory=list)
    sub_category_names: list[str] = field(default_factory=list)
    brand_names: list[str] = field(default_factory=list)
    cooc_top_k: int = 50
    factors: np.ndarray | None = None  # ALS item factors, fitted on the event log

    def __post_init__(self) -> None:
        n = len(self.ids)
        self.position = {pid: i for i, pid in enumerate(self.ids)}
        if self.popularity is None:
            self.popularity = np.zeros(n, dtype=np.float32)
        if self.trend is None:
            self.trend = np.zeros(n, dtype=np.float32)
        if self.cooc is None:
            self.cooc = sp.csr_matrix((n, n), dtype=np.float32)
        self.cooc_votes = self.cooc.T.tocsr()
        self.log_price = np.log1p(np.nan_to_num(self.price, nan=0.0))
        self.has_price = ~np.isnan(self.price)
        self.proj: np.ndarray | None
        self.lowdim: np.ndarray | None
        self.proj, self.lowdim = _pca_projection(self.vectors) if n > LOWDIM_FROM else (None, None)

    def page_sims(self, queries: np.ndarray) -> np.ndarray:
        """Cosine of every item with a few query vectors: (n, m). On big catalogues this uses
        the PCA-reduced vectors: a full pass over 384-d float32 rows is memory-bound (150 MB at
        100k items), and profile-level features do not need the last digit."""
        if self.lowdim is None:
            return self.vectors @ queries.T
        q = queries @ self.proj
        q /= np.linalg.norm(q, axis=1, keepdims=True) + 1e-9
        return self.lowdim @ q.T

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_attributes(
        cls,
        ids: list[str],
        vectors: np.ndarray,
        categories: list[str],
        sub_categories: list[str],
        brands: list[str | None],
        prices: np.ndarray | None = None,
        consumable: np.ndarray | None = None,
    ) -> ItemFeatures:
        cat, cat_names = codes(categories)
        sub, sub_names = codes(sub_categories)
        brand_vocab = sorted({b for b in brands if b})
        bindex = {b: i for i, b in enumerate(brand_vocab)}
        n = len(ids)
        return cls(
            ids=list(ids),
            vectors=vectors.astype(np.float32),
            category=cat,
            sub_category=sub,
            brand=np.array([bindex.get(b, -1) if b else -1 for b in brands], dtype=np.int32),
            price=(
                np.asarray(prices, dtype=np.float64) if prices is not None else np.full(n, np.nan)
            ),
            consumable=(
                np.asarray(consumable, dtype=bool)
                if consumable is not None
                else np.zeros(n, dtype=bool)
            ),
            category_names=cat_names,
            sub_category_names=sub_names,
            brand_names=brand_vocab,
        )

    def fit_interactions(
        self,
        user_idx: np.ndarray,
        item_idx: np.ndarray,
        ts: np.ndarray,
        n_users: int,
        now: float,
        trend_days: float = 90.0,
    ) -> ItemFeatures:
        """Popularity, trend and co-purchase from a log of (user, item, time) interactions."""
        n = len(self.ids)
        counts = np.bincount(item_idx, minlength=n).astype(np.float64)
        self.popularity = (np.log1p(counts) / max(np.log1p(counts.max()), 1e-9)).astype(np.float32)
        recent = ts >= now - trend_days * 86400
        rc = np.bincount(item_idx[recent], minlength=n).astype(np.float64)
        self.trend = (np.log1p(rc) / max(np.log1p(rc.max()), 1e-9)).astype(np.float32)
        self.cooc = cooccurrence(user_idx, item_idx, n_users, n, top_k=self.cooc_top_k)
        # votes[h, j] = sim(h, j) when h is among j's nearest neighbours (item-KNN scoring).
        self.cooc_votes = self.cooc.T.tocsr()
        self.interaction_counts = counts
        self.factors = implicit_item_factors(user_idx, item_idx, n_users, n)
        if self.factors is not None:
            self.factor_gram = self.factors.T @ self.factors
        return self

    def fold_in(self, hist: np.ndarray, weights: np.ndarray) -> np.ndarray | None:
        """A user's ALS factor from their (decayed) history: the closed-form solve ALS itself
        uses, so a profile updated a second ago gets its collaborative vector at once."""
        if self.factors is None or not hist.size:
            return None
        Y = self.factors[hist]
        conf = ALS_ALPHA * weights * len(hist)  # c - 1, history-weighted, mean ALS_ALPHA
        A = self.factor_gram + ALS_REG * np.eye(Y.shape[1]) + (Y.T * conf) @ Y
        b = ((1.0 + conf)[:, None] * Y).sum(axis=0)
        return np.linalg.solve(A, b).astype(np.float32)

    def long_tail(self, head_share: float = 0.8) -> np.ndarray:
        """True for items outside the popular head that makes up `head_share` of interactions."""
        counts = getattr(self, "interaction_counts", None)
        if counts is None or counts.sum() == 0:
            return np.ones(len(self.ids), dtype=bool)
        order = np.argsort(-counts)
        cum = np.cumsum(counts[order]) / counts.sum()
        head = order[: int(np.searchsorted(cum, head_share)) + 1]
        tail = np.ones(len(self.ids), dtype=bool)
        tail[head] = False
        return tail
