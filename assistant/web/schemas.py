"""The API's request and response models. Product cards and home items are validated from
the one `Recommendation` type (`from_attributes`), never re-built field by field."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..lang import LANGUAGES, normalise_language

if TYPE_CHECKING:
    from ..conversation import Reply
    from ..support.cart import Cart
    from ..support.orders import OrderView
    from .shop import HomeView

SESSION_ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"


def jsonable(obj: Any) -> Any:
    # Tool-call arguments may hold dates or enums; this matches `shopassist ask --json`.
    return json.loads(json.dumps(obj, default=str))


class ChatRequest(BaseModel):
    # extra="forbid": a `user_id` in the body is an error, not a silently ignored hint.
    model_config = ConfigDict(extra="forbid")

    message: str = Field(
        min_length=1,
        max_length=20_000,
        description="The shopper's message. Over the configured limit (2,000 "
        "characters by default) the assistant answers politely.",
    )
    session_id: str | None = Field(
        default=None,
        pattern=SESSION_ID_PATTERN,
        description="Continue a conversation; omit to start one.",
    )
    stream: bool = Field(
        default=False, description="Stream text/event-stream: `delta` events then `reply`."
    )
    lang: str | None = Field(
        default=None,
        max_length=35,
        description="The language the shopper chose: `en` or `zh` (a tag such as `zh-CN` "
        "is read as `zh`). The conversation answers in it from then on; omit it to let "
        "replies follow the shopper's messages.",
        examples=["zh"],
    )

    @field_validator("lang")
    @classmethod
    def _supported_language(cls, value: str | None) -> str | None:
        if value is None:
            return None
        lang = normalise_language(value)
        if lang is None:
            raise ValueError(f"unsupported language; use one of {', '.join(LANGUAGES)}")
        return lang


class ProductCardOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    category: str
    sub_category: str
    price: float
    reason: str
    contributions: dict[str, float] = {}
    variants: list[dict[str, Any]] = Field(
        default=[],
        description="Versions matching the options asked for: id, options, price, available",
    )
    image: str | None = Field(
        default=None,
        description="The product's main image URL (imported stores), for the client to load",
    )


class ToolCallOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    args: dict[str, Any]
    ok: bool
    ms: float
    error: str | None = None


class ChatResponse(BaseModel):
    """`Reply.as_json()` (the same JSON as `shopassist ask --json`) plus the session id."""

    # A reply field not declared here still reaches the client, as `ask --json` shows it.
    model_config = ConfigDict(extra="allow")

    session_id: str
    signed_in: bool
    text: str
    intent: str
    products: list[ProductCardOut]
    cited_ids: list[str]
    candidate_ids: list[str]
    tool_calls: list[ToolCallOut]
    timings_ms: dict[str, float]
    citations: list[dict[str, Any]]
    generated: bool
    fallback: bool
    validation_problems: list[str]
    refused: str | None
    ticket_id: int | None
    route_confidence: float
    degraded: bool
    language: str = Field(default="en", description="The reply's language: `en` or `zh`")

    @classmethod
    def body(cls, reply: Reply, session_id: str, signed_in: bool, language: str = "en") -> dict:
        """The response body as JSON-ready data."""
        fields = {f.name: getattr(reply, f.name) for f in dataclasses.fields(reply)}
        head = {"session_id": session_id, "signed_in": signed_in, "language": language}
        model = cls.model_validate({**head, **fields})
        return jsonable(model.model_dump())


class HomeItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    category: str
    sub_category: str
    price: float
    score: float
    reason: str
    contributions: dict[str, float]
    image: str | None = Field(
        default=None,
        description="The product's main image URL (imported stores), for the client to load",
    )


class HomeSectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str
    title: str
    items: list[HomeItemOut]


class HomeResponse(BaseModel):
    user_id: str | None
    profile_summary: str
    cold_start: bool
    sections: list[HomeSectionOut]
    timings_ms: dict[str, float]
    experiment: str | None
    variant: str | None

    @classmethod
    def of(cls, view: HomeView) -> HomeResponse:
        page = view.page
        return cls(
            user_id=page.user_id,
            profile_summary=page.profile_summary,
            cold_start=page.cold_start,
            sections=[HomeSectionOut.model_validate(s) for s in page.sections],
            timings_ms=page.timings_ms,
            experiment=view.experiment,
            variant=view.variant,
        )


class EventErrorOut(BaseModel):
    index: int
    event_id: str | None
    code: str = Field(description="invalid | unknown_product | future_timestamp | user_mismatch")
    message: str


class EventsResponse(BaseModel):
    accepted: list[str]
    duplicates: list[str] = Field(description="ids already stored: an idempotent retry")
    errors: list[EventErrorOut]


class TrackingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    carrier: str
    reference: str
    url: str = Field(default="", description="The carrier's tracking page, when the shop gave one")


class OrderLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    product_id: str
    name: str
    category: str
    sub_category: str
    quantity: int
    unit_price: float
    discount: float
    line_total: float


class OrderOut(BaseModel):
    order_id: str
    order_date: str
    ship_date: str | None
    ship_mode: str
    status: str
    delivery_estimate: str | None
    tracking: TrackingOut | None
    city: str
    state: str
    total: float
    lines: list[OrderLineOut]
    derived: list[str] = Field(
        default=[],
        description="Facts worked out by code, not read from the shop's data (status, "
        "delivery_estimate, delivered_on, ship_date, tracking): say them as estimates",
    )

    @classmethod
    def of(cls, view: OrderView) -> OrderOut:
        return cls(
            order_id=view.order_id,
            order_date=view.order_date.isoformat(),
            ship_date=view.ship_date.isoformat() if view.ship_date else None,
            ship_mode=view.ship_mode,
            status=str(view.status),
            delivery_estimate=(
                view.delivery_estimate.isoformat() if view.delivery_estimate else None
            ),
            tracking=TrackingOut.model_validate(view.tracking) if view.tracking else None,
            city=view.city,
            state=view.state,
            total=view.total,
            lines=[OrderLineOut.model_validate(ln) for ln in view.lines],
            derived=list(view.derived),
        )


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    category: str
    sub_category: str
    price: float
    brand: str | None
    features: str
    rating: float | None


class ChromaHealth(BaseModel):
    ok: bool
    ms: float


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded"]
    catalogue_size: int
    llm_status: str
    chroma: ChromaHealth
    sessions: int


class MeResponse(BaseModel):
    signed_in: bool
    user_id: str | None
    name: str | None


class CartAddRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: str = Field(min_length=1, max_length=64, description="A catalogue product id.")
    quantity: int = Field(
        default=1, ge=1, le=99, strict=True, description="How many to add (1 to 99 a line)."
    )


class CartLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    product_id: str
    name: str
    price: float = Field(description="The catalogue's unit price now")
    quantity: int
    line_total: float


class CartResponse(BaseModel):
    """A shopper's cart, priced from the catalogue when read (prices are never stored)."""

    lines: list[CartLineOut]
    count: int = Field(description="Items in the cart: the sum of the quantities")
    total: float
    currency: str = Field(default="USD", description="The store's currency (ISO 4217)")
    session_id: str | None = Field(
        default=None, description="The anonymous session that owns this cart (null: signed in)"
    )

    @classmethod
    def of(cls, cart: Cart, session_id: str | None) -> CartResponse:
        return cls(
            lines=[CartLineOut.model_validate(ln) for ln in cart.lines],
            count=cart.count,
            total=cart.total,
            currency=cart.currency,
            session_id=session_id,
        )
