"""The chat agent. One turn, as data: guards → route → a handler per intent → reply.

Handlers (`assistant.turn`) decide every fact through the tools; the model only phrases, and
every sentence it writes is checked. When the model is missing, slow or wrong, templates built
from the same facts answer instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from langchain_core.language_models import BaseChatModel

from retrieval.db import ChatLogRow
from retrieval.events import utcnow
from retrieval.stack import RetrievalStack

from .conversation import ConversationState, Reply, ToolCall
from .guards import GuardError, redact, screen
from .prompts import PromptLibrary
from .router import IntentRouter
from .tools import AgentTools
from .turn import HANDLERS, TurnContext, TurnDeps
from .turn.service import handoff

log = logging.getLogger(__name__)
_REFUSALS = {
    "prompt_extraction": "refuse_prompt",
    "instruction_override": "refuse_injection",
    "price_manipulation": "refuse_price",
    "data_exfiltration": "refuse_data",
}
_LOW_CONFIDENCE_HANDOFF = 3  # unclear messages in a row before a human takes over


def system_prompt_lines(library: PromptLibrary) -> tuple[str, ...]:
    """Distinctive lines of our system prompts: quoting one in a reply leaks the prompt."""
    return tuple(
        line.strip()
        for name, _ in library.names()
        if name in ("recommend", "support", "policy")
        for line in library.get(name).parts.get("system", "").splitlines()
        if len(line.strip()) > 30 and "{{" not in line
    )


class Agent:
    def __init__(
        self,
        stack: RetrievalStack,
        llm: BaseChatModel | None,
        library: PromptLibrary | None = None,
        router: IntentRouter | None = None,
        tools: AgentTools | None = None,
    ) -> None:
        library = library or PromptLibrary()
        self.router = router or IntentRouter(stack.encoder, library)
        self.deps = TurnDeps(
            stack, library, tools or AgentTools(stack), llm, system_prompt_lines(library)
        )

    @property
    def llm(self) -> BaseChatModel | None:
        return self.deps.llm

    @llm.setter
    def llm(self, model: BaseChatModel | None) -> None:
        self.deps.llm = model  # the runtime swaps the model in once it has loaded

    @property
    def stack(self) -> RetrievalStack:
        return self.deps.stack

    @property
    def library(self) -> PromptLibrary:
        return self.deps.library

    @property
    def tools(self) -> AgentTools:
        return self.deps.tools

    # Public API ------------------------------------------------------------------------------
    def turn(self, state: ConversationState, message: str) -> Reply:
        reply = None
        for item in self.stream(state, message):
            if isinstance(item, Reply):
                reply = item
        assert reply is not None
        return reply

    def stream(self, state: ConversationState, message: str) -> Iterator[str | Reply]:
        """Yield checked text pieces as they are ready, then the final Reply."""
        pieces: list[str] = []
        ctx = TurnContext(
            self.deps, state, message, Reply(text="", intent="unknown"), pieces.append
        )
        for _ in self._run(ctx):
            yield from _drain(pieces)
        yield from _drain(pieces)
        ctx.reply.timings_ms["total"] = round((time.perf_counter() - ctx.t0) * 1e3, 2)
        self._log(ctx)
        yield ctx.reply

    # The turn --------------------------------------------------------------------------------
    def _run(self, ctx: TurnContext) -> Iterator[None]:
        state, reply, settings = ctx.state, ctx.reply, self.deps.settings
        t = time.perf_counter()
        try:
            screened = screen(ctx.message, settings.max_message_chars)
        except GuardError as exc:
            reply.intent, reply.refused = "invalid", exc.code
            if exc.code == "too_long":
                n, limit = f"{len(ctx.message):,}", f"{settings.max_message_chars:,}"
                ctx.say_template("too_long", n=n, limit=limit)
            else:
                ctx.say(str(exc).capitalize() + ".")
            return
        if state.turns >= settings.max_turns:
            reply.intent, reply.refused = "limit", "too_many_turns"
            ctx.say_template("too_many_turns")
            return
        state.turns += 1
        t = ctx.lap("guard", t)
        if screened.attack:
            reply.intent, reply.refused = "refused", screened.attack
            ctx.say_template(_REFUSALS[screened.attack])
            return
        ctx.text = screened.text
        route = self.router.route(ctx.text, has_shown_products=bool(state.shown))
        reply.intent, reply.route_confidence = route.intent, round(route.confidence, 3)
        ctx.lap("routing", t)
        if route.method == "embedding-low":
            state.low_confidence += 1
            if state.low_confidence >= _LOW_CONFIDENCE_HANDOFF:
                yield from handoff(ctx, route, reason="low_confidence")
                return
        else:
            state.low_confidence = 0
        yield from HANDLERS[route.intent](ctx, route)

    def _log(self, ctx: TurnContext) -> None:
        state, reply = ctx.state, ctx.reply
        meta = {
            "intent": reply.intent,
            "cited": reply.cited_ids,
            "refused": reply.refused,
            "fallback": reply.fallback,
        }
        # PostgreSQL text cannot hold NUL bytes (SQLite can): drop them.
        said = redact(ctx.message[:4000].replace("\x00", ""))
        try:
            with self.deps.stack.db.session() as s:
                for role, text, m in (("user", said, {}), ("assistant", redact(reply.text), meta)):
                    s.add(
                        ChatLogRow(
                            user_id=state.user_id,
                            session_id=state.session_id,
                            role=role,
                            text=text,
                            meta=m,
                            ts=utcnow(),
                        )
                    )
        except Exception as exc:  # a full disk must not take the conversation down
            log.error("could not write the chat log: %s", exc)


def _drain(pieces: list[str]) -> Iterator[str]:
    while pieces:
        yield pieces.pop(0)


__all__ = ["Agent", "ConversationState", "Reply", "ToolCall"]
