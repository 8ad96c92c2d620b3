"""Builds the whole assistant once per process: retrieval stack, knowledge base, LLM, agent.

The generative model loads in the background, so the app serves (with templated answers)
while it loads, and keeps serving if it fails to load: customer service never depends on it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel

from retrieval.settings import Settings
from retrieval.stack import RetrievalStack

from .agent import Agent
from .support import KnowledgeBase, SupportDesk
from .tools import AgentTools

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    stack: RetrievalStack
    desk: SupportDesk
    agent: Agent
    llm_status: str = "not loaded"
    llm_load_s: float | None = None
    _thread: threading.Thread | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        load_llm: bool = True,
        background: bool = False,
        llm: BaseChatModel | None = None,
    ) -> Runtime:
        stack = RetrievalStack.build(settings)
        ensure_indexed(stack)
        rt = cls.over(stack, llm, settings)
        if llm is not None:
            rt.llm_status = "ready"
        elif load_llm:
            if background:
                rt._thread = threading.Thread(target=rt._load_llm, name="llm-load", daemon=True)
                rt._thread.start()
            else:
                rt._load_llm()
        return rt

    @classmethod
    def over(
        cls,
        stack: RetrievalStack,
        llm: BaseChatModel | None = None,
        settings: Settings | None = None,
    ) -> Runtime:
        """A runtime over a built, indexed stack: the service desk and the agent wired to it."""
        desk = SupportDesk.from_stack(stack)
        agent = Agent(stack, llm, tools=AgentTools(stack, desk))
        return cls(settings or stack.settings, stack, desk, agent)

    def _load_llm(self) -> None:
        self.llm_status = "loading"
        t = time.perf_counter()
        try:
            from .llm import build_chat_model

            model = build_chat_model(self.settings)
            generator = getattr(model, "generator", None)
            if generator is not None and hasattr(generator, "load"):
                generator.load()  # convert or reload the weights now, not on the first turn
            self.agent.llm = model
            self.llm_load_s = time.perf_counter() - t
            self.llm_status = "ready"
            log.info("LLM ready in %.1fs", self.llm_load_s)
        except Exception as exc:  # a corrupt or missing model must not take the app down
            self.llm_status = f"unavailable: {exc}"
            log.error("LLM failed to load; answering from templates only: %s", exc)

    def wait_for_llm(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


def ensure_indexed(stack: RetrievalStack) -> None:
    """Index the catalogue, seed history and index the knowledge base if any is missing."""
    from retrieval.events import seed_purchases_from_orders

    if not stack.is_indexed():
        log.info("catalogue not indexed yet: indexing now")
        stack.index()
        seed_purchases_from_orders(stack.db)
    kb = KnowledgeBase.from_stack(stack)
    kb.index()
