"""The LLM side of item enrichment: run the local model over the catalogue.

The store, cache, validator and embedded text live in `retrieval/enrichment.py` (retrieval never
imports the assistant); this module only asks the model. Every product's own facts go to the
packaged Qwen2.5-Coder-0.5B on llama.cpp under a JSON schema (grammar-constrained decoding);
answers are validated and cached per batch, so an interrupted run resumes where it stopped.

    shopassist enrich                  # what is missing for this model + prompt, then export
    shopassist enrich --refresh        # recompute everything
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from retrieval.enrichment import (
    SCHEMA,
    CacheKey,
    Enrichment,
    EnrichmentInvalid,
    EnrichmentStore,
    product_facts,
    validate,
)
from retrieval.sources.base import Product

log = logging.getLogger(__name__)

PROMPT_VERSION = "enrich-v1"
# The fixed part comes first (llama.cpp caches it per slot); the product is the short user turn.
SYSTEM_PROMPT = """You label the products of a shop for its search index. Read one product's name and category and say what kind of thing that product is, in plain shopper words.
product_type: the everyday name of this product, 1-3 words, singular. Take it from the name when the name says what it is; when the name is only a brand and model number, use the category.
typical_use: what a shopper does with it, a few words.
attributes: colour, material, size or capacity words copied exactly from the name; [] when the name states none. Never guess.
suits: who buys it, a few words.
Examples:
Fellowes Powershred 79Ci 100% Jam Proof Cross-Cut Shredder (Office Supplies > Machines) -> {"product_type":"paper shredder","typical_use":"destroying confidential documents","room":"office","attributes":["cross-cut"],"suits":"offices handling private papers"}
Tensor Brushed Steel Torchiere Floor Lamp (Furniture > Furnishings) -> {"product_type":"floor lamp","typical_use":"lighting a room","room":"living room","attributes":["brushed steel"],"suits":"homes and lounges"}
Luxo Adjustable Task Clamp Lamp (Furniture > Furnishings) -> {"product_type":"desk lamp","typical_use":"lighting a desk for close work","room":"office","attributes":["adjustable"],"suits":"people reading or writing at a desk"}
Global Leather Task Chair, Black (Furniture > Chairs) -> {"product_type":"task chair","typical_use":"sitting at a desk all day","room":"office","attributes":["leather","black"],"suits":"desk workers"}
Xerox 1952 (Office Supplies > Paper) -> {"product_type":"copy paper","typical_use":"printing and copying","room":"office","attributes":[],"suits":"any office"}
Samsung Galaxy S4 (Technology > Phones) -> {"product_type":"smartphone","typical_use":"calls, email and apps on the go","room":"any","attributes":[],"suits":"mobile professionals"}
Plantronics CS510 Over-the-Head monaural Wireless Headset System (Technology > Phones) -> {"product_type":"phone headset","typical_use":"hands-free calls","room":"office","attributes":["wireless"],"suits":"people on the phone all day"}
Avery 508 (Office Supplies > Labels) -> {"product_type":"labels","typical_use":"labelling mail and files","room":"office","attributes":[],"suits":"anyone mailing or filing"}
Newell 340 (Office Supplies > Art) -> {"product_type":"pens and markers","typical_use":"writing and marking","room":"office","attributes":[],"suits":"students and office workers"}
Cardinal Slant-D Ring Binder, Heavy Gauge Vinyl (Office Supplies > Binders) -> {"product_type":"ring binder","typical_use":"organising papers","room":"office","attributes":["vinyl"],"suits":"students and office workers"}"""
MAX_TOKENS = 96


class Completer(Protocol):
    """Answers one (system, user) pair with JSON text under `schema`."""

    def __call__(self, system: str, user: str, schema: dict[str, Any]) -> str: ...


class LlamaCppCompleter:
    """The llamacpp backend's chat model with `parallel` slots, asked through
    `assistant.llm.structured.complete_json` (schema-constrained decoding, temperature 0).
    Concurrent requests decode together (continuous batching): about 2x the throughput of one
    slot on one CPU thread."""

    def __init__(
        self, gguf: Path, threads: int = 1, parallel: int = 4, max_tokens: int = MAX_TOKENS
    ) -> None:
        from assistant.llm.llamacpp import LlamaCppChatModel

        self.max_tokens = max_tokens
        # Each slot holds the cached system prompt (~600 tokens) plus one product and answer.
        self.llm = LlamaCppChatModel(
            gguf=gguf, threads=threads, max_tokens=max_tokens, n_slots=parallel, slot_ctx=1024
        )

    def __call__(self, system: str, user: str, schema: dict[str, Any]) -> str:
        from langchain_core.messages import HumanMessage, SystemMessage

        from assistant.llm.structured import complete_json

        return complete_json(
            self.llm,
            [SystemMessage(system), HumanMessage(user)],
            schema,
            name="enrichment",
            max_tokens=self.max_tokens,
        )


@dataclass
class EnrichReport:
    products: int
    cached: int  # already done for this model + prompt
    enriched: int
    failed: int
    seconds: float

    @property
    def seconds_per_product(self) -> float:
        return self.seconds / self.enriched if self.enriched else 0.0

    def line(self) -> str:
        return (
            f"{self.enriched} enriched, {self.cached} cached, {self.failed} failed of "
            f"{self.products} products in {self.seconds:.0f}s "
            f"({self.seconds_per_product:.2f}s per product)"
        )


def enrich_one(complete: Completer, p: Product) -> tuple[Product, Enrichment | None, str]:
    """Ask once; on an invalid answer or an error the product stays missing (a later run retries)."""
    try:
        raw = complete(SYSTEM_PROMPT, product_facts(p), SCHEMA)
    except Exception as exc:  # a model error must not stop a long run
        log.warning("enrichment of %s failed: %s", p.id, exc)
        return p, None, ""
    try:
        return p, validate(p, raw), raw
    except EnrichmentInvalid as exc:
        log.info("invalid enrichment for %s (%s): %s", p.id, exc, raw[:200])
        return p, None, raw


def run_enrichment(
    products: Sequence[Product],
    store: EnrichmentStore,
    complete: Completer,
    key: CacheKey,
    *,
    parallel: int = 1,
    batch_size: int = 24,
    refresh: bool = False,
    limit: int | None = None,
    progress: bool = False,
) -> EnrichReport:
    """Enrich what `key` has not done yet (everything with `refresh`), `parallel` requests at
    once, storing each batch as it finishes: an interrupted run loses at most one batch."""
    t0 = time.perf_counter()
    todo = list(products) if refresh else store.missing(products, key)
    cached = len(products) - len(todo)
    if limit is not None:
        todo = todo[:limit]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="product", desc="enrich")
    enriched = failed = 0
    with ThreadPoolExecutor(max(1, parallel)) as pool:
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            results = list(pool.map(lambda p: enrich_one(complete, p), batch))
            good = [(p, e, raw) for p, e, raw in results if e is not None]
            store.put_many(good, key)
            enriched += len(good)
            failed += len(batch) - len(good)
            if bar is not None:
                bar.update(len(batch))
    if bar is not None:
        bar.close()
    return EnrichReport(len(products), cached, enriched, failed, time.perf_counter() - t0)


def llamacpp_completer(
    model_key: str, models_dir: Path, threads: int, parallel: int
) -> tuple[Completer, str]:
    """The completer for a packaged model and its pinned SHA-256 (the cache key's model part)."""
    from assistant.llm.model_files import MODELS, model_path

    gguf = model_path(model_key, models_dir)
    return LlamaCppCompleter(gguf, threads=threads, parallel=parallel), MODELS[model_key].sha256
