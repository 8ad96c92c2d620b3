"""Conversation state and the reply a turn returns, as plain dataclasses."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from retrieval.constraints import Constraints
from retrieval.recommend import Recommendation


@dataclass
class ConversationState:
    user_id: str | None = None  # a verified identity, never taken from the message text
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    constraints: Constraints = field(default_factory=Constraints)
    shown: list[str] = field(default_factory=list)  # product ids of the last picks, in order
    seen: list[str] = field(default_factory=list)  # every product shown in this chat
    turns: int = 0
    low_confidence: int = 0
    last_order_id: str | None = None
    prompt_version: int | None = None  # set by an A/B variant
    # Constraint memory per topic ("back to the bookcases" restores the bookcase search).
    topics: dict[str, Constraints] = field(default_factory=dict)
    focus: int | None = None  # the item number last asked about ("is it adjustable?")
    last_intent: str | None = None
    ticket_id: int | None = None  # the hand-off ticket this conversation already opened
    # Acting on orders (turn/account.py): the request under way and in-chat identification.
    account: Any = None  # an AccountTask while a request is being put together or confirmed
    identifying: bool = False  # we asked who they are
    identity_hint: Any = None  # what they said so far (name without zip, ...)
    id_failures: int = 0
    identified_in_chat: bool = False
    # What this conversation did and talked about, for references: "that new address", "do
    # the same for my other order", "PayPal again", "take it off", "how much in total?".
    last_address: dict[str, str] | None = None
    last_action: str | None = None
    last_payment: str | None = None
    last_item: dict[str, str] | None = None
    refunds: list[dict[str, Any]] = field(default_factory=list)
    client: str | None = None  # the client's address, for the identification rate limit
    # "en" / "zh": the reply language. `language_fixed` when the shopper chose it (UI switch,
    # widget data-lang); otherwise it follows their latest message (assistant/lang.py).
    language: str = "en"
    language_fixed: bool = False


@dataclass
class ToolCall:
    name: str
    args: dict
    ok: bool
    ms: float
    error: str | None = None


# A product card in a reply is the recommendation side's one shape for a shown product.
ProductCard = Recommendation


@dataclass
class Reply:
    text: str
    intent: str
    products: list[ProductCard] = field(default_factory=list)
    cited_ids: list[str] = field(default_factory=list)
    candidate_ids: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    citations: list[dict] = field(default_factory=list)
    generated: bool = False  # an LLM sentence made it through validation
    fallback: bool = False  # the LLM's text failed validation and a template replaced it
    validation_problems: list[str] = field(default_factory=list)
    refused: str | None = None  # why, when the agent declined
    ticket_id: int | None = None
    route_confidence: float = 1.0
    degraded: bool = False
    # How the message was understood: "model" (validated commands), "rules" (the fast path),
    # "fallback" (the model failed or was missing, so rules answered), or "guard".
    understood_by: str = "rules"
    commands: list[dict] = field(default_factory=list)  # the validated commands that ran
    cart: dict | None = None  # the cart after a cart command: {"lines": [...], "total": ...}

    def as_json(self) -> dict:
        return asdict(self)
