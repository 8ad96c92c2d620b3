"""Fake chat models for tests and the model-free `fake` backend: LangChain's own, with a thin
subclass for the few things they cannot do."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

Reply = str | AIMessage
Script = Sequence[Reply] | Callable[[list[BaseMessage]], Reply]


def canned_chat_model(text: str) -> GenericFakeChatModel:
    """LangChain's fake model answering `text` to everything, streamed word by word."""
    return GenericFakeChatModel(messages=itertools.repeat(text))


def _in_order_then_last(replies: Sequence[Reply]) -> Iterator[Reply]:
    if not replies:
        raise ValueError("ScriptedChatModel has an empty script")
    yield from replies
    yield from itertools.repeat(replies[-1])


class ScriptedChatModel(GenericFakeChatModel):
    """LangChain's `GenericFakeChatModel` (streams word by word, fires token callbacks), plus
    what it cannot do and our tests need:

    - a script that is a function of the conversation (`ScriptedChatModel(lambda msgs: ...)`),
      not only a fixed iterator: tests answer from what the model was shown;
    - a list that repeats its last reply when used up (theirs raises `StopIteration`;
      `FakeListChatModel` cycles back to the first);
    - `calls`: every conversation the model saw, for assertions (e.g. that PII was redacted);
    - replies carrying `tool_calls` keep them when streamed (theirs streams only the text and
      `additional_kwargs`), and `bind_tools()` is accepted, so `create_agent` can be driven.
    """

    messages: Iterator[Reply] = Field(default_factory=lambda: iter(()))
    respond: Callable[[list[BaseMessage]], Reply] | None = None
    calls: list[list[BaseMessage]] = Field(default_factory=list)

    def __init__(self, responses: Script, **kwargs: Any) -> None:
        if callable(responses):
            super().__init__(**kwargs)
            self.respond = responses
        else:
            super().__init__(messages=_in_order_then_last(list(responses)), **kwargs)

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        """Tools are ignored: the script decides when to emit tool calls."""
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.calls.append(list(messages))
        out = self.respond(messages) if self.respond is not None else next(self.messages)
        msg = out if isinstance(out, AIMessage) else AIMessage(content=out)
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        msg = self._generate(messages, stop, **kwargs).generations[0].message
        assert isinstance(msg, AIMessage)
        calls = msg.tool_calls
        # LangChain's own chunking (and token callbacks), over this one reply.
        plain = GenericFakeChatModel(messages=iter([msg]))
        for chunk in plain._stream(messages, stop, run_manager):
            if calls and isinstance(chunk.message, AIMessageChunk):
                chunk.message.chunk_position = None  # the tool-call chunk below comes last
            yield chunk
        if calls:
            tool_chunk = ChatGenerationChunk(
                message=AIMessageChunk(
                    content="",
                    tool_call_chunks=[
                        {
                            "name": c["name"],
                            "args": json.dumps(c["args"]),
                            "id": c["id"],
                            "index": i,
                        }
                        for i, c in enumerate(calls)
                    ],
                    chunk_position="last",
                )
            )
            if run_manager:
                run_manager.on_llm_new_token("", chunk=tool_chunk)
            yield tool_chunk
