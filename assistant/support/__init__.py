"""Customer service: authorised order status, code-decided return eligibility, policy answers
with citations, support tickets and shopping carts. The LLM only phrases what these functions decide."""

from .cart import MAX_LINES, MAX_QUANTITY, Cart, CartError, CartLine, CartOwner, CartService
from .clock import StoreClock, default_store_today
from .desk import SupportDesk
from .knowledge import Citation, KnowledgeBase, KnowledgeIndexReport, index_knowledge
from .orders import (
    AuthRequired,
    OrderLineView,
    OrderNotFound,
    OrderService,
    OrderStatus,
    OrderSummary,
    OrderView,
    Tracking,
    find_order_ids,
)
from .policy import DEFAULT_POLICY, ReturnPolicy
from .returns import ReturnDecision, ReturnReason, return_eligibility
from .tickets import TicketReason, TicketView, create_ticket, list_tickets

__all__ = [
    "DEFAULT_POLICY",
    "MAX_LINES",
    "MAX_QUANTITY",
    "AuthRequired",
    "Cart",
    "CartError",
    "CartLine",
    "CartOwner",
    "CartService",
    "Citation",
    "KnowledgeBase",
    "KnowledgeIndexReport",
    "OrderLineView",
    "OrderNotFound",
    "OrderService",
    "OrderStatus",
    "OrderSummary",
    "OrderView",
    "ReturnDecision",
    "ReturnPolicy",
    "ReturnReason",
    "StoreClock",
    "SupportDesk",
    "TicketReason",
    "TicketView",
    "Tracking",
    "create_ticket",
    "default_store_today",
    "find_order_ids",
    "index_knowledge",
    "list_tickets",
    "return_eligibility",
]
