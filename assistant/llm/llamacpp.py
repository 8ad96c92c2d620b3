"""The default CPU backend: llama.cpp in-process, through the prebuilt `xllamacpp` wheel.

On the same GGUF it decodes several times faster than transformers on CPU, with the same greedy
text. It runs llama.cpp's own server engine in-process; that engine also listens on a random
loopback port, which we lock with a random API key (in-process calls skip HTTP).

**Prompt cache and slots.** Every request sends `cache_prompt: True`: a slot keeps the KV cache
of its last prompt and re-evaluates only what follows the longest common prefix, so keep the
fixed part of a prompt first and the per-turn part short and last. The server has `n_slots` (2)
slots, each with its own cache of `slot_ctx` tokens (llama.cpp splits n_ctx across slots), so
two prompt families keep their prefixes apart: slot 0 (`SLOT_UNDERSTAND`) for the JSON command
step, slot 1 (`SLOT_REPLY`) for reply generation. Pick one per call, as a LangChain call kwarg:

    model.stream(messages, slot=SLOT_REPLY)       # also invoke(), and model.bind(slot=1)
    complete_json(model, messages, schema, slot=SLOT_UNDERSTAND)   # assistant.llm.structured

or set the model's `default_slot`. No slot (None): the server picks the idle slot whose cached
prompt is most similar. `accepts_slot` is True on this class only: other backends would send an
unknown `slot` upstream, so callers check it (see `assistant.llm.structured.slot_kwargs`).

**Structured output.** `complete_json()` sends `response_format={"type": "json_schema",
"json_schema": {"name": ..., "schema": ...}}` (exactly this shape: `{"type": "json_schema",
"schema": ...}` without the `json_schema` wrapper is silently ignored). This server turns the schema into a GBNF grammar
(llama.cpp's json-schema-to-grammar; `$defs`/`$ref`, `oneOf`/`anyOf`, `const`, `enum`,
`minimum`/`maximum`, `maxLength`, `maxItems` are honoured, unknown keys such as pydantic's
`discriminator` are ignored, properties not listed in `required` may be left out, and no
property outside `properties` is allowed) and decoding cannot leave it. A schema it cannot
convert is an error (LLMServiceError), not a silent unconstrained answer. (The `grammar` field
with llguidance's `%json`, which this build also has, is *not* used: llguidance rejects
`oneOf` unless told to coerce it, and the server then only logs the error and answers without
any grammar.)
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from langchain_core.messages import BaseMessage, HumanMessage
from pydantic import ConfigDict, PrivateAttr

from assistant.llm.errors import LLMServiceError
from assistant.llm.messages import to_role_dicts
from assistant.llm.model_files import model_path
from assistant.llm.structured import json_schema_format
from assistant.llm.text_stream import TextStreamChatModel

if TYPE_CHECKING:
    from retrieval.settings import Settings

log = logging.getLogger(__name__)

N_SLOTS = 2  # slot 0: understanding (JSON commands), slot 1: replies
SLOT_CTX = 4096  # tokens of KV cache per slot; n_ctx = N_SLOTS * SLOT_CTX


def server_params(gguf: Path, threads: int = 2, n_ctx: int = 4096, *, n_parallel: int = 1) -> Any:
    """xllamacpp.CommonParams for a server over `gguf` with `n_parallel` slots sharing `n_ctx`
    (each slot gets n_ctx / n_parallel tokens), prompt caching on, locked with a fresh random
    API key (`params.api_keys[0]`)."""
    try:
        import xllamacpp as xlc
    except ImportError as e:
        raise RuntimeError("the llamacpp backend needs `pip install xllamacpp`") from e
    params = xlc.CommonParams()
    params.model.path = str(gguf)
    params.n_ctx = n_ctx
    params.n_parallel = n_parallel
    params.cache_prompt = True  # the server's default; requests also say so
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.warmup = False  # LlamaCppChatModel.warm_up() does it, off the first turn's clock
    # llama.cpp logs every slot event to stderr at its default (3); keep it for DEBUG only.
    params.verbosity = 3 if log.isEnabledFor(logging.DEBUG) else 0
    # Default host is 127.0.0.1; the key stops other local users (in-process calls skip HTTP).
    params.api_keys = [secrets.token_urlsafe(24)]
    return params


def make_server(gguf: Path, threads: int = 2, n_ctx: int = 4096, *, n_parallel: int = 1) -> Any:
    """An in-process xllamacpp.Server over `gguf` (greedy sampling set per request)."""
    params = server_params(gguf, threads, n_ctx, n_parallel=n_parallel)
    import xllamacpp as xlc

    return xlc.Server(params)


class LlamaCppChatModel(TextStreamChatModel):
    """Chat completions against an in-process llama.cpp server; greedy (temperature 0).

    Call kwargs: `slot` (see the module docstring), `max_tokens` (or `max_new_tokens`).
    `last_timings` is llama.cpp's `timings` of the last finished request (prompt_n, cache_n,
    prompt_per_second, predicted_n, predicted_per_second, ...).
    """

    accepts_slot: ClassVar[bool] = True

    model_config = ConfigDict(arbitrary_types_allowed=True)
    gguf: Path
    threads: int = 2
    max_tokens: int = 160
    n_slots: int = N_SLOTS
    slot_ctx: int = SLOT_CTX
    default_slot: int | None = None
    _server: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _timings: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def _llm_type(self) -> str:
        return "llamacpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.gguf.name, "threads": self.threads, "slots": self.n_slots}

    @property
    def last_timings(self) -> dict[str, Any]:
        return dict(self._timings)

    def load(self) -> LlamaCppChatModel:
        """Start the server (load the weights) now, not on the first request. Idempotent."""
        self._srv()
        return self

    def _srv(self) -> Any:
        with self._lock:
            if self._server is None:
                t = time.perf_counter()
                try:
                    self._server = make_server(
                        self.gguf,
                        self.threads,
                        self.n_slots * self.slot_ctx,
                        n_parallel=self.n_slots,
                    )
                except Exception as e:
                    raise LLMServiceError(f"llama.cpp could not load {self.gguf}: {e}") from e
                log.info(
                    "llama.cpp loaded %s in %.1fs (%d threads, %d slots x %d tokens)",
                    self.gguf.name,
                    time.perf_counter() - t,
                    self.threads,
                    self.n_slots,
                    self.slot_ctx,
                )
            return self._server

    def _slot(self, slot: int | None) -> int:
        chosen = self.default_slot if slot is None else slot
        if chosen is None:
            return -1  # the server picks (the most similar cached prompt, else the oldest)
        if not 0 <= chosen < self.n_slots:
            raise ValueError(f"slot {chosen} out of range: this model has {self.n_slots} slots")
        return chosen

    def _request(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        stream: bool,
        *,
        slot: int | None = None,
        max_tokens: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        req: dict[str, Any] = {
            "messages": to_role_dicts(messages),
            "max_tokens": max_tokens or self.max_tokens,
            "temperature": 0.0,
            "top_k": 1,
            "stream": stream,
            "cache_prompt": True,
            "id_slot": self._slot(slot),
        }
        if stop:
            req["stop"] = stop
        req.update(extra)
        return req

    def _error(self, cause: object) -> LLMServiceError:
        if isinstance(cause, dict):
            err = cause.get("error", cause)
            cause = err.get("message", err) if isinstance(err, dict) else err
        return LLMServiceError(f"llama.cpp ({self.gguf.name}): {cause}")

    def _complete(self, req: dict[str, Any]) -> str:
        """One non-streamed completion: the answer's text."""
        srv = self._srv()
        try:
            out = srv.handle_chat_completions(req)
        except Exception as e:  # e.g. ValueError for a schema it cannot convert
            raise self._error(e) from e
        if not isinstance(out, dict) or "error" in out or not out.get("choices"):
            raise self._error(out)
        self._timings = dict(out.get("timings") or {})
        content = (out["choices"][0].get("message") or {}).get("content")
        return content if isinstance(content, str) else ""

    def complete_json(
        self,
        messages: list[BaseMessage],
        schema: dict[str, Any],
        *,
        name: str = "commands",
        max_tokens: int = 256,
        slot: int | None = None,
    ) -> str:
        """The raw JSON text of a greedy answer constrained to `schema` by a grammar."""
        req = self._request(
            messages,
            None,
            False,
            slot=slot,
            max_tokens=max_tokens,
            response_format=json_schema_format(schema, name),
        )
        return self._complete(req)

    def warm_up(self) -> None:
        """Load the weights and run a 1-token completion, so the first turn pays neither."""
        t = time.perf_counter()
        self._complete(self._request([HumanMessage("Hi")], None, False, max_tokens=1))
        log.info("llama.cpp warmed up in %.2fs", time.perf_counter() - t)

    def _pieces(
        self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> Iterator[str]:
        req = self._request(
            messages,
            stop,
            True,
            slot=kwargs.get("slot"),
            max_tokens=kwargs.get("max_tokens") or kwargs.get("max_new_tokens"),
        )
        srv = self._srv()
        # The server calls back synchronously while it generates; collect on a thread and
        # hand pieces over through a queue so this stays a true generator. Closing it early
        # (a caller out of time) stops the generation at the next token and frees the slot.
        q: queue.Queue[Any] = queue.Queue()
        done = object()
        cancelled = threading.Event()

        def on_chunk(chunk: Any) -> bool:
            q.put(chunk)
            return cancelled.is_set()  # True stops generation

        def run() -> None:
            try:
                out = srv.handle_chat_completions(req, on_chunk)
                if isinstance(out, dict) and "error" in out:
                    q.put(out)
            except Exception as e:  # surfaced to the consumer below
                q.put(e)
            finally:
                q.put(done)

        threading.Thread(target=run, name="llamacpp-stream", daemon=True).start()
        try:
            while (item := q.get()) is not done:
                if isinstance(item, Exception):
                    raise self._error(item) from item
                if not isinstance(item, dict):
                    continue
                if "error" in item:
                    raise self._error(item)
                if item.get("timings"):
                    self._timings = dict(item["timings"])
                for choice in item.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        yield piece
        finally:
            cancelled.set()


def build_llamacpp(settings: Settings) -> LlamaCppChatModel:
    """The verified GGUF of `settings.llm_local_model` (hash-checked here, so a corrupt file
    fails the build), `settings.llm_threads` threads; the server starts on `load()`/first use."""
    gguf = model_path(settings.llm_local_model, settings.models_dir)
    return LlamaCppChatModel(
        gguf=gguf, threads=settings.llm_threads, max_tokens=settings.llm_max_new_tokens
    )
