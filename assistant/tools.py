"""The agent's tools: small typed functions over the recommendation side and customer service.

Each call is recorded on the reply (name, arguments, outcome, time), so the regression suite and
the red team can assert what ran. The shopper's identity always comes from the verified session,
never from the message, so a model cannot be talked into reading another shopper's orders.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from retrieval.constraints import Constraints
from retrieval.db import CustomerRow
from retrieval.home import HomePage, build_home
from retrieval.recommend import Recommendations
from retrieval.sources.base import Product, Variant
from retrieval.stack import RetrievalStack
from retrieval.variants import load_variants

from .conversation import Reply, ToolCall
from .support import Cart, CartOwner, Citation, OrderView, ReturnDecision, SupportDesk
from .support.actions import Outcome, Proposal

_HIDDEN_ARGS = ("constraints", "proposal")  # too big to log; their text is logged as `query`


class AgentTools:
    def __init__(self, stack: RetrievalStack, desk: SupportDesk | None = None) -> None:
        self.stack = stack
        self.desk = desk or SupportDesk.from_stack(stack)
        self._fns: dict[str, Callable[..., Any]] = {
            "search_products": self.search_products,
            "recommend_for_user": self.recommend_for_user,
            "product_details": self.product_details,
            "compare_products": self.compare_products,
            "product_variants": self.product_variants,
            "order_status": self.order_status,
            "return_eligibility": self.return_eligibility,
            "policy_answer": self.policy_answer,
            "handoff_to_human": self.handoff_to_human,
            "cart_add": self.cart_add,
            "cart_remove": self.cart_remove,
            "cart_show": self.cart_show,
            "execute_action": self.execute_action,
        }

    def names(self) -> list[str]:
        return list(self._fns)

    def call(self, reply: Reply, name: str, **kwargs: Any) -> Any:
        """Run a tool and record the call on the reply."""
        t = time.perf_counter()
        shown = {k: v for k, v in kwargs.items() if k not in _HIDDEN_ARGS}
        try:
            out = self._fns[name](**kwargs)
        except Exception as exc:
            ms = round((time.perf_counter() - t) * 1e3, 2)
            reply.tool_calls.append(ToolCall(name, shown, False, ms, type(exc).__name__))
            raise
        reply.tool_calls.append(
            ToolCall(name, shown, True, round((time.perf_counter() - t) * 1e3, 2))
        )
        return out

    # The tools -------------------------------------------------------------------------------
    def search_products(
        self, user_id: str | None, query: str, constraints: Constraints, k: int = 3
    ) -> Recommendations:
        """Products for the request under hard constraints, ranked for this shopper."""
        return self.stack.recommendations().recommend(user_id, constraints, k, query_text=query)

    def recommend_for_user(self, user_id: str | None, k: int = 8) -> HomePage:
        """The shopper's personalised home page, from the shared scoring core."""
        return build_home(self.stack.recommendations(), user_id, per_section=k)

    def product_details(self, product_id: str) -> Product:
        """Facts about one product, straight from the catalogue."""
        return self.stack.catalogue.get(product_id)

    def compare_products(self, product_ids: list[str]) -> list[Product]:
        """Side-by-side facts for two to four products."""
        return [self.stack.catalogue.get(i) for i in product_ids]

    def product_variants(self, product_ids: list[str]) -> dict[str, list[Variant]]:
        """The products' versions (options, price, availability) as the store has them now."""
        return load_variants(self.stack.db, product_ids)

    def order_status(self, order_id: str, user_id: str | None) -> OrderView:
        """An order's derived status, only for its own shopper."""
        return self.desk.orders.get_order(order_id, user_id)

    def return_eligibility(
        self, order_id: str, user_id: str | None, product_id: str | None = None
    ) -> tuple[OrderView, ReturnDecision]:
        """Whether an order (line) can be returned, decided by code from the policy."""
        return self.desk.return_decision(order_id, user_id, product_id)

    def policy_answer(self, question: str) -> list[Citation]:
        """Knowledge-base passages that answer a policy or FAQ question, with citations."""
        return self.desk.knowledge.answer(question, k=3)

    def handoff_to_human(self, user_id: str | None, reason: str, summary: str) -> int:
        """Open a ticket for a human colleague; returns its number."""
        return self.desk.create_ticket(user_id, reason, summary)

    def execute_action(self, proposal: Proposal, session_id: str | None = None) -> Outcome:
        """Run an action the shopper confirmed with an explicit yes (once; audited)."""
        return self.desk.actions.execute(proposal, session_id)

    # The cart: its owner is the verified user, else this conversation's session. Raises
    # CartError (with a `code`) for an unknown product, a bad quantity or a missing line.
    def cart_add(
        self, user_id: str | None, session_id: str | None, product_id: str, quantity: int = 1
    ) -> Cart:
        """Put a catalogue product in the shopper's cart (more of it if it is there already)."""
        return self.desk.cart.add(CartOwner.of(user_id, session_id), product_id, quantity)

    def cart_remove(self, user_id: str | None, session_id: str | None, product_id: str) -> Cart:
        """Take a product's line out of the shopper's cart."""
        return self.desk.cart.remove(CartOwner.of(user_id, session_id), product_id)

    def cart_show(self, user_id: str | None, session_id: str | None) -> Cart:
        """The shopper's cart, priced from the catalogue now."""
        return self.desk.cart.get(CartOwner.of(user_id, session_id))

    def customer_first_name(self, user_id: str | None) -> str | None:
        if not user_id:
            return None
        with self.stack.db.session() as s:
            row = s.get(CustomerRow, user_id)
            return row.name.split()[0] if row else None
