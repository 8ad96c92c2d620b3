"""Structured (JSON) output, warm-up and llama.cpp slots, the same way for every backend.

    from assistant.llm.structured import SLOT_REPLY, SLOT_UNDERSTAND, complete_json, slot_kwargs

    raw = complete_json(llm, messages, COMMANDS_JSON_SCHEMA, name="commands",
                        max_tokens=120, slot=SLOT_UNDERSTAND)      # the raw JSON text
    for chunk in llm.stream(messages, **slot_kwargs(llm, SLOT_REPLY)): ...
    warm_up_model(llm)                                            # at start-up, best effort

**complete_json** dispatches on the model object:

1. it has its own `complete_json(messages, schema, *, name, max_tokens, slot)` method: that is
   called (LlamaCppChatModel: grammar-constrained decoding, temperature 0; scripted test fakes
   implement it too);
2. it is a langchain-openai `ChatOpenAI` (the `openai` backend): `response_format` json_schema,
   temperature 0 (vLLM and llama.cpp's server constrain decoding with it; OpenAI treats it as
   best effort unless the schema meets its strict rules);
3. anything else (the transformers `local` backend, plugins): a plain `invoke(messages)`, nothing
   constrains the answer.

Markdown fences around the answer are removed. Every failure, the model's own or an empty
answer, raises `LLMServiceError`; the text is *not* validated against the schema here: parse it
(e.g. `assistant.commands.schema.parse_commands`), since only llama.cpp and vLLM guarantee it.

**Slots** matter only for the llamacpp backend (each slot keeps its own prompt cache; slot 0 for
the understanding step, slot 1 for replies): pass `slot=` to `complete_json`, and
`**slot_kwargs(llm, SLOT_REPLY)` to `stream()`/`invoke()`, which is `{"slot": 1}` on a model whose
`accepts_slot` is True and `{}` elsewhere (the OpenAI client would send an unknown `slot` to the
server; the OpenAI backend drops it anyway). `llm.bind(slot=1)` works as well.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from assistant.llm.errors import LLMServiceError

log = logging.getLogger(__name__)

SLOT_UNDERSTAND = 0  # llama.cpp slot whose cached prefix is the understanding prompt
SLOT_REPLY = 1  # llama.cpp slot whose cached prefix is the reply-writing prompts

_FENCED = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n?(.*?)\n?[ \t]*```", re.S)


def accepts_slot(llm: object) -> bool:
    """Whether `llm` takes a `slot` call kwarg (the llamacpp backend)."""
    return bool(getattr(llm, "accepts_slot", False))


def slot_kwargs(llm: object, slot: int | None) -> dict[str, Any]:
    """`{"slot": slot}` for a model that has slots, else `{}`: splat it into stream()/invoke()."""
    return {"slot": slot} if slot is not None and accepts_slot(llm) else {}


def strip_fences(text: str) -> str:
    """The inside of the first ``` fenced block, if there is one; the text, stripped."""
    m = _FENCED.search(text)
    return (m.group(1) if m else text).strip()


def json_schema_format(schema: dict[str, Any], name: str = "commands") -> dict[str, Any]:
    """`response_format` for schema-constrained output (llama.cpp, vLLM, OpenAI)."""
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}


def _is_chat_openai(llm: object) -> bool:
    # Only a loaded langchain_openai can have built one: no import (openai is slow to import).
    mod = sys.modules.get("langchain_openai")
    return mod is not None and isinstance(llm, mod.ChatOpenAI)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks: keep the text parts
        return "".join(
            b if isinstance(b, str) else str(b.get("text", ""))
            for b in content
            if isinstance(b, str) or (isinstance(b, dict) and b.get("type") == "text")
        )
    return ""


def complete_json(
    llm: BaseChatModel,
    messages: list[BaseMessage],
    schema: dict[str, Any],
    *,
    name: str = "commands",
    max_tokens: int = 256,
    slot: int | None = None,
) -> str:
    """The model's answer to `messages` as raw JSON text, constrained to `schema` where the
    backend can (see the module docstring). Raises LLMServiceError."""
    t = time.perf_counter()
    own = getattr(llm, "complete_json", None)
    try:
        if callable(own):
            raw = own(messages, schema, name=name, max_tokens=max_tokens, slot=slot)
        elif _is_chat_openai(llm):
            msg = llm.invoke(
                messages,
                response_format=json_schema_format(schema, name),
                max_tokens=max_tokens,
                temperature=0,
            )
            raw = _text(msg.content)
        else:
            kwargs: dict[str, Any] = {}
            from assistant.llm.text_stream import TextStreamChatModel

            if isinstance(llm, TextStreamChatModel):  # the local backend reads this one
                kwargs["max_new_tokens"] = max_tokens
            raw = _text(llm.invoke(messages, **kwargs).content)
    except LLMServiceError:
        raise
    except Exception as e:
        raise LLMServiceError(
            f"{type(llm).__name__} failed to answer JSON: {type(e).__name__}: {e}"
        ) from e
    if not isinstance(raw, str):
        raise LLMServiceError(f"{type(llm).__name__}.complete_json returned {type(raw).__name__}")
    text = strip_fences(raw)
    if not text:
        raise LLMServiceError(f"{type(llm).__name__} answered no JSON text")
    log.debug("complete_json(%s) in %.2fs: %s", name, time.perf_counter() - t, text[:200])
    return text


def warm_up_model(llm: object) -> None:
    """`llm.warm_up()` when the model has one (llamacpp: load and a 1-token completion; local:
    load the weights and one token), else nothing. Errors propagate: the caller decides."""
    warm = getattr(llm, "warm_up", None)
    if callable(warm):
        warm()
