"""The OpenAI-compatible backend: langchain-openai's `ChatOpenAI` against any server that speaks
/v1/chat/completions (vLLM, llama.cpp's llama-server, Ollama, LM Studio, or OpenAI itself).

`ChatOpenAI` does the HTTP, server-sent-event streaming, timeouts, retries and usage metadata.
`OpenAIChatModel` adds only what the product relied on from its old hand-written client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
from langchain_core.language_models import LanguageModelInput
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from assistant.llm.errors import LLMServiceError


class OpenAIChatModel(ChatOpenAI):
    """`ChatOpenAI` plus what it does differently from what callers relied on:

    - **Clear errors.** Failures raise `LLMServiceError` (a `RuntimeError` and a LangChain
      `ModelError`) that names the URL and the cause: "... answered HTTP 500: model exploded",
      "... timed out after 60s", "cannot reach ...: [Errno 111] Connection refused".
      `ChatOpenAI` raises `openai.APIConnectionError("Connection error.")` and the like, which
      say neither; that exception stays the `__cause__`, and its `is_retryable` is kept.
    - **`max_tokens` on the wire.** `ChatOpenAI` renames it to `max_completion_tokens`, which
      only newer servers read; every OpenAI-compatible server reads `max_tokens`. Set
      `legacy_max_tokens=False` for OpenAI's reasoning models, which reject it.
    - **No key, no header.** With `send_api_key=False` no Authorization header is sent at all
      (the client otherwise insists on a key, and falls back to `OPENAI_API_KEY`).
    - **A `slot` call kwarg is dropped** (the llamacpp backend's prompt-cache slot), so callers
      may pass one to any backend without it reaching the server as an unknown parameter.

    Schema-constrained JSON: `assistant.llm.structured.complete_json` (response_format).
    """

    legacy_max_tokens: bool = True
    send_api_key: bool = True  # False: no Authorization header at all (keyless local servers)

    @property
    def _llm_type(self) -> str:
        return "openai-compatible"

    def _url(self) -> str:
        return f"{(self.openai_api_base or '').rstrip('/')}/chat/completions"

    def _service_error(self, exc: openai.OpenAIError) -> LLMServiceError:
        url = self._url()
        retryable = bool(getattr(exc, "is_retryable", False))
        if isinstance(exc, openai.APITimeoutError):
            message = f"{url} timed out after {self.request_timeout}s"
        elif isinstance(exc, openai.APIConnectionError):
            root: BaseException = exc
            while root.__cause__ is not None:  # the transport's own reason, not "Connection error."
                root = root.__cause__
            message = f"cannot reach {url}: {root}"
        elif isinstance(exc, openai.APIStatusError):
            body = exc.body
            detail = body.get("message", body) if isinstance(body, dict) else body
            message = f"{url} answered HTTP {exc.status_code}: {detail or exc.response.text[:300]}"
            return LLMServiceError(message, status_code=exc.status_code, is_retryable=retryable)
        else:
            message = f"{url}: {exc}"
        return LLMServiceError(message, is_retryable=retryable)

    def _get_request_payload(
        self, input_: LanguageModelInput, *, stop: list[str] | None = None, **kwargs: Any
    ) -> dict:
        kwargs.pop("slot", None)  # a llama.cpp slot (assistant.llm.structured): not ours to send
        payload = super()._get_request_payload(input_, stop=stop, **kwargs)
        if self.legacy_max_tokens and "max_completion_tokens" in payload:
            payload["max_tokens"] = payload.pop("max_completion_tokens")
        if not self.send_api_key:
            payload["extra_headers"] = {"Authorization": openai.Omit()}
        return payload

    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        try:
            return super()._generate(*args, **kwargs)
        except openai.OpenAIError as exc:
            raise self._service_error(exc) from exc

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        try:
            yield from super()._stream(*args, **kwargs)
        except openai.OpenAIError as exc:
            raise self._service_error(exc) from exc

    async def _agenerate(self, *args: Any, **kwargs: Any) -> ChatResult:
        try:
            return await super()._agenerate(*args, **kwargs)
        except openai.OpenAIError as exc:
            raise self._service_error(exc) from exc

    async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        try:
            async for chunk in super()._astream(*args, **kwargs):
                yield chunk
        except openai.OpenAIError as exc:
            raise self._service_error(exc) from exc


def normalise_base_url(base_url: str) -> str:
    """`http://host/v1`, also when given with a trailing slash or `/chat/completions`."""
    base = base_url.rstrip("/")
    return base.removesuffix("/chat/completions")


def openai_chat_model(
    base_url: str,
    model: str,
    api_key: str | None = None,
    timeout_s: float = 60.0,
    max_tokens: int = 160,
    *,
    temperature: float = 0.0,
    max_retries: int = 2,
    stop: list[str] | None = None,
    stream_usage: bool = True,
    **kwargs: Any,
) -> OpenAIChatModel:
    """A chat model for the OpenAI-compatible server at `base_url` (e.g. http://127.0.0.1:8000/v1).

    Greedy by default (temperature 0). `timeout_s` bounds each connect/read/write;
    `max_retries` retries connection errors, timeouts, 408/409/429 and 5xx with backoff (pass 0
    where a caller has its own latency budget). `stop` is a default stop list (a call's own
    `stop=` overrides it). With `stream_usage`, a streamed answer ends with a chunk carrying
    `usage_metadata`. Extra keyword arguments go to `ChatOpenAI`.

    No key is read from the environment: `api_key=None` sends no Authorization header, so an
    `OPENAI_API_KEY` meant for OpenAI never reaches a self-hosted server.
    """
    return OpenAIChatModel(
        base_url=normalise_base_url(base_url),
        model=model,
        # The client refuses "" and reads OPENAI_API_KEY for None: give it a placeholder and
        # leave the Authorization header out instead.
        api_key=SecretStr(api_key or "unused"),
        send_api_key=bool(api_key),
        timeout=timeout_s,
        max_completion_tokens=max_tokens,  # the field's alias; sent as max_tokens (see above)
        temperature=temperature,
        max_retries=max_retries,
        stop_sequences=stop,
        stream_usage=stream_usage,
        use_responses_api=False,  # most compatible servers have no /responses
        **kwargs,
    )
