"""The in-memory catalogue: products plus their vectors, mirrored from the database and Chroma.

It answers exact (brute-force) vector search over any filtered subset, which beats HNSW on
selective filters, and gives the scoring core and the validator O(1) product lookups.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select

from .constraints import Constraints, Vocabulary
from .db import Database, ProductRow
from .enrichment import Enrichment, EnrichmentStore, enriched_text
from .sources.base import Product
from .store import PRODUCTS, VectorStore
from .variants import load_option_pairs

log = logging.getLogger(__name__)


def product_metadata(p: Product) -> dict:
    """Chroma metadata: scalars only, no None."""
    return {
        "id": p.id,
        "name": p.name[:500],
        "category": p.category,
        "sub_category": p.sub_category,
        "price": float(p.price),
        "brand": p.brand or "",
        "source": p.source,
        "content_hash": p.content_hash(),
        "consumable": bool(p.consumable),
    }


class UnknownProductError(KeyError):
    def __str__(self) -> str:
        return f"unknown product id {self.args[0]!r}"


@dataclass
class CatalogueIndex:
    products: list[Product]
    vectors: np.ndarray  # (n, 384), L2-normalised, row i ↔ products[i]
    # LLM-enriched features by product id (retrieval/enrichment.py); empty when off or not run.
    enrichment: dict[str, Enrichment] = field(default_factory=dict)
    # Every (option, value) pair of the products' variants: what "in blue, size M" can name.
    option_pairs: frozenset[tuple[str, str]] = frozenset()
    # Main image URL by product id (imported stores; empty for the demo stores). Cards carry it
    # for the shopper's browser to load; the server never fetches it.
    images: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.position = {p.id: i for i, p in enumerate(self.products)}
        self.price = np.array([p.price for p in self.products], dtype=np.float64)
        self._codes: dict[str, tuple[dict[str, int], np.ndarray]] = {}
        for attr in ("category", "sub_category", "brand"):
            values = [getattr(p, attr) or "" for p in self.products]
            vocab = {v: i for i, v in enumerate(sorted(set(values)))}
            self._codes[attr] = (vocab, np.array([vocab[v] for v in values], dtype=np.int32))
        self.vocabulary = Vocabulary.from_products(self.products, self.option_pairs)

    def __len__(self) -> int:
        return len(self.products)

    def __contains__(self, product_id: object) -> bool:
        return product_id in self.position

    def get(self, product_id: str) -> Product:
        try:
            return self.products[self.position[product_id]]
        except KeyError:
            raise UnknownProductError(product_id) from None

    def text(self, i: int) -> str:
        """Row i's searchable text: the embedded text (with its enrichment when there is one)."""
        p = self.products[i]
        return enriched_text(p, self.enrichment.get(p.id))

    def vector(self, product_id: str) -> np.ndarray:
        return self.vectors[self.position[product_id]]

    def indices(self, ids: Iterable[str]) -> np.ndarray:
        return np.array([self.position[i] for i in ids if i in self.position], dtype=np.int64)

    def _in(self, attr: str, values: Iterable[str]) -> np.ndarray:
        vocab, codes = self._codes[attr]
        wanted = [vocab[v] for v in values if v in vocab]
        return np.isin(codes, np.array(wanted, dtype=np.int32))

    def mask(self, c: Constraints) -> np.ndarray:
        """Boolean mask of products satisfying the hard constraints (vectorised)."""
        m = np.ones(len(self.products), dtype=bool)
        if c.min_price is not None:
            m &= (
                self.price > c.min_price + 1e-9
                if c.min_exclusive
                else self.price >= c.min_price - 1e-9
            )
        if c.max_price is not None:
            m &= (
                self.price < c.max_price - 1e-9
                if c.max_exclusive
                else self.price <= c.max_price + 1e-9
            )
        if c.categories:
            m &= self._in("category", c.categories)
        if c.sub_categories:
            m &= self._in("sub_category", c.sub_categories)
        if c.brands:
            m &= self._in("brand", c.brands)
        if c.exclude_brands:
            m &= ~self._in("brand", c.exclude_brands)
        if c.exclude_ids:
            m[self.indices(c.exclude_ids)] = False
        return m

    def exact_top_k(
        self, query: np.ndarray, k: int, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact cosine top-k over the masked subset: (indices, scores), best first."""
        q = query.astype(np.float32)
        n = len(self.products)
        kept = n if mask is None else int(mask.sum())
        if kept == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if mask is None or kept * 4 > n:
            # Broad filter: scoring every row in place beats copying most of them out first.
            scores = self.vectors @ q
            if mask is not None:
                scores[~mask] = -np.inf
            idx = None
        else:
            idx = np.flatnonzero(mask)
            scores = self.vectors[idx] @ q
        k = min(k, kept)
        part = np.argpartition(-scores, k - 1)[:k]
        order = part[np.argsort(-scores[part], kind="stable")]
        return (order if idx is None else idx[order]), scores[order]

    @classmethod
    def load(cls, db: Database, store: VectorStore, enrichment: bool = True) -> CatalogueIndex:
        with db.session() as s:
            rows = {r.id: Product.from_record(r) for r in s.scalars(select(ProductRow))}
        ids, vecs, _ = store.all_vectors(PRODUCTS)
        keep = [i for i, pid in enumerate(ids) if pid in rows]
        missing = len(rows) - len(keep)
        if missing:
            log.warning("%d products have no vector yet; run `shopassist index`", missing)
        products = [rows[ids[i]] for i in keep]
        enriched = EnrichmentStore(db).lookup(products) if enrichment else {}
        from .importing.tables import image_urls

        images = image_urls(db, [p.id for p in products])
        return cls(
            products, vecs[keep] if keep else vecs[:0], enriched, load_option_pairs(db), images
        )
