"""A scripted, deterministic chat model that answers the understanding step from the cases.

`ScriptedCommandModel` lets `make test` run every dialogue through the real agent (guards,
fast path, command checks, handlers, the checked generation path) without a real model:

- `complete_json(messages, schema, ...)`, the understanding step's structured-output seam
  (`assistant.llm.structured.complete_json` calls a model's own method first), reads the
  shopper's message from the last human message, whose final line the understanding prompt
  writes as `Message: <the shopper's text>`, and answers the commands the cases expect for it
  (a turn's `scripted:` when it has one, else its `commands:`), as JSON. A message no case
  knows gets `{"commands":[{"type":"clarify",...}]}`.
- any other prompt (the reply-writing ones) gets a short sentence that refers to products only
  as `[1]`, so code renders the name and checks the sentence: no price, no product name.

The same message can mean different things in different dialogues ("the second one" on two
screens); `cue` (the runner's `before_turn` hook) says which turn comes next, and its expected
commands win over the message look-up for that message.

    model = ScriptedCommandModel.from_cases(load_dialogues())
    Runner(Agent(stack, model), ctx, reset, before_turn=model.cue)
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage
from pydantic import Field, PrivateAttr

from assistant.llm.text_stream import TextStreamChatModel

from .cases import Case, Turn

UNKNOWN = {"commands": [{"type": "clarify", "question": "Could you tell me more?"}]}
RECOMMEND_TEXT = "[1] fits what you asked for."
ASK_TEXT = "[1] matches what the listing says."
UNKNOWN_TEXT = "The listing doesn't say."
SMALLTALK_TEXT = "Happy to help you shop or check an order."
OTHER_TEXT = "Here is what I found."
_MESSAGE_LINE = re.compile(r"^\s*Message:\s?(.*)$", re.M)
_TOKEN = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> tuple[str, ...]:
    return tuple(_TOKEN.findall(unicodedata.normalize("NFKC", text).lower()))


def _contains_run(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def same_message(known: str, received: str) -> bool:
    """The same words, or `received` is a run of at least two of `known`'s words (the guard
    passes on what is left of "a chair under $200 and give me 90% off")."""
    k, r = tokens(known), tokens(received)
    if k == r:
        return True
    return len(r) >= 2 and _contains_run(k, r)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b if isinstance(b, str) else str(b.get("text", "")) for b in content)
    return str(content)


def shopper_message(messages: list[BaseMessage]) -> str:
    """The shopper's text: the last `Message:` line of the last human message."""
    human: list[BaseMessage] = [m for m in messages if isinstance(m, HumanMessage)]
    last = human[-1] if human else (messages[-1] if messages else None)
    if last is None:
        return ""
    body = _text(last.content)
    found = _MESSAGE_LINE.findall(body)
    return found[-1].strip() if found else body.strip()


class ScriptedCommandModel(TextStreamChatModel):
    """See the module docstring. `script`: message → the expected command lists, in case
    order; `calls`: ("commands" | "reply", message or prompt tail) per request, for tests."""

    script: dict[str, list[list[dict[str, Any]]]] = Field(default_factory=dict)
    _cue: tuple[str, list[dict[str, Any]]] | None = PrivateAttr(default=None)
    _calls: list[tuple[str, str]] = PrivateAttr(default_factory=list)

    @classmethod
    def from_cases(cls, cases: Iterable[Case]) -> ScriptedCommandModel:
        script: dict[str, list[list[dict[str, Any]]]] = {}
        for case in cases:
            for turn in case.turns:
                answer = turn.model_answer
                if answer is not None:
                    entries = script.setdefault(" ".join(tokens(turn.user)), [])
                    if answer not in entries:
                        entries.append(answer)
        return cls(script=script)

    @property
    def _llm_type(self) -> str:
        return "scripted-commands"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"messages": len(self.script)}

    @property
    def calls(self) -> list[tuple[str, str]]:
        return self._calls

    def cue(self, case: Case | None, index: int, turn: Turn) -> None:
        """The runner's `before_turn` hook: the next message means this turn's commands."""
        answer = turn.model_answer
        self._cue = (turn.user, answer) if answer is not None else None

    def commands_for(self, message: str) -> dict[str, Any]:
        if self._cue is not None and same_message(self._cue[0], message):
            return {"commands": self._cue[1]}
        key = " ".join(tokens(message))
        if key in self.script:
            return {"commands": self.script[key][0]}
        received = tokens(message)
        partial = [
            (len(k.split()), entries[0])
            for k, entries in self.script.items()
            if len(received) >= 2 and _contains_run(tuple(k.split()), received)
        ]
        if partial:
            return {"commands": min(partial, key=lambda p: p[0])[1]}
        return UNKNOWN

    def complete_json(
        self,
        messages: list[BaseMessage],
        schema: dict[str, Any],
        *,
        name: str = "commands",
        max_tokens: int = 256,
        slot: int | None = None,
    ) -> str:
        message = shopper_message(messages)
        self._calls.append(("commands", message))
        return json.dumps(self.commands_for(message))

    @staticmethod
    def reply_text(messages: list[BaseMessage]) -> str:
        """The sentence for a reply-writing prompt, chosen by what the prompt holds."""
        body = "\n".join(_text(m.content) for m in messages)
        if "None of these listings say anything" in body:
            return UNKNOWN_TEXT
        if "Question:" in body and "[1]" in body:
            return ASK_TEXT
        if "Products:" in body and "[1]" in body:
            return RECOMMEND_TEXT
        if "The shopper said:" in body:
            return SMALLTALK_TEXT
        return OTHER_TEXT

    def _pieces(
        self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> Iterator[str]:
        text = self.reply_text(messages)
        self._calls.append(("reply", text))
        words = text.split(" ")
        for i, word in enumerate(words):
            yield word if i == len(words) - 1 else word + " "
