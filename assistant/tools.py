"""The agent's tools: small typed functions over the recommendation side and customer service,
also exposed as LangChain tools for a backend that can call tools natively.

The shopper's identity is bound when the tools are built for a conversation; no tool takes a
user id from the model, so a model cannot be talked into reading another shopper's orders.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from langchain_core.tools import StructuredTool
from pydantic import BaseModel, Field

from retrieval.constraints import Constraints, parse
from retrieval.db import CustomerRow
from retrieval.profile import Profile
from retrieval.search import SearchResponse
from retrieval.sources.base import Product
from retrieval.stack import RetrievalStack

from .conversation import Reply, ToolCall

log = logging.getLogger(__name__)


class SearchArgs(BaseModel):
    query: str = Field(description="what the shopper wants, in their words", max_length=1000)
    k: int = Field(default=10, ge=1, le=100)


class ProductArgs(BaseModel):
    product_id: str = Field(max_length=64)


class CompareArgs(BaseModel):
    product_ids: list[str] = Field(min_length=2, max_length=4)


class OrderArgs(BaseModel):
    order_id: str = Field(max_length=32)


class ReturnArgs(BaseModel):
    order_id: str = Field(max_length=32)
    product_id: str | None = Field(default=None, max_length=64)


class QuestionArgs(BaseModel):
    question: str = Field(max_length=1000)


class HandoffArgs(BaseModel):
    reason: str = Field(max_length=64)
    summary: str = Field(max_length=2000)


class AgentTools:
    def __init__(self, stack: RetrievalStack, support: Any | None = None) -> None:
        self.stack = stack
        self.support = support  # assistant.support.SupportDesk, built lazily
        self._fns: dict[str, Callable[..., Any]] = {
            "search_products": self.search_products,
            "recommend_for_user": self.recommend_for_user,
            "product_details": self.product_details,
            "compare_products": self.compare_products,
            "order_status": self.order_status,
            "return_eligibility": self.return_eligibility,
            "policy_answer": self.policy_answer,
            "handoff_to_human": self.handoff_to_human,
        }

    @property
    def desk(self):
        if self.support is None:
            from .desk import SupportDesk

            self.support = SupportDesk.from_stack(self.stack)
        return self.support

    def call(self, reply: Reply, name: str, **kwargs: Any) -> Any:
        """Run a tool and record the call (name, arguments, outcome, time) on the reply."""
        t = time.perf_counter()
        shown = {k: v for k, v in kwargs.items() if k not in ("constraints", "profile")}
        try:
            out = self._fns[name](**kwargs)
        except Exception as exc:
            reply.tool_calls.append(
                ToolCall(
                    name,
                    shown,
                    False,
                    round((time.perf_counter() - t) * 1e3, 2),
                    type(exc).__name__,
                )
            )
            raise
        reply.tool_calls.append(
            ToolCall(name, shown, True, round((time.perf_counter() - t) * 1e3, 2))
        )
        return out

    # The tools -------------------------------------------------------------------------------
    def search_products(
        self,
        query: str,
        k: int = 10,
        constraints: Constraints | None = None,
        profile: Profile | None = None,
    ) -> SearchResponse:
        """Search the catalogue under hard constraints, conditioned on the shopper's profile."""
        search = self.stack.search()
        c = constraints or parse(query, search.catalogue.vocabulary)
        pv = profile.vector() if profile is not None and not profile.is_cold else None
        return search.search(c, k=k, profile_vec=pv, profile_weight=0.2 if pv is not None else 0.0)

    def recommend_for_user(self, user_id: str | None, k: int = 8):
        """The shopper's personalised home page, from the shared scoring core."""
        from retrieval.home import build_home

        return build_home(self.stack.recommendations(), user_id, per_section=k)

    def product_details(self, product_id: str) -> Product:
        """Facts about one product, straight from the catalogue."""
        return self.stack.catalogue.get(product_id)

    def compare_products(self, product_ids: list[str]) -> list[Product]:
        """Side-by-side facts for two to four products."""
        return [self.stack.catalogue.get(i) for i in product_ids]

    def order_status(self, order_id: str, user_id: str | None):
        """An order's derived status, only for its own shopper."""
        return self.desk.orders.get_order(order_id, user_id)

    def return_eligibility(self, order_id: str, user_id: str | None, product_id: str | None = None):
        """Whether an order (line) can be returned, decided by code from the policy."""
        return self.desk.return_decision(order_id, user_id, product_id)

    def policy_answer(self, question: str):
        """Knowledge-base passages that answer a policy or FAQ question, with citations."""
        return self.desk.knowledge.answer(question, k=3)

    def handoff_to_human(self, user_id: str | None, reason: str, summary: str) -> int:
        """Open a ticket for a human colleague; returns its number."""
        return self.desk.create_ticket(user_id, reason, summary)

    def customer_first_name(self, user_id: str | None) -> str | None:
        if not user_id:
            return None
        with self.stack.db.session() as s:
            row = s.get(CustomerRow, user_id)
            return row.name.split()[0] if row else None

    # LangChain -------------------------------------------------------------------------------
    def langchain_tools(self, user_id: str | None) -> list[StructuredTool]:
        """The same tools for native tool calling, with the shopper's identity bound in."""

        def search(query: str, k: int = 10) -> list[dict]:
            return [h.as_json() for h in self.search_products(query, k).hits]

        def details(product_id: str) -> dict:
            return vars(self.product_details(product_id))

        def compare(product_ids: list[str]) -> list[dict]:
            return [vars(p) for p in self.compare_products(product_ids)]

        def order(order_id: str) -> dict:
            from dataclasses import asdict

            return asdict(self.order_status(order_id, user_id))

        def returns(order_id: str, product_id: str | None = None) -> dict:
            from dataclasses import asdict

            return asdict(self.return_eligibility(order_id, user_id, product_id))

        def policy(question: str) -> list[dict]:
            from dataclasses import asdict

            return [asdict(c) for c in self.policy_answer(question)]

        def handoff(reason: str, summary: str) -> int:
            return self.handoff_to_human(user_id, reason, summary)

        def recommend(k: int = 8) -> dict:
            return self.recommend_for_user(user_id, k).as_json()

        class RecommendArgs(BaseModel):
            k: int = Field(default=8, ge=1, le=20)

        spec = [
            ("search_products", search, SearchArgs, self.search_products.__doc__),
            ("recommend_for_user", recommend, RecommendArgs, self.recommend_for_user.__doc__),
            ("product_details", details, ProductArgs, self.product_details.__doc__),
            ("compare_products", compare, CompareArgs, self.compare_products.__doc__),
            ("order_status", order, OrderArgs, self.order_status.__doc__),
            ("return_eligibility", returns, ReturnArgs, self.return_eligibility.__doc__),
            ("policy_answer", policy, QuestionArgs, self.policy_answer.__doc__),
            ("handoff_to_human", handoff, HandoffArgs, self.handoff_to_human.__doc__),
        ]
        return [
            StructuredTool.from_function(fn, name=n, description=d.strip(), args_schema=a)
            for n, fn, a, d in spec
        ]
