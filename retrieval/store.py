"""A thin vector store over Chroma: `products` and `knowledge` collections.

Embedded `PersistentClient` by default, `HttpClient` when CHROMA_URL is set. Embeddings are
always passed in: Chroma's default embedding function would download a model.
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


class VectorStoreUnavailable(RuntimeError):
    """Chroma could not be reached; callers degrade (popular items) instead of crashing."""


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
    def __init__(self, client, namespace: str = "") -> None:
        self.client = client
        self.namespace = namespace
        self._collections: dict[str, Any] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> VectorStore:
        try:
            client = make_client(settings)
        except Exception as exc:  # chromadb raises plain ValueError/ConnectionError here
            raise VectorStoreUnavailable(f"cannot reach Chroma: {exc}") from exc
        return cls(client, namespace=settings.catalogue)

    def collection(self, name: str):
        full = f"{self.namespace}_{name}" if self.namespace else name
        if full not in self._collections:
            try:
                self._collections[full] = self.client.get_or_create_collection(
                    full, embedding_function=None, metadata={"hnsw:space": "cosine"}
                )
            except Exception as exc:
                raise VectorStoreUnavailable(f"Chroma collection {full!r}: {exc}") from exc
        return self._collections[full]

    def existing_hashes(self, name: str) -> dict[str, str]:
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
        if ids:
            self.collection(name).delete(ids=ids)

    def count(self, name: str) -> int:
        col = self.collection(name)
        try:
            return col.count()
        except Exception as exc:  # a dead server: callers degrade on VectorStoreUnavailable
            raise VectorStoreUnavailable(f"Chroma count failed: {exc}") from exc

    def all_vectors(self, name: str) -> tuple[list[str], np.ndarray, list[dict]]:
        """Every id, vector and metadata: feeds the in-memory mirror used for exact search."""
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
