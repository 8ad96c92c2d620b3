"""A thin vector store over Chroma: `products` and `knowledge` collections.

Embedded `PersistentClient` by default, `HttpClient` when CHROMA_URL is set. Embeddings are
always passed in: Chroma's default embedding function would download a model.

Each collection records, in its metadata, the embedder that built it (`Settings.embedder`). A
store never mixes vector spaces: reading a collection another embedder built raises
`EmbedderMismatch` (the stack then reports the catalogue as not indexed), it offers no stored
hashes to an indexer (so everything is embedded again), and the first write drops the old
vectors. A collection from before the record was kept was built by MiniLM, the only embedder then.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from .settings import Settings, apply_offline_env

log = logging.getLogger(__name__)
PRODUCTS = "products"
KNOWLEDGE = "knowledge"
MAX_BATCH = 5000  # Chroma refuses batches above 5,461
EMBEDDER_KEY = "embedder"  # collection metadata: which embedder built the vectors
LEGACY_EMBEDDER = "minilm"  # collections made before EMBEDDER_KEY was recorded


class VectorStoreUnavailable(RuntimeError):
    """Chroma could not be reached; callers degrade (popular items) instead of crashing."""


class EmbedderMismatch(VectorStoreUnavailable):
    """The collection was built by another embedder: its vectors are in another space."""


@dataclass(frozen=True)
class Hit:
    id: str
    score: float  # cosine similarity
    metadata: dict[str, Any]
    document: str | None = None


def make_client(settings: Settings):
    apply_offline_env()
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        u = urlparse(settings.chroma_url)
        return chromadb.HttpClient(
            host=u.hostname or "127.0.0.1",
            port=u.port or 8000,
            ssl=u.scheme == "https",
            settings=chroma_settings,
        )
    path = Path(settings.chroma_path)
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


class VectorStore:
    def __init__(self, client, namespace: str = "", embedder: str = LEGACY_EMBEDDER) -> None:
        self.client = client
        self.namespace = namespace
        self.embedder = embedder  # the embedder whose vectors this store reads and writes
        self._collections: dict[str, Any] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> VectorStore:
        try:
            client = make_client(settings)
        except Exception as exc:  # chromadb raises plain ValueError/ConnectionError here
            raise VectorStoreUnavailable(f"cannot reach Chroma: {exc}") from exc
        return cls(client, namespace=settings.catalogue, embedder=settings.embedder)

    def _full(self, name: str) -> str:
        return f"{self.namespace}_{name}" if self.namespace else name

    def collection(self, name: str):
        full = self._full(name)
        if full not in self._collections:
            try:
                # An existing collection keeps its metadata (Chroma ignores this argument then).
                self._collections[full] = self.client.get_or_create_collection(
                    full,
                    embedding_function=None,
                    metadata={"hnsw:space": "cosine", EMBEDDER_KEY: self.embedder},
                )
            except Exception as exc:
                raise VectorStoreUnavailable(f"Chroma collection {full!r}: {exc}") from exc
        return self._collections[full]

    def built_by(self, name: str) -> str:
        """The embedder that built the collection's vectors."""
        return str((self.collection(name).metadata or {}).get(EMBEDDER_KEY, LEGACY_EMBEDDER))

    def matches(self, name: str) -> bool:
        """Whether the collection's vectors are this store's embedder's."""
        return self.built_by(name) == self.embedder

    def _check(self, name: str) -> None:
        built = self.built_by(name)
        if built != self.embedder:
            raise EmbedderMismatch(
                f"Chroma collection {self._full(name)!r} was built by the {built!r} embedder, "
                f"not {self.embedder!r}: run `shopassist index` to rebuild it"
            )

    def reset(self, name: str) -> None:
        """Drop the collection and start it empty, recorded as this store's embedder's."""
        full = self._full(name)
        try:
            self.client.delete_collection(full)
        except Exception as exc:  # already gone is fine; a dead server fails on re-create
            log.debug("delete_collection %s: %s", full, exc)
        self._collections.pop(full, None)
        self.collection(name)

    def existing_hashes(self, name: str) -> dict[str, str]:
        """Each stored id's content hash; none when another embedder built the collection, so
        an indexer embeds everything again."""
        if not self.matches(name):
            return {}
        col = self.collection(name)
        out: dict[str, str] = {}
        offset = 0
        while True:
            got = col.get(include=["metadatas"], limit=MAX_BATCH, offset=offset)
            for i, m in zip(got["ids"], got["metadatas"], strict=True):
                out[i] = (m or {}).get("content_hash", "")
            if len(got["ids"]) < MAX_BATCH:
                return out
            offset += MAX_BATCH

    def upsert(
        self,
        name: str,
        ids: list[str],
        vectors: np.ndarray,
        metadatas: list[dict],
        documents: list[str] | None = None,
    ) -> None:
        if not self.matches(name):
            log.info(
                "collection %s was built by %r: dropping it for %r vectors",
                self._full(name),
                self.built_by(name),
                self.embedder,
            )
            self.reset(name)
        col = self.collection(name)
        for start in range(0, len(ids), MAX_BATCH):
            end = start + MAX_BATCH
            col.upsert(
                ids=ids[start:end],
                embeddings=vectors[start:end].tolist(),
                metadatas=metadatas[start:end],
                documents=documents[start:end] if documents else None,
            )

    def delete(self, name: str, ids: list[str]) -> None:
        if ids and self.matches(name):
            self.collection(name).delete(ids=ids)

    def count(self, name: str) -> int:
        col = self.collection(name)
        try:
            return col.count()
        except Exception as exc:  # a dead server: callers degrade on VectorStoreUnavailable
            raise VectorStoreUnavailable(f"Chroma count failed: {exc}") from exc

    def all_vectors(self, name: str) -> tuple[list[str], np.ndarray, list[dict]]:
        """Every id, vector and metadata: feeds the in-memory mirror used for exact search."""
        self._check(name)
        col = self.collection(name)
        ids: list[str] = []
        vecs: list[np.ndarray] = []
        metas: list[dict] = []
        offset = 0
        while True:
            got = col.get(include=["embeddings", "metadatas"], limit=MAX_BATCH, offset=offset)
            ids += got["ids"]
            if len(got["ids"]):
                vecs.append(np.asarray(got["embeddings"], dtype=np.float32))
            metas += [m or {} for m in got["metadatas"]]
            if len(got["ids"]) < MAX_BATCH:
                break
            offset += MAX_BATCH
        matrix = np.concatenate(vecs) if vecs else np.zeros((0, 384), dtype=np.float32)
        return ids, matrix, metas

    def query(
        self,
        name: str,
        vector: np.ndarray,
        k: int,
        where: dict | None = None,
        with_documents: bool = False,
    ) -> list[Hit]:
        self._check(name)
        col = self.collection(name)
        include = ["metadatas", "distances"] + (["documents"] if with_documents else [])
        try:
            res = col.query(
                query_embeddings=[vector.tolist()],
                n_results=k,
                where=where or None,
                include=include,
            )
        except Exception as exc:
            raise VectorStoreUnavailable(f"Chroma query failed: {exc}") from exc
        docs = res.get("documents") or [[None] * len(res["ids"][0])]
        return [
            Hit(id=i, score=1.0 - float(d), metadata=m or {}, document=doc)
            for i, d, m, doc in zip(
                res["ids"][0], res["distances"][0], res["metadatas"][0], docs[0], strict=True
            )
        ]

    def heartbeat(self) -> bool:
        try:
            self.client.heartbeat()
            return True
        except Exception:
            return False
