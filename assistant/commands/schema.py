"""The dialogue-command vocabulary: what the model (or the rules fast path) may ask code to do.

The model never calls tools. It answers each turn with `{"commands": [...]}` under
`COMMANDS_JSON_SCHEMA` (grammar-constrained on llama.cpp); code validates every command
(`assistant.commands.check`) and runs it (`assistant.turn`). Item numbers are 1-based and refer
to the numbered items on screen, in the order they were shown.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

Sort = Literal["relevance", "price_asc", "price_desc", "rating"]
Price = Annotated[float, Field(ge=0, le=1e7)]
ItemNo = Annotated[int, Field(ge=1, le=50)]
Short = Annotated[str, Field(max_length=200)]
Names = Annotated[list[Annotated[str, Field(max_length=80)]], Field(max_length=8)]


class _Command(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Search(_Command):
    """A new product request: the slots replace the active topic's (exclusions carry over)."""

    type: Literal["search"] = "search"
    query: Short = ""  # the product words only: "desk chair", "paper shredder"
    min_price: Price | None = None
    max_price: Price | None = None
    categories: Names = []  # category or sub-category names of the catalogue
    brands: Names = []
    exclude_brands: Names = []
    attributes: Names = []  # "black", "adjustable", "ergonomic"
    sort: Sort | None = None


class Refine(_Command):
    """Change some slots of the active search and keep the rest ("cheaper", "in black")."""

    type: Literal["refine"] = "refine"
    query: Short | None = None  # a new product phrase, when the shopper changes the thing
    min_price: Price | None = None
    max_price: Price | None = None
    price_direction: Literal["cheaper", "pricier"] | None = None
    categories: Names = []
    brands: Names = []
    exclude_brands: Names = []
    exclude_brand_of: ItemNo | None = None  # "not that brand": the brand of item N
    attributes: Names = []
    sort: Sort | None = None


class AskAbout(_Command):
    type: Literal["ask_about"] = "ask_about"
    items: Annotated[list[ItemNo], Field(max_length=10)] = []
    question: Short = ""


class Compare(_Command):
    type: Literal["compare"] = "compare"
    items: Annotated[list[ItemNo], Field(max_length=10)] = []  # empty: everything on screen
    aspect: Short | None = None  # "back support", "price"


class CartAdd(_Command):
    type: Literal["cart_add"] = "cart_add"
    item: ItemNo
    quantity: Annotated[int, Field(ge=1, le=99)] = 1


class CartRemove(_Command):
    type: Literal["cart_remove"] = "cart_remove"
    item: ItemNo  # a numbered line of the cart as shown to the model


class CartShow(_Command):
    type: Literal["cart_show"] = "cart_show"


class OrderStatus(_Command):
    type: Literal["order_status"] = "order_status"
    order_id: Annotated[str, Field(max_length=40)] | None = None  # None: the latest order


class ReturnRequest(_Command):
    type: Literal["return_request"] = "return_request"
    order_id: Annotated[str, Field(max_length=40)] | None = None


class OrderAction(_Command):
    """Act on an order or the account: cancel, change, return, exchange, a new address. Code
    reads the details (items, versions, payment method) from the message against the order."""

    type: Literal["order_action"] = "order_action"
    action: Literal["cancel", "change", "return", "exchange", "address", "payment"] | None = None
    order_id: Annotated[str, Field(max_length=40)] | None = None


class PolicyQuestion(_Command):
    type: Literal["policy_question"] = "policy_question"
    question: Short = ""


class Handoff(_Command):
    type: Literal["handoff"] = "handoff"
    reason: Short = ""


class SmallTalk(_Command):
    type: Literal["smalltalk"] = "smalltalk"
    kind: Literal["greeting", "thanks", "goodbye", "capabilities", "other"] = "other"


class Clarify(_Command):
    type: Literal["clarify"] = "clarify"
    question: Short = ""


class Decline(_Command):
    """Part of the message we will not do: a discount, an off-topic or unsafe request."""

    type: Literal["decline"] = "decline"
    reason: Literal["discount", "off_topic", "unsafe", "other"] = "other"


Command = Annotated[
    Search
    | Refine
    | AskAbout
    | Compare
    | CartAdd
    | CartRemove
    | CartShow
    | OrderStatus
    | ReturnRequest
    | OrderAction
    | PolicyQuestion
    | Handoff
    | SmallTalk
    | Clarify
    | Decline,
    Field(discriminator="type"),
]
COMMAND_TYPES: tuple[str, ...] = (
    "search",
    "refine",
    "ask_about",
    "compare",
    "cart_add",
    "cart_remove",
    "cart_show",
    "order_status",
    "return_request",
    "order_action",
    "policy_question",
    "handoff",
    "smalltalk",
    "clarify",
    "decline",
)
MAX_COMMANDS = 4


class CommandList(BaseModel):
    """One turn's understanding: the commands, in the order they are to run."""

    model_config = ConfigDict(extra="ignore")
    commands: Annotated[list[Command], Field(min_length=1, max_length=MAX_COMMANDS)]


_ADAPTER: TypeAdapter[CommandList] = TypeAdapter(CommandList)


def parse_commands(raw: str | dict[str, Any]) -> CommandList:
    """Validate the model's JSON (text or parsed); raises pydantic.ValidationError/ValueError."""
    if isinstance(raw, str):
        return _ADAPTER.validate_json(raw)
    return _ADAPTER.validate_python(raw)


def _schema() -> dict[str, Any]:
    # llama.cpp's grammar converter handles $defs/$ref and anyOf; keep the titles out.
    schema = CommandList.model_json_schema()

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in ("title", "description")}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    out = strip(schema)
    # pydantic leaves a defaulted `type` optional; the grammar must make every command say it
    # (and first: llama.cpp writes required properties before optional ones).
    for node in out.get("$defs", {}).values():
        if "type" in node.get("properties", {}):
            node["required"] = ["type", *[r for r in node.get("required", []) if r != "type"]]
    return out


COMMANDS_JSON_SCHEMA: dict[str, Any] = _schema()
