"""Builds the catalogue: source files → database → embeddings → Chroma. Incremental and idempotent.

With `Settings.enrichment` on, each product's embedded text is name + category + its LLM
enrichment (retrieval/enrichment.py). Enrichments come from the database cache, which the
catalogue's shipped file (retrieval/enrichments/enrichment-<catalogue>.jsonl.gz) fills on first
use, so `make index` needs no model run. The stored hash covers the embedded text, so turning enrichment
on or off, or a new enrichment, re-embeds exactly the products it changes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from .catalogue import product_metadata
from .db import Database, ProductRow
from .embed import Encoder
from .enrichment import EnrichmentStore, enriched_text, shipped_file, text_hash
from .settings import Settings
from .sources import get_source
from .sources.base import CatalogueData, Product
from .store import PRODUCTS, VectorStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexReport:
    catalogue: str
    products: int
    embedded: int
    removed: int
    seconds: float
    enriched: int = 0  # products embedded with an enrichment

    @property
    def products_per_s(self) -> float:
        return self.embedded / self.seconds if self.seconds and self.embedded else 0.0


def index_texts(settings: Settings, db: Database, products: Sequence[Product]) -> dict[str, str]:
    """Each product's embedded text, enriched where an enrichment exists (the shipped file is
    loaded into the cache for products that have none yet)."""
    if not settings.enrichment:
        return {p.id: p.embedding_text() for p in products}
    store = EnrichmentStore(db)
    got = store.lookup(products)
    missing = [p for p in products if p.id not in got]
    shipped = shipped_file(settings.catalogue)
    if missing and shipped.is_file():
        n = store.import_file(shipped, missing)
        log.info("loaded %d enrichments from %s", n, shipped)
        if n:
            got = store.lookup(products)
    return {p.id: enriched_text(p, got.get(p.id)) for p in products}


def index_hash(p: Product, text: str) -> str:
    """What the vector store keeps per product: changes with the product or its embedded text."""
    return text_hash(f"{p.content_hash()}|{text}")


def pending(settings: Settings, db: Database, store: VectorStore) -> int:
    """How many stored products an index run would (re-)embed now; 0 when up to date."""
    with db.session() as s:
        products = [Product.from_record(r) for r in s.scalars(select(ProductRow))]
    texts = index_texts(settings, db, products)
    existing = store.existing_hashes(PRODUCTS)
    return sum(existing.get(p.id) != index_hash(p, texts[p.id]) for p in products)


def build_index(
    settings: Settings, db: Database, store: VectorStore, encoder: Encoder, progress: bool = False
) -> IndexReport:
    t0 = time.perf_counter()
    source = get_source(settings.catalogue, settings)
    if getattr(source, "in_database", False):
        # An imported store: its records are the database's (`shopassist import` wrote them).
        with db.session() as s:
            rows = s.scalars(select(ProductRow).where(ProductRow.source == settings.catalogue))
            data = CatalogueData(settings.catalogue, [Product.from_record(r) for r in rows])
    else:
        data = source.load(settings.raw_dir)
        db.load_catalogue(data)
    texts = index_texts(settings, db, data.products)
    hashes = {p.id: index_hash(p, texts[p.id]) for p in data.products}
    existing = store.existing_hashes(PRODUCTS)
    changed = [p for p in data.products if existing.get(p.id) != hashes[p.id]]
    removed = sorted(set(existing) - {p.id for p in data.products})
    if changed:
        vectors = encoder.encode([texts[p.id] for p in changed], progress=progress)
        metas = [product_metadata(p) | {"content_hash": hashes[p.id]} for p in changed]
        store.upsert(PRODUCTS, [p.id for p in changed], vectors, metas)
    store.delete(PRODUCTS, removed)
    if getattr(source, "in_database", False):
        from .importing.registry import StoreRegistry

        StoreRegistry(settings.data_dir).mark_indexed(settings.catalogue)
    enriched = sum(texts[p.id] != p.embedding_text() for p in data.products)
    report = IndexReport(
        settings.catalogue,
        len(data.products),
        len(changed),
        len(removed),
        time.perf_counter() - t0,
        enriched,
    )
    log.info("index: %s", report)
    return report
