"""Builds the catalogue: source files → database → embeddings → Chroma. Incremental and idempotent."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from .catalogue import product_metadata
from .db import Database
from .embed import Encoder
from .settings import Settings
from .sources import get_source
from .store import PRODUCTS, VectorStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexReport:
    catalogue: str
    products: int
    embedded: int
    removed: int
    seconds: float

    @property
    def products_per_s(self) -> float:
        return self.embedded / self.seconds if self.seconds and self.embedded else 0.0


def build_index(
    settings: Settings, db: Database, store: VectorStore, encoder: Encoder, progress: bool = False
) -> IndexReport:
    t0 = time.perf_counter()
    data = get_source(settings.catalogue).load(settings.raw_dir)
    db.load_catalogue(data)
    existing = store.existing_hashes(PRODUCTS)
    changed = [p for p in data.products if existing.get(p.id) != p.content_hash()]
    removed = sorted(set(existing) - {p.id for p in data.products})
    if changed:
        vectors = encoder.encode([p.embedding_text() for p in changed], progress=progress)
        store.upsert(
            PRODUCTS, [p.id for p in changed], vectors, [product_metadata(p) for p in changed]
        )
    store.delete(PRODUCTS, removed)
    report = IndexReport(
        settings.catalogue, len(data.products), len(changed), len(removed), time.perf_counter() - t0
    )
    log.info("index: %s", report)
    return report
