"""Wires the recommendation side together once per process: settings → db, store, encoder, catalogue."""

from __future__ import annotations

import logging
import shutil
import threading
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from .catalogue import CatalogueIndex
from .clock import StoreClock
from .db import Database, OrderRow
from .embed import Encoder, make_encoder
from .indexer import IndexReport, build_index, pending
from .recommend import RecommendationService
from .scoring import ScoringModel
from .search import ProductSearch
from .settings import BUILTIN_CATALOGUES, Settings
from .store import PRODUCTS, EmbedderMismatch, VectorStore

if TYPE_CHECKING:
    from .importing.registry import StoreWatch
    from .sources import CatalogueSource

log = logging.getLogger(__name__)


def copy_data_dir(src: Path, into: Path) -> None:
    """A private, writable copy of an indexed data dir (database and vectors copied; the
    read-only fetched data and models linked), for runs that must not touch the original."""
    for name in ("shopassist.db", "chroma", "stores"):
        path = src / name
        if path.is_dir():
            shutil.copytree(path, into / name)
        elif path.exists():
            shutil.copy2(path, into / name)
    for name in ("raw", "models"):
        if (src / name).exists():
            (into / name).symlink_to((src / name).resolve(), target_is_directory=True)


class CatalogueNotIndexed(RuntimeError):
    """The index is empty; run `shopassist index` (make run does it for you)."""


@dataclass
class RetrievalStack:
    settings: Settings
    db: Database
    store: VectorStore
    encoder: Encoder
    _catalogue: CatalogueIndex | None = None
    _recs: RecommendationService | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _recs_lock: threading.Lock = field(default_factory=threading.Lock)
    _source: CatalogueSource | None = None
    _watch: StoreWatch | None = None  # an imported store's re-imports

    @classmethod
    def build(cls, settings: Settings) -> RetrievalStack:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(
            settings=settings,
            db=Database(settings.resolved_database_url),
            store=VectorStore.from_settings(settings),
            encoder=make_encoder(settings),
        )

    def is_indexed(self) -> bool:
        # Another catalogue indexed in the same data dir is not this one, and vectors another
        # embedder built are not this one's: index again.
        return (
            self.db.has_catalogue(self.settings.catalogue)
            and self.store.matches(PRODUCTS)
            and self.store.count(PRODUCTS) > 0
        )

    def pending(self) -> int:
        """Products an index run would (re-)embed now (e.g. a newly shipped enrichment)."""
        return pending(self.settings, self.db, self.store)

    def index(self, progress: bool = False) -> IndexReport:
        """Embed what changed; everything when the vectors were another embedder's."""
        if self.encoder.name != self.store.embedder:
            raise ValueError(
                f"the encoder is {self.encoder.name!r} but the store holds "
                f"{self.store.embedder!r} vectors: one stack, one embedder"
            )
        report = build_index(self.settings, self.db, self.store, self.encoder, progress=progress)
        with self._lock:
            self._catalogue = None  # reload the mirror on next use
            self._recs = None
        return report

    def _reimported(self) -> None:
        """An imported store that was re-imported and re-indexed is reloaded on next use
        (until then, and if the import fails, the catalogue loaded before keeps serving)."""
        if self.settings.catalogue in BUILTIN_CATALOGUES:
            return
        if self._watch is None:
            from .importing.registry import StoreWatch

            self._watch = StoreWatch(self.settings.data_dir, self.settings.catalogue)
        elif self._watch.changed():
            self._catalogue, self._recs, self._source = None, None, None

    @property
    def catalogue(self) -> CatalogueIndex:
        with self._lock:
            self._reimported()
            if self._catalogue is None:
                try:
                    cat = CatalogueIndex.load(self.db, self.store, self.settings.enrichment)
                except EmbedderMismatch as exc:
                    raise CatalogueNotIndexed(str(exc)) from exc
                if not len(cat):
                    raise CatalogueNotIndexed(
                        "the catalogue is not indexed; run `shopassist index`"
                    )
                self._catalogue = cat
            return self._catalogue

    def source(self) -> CatalogueSource:
        """The catalogue's source: a built-in store's, or an imported store's (its manifest)."""
        if self._source is None:
            from .sources import get_source

            self._source = get_source(self.settings.catalogue, self.settings)
        return self._source

    @property
    def store_name(self) -> str:
        return self.settings.store_name or self.source().display_name

    @property
    def currency(self) -> str:
        """The store's currency (ISO code): an imported store's own, else USD."""
        return str(getattr(self.source(), "currency", "USD"))

    def search(self) -> ProductSearch:
        return ProductSearch(self.catalogue, self.encoder, self.store)

    def clock(self) -> StoreClock:
        if self.settings.store_today:
            return StoreClock(self.settings.store_today)
        with self.db.session() as s:
            last: date | None = s.scalar(select(func.max(OrderRow.order_date)))
        # Historical demo data: pin the store's today to the day after its last order.
        if last and (date.today() - last).days > 60:
            return StoreClock(last + timedelta(days=1))
        return StoreClock()

    def recommendations(self) -> RecommendationService:
        """The live RecommendationService (profiles, scoring core), built once."""
        with self._recs_lock:  # concurrent first requests build it once, not once each
            if self._recs is None:
                model = ScoringModel.load_latest(self.settings.scoring_dir)
                self._recs = RecommendationService(
                    self.catalogue, self.db, self.clock(), model, search=self.search()
                )
                log.info("scoring model %s serves the rankings", model.version)
            return self._recs
