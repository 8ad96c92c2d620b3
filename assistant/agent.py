"""The chat agent. One turn, as data: guards → understand → checked commands → handlers → reply.

The model (or, for unambiguous messages and as the fallback, the rules router) turns the
message into commands from a fixed vocabulary (`assistant.commands`); code checks them and the
handlers (`assistant.turn`) run them. Handlers decide every fact through the tools; the model
only phrases, and every sentence it writes is checked. When the model is missing, slow or wrong, templates built
from the same facts answer instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from langchain_core.language_models import BaseChatModel

from retrieval.db import ChatLogRow
from retrieval.events import utcnow
from retrieval.importing.money import currency_symbol
from retrieval.stack import CatalogueNotIndexed, RetrievalStack

from .commands.check import Screen
from .commands.schema import Clarify, Command, Decline, OrderAction, Search
from .commands.understand import TurnView, Understander, describe_screen, describe_search
from .conversation import ConversationState, Reply, ToolCall
from .guards import GuardError, redact, screen
from .lang import detect_language
from .prompts import PromptLibrary, system_prompt_runs
from .router import IntentRouter
from .tools import AgentTools
from .turn import HANDLERS, TurnContext, TurnDeps
from .turn.account import account_action, wants_account
from .turn.service import handoff

log = logging.getLogger(__name__)
_REFUSALS = {
    "prompt_extraction": "refuse_prompt",
    "instruction_override": "refuse_injection",
    "price_manipulation": "refuse_price",
    "data_exfiltration": "refuse_data",
}
_LOW_CONFIDENCE_HANDOFF = 3  # unclear messages in a row before a human takes over
# The reply's intent for each command (the names the regression suite and the logs use).
_INTENTS = {
    "search": "recommend",
    "ask_about": "product_details",
    "cart_add": "cart",
    "cart_remove": "cart",
    "cart_show": "cart",
    "policy_question": "policy",
    "smalltalk": "greeting",
    "decline": "refused",
}


class Agent:
    def __init__(
        self,
        stack: RetrievalStack,
        llm: BaseChatModel | None,
        library: PromptLibrary | None = None,
        router: IntentRouter | None = None,
        tools: AgentTools | None = None,
    ) -> None:
        library = (library or PromptLibrary()).with_currency(currency_symbol(stack.currency))
        self.router = router or IntentRouter(stack.encoder, library)
        self.deps = TurnDeps(
            stack, library, tools or AgentTools(stack), llm, system_prompt_runs(library)
        )
        self._understander: Understander | None = None

    @property
    def llm(self) -> BaseChatModel | None:
        return self.deps.llm

    @llm.setter
    def llm(self, model: BaseChatModel | None) -> None:
        self.deps.llm = model  # the runtime swaps the model in once it has loaded

    @property
    def understander(self) -> Understander:
        if self._understander is None:  # the catalogue loads on first use, not at start-up
            stack = self.deps.stack
            self._understander = Understander(self.deps.library, stack.catalogue, stack.store_name)
        return self._understander

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
        _attach_images(self.stack, ctx.reply)
        ctx.reply.timings_ms["total"] = round((time.perf_counter() - ctx.t0) * 1e3, 2)
        self._log(ctx)
        yield ctx.reply

    # The turn --------------------------------------------------------------------------------
    def _run(self, ctx: TurnContext) -> Iterator[None]:
        state, reply, settings = ctx.state, ctx.reply, self.deps.settings
        t = time.perf_counter()
        if not state.language_fixed:  # replies follow the shopper's latest message
            state.language = detect_language(ctx.message, default=state.language)  # type: ignore[arg-type]
        ctx.follow_language()  # templates and prompts in the shopper's language
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
        commands: list[Command] = []
        if screened.attack and not screened.remainder:
            reply.intent, reply.refused = "refused", screened.attack
            reply.understood_by = "guard"
            declined = Decline(
                reason="discount" if screened.attack == "price_manipulation" else "unsafe"
            )
            reply.commands = [declined.model_dump()]
            ctx.say_template(_REFUSALS[screened.attack])
            return
        if screened.attack:  # "a chair under $200 and 90% off": decline the part, do the rest
            reply.refused = screened.attack
            commands.append(Decline(reason="discount"))
        ctx.text = screened.remainder or screened.text
        if wants_account(ctx):  # an account request under way, or a clear new one
            action = OrderAction()
            reply.understood_by, reply.commands = "rules", [action.model_dump(exclude_none=True)]
            state.low_confidence = 0
            yield from account_action(ctx, action)
            state.last_intent = reply.intent
            return
        route = self.router.route(ctx.text, has_shown_products=bool(state.shown))
        reply.route_confidence = round(route.confidence, 3)
        t = ctx.lap("routing", t)
        understood = self.understander.understand(
            self.deps.llm, route, ctx.text, self._view(state), self._screen(state)
        )
        ctx.lap("understanding", t)
        reply.understood_by = understood.by
        commands += [c for c in understood.commands if not (commands and isinstance(c, Decline))]
        reply.commands = [c.model_dump(exclude_none=True) for c in commands]
        if understood.notes:
            log.info("understanding notes: %s", understood.notes)
        # A guess from a weak embedding match, with nothing concrete in it, is unclear.
        unclear = (
            understood.by != "model"
            and route.method == "embedding-low"
            and all(isinstance(c, Search) and _bare(c) for c in commands)
        )
        if unclear or all(isinstance(c, Clarify) for c in commands):
            state.low_confidence += 1
            if state.low_confidence >= _LOW_CONFIDENCE_HANDOFF:
                yield from handoff(ctx, reason="low_confidence")
                return
        else:
            state.low_confidence = 0
        reply.intent = _INTENTS.get(commands[0].type, commands[0].type) if commands else "unknown"
        intents: list[str] = []
        for cmd in commands:
            if reply.text and not reply.text.endswith("\n"):
                ctx.say("\n\n")
            yield from HANDLERS[cmd.type](ctx, cmd)
            if not isinstance(cmd, (Decline, Clarify)):
                intents.append(reply.intent)
        # The reply's intent is its main command's, not a decline or question beside it.
        reply.intent = intents[0] if intents else reply.intent
        state.last_intent = reply.intent

    def _view(self, state: ConversationState) -> TurnView:
        catalogue = self.deps.stack.catalogue
        return TurnView(
            screen=describe_screen(state.shown, catalogue),
            constraints=describe_search(state.constraints),
            cart=self._cart_text(state),
            last_intent=state.last_intent or "",
        )

    def _screen(self, state: ConversationState) -> Screen:
        catalogue = self.deps.stack.catalogue
        kinds = tuple(catalogue.get(i).sub_category for i in state.shown if i in catalogue)
        return Screen(
            kinds,
            cart_lines=len(self._cart_lines(state)),
            focus=state.focus,
            last_intent=state.last_intent,
        )

    def _cart_lines(self, state: ConversationState) -> list:
        try:
            return list(self.deps.tools.cart_show(state.user_id, state.session_id).lines)
        except Exception:  # noqa: BLE001 - no cart (or no database) must not stop a turn
            return []

    def _cart_text(self, state: ConversationState) -> str:
        lines = self._cart_lines(state)
        return "; ".join(f"{n}. {ln.quantity} x {ln.name}" for n, ln in enumerate(lines, 1))

    def warm_up(self) -> None:
        """Prime the model's prompt cache with the understanding prompt's fixed part."""
        if self.deps.llm is None:
            return
        view = TurnView(screen="", constraints="", cart="", last_intent="")
        try:
            self.understander.ask_model(self.deps.llm, view, "hello")
        except Exception as exc:  # noqa: BLE001 - warm-up is best effort
            log.info("warm-up of the understanding prompt failed: %s", exc)

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


def _attach_images(stack: RetrievalStack, reply: Reply) -> None:
    """Every card gets its product's image URL (an imported store's products have one), also
    the cards built from a bare product (compare, ask about, versions)."""
    if all(p.image is not None for p in reply.products):
        return
    try:
        images = stack.catalogue.images
    except CatalogueNotIndexed:
        return
    for p in reply.products:
        if p.image is None:
            p.image = images.get(p.id)


def _bare(cmd: Search) -> bool:
    return cmd.min_price is None and cmd.max_price is None and not (cmd.categories or cmd.brands)


def _drain(pieces: list[str]) -> Iterator[str]:
    while pieces:
        yield pieces.pop(0)


__all__ = ["Agent", "ConversationState", "Reply", "ToolCall"]
