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
    llm_warm_s: float | None = None
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
        """Build and load the model (a failure leaves the app on templates), then warm it up
        (best effort). The status stays "loading" until the warm-up is over."""
        self.llm_status = "loading"
        t = time.perf_counter()
        try:
            from .llm import build_chat_model

            model = build_chat_model(self.settings)
            # Load the weights now, not on the first turn: the local backend's generator
            # converts or reloads them; llamacpp's `load()` starts its server.
            loader = getattr(getattr(model, "generator", None), "load", None)
            loader = loader if callable(loader) else getattr(model, "load", None)
            if callable(loader):
                loader()
            self.agent.llm = model
            self.llm_load_s = time.perf_counter() - t
            log.info("LLM loaded in %.1fs", self.llm_load_s)
        except Exception as exc:  # a corrupt or missing model must not take the app down
            self.llm_status = f"unavailable: {exc}"
            log.error("LLM failed to load; answering from templates only: %s", exc)
            return
        self._warm_up(model)
        self.llm_status = "ready"
        log.info("LLM ready in %.1fs", time.perf_counter() - t)

    def _warm_up(self, model: BaseChatModel) -> None:
        """The agent's warm-up when it has one (it primes its prompts' caches), else the
        model's own (a 1-token completion). Never fatal: the first turn just pays for it."""
        t = time.perf_counter()
        try:
            agent_warm_up = getattr(self.agent, "warm_up", None)
            if callable(agent_warm_up):
                agent_warm_up()
            else:
                from .llm.structured import warm_up_model

                warm_up_model(model)
            self.llm_warm_s = time.perf_counter() - t
            log.info("LLM warmed up in %.1fs", self.llm_warm_s)
        except Exception as exc:
            log.warning("LLM warm-up failed (the first turn will be slower): %s", exc)

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
