"""What a handler works with: its dependencies, and the turn it is answering."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.language_models import BaseChatModel

from retrieval.settings import Settings
from retrieval.stack import RetrievalStack

from ..conversation import ConversationState, ProductCard, Reply
from ..i18n import reason_text
from ..prompts import PromptLibrary
from ..support import SupportDesk
from ..tools import AgentTools
from ..validate import Facts

log = logging.getLogger(__name__)


@dataclass
class TurnDeps:
    """Everything a handler may use. The model is swapped in once it has loaded."""

    stack: RetrievalStack
    library: PromptLibrary
    tools: AgentTools
    llm: BaseChatModel | None = None
    # Word runs of our own system prompts: a reply that copies one leaks the prompt.
    prompt_runs: frozenset[str] = frozenset()

    @property
    def settings(self) -> Settings:
        return self.stack.settings

    @property
    def desk(self) -> SupportDesk:
        return self.tools.desk

    @property
    def store_name(self) -> str:
        return self.stack.store_name

    def in_language(self, language: str | None) -> TurnDeps:
        """These dependencies with the prompt library bound to `language`: every template and
        prompt a handler renders (`ctx.deps.library`, `ctx.say_template`) is in that language."""
        if self.library.language == (language or "en"):
            return self
        return replace(self, library=self.library.for_language(language))


@dataclass
class TurnContext:
    deps: TurnDeps
    state: ConversationState
    message: str  # as the shopper sent it
    reply: Reply
    emit: Callable[[str], None]
    t0: float = field(default_factory=time.perf_counter)
    text: str = ""  # the screened message the handlers work on

    def __post_init__(self) -> None:
        self.follow_language()

    def follow_language(self) -> None:
        """Speak the conversation's language (`state.language`) from here on."""
        self.deps = self.deps.in_language(self.state.language)

    # Speaking --------------------------------------------------------------------------------
    def say(self, piece: str) -> None:
        self.reply.text += piece
        self.emit(piece)

    def say_template(self, key: str, **values: Any) -> None:
        self.say(self.deps.library.text("replies", key, **values))

    def say_items(self, cards: list[ProductCard]) -> None:
        """One numbered, templated line per product: facts only, no model text."""
        for n, cd in enumerate(cards, 1):
            line = self.deps.library.text(
                "replies",
                "recommend_item",
                name=cd.name,
                price=cd.price,
                sub_category=cd.sub_category,
                reason=reason_text(cd.reason, self.state.language),
            )
            self.say(f"\n{n}. {line}")

    # Doing -----------------------------------------------------------------------------------
    def call(self, tool: str, **kwargs: Any) -> Any:
        return self.deps.tools.call(self.reply, tool, **kwargs)

    def facts(self, candidate_ids: list[str], **kwargs: Any) -> Facts:
        """What the model's sentences may state this turn (prices, names, ids, dates...)."""
        return Facts(
            candidate_ids=candidate_ids,
            catalogue=self.deps.stack.catalogue,
            user_text=self.text,
            prompt_runs=self.deps.prompt_runs,
            **kwargs,
        )

    def record_mentions(self, ids: list[str], kind: str = "chat_mention") -> None:
        """Products shown or opened in chat become events; the profile folds them in at once."""
        if not self.state.user_id or not ids:
            return
        events = [
            {
                "user_id": self.state.user_id,
                "type": kind,
                "product_id": i,
                "session_id": self.state.session_id,
            }
            for i in ids
        ]
        try:
            self.deps.stack.recommendations().record(events)
        except Exception as exc:  # a locked or full database must not cost the shopper a reply
            log.error("could not record %s events: %s", kind, exc)

    def lap(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.reply.timings_ms[stage] = round(
            self.reply.timings_ms.get(stage, 0.0) + (now - since) * 1e3, 2
        )
        return now
