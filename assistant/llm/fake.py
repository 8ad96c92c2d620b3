"""A scripted, deterministic chat model for tests: no weights, no network, still streams."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, PrivateAttr

Script = list[str | AIMessage] | Callable[[list[BaseMessage]], str | AIMessage]


class ScriptedChatModel(BaseChatModel):
    """Answers from a script: a list consumed in order (then repeating the last item), or a
    function of the conversation. Items may be AIMessages carrying tool_calls, so agent tests
    can drive tool use. Streams word by word so UIs and agents see real chunking.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)
    responses: Any  # Script; Any because pydantic cannot validate a Callable union cleanly
    _turn: int = PrivateAttr(default=0)
    calls: list[list[BaseMessage]] = []  # every conversation seen, for assertions

    def __init__(self, responses: Script, **kwargs: Any) -> None:
        super().__init__(responses=responses, calls=[], **kwargs)

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        """Tools are ignored: the script decides when to emit tool calls."""
        return self

    def _next(self, messages: list[BaseMessage]) -> AIMessage:
        self.calls.append(list(messages))
        if callable(self.responses):
            out = self.responses(messages)
        else:
            if not self.responses:
                raise ValueError("ScriptedChatModel has an empty script")
            out = self.responses[min(self._turn, len(self.responses) - 1)]
            self._turn += 1
        return out if isinstance(out, AIMessage) else AIMessage(content=out)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        msg = self._next(messages)
        text = msg.text
        for piece in re.findall(r"\S+\s*|\s+", text):  # words with their trailing space
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        if msg.tool_calls:
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="",
                    tool_call_chunks=[
                        {"name": c["name"], "args": _json(c["args"]), "id": c["id"], "index": i}
                        for i, c in enumerate(msg.tool_calls)
                    ],
                )
            )


def _json(args: dict[str, Any]) -> str:
    import json

    return json.dumps(args)
