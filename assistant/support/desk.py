"""The service desk: one object over orders, returns, the knowledge base, tickets and carts.

Everything here is decided by code from the data and the written policy; the turn layer only
phrases what the desk returns, and this module imports nothing from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from retrieval.stack import RetrievalStack

from .actions import ActionService
from .cart import CartService
from .identity import IdentityService
from .knowledge import KnowledgeBase
from .orders import OrderService, OrderView
from .policy import DEFAULT_POLICY, ReturnPolicy
from .returns import ReturnDecision, return_eligibility
from .tickets import create_ticket


@dataclass
class SupportDesk:
    stack: RetrievalStack
    orders: OrderService
    knowledge: KnowledgeBase
    policy: ReturnPolicy = DEFAULT_POLICY
    # One per runtime: the web layer reaches it as `runtime.desk.cart`, the tools as `desk.cart`.
    cart: CartService = field(init=False, repr=False)
    actions: ActionService = field(init=False, repr=False)
    identity: IdentityService = field(init=False, repr=False)
    _actions_enabled: bool | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.cart = CartService(self.stack)
        self.actions = ActionService(self.stack.db)
        self.identity = IdentityService(self.stack.db)

    def actions_enabled(self) -> bool:
        """Whether this store's data allows acting on orders (it keeps live orders)."""
        if self._actions_enabled is None:
            self._actions_enabled = self.actions.enabled()
        return self._actions_enabled

    def identification_allowed(self) -> bool:
        from retrieval.sources import get_source

        settings = self.stack.settings
        if settings.identification_in_chat is not None:
            return settings.identification_in_chat
        return bool(
            getattr(get_source(settings.catalogue, settings), "identification_in_chat", False)
        )

    @classmethod
    def from_stack(cls, stack: RetrievalStack) -> SupportDesk:
        return cls(stack, OrderService(stack.db, stack.clock()), KnowledgeBase.from_stack(stack))

    def return_decision(
        self, order_id: str, user_id: str | None, product_id: str | None = None
    ) -> tuple[OrderView, ReturnDecision]:
        order = self.orders.get_order(order_id, user_id)
        return order, return_eligibility(order, product_id, self.orders.clock, self.policy)

    def create_ticket(self, user_id: str | None, reason: str, summary: str) -> int:
        return create_ticket(self.stack.db, user_id, reason, summary)
