"""A chat model for any OpenAI-compatible server (/v1/chat/completions): vLLM, llama.cpp's
llama-server, Ollama, LM Studio, or OpenAI itself. Plain httpx, so no extra SDK (and no
second torch) enters the venv.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import SecretStr

from assistant.llm.messages import to_role_dicts

log = logging.getLogger(__name__)


class LLMServiceError(RuntimeError):
    """The remote model server could not be reached or answered with an error."""


class OpenAICompatChatModel(BaseChatModel):
    """Greedy (temperature 0) chat completions, streamed over server-sent events."""

    base_url: str  # e.g. http://127.0.0.1:8000/v1
    model: str
    api_key: SecretStr | None = None
    timeout_s: float = 60.0
    max_tokens: int = 160
    temperature: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "openai-compatible"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "model": self.model}

    def _url(self) -> str:
        base = self.base_url.rstrip("/")
        return base if base.endswith("/chat/completions") else f"{base}/chat/completions"

    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if self.api_key is not None:
            h["Authorization"] = f"Bearer {self.api_key.get_secret_value()}"
        return h

    def _body(self, messages: list[BaseMessage], stop: list[str] | None, stream: bool) -> dict:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": to_role_dicts(messages),
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "stream": stream,
        }
        if stop:
            body["stop"] = stop
        return body

    def _error(self, resp: httpx.Response) -> LLMServiceError:
        try:
            detail = resp.json().get("error", {})
            detail = detail.get("message", detail) if isinstance(detail, dict) else detail
        except (ValueError, AttributeError):
            detail = resp.text[:300]
        return LLMServiceError(f"{self._url()} answered HTTP {resp.status_code}: {detail}")

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        try:
            resp = httpx.post(
                self._url(),
                json=self._body(messages, stop, stream=False),
                headers=self._headers(),
                timeout=self.timeout_s,
            )
        except httpx.TimeoutException as e:
            raise LLMServiceError(f"{self._url()} timed out after {self.timeout_s}s") from e
        except httpx.HTTPError as e:
            raise LLMServiceError(f"cannot reach {self._url()}: {e}") from e
        if resp.status_code != 200:
            raise self._error(resp)
        try:
            data = resp.json()
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise LLMServiceError(
                f"{self._url()} sent an unexpected reply: {resp.text[:300]}"
            ) from e
        msg = AIMessage(
            content=text, response_metadata={"finish_reason": choice.get("finish_reason")}
        )
        return ChatResult(generations=[ChatGeneration(message=msg)], llm_output=data.get("usage"))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        body = self._body(messages, stop, stream=True)
        try:
            with httpx.stream(
                "POST", self._url(), json=body, headers=self._headers(), timeout=self.timeout_s
            ) as resp:
                if resp.status_code != 200:
                    resp.read()
                    raise self._error(resp)
                for piece in _sse_deltas(resp.iter_lines()):
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
                    if run_manager:
                        run_manager.on_llm_new_token(piece, chunk=chunk)
                    yield chunk
        except httpx.TimeoutException as e:
            raise LLMServiceError(f"{self._url()} timed out after {self.timeout_s}s") from e
        except httpx.HTTPError as e:
            raise LLMServiceError(f"cannot reach {self._url()}: {e}") from e


def _sse_deltas(lines: Iterator[str]) -> Iterator[str]:
    """Content deltas from an OpenAI SSE stream (`data: {...}` lines, ended by `data: [DONE]`)."""
    for line in lines:
        if not line.startswith("data:"):
            continue  # blank separators, comments (": ping"), event: lines
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        try:
            event = json.loads(payload)
        except ValueError as e:
            raise LLMServiceError(f"bad SSE event from server: {payload[:200]}") from e
        if "error" in event:
            raise LLMServiceError(f"server error mid-stream: {event['error']}")
        for choice in event.get("choices", []):
            piece = (choice.get("delta") or {}).get("content")
            if piece:
                yield piece
