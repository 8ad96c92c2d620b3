"""The one way a handler lets the model speak: fill a prompt, generate, check every sentence
against the facts, retry once with the problem stated, and note on the reply what happened."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage

from ..generate import Generation, generate_checked
from ..validate import Facts
from .context import TurnContext

REPLY_SLOT = 1  # llama.cpp slot whose cached prefix is the reply-writing prompts


def phrase_checked(
    ctx: TurnContext,
    prompt: str,
    facts: Facts,
    values: dict[str, Any],
    *,
    emit: Callable[[str], None] | None = None,
    max_sentences: int = 2,
    extra_check: Callable[[str], list[str]] | None = None,
    version: int | None = None,
    render: Callable[[str], str] | None = None,
    retry: bool = True,
) -> Generation | None:
    """Checked sentences from prompt `prompt` filled with `values`, or None without a model.

    Only sentences that pass validation are kept (and emitted as they pass). When the first
    attempt yields nothing usable and time is left, the model tries once more with the problem
    stated; the caller decides what the template says when both fail."""
    deps = ctx.deps
    if deps.llm is None:
        return None
    parts = deps.library.get(prompt, version).messages(store_name=deps.store_name, **values)
    budget = deps.settings.llm_deadline_s
    t0 = time.perf_counter()

    # Only llama.cpp keeps per-slot prompt caches; other backends would send `slot` upstream.
    slot = {"slot": REPLY_SLOT} if getattr(deps.llm, "accepts_slot", False) else {}

    def attempt(messages: list[Any], deadline_s: float) -> Generation:
        return generate_checked(
            deps.llm,  # type: ignore[arg-type]
            messages,
            facts,
            emit,
            max_sentences=max_sentences,
            extra_check=extra_check,
            deadline_s=deadline_s,
            render=render,
            **slot,
        )

    gen = attempt(list(parts), budget)
    left = budget - (time.perf_counter() - t0)
    if retry and gen.failed and not gen.sentences and not gen.error and left > budget / 3:
        problems = "; ".join(dict.fromkeys(gen.problems))[:300]
        again = [
            *parts,
            AIMessage(gen.rejected or "(rejected)"),
            HumanMessage(deps.library.text("replies", "retry_feedback", problems=problems)),
        ]
        second = attempt(again, left)
        second.problems = gen.problems + second.problems
        second.retried = True
        gen = second
    timings = ctx.reply.timings_ms
    timings["generation"] = round((time.perf_counter() - t0) * 1e3, 2)
    timings["validation"] = round(gen.validate_ms, 2)
    if gen.ttft_ms is not None:
        timings["llm_first_token"] = round(gen.ttft_ms, 2)
    ctx.reply.generated = ctx.reply.generated or bool(gen.sentences)
    ctx.reply.fallback = gen.failed and not gen.sentences
    ctx.reply.validation_problems = gen.problems + ([gen.error] if gen.error else [])
    return gen
