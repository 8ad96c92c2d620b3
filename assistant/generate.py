"""Generation that is checked sentence by sentence before anything reaches the shopper.

Tokens stream from the model into a buffer; each completed sentence is validated and only then
emitted. The first sentence that fails stops generation, and the caller falls back to templates.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from .validate import Facts, check

log = logging.getLogger(__name__)
# A sentence ends at . ! ? before a space, at Chinese 。！？ (no space follows them), and at an
# ASCII ! or ? right before a Han character ("太好了!这款...").
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])\s*|(?<=[!?])(?=[\u3400-\u9fff])|\n+")
_END_MARKS = ".!?。！？"
_CJK_END = "。！？"
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def gap_after(previous: str) -> str:
    """What goes between a sentence and the next: a space, or nothing after 。！？ (Chinese
    sentences are not spaced)."""
    return "" if previous.rstrip().endswith(tuple(_CJK_END)) else " "


def too_short(sentence: str) -> bool:
    """Fewer than three words and fewer than four Han characters: "Ibid.", "Sure!", "好的！"."""
    return len(sentence.split()) < 3 and len(_HAN.findall(sentence)) < 4


@dataclass
class Generation:
    sentences: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    failed: bool = False
    error: str | None = None
    ttft_ms: float | None = None
    tokens: int = 0
    ms: float = 0.0
    validate_ms: float = 0.0
    rejected: str = ""  # the first sentence that failed, for a retry's context
    retried: bool = False

    @property
    def text(self) -> str:
        out = ""
        for sentence in self.sentences:
            out += (gap_after(out) if out else "") + sentence
        return out


def to_messages(parts: Sequence[BaseMessage | tuple[str, str]]) -> list[BaseMessage]:
    """LangChain messages (what `PromptTemplate.messages()` returns) pass through unchanged;
    (role, text) pairs become system / human messages."""
    return [
        p
        if isinstance(p, BaseMessage)
        else SystemMessage(p[1])
        if p[0] == "system"
        else HumanMessage(p[1])
        for p in parts
    ]


def generate_checked(
    llm: BaseChatModel,
    parts: Sequence[BaseMessage | tuple[str, str]],
    facts: Facts,
    emit: Callable[[str], None] | None = None,
    max_sentences: int = 2,
    extra_check: Callable[[str], list[str]] | None = None,
    deadline_s: float = 4.0,
    render: Callable[[str], str] | None = None,
    **model_kwargs: Any,
) -> Generation:
    """`render` turns the model's sentence into what the shopper sees (e.g. `[1]` → the product's
    name) before it is checked; `model_kwargs` go to the model's stream (e.g. a llama.cpp slot)."""
    gen = Generation()
    t0 = time.perf_counter()
    buffer = ""

    def accept(sentence: str) -> bool:
        sentence = sentence.strip().strip("*").strip()
        if too_short(sentence):
            return True  # "Ibid.", "Sure!", "好的！": nothing to show, nothing wrong
        if render is not None:
            sentence = render(sentence)
        tv = time.perf_counter()
        verdict = check(sentence, facts)
        problems = verdict.problems + (extra_check(sentence) if extra_check else [])
        gen.validate_ms += (time.perf_counter() - tv) * 1e3
        if problems:
            gen.problems += problems
            gen.failed = True
            gen.rejected = gen.rejected or sentence
            log.info("generated sentence rejected: %s", problems)
            return False
        gen.sentences.append(sentence)
        if emit:
            emit(sentence)
        return True

    try:
        stream: Iterator = llm.stream(to_messages(parts), **model_kwargs)
        for chunk in stream:
            piece = chunk.content if isinstance(chunk.content, str) else ""
            if not piece:
                continue
            if gen.ttft_ms is None:
                gen.ttft_ms = (time.perf_counter() - t0) * 1e3
            gen.tokens += 1
            buffer += piece
            if time.perf_counter() - t0 > deadline_s:
                # Out of time: keep what is checked, drop the unfinished tail.
                gen.problems.append(f"generation stopped at the {deadline_s:.0f}s budget")
                buffer = ""
                break
            *done, buffer = _SENTENCE_END.split(buffer)
            for sentence in done:
                if not accept(sentence) or len(gen.sentences) >= max_sentences:
                    buffer = ""
                    break
            else:
                continue
            break
        # A tail without an end mark was cut off by the token limit: drop it.
        tail = buffer.strip()
        if (
            tail
            and not gen.failed
            and len(gen.sentences) < max_sentences
            and tail[-1] in _END_MARKS
        ):
            accept(tail)
    except Exception as exc:  # the model server went away, a local OOM: never crash the turn
        log.warning("generation failed: %s", exc)
        gen.error = str(exc)
        gen.failed = True
    gen.ms = (time.perf_counter() - t0) * 1e3
    return gen
