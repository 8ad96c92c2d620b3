"""Optional llama.cpp backend through the prebuilt `xllamacpp` wheel (not a default dependency).

Why offer it: on the same GGUF it decodes several times faster than transformers on CPU and
often the same greedy text. It runs llama.cpp's own server engine in-process; that engine also
listens on a random loopback port, which we lock with a random API key.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage
from pydantic import ConfigDict, PrivateAttr

from assistant.llm.messages import to_role_dicts
from assistant.llm.model_files import model_path
from assistant.llm.text_stream import TextStreamChatModel

if TYPE_CHECKING:
    from retrieval.settings import Settings

log = logging.getLogger(__name__)


def server_params(gguf: Path, threads: int = 2, n_ctx: int = 4096) -> Any:
    """xllamacpp.CommonParams for a server over `gguf` that answers one request at a time,
    locked with a fresh random API key (`params.api_keys[0]`)."""
    try:
        import xllamacpp as xlc
    except ImportError as e:
        raise RuntimeError("the llamacpp backend needs `pip install xllamacpp`") from e
    params = xlc.CommonParams()
    params.model.path = str(gguf)
    params.n_ctx = n_ctx
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.warmup = False
    # Default host is 127.0.0.1; the key stops other local users (in-process calls skip HTTP).
    params.api_keys = [secrets.token_urlsafe(24)]
    return params


def make_server(gguf: Path, threads: int = 2, n_ctx: int = 4096) -> Any:
    """An in-process xllamacpp.Server over `gguf` (greedy sampling set per request)."""
    params = server_params(gguf, threads, n_ctx)
    import xllamacpp as xlc

    return xlc.Server(params)


class LlamaCppChatModel(TextStreamChatModel):
    """Chat completions against an in-process llama.cpp server; greedy (temperature 0)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    gguf: Path
    threads: int = 2
    max_tokens: int = 160
    _server: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "llamacpp"

    def _srv(self) -> Any:
        with self._lock:
            if self._server is None:
                self._server = make_server(self.gguf, self.threads)
            return self._server

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, stream: bool) -> dict:
        req: dict[str, Any] = {
            "messages": to_role_dicts(messages),
            "max_tokens": self.max_tokens,
            "temperature": 0.0,
            "top_k": 1,
            "stream": stream,
        }
        if stop:
            req["stop"] = stop
        return req

    def _pieces(
        self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> Iterator[str]:
        # The server calls back synchronously while it generates; collect on a thread and
        # hand pieces over through a queue so this stays a true generator.
        import queue

        q: queue.Queue[Any] = queue.Queue()
        done = object()

        def on_chunk(chunk: Any) -> bool:
            q.put(chunk)
            return False  # True would stop generation

        def run() -> None:
            try:
                self._srv().handle_chat_completions(self._request(messages, stop, True), on_chunk)
            except Exception as e:  # surfaced to the consumer below
                q.put(e)
            finally:
                q.put(done)

        threading.Thread(target=run, daemon=True).start()
        while (item := q.get()) is not done:
            if isinstance(item, Exception):
                raise item
            if isinstance(item, dict) and "error" in item:
                raise RuntimeError(f"llama.cpp error: {item['error']}")
            for choice in (item or {}).get("choices", []) if isinstance(item, dict) else []:
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    yield piece


def build_llamacpp(settings: Settings) -> LlamaCppChatModel:
    gguf = model_path(settings.llm_local_model, settings.models_dir)
    return LlamaCppChatModel(
        gguf=gguf, threads=settings.torch_threads, max_tokens=settings.llm_max_new_tokens
    )
