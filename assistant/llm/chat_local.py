"""LangChain chat model over the in-process LocalGenerator (transformers)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.messages import BaseMessage
from pydantic import ConfigDict

from assistant.llm.local import LocalGenerator
from assistant.llm.messages import to_role_dicts
from assistant.llm.text_stream import TextStreamChatModel


class LocalChatModel(TextStreamChatModel):
    """Greedy local generation; the model's own chat template renders the conversation.

    No tool calling: the packaged models do not emit reliable tool calls, so callers route
    with code and use this model only to phrase answers. No constrained decoding either:
    `assistant.llm.structured.complete_json` asks it plainly and the caller validates. A `slot`
    call kwarg (llama.cpp's) is ignored.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)
    generator: LocalGenerator
    max_new_tokens: int | None = None

    @property
    def _llm_type(self) -> str:
        return "shopassist-local"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        g = self.generator
        return {"model": g.model_key, "quantize": g.quantize, "threads": g.threads}

    def warm_up(self) -> None:
        """Load (or convert) the weights and decode one token: the first turn pays neither."""
        self.generator.load()
        prompt = self.generator.render([{"role": "user", "content": "Hi"}])
        for _ in self.generator.stream(prompt, 1):
            pass

    def _prompt(self, messages: list[BaseMessage]) -> str:
        return self.generator.render(to_role_dicts(messages))

    def _pieces(
        self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> Iterator[str]:
        max_new = kwargs.get("max_new_tokens") or self.max_new_tokens
        yield from self.generator.stream(self._prompt(messages), max_new, stop)
