"""The one way a handler lets the model speak: fill a prompt, generate, check every sentence
against the facts, and note on the reply what happened."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..generate import Generation, generate_checked
from ..validate import Facts
from .context import TurnContext


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
) -> Generation | None:
    """Checked sentences from prompt `prompt` filled with `values`, or None without a model.

    Only sentences that pass validation are kept (and emitted as they pass); the caller decides
    what the template says when the model fails."""
    deps = ctx.deps
    if deps.llm is None:
        return None
    parts = deps.library.get(prompt, version).messages(store_name=deps.store_name, **values)
    gen = generate_checked(
        deps.llm,
        parts,
        facts,
        emit,
        max_sentences=max_sentences,
        extra_check=extra_check,
        deadline_s=deps.settings.llm_deadline_s,
    )
    timings = ctx.reply.timings_ms
    timings["generation"] = round(gen.ms, 2)
    timings["validation"] = round(gen.validate_ms, 2)
    if gen.ttft_ms is not None:
        timings["llm_first_token"] = round(gen.ttft_ms, 2)
    ctx.reply.generated = bool(gen.sentences)
    ctx.reply.fallback = gen.failed
    ctx.reply.validation_problems = gen.problems + ([gen.error] if gen.error else [])
    return gen
