"""The chat agent. One turn, as data:

guards → route → constraints → retrieve (Chroma + profile) → score (shared core) → prompt →
generate → validate (sentence by sentence) → reply → events.

Code decides every fact; the model only phrases. When the model is missing, slow or wrong,
templates built from the same facts answer instead.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from langchain_core.language_models import BaseChatModel

from retrieval.constraints import ConstraintError, Constraints, parse
from retrieval.search import ProductSearch
from retrieval.sources.base import Product
from retrieval.stack import RetrievalStack
from retrieval.store import VectorStoreUnavailable

from .conversation import ConversationState, ProductCard, Reply, ToolCall
from .generate import generate_checked
from .guards import GuardError, redact, screen
from .prompts import PromptLibrary
from .router import IntentRouter, Route
from .tools import AgentTools
from .validate import Facts, mentions_any

log = logging.getLogger(__name__)
STORE_NAME = "Superstore"
PICKS = 3
CANDIDATES = 40
_REFUSALS = {
    "prompt_extraction": "refuse_prompt",
    "instruction_override": "refuse_injection",
    "price_manipulation": "refuse_price",
    "data_exfiltration": "refuse_data",
}


@dataclass
class TurnContext:
    state: ConversationState
    message: str
    reply: Reply
    emit: Callable[[str], None]
    t0: float

    def lap(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.reply.timings_ms[stage] = round(
            self.reply.timings_ms.get(stage, 0.0) + (now - since) * 1e3, 2
        )
        return now


class Agent:
    def __init__(
        self,
        stack: RetrievalStack,
        llm: BaseChatModel | None,
        library: PromptLibrary | None = None,
        router: IntentRouter | None = None,
        tools: AgentTools | None = None,
    ) -> None:
        self.stack = stack
        self.settings = stack.settings
        self.llm = llm
        self.library = library or PromptLibrary()
        self.router = router or IntentRouter(stack.encoder, self.library)
        self.tools = tools or AgentTools(stack)
        self._system_lines = tuple(
            line.strip()
            for name, _ in self.library.names()
            if name in ("recommend", "support", "policy")
            for line in self.library.get(name).parts.get("system", "").splitlines()
            if len(line.strip()) > 30 and "{{" not in line
        )

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
            state, message, Reply(text="", intent="unknown"), pieces.append, time.perf_counter()
        )
        gen = self._run(ctx)
        for _ in gen:
            while pieces:
                yield pieces.pop(0)
        while pieces:
            yield pieces.pop(0)
        ctx.reply.timings_ms["total"] = round((time.perf_counter() - ctx.t0) * 1e3, 2)
        self._log(ctx)
        yield ctx.reply

    # The turn --------------------------------------------------------------------------------
    def _run(self, ctx: TurnContext) -> Iterator[None]:
        state, reply = ctx.state, ctx.reply
        t = time.perf_counter()
        try:
            screened = screen(ctx.message, self.settings.max_message_chars)
        except GuardError as exc:
            reply.intent, reply.refused = "invalid", exc.code
            key = "too_long" if exc.code == "too_long" else "error"
            text = (
                self.library.text(
                    "replies",
                    key,
                    n=f"{len(ctx.message):,}",
                    limit=f"{self.settings.max_message_chars:,}",
                )
                if key == "too_long"
                else str(exc).capitalize() + "."
            )
            self._say(ctx, text)
            return
        if state.turns >= self.settings.max_turns:
            reply.intent, reply.refused = "limit", "too_many_turns"
            self._say(ctx, self.library.text("replies", "too_many_turns"))
            return
        state.turns += 1
        t = ctx.lap("guard", t)
        if screened.attack:
            reply.intent, reply.refused = "refused", screened.attack
            self._say(ctx, self.library.text("replies", _REFUSALS[screened.attack]))
            return
        text = screened.text
        route = self.router.route(text, has_shown_products=bool(state.shown))
        reply.intent, reply.route_confidence = route.intent, round(route.confidence, 3)
        t = ctx.lap("routing", t)
        if route.method == "embedding-low":
            state.low_confidence += 1
            if state.low_confidence >= 3:
                yield from self._handoff(ctx, "low_confidence", text)
                return
        else:
            state.low_confidence = 0
        handler = {
            "recommend": self._recommend,
            "refine": self._recommend,
            "product_details": self._details,
            "compare": self._compare,
            "order_status": self._order_status,
            "return_request": self._return,
            "policy": self._policy,
            "handoff": lambda c, r, x: self._handoff(c, "requested", x),
            "greeting": self._greeting,
        }[route.intent]
        yield from handler(ctx, route, text)

    # Recommendations -------------------------------------------------------------------------
    def _constraints_for(
        self, state: ConversationState, route: Route, text: str, search: ProductSearch
    ) -> Constraints:
        try:
            new = parse(text, search.catalogue.vocabulary)
        except ConstraintError:
            new = Constraints(text=text)
        cur = state.constraints
        if route.intent != "refine":
            # A fresh request replaces the topic but keeps exclusions the shopper set.
            base = Constraints(exclude_brands=cur.exclude_brands) if new.text else cur
            return base.merged_with(new)
        low = text.lower()
        shown = [search.catalogue.get(i) for i in state.shown if i in search.catalogue]
        refined = Constraints(text=cur.text)
        if re.search(r"cheaper|less expensive|lower price|budget", low) and shown:
            # "Cheaper" means cheaper than the top pick the shopper is looking at.
            refined = Constraints(text=cur.text, max_price=round(shown[0].price - 0.01, 2))
        elif re.search(r"more expensive|higher end|premium|better quality", low) and shown:
            refined = Constraints(
                text=cur.text, min_price=round(max(p.price for p in shown) + 0.01, 2)
            )
        if re.search(r"not that brand|other brand|different brand", low) and shown:
            branded = [p for p in shown if p.brand] or shown
            pick = (
                shown[route.ordinal]
                if route.ordinal is not None and route.ordinal < len(shown)
                else branded[0]
            )
            if pick.brand:
                refined = refined.merged_with(Constraints(exclude_brands=frozenset({pick.brand})))
        # A refinement always moves on from what is on screen.
        refined = refined.merged_with(Constraints(exclude_ids=frozenset(state.shown)))
        extra = Constraints(
            **{
                k: getattr(new, k)
                for k in (
                    "min_price",
                    "max_price",
                    "brands",
                    "exclude_brands",
                    "categories",
                    "sub_categories",
                )
            }
        )
        return cur.merged_with(refined).merged_with(extra)

    def _recommend(self, ctx: TurnContext, route: Route, text: str) -> Iterator[None]:
        text = redact(text)  # emails and phone numbers are never product words
        state, reply = ctx.state, ctx.reply
        t = time.perf_counter()
        search = self.stack.search()
        svc = self.stack.recommendations()
        c = self._constraints_for(state, route, text, search)
        state.constraints = c
        profile = svc.profile(state.user_id)
        personal = not profile.is_cold
        try:
            found = self.tools.call(
                reply, "search_products", query=c.text, k=CANDIDATES, constraints=c, profile=profile
            )
        except VectorStoreUnavailable:
            reply.degraded = True
            found = None
        t = ctx.lap("retrieval", t)
        if found is None:
            yield from self._popular_fallback(ctx)
            return
        if not found.hits:
            reply.intent = route.intent
            relaxed = c.describe()
            self._say(
                ctx,
                self.library.text("replies", "no_results", constraints=relaxed, suggestion=None),
            )
            return
        cand_ids = [h.product.id for h in found.hits]
        reply.candidate_ids = cand_ids
        qvec = search.encoder.encode_one(c.text) if c.text else None
        params = None
        _, ranked = svc.rank(state.user_id, cand_ids, query_vec=qvec, params=params)
        from retrieval.scoring import Ranked, mmr

        # The catalogue repeats some names under different ids: show each name once.
        first_of_name: dict[str, int] = {}
        for row, idx in enumerate(ranked.items):
            first_of_name.setdefault(svc.catalogue.products[int(idx)].name.lower(), row)
        keep = np.array(sorted(first_of_name.values()), dtype=np.int64)
        ranked = Ranked(
            ranked.items[keep],
            ranked.scores[keep],
            ranked.contributions[keep],
            ranked.features[keep],
            ranked.timings_ms,
        )
        picks = mmr(ranked, svc.items.vectors, PICKS, svc.core.params.mmr_lambda)
        t = ctx.lap("scoring", t)
        from retrieval.explain import reason

        names = [p.name for p in svc.catalogue.products]
        cards = []
        for row, idx in enumerate(picks.items):
            p = svc.catalogue.products[int(idx)]
            cards.append(
                ProductCard(
                    p.id,
                    p.name,
                    p.category,
                    p.sub_category,
                    p.price,
                    reason(svc.items, names, profile, picks, row, query=c.text),
                    {k: round(v, 4) for k, v in picks.contribution_dict(row).items()},
                )
            )
        reply.products = cards
        state.shown = [c_.id for c_ in cards]
        state.seen += [i for i in state.shown if i not in state.seen]
        lead = self.library.text(
            "replies", "recommend_lead", n=len(cards), constraints=c.describe(), personal=personal
        )
        self._say(ctx, lead)
        self._say_items(ctx, cards)
        reply.cited_ids = [cd.id for cd in cards]
        yield
        # The model adds a short, checked comment on the top pick.
        if self.llm is not None:
            facts = Facts(
                candidate_ids=cand_ids,
                catalogue=svc.catalogue,
                user_text=text,
                forbidden_phrases=self._system_lines,
            )
            prompt = self.library.get("recommend", state.prompt_version)
            parts = prompt.messages(
                store_name=STORE_NAME,
                shopper_summary=profile.explain(),
                request=redact(text),  # PII never reaches a model, local or remote
                picks=[vars(cd) for cd in cards],
                top=vars(cards[0]),
            )
            first = [True]

            def emit(sentence: str) -> None:
                self._say(ctx, ("\n\n" if first[0] else " ") + sentence)
                first[0] = False

            pick_names = [cd.name for cd in cards]

            def on_topic(sentence: str) -> list[str]:
                # A comment must be about a pick and say nothing the facts don't support.
                if not mentions_any(sentence, pick_names):
                    return ["does not talk about any recommended product"]
                return []

            gen = generate_checked(
                self.llm,
                parts,
                facts,
                emit,
                extra_check=on_topic,
                deadline_s=self.settings.llm_deadline_s,
            )
            self._note_generation(reply, gen)
            ctx.reply.timings_ms["validation"] = round(gen.validate_ms, 2)
        self._record_mentions(state, reply.cited_ids)

    def _popular_fallback(self, ctx: TurnContext) -> Iterator[None]:
        from retrieval.home import build_home

        svc = self.stack.recommendations()
        page = build_home(svc, None, per_section=PICKS)
        items = page.sections[0].items if page.sections else []
        ctx.reply.products = [
            ProductCard(i.id, i.name, i.category, i.sub_category, i.price, i.reason) for i in items
        ]
        ctx.reply.cited_ids = [i.id for i in items]
        self._say(ctx, self.library.text("replies", "search_unavailable"))
        self._say_items(ctx, ctx.reply.products)
        yield

    def _pick(self, state: ConversationState, route: Route, text: str) -> list[Product]:
        cat = self.stack.catalogue
        shown = [cat.get(i) for i in state.shown if i in cat]
        low = text.lower()
        named = [cat.get(i) for i in state.seen if i in cat and cat.get(i).name.lower() in low]
        if named:
            return named
        if route.ordinal is not None and shown:
            return [shown[min(route.ordinal, len(shown) - 1)] if route.ordinal >= 0 else shown[-1]]
        return shown[:1]

    def _details(self, ctx: TurnContext, route: Route, text: str) -> Iterator[None]:
        picks = self._pick(ctx.state, route, text)
        if not picks:
            self._say(ctx, self.library.text("replies", "nothing_shown"))
            return
        p = self.tools.call(ctx.reply, "product_details", product_id=picks[0].id)
        ctx.reply.cited_ids = ctx.reply.candidate_ids = [p.id]
        ctx.reply.products = [ProductCard(p.id, p.name, p.category, p.sub_category, p.price, "")]
        self._say(
            ctx,
            self.library.text(
                "replies",
                "details",
                name=p.name,
                category=p.category,
                sub_category=p.sub_category,
                price=p.price,
                brand=p.brand,
                features=p.features[:300],
                rating=p.rating,
            ),
        )
        self._record_mentions(ctx.state, [p.id], kind="click")
        yield

    def _compare(self, ctx: TurnContext, route: Route, text: str) -> Iterator[None]:
        cat = self.stack.catalogue
        shown = [i for i in ctx.state.shown if i in cat]
        if len(shown) < 2:
            self._say(ctx, self.library.text("replies", "compare_needs_two"))
            return
        ids = shown[:2]
        nums = [n for n in (route.ordinal,) if n is not None]
        if "last" in text.lower() and len(shown) > 2:
            ids = [shown[0], shown[-1]] if not nums else ids
        products = self.tools.call(ctx.reply, "compare_products", product_ids=ids)
        cheaper = min(products, key=lambda p: p.price)
        diff = abs(products[0].price - products[1].price)
        ctx.reply.cited_ids = ctx.reply.candidate_ids = [p.id for p in products]
        ctx.reply.products = [
            ProductCard(p.id, p.name, p.category, p.sub_category, p.price, "") for p in products
        ]
        self._say(
            ctx,
            self.library.text(
                "replies", "compare", products=products, cheaper=cheaper.name, difference=diff
            ),
        )
        yield

    # Customer service ------------------------------------------------------------------------
    def _order_status(self, ctx: TurnContext, route: Route, text: str) -> Iterator[None]:
        from .desk import support_turn

        yield from support_turn(self, ctx, route, text, kind="status")

    def _return(self, ctx: TurnContext, route: Route, text: str) -> Iterator[None]:
        from .desk import support_turn

        yield from support_turn(self, ctx, route, text, kind="return")

    def _policy(self, ctx: TurnContext, route: Route, text: str) -> Iterator[None]:
        from .desk import policy_turn

        yield from policy_turn(self, ctx, text)

    def _handoff(self, ctx: TurnContext, reason: str, text: str) -> Iterator[None]:
        ctx.reply.intent = "handoff"
        ticket = self.tools.call(
            ctx.reply,
            "handoff_to_human",
            user_id=ctx.state.user_id,
            reason=reason,
            summary=redact(text)[:500],
        )
        ctx.reply.ticket_id = ticket
        self._say(
            ctx,
            self.library.text(
                "replies", "handoff", ticket_id=ticket, signed_in=bool(ctx.state.user_id)
            ),
        )
        yield

    def _greeting(self, ctx: TurnContext, route: Route, text: str) -> Iterator[None]:
        name = self.tools.customer_first_name(ctx.state.user_id)
        self._say(ctx, self.library.text("replies", "greeting", name=name))
        yield

    # Helpers ---------------------------------------------------------------------------------
    def _say_items(self, ctx: TurnContext, cards: list[ProductCard]) -> None:
        """One numbered, templated line per product: facts only, no model text."""
        for n, cd in enumerate(cards, 1):
            line = self.library.text(
                "replies",
                "recommend_item",
                name=cd.name,
                price=cd.price,
                sub_category=cd.sub_category,
                reason=cd.reason,
            )
            self._say(ctx, f"\n{n}. {line}")

    def _say(self, ctx: TurnContext, piece: str) -> None:
        ctx.reply.text += piece
        ctx.emit(piece)

    def _note_generation(self, reply: Reply, gen) -> None:
        reply.timings_ms["generation"] = round(gen.ms, 2)
        if gen.ttft_ms is not None:
            reply.timings_ms["llm_first_token"] = round(gen.ttft_ms, 2)
        reply.generated = bool(gen.sentences)
        reply.fallback = gen.failed
        reply.validation_problems = gen.problems + ([gen.error] if gen.error else [])

    def _record_mentions(
        self, state: ConversationState, ids: list[str], kind: str = "chat_mention"
    ) -> None:
        if not state.user_id or not ids:
            return
        svc = self.stack.recommendations()
        try:
            svc.record(
                [
                    {
                        "user_id": state.user_id,
                        "type": kind,
                        "product_id": i,
                        "session_id": state.session_id,
                    }
                    for i in ids
                ]
            )
        except Exception as exc:  # a locked or full database must not cost the shopper a reply
            log.error("could not record %s events: %s", kind, exc)

    def _log(self, ctx: TurnContext) -> None:
        from retrieval.db import ChatLogRow
        from retrieval.events import utcnow

        meta = {
            "intent": ctx.reply.intent,
            "cited": ctx.reply.cited_ids,
            "refused": ctx.reply.refused,
            "fallback": ctx.reply.fallback,
        }
        try:
            with self.stack.db.session() as s:
                s.add(
                    ChatLogRow(
                        user_id=ctx.state.user_id,
                        session_id=ctx.state.session_id,
                        role="user",
                        # PostgreSQL text cannot hold NUL bytes (SQLite can): drop them.
                        text=redact(ctx.message[:4000].replace("\x00", "")),
                        meta={},
                        ts=utcnow(),
                    )
                )
                s.add(
                    ChatLogRow(
                        user_id=ctx.state.user_id,
                        session_id=ctx.state.session_id,
                        role="assistant",
                        text=redact(ctx.reply.text),
                        meta=meta,
                        ts=utcnow(),
                    )
                )
        except Exception as exc:  # a full disk must not take the conversation down
            log.error("could not write the chat log: %s", exc)


__all__ = ["Agent", "ConversationState", "Reply", "ToolCall"]
