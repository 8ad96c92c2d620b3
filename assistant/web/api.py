"""The HTTP API under /api: chat (plain or streamed), home pages, events, orders, health.

Identity comes only from a signed shopper token (`Authorization: Bearer <token>` or
`X-Shopper-Token`); a user id in a request body is never trusted (chat bodies forbid it).
Every error is `{"error": {"code", "message"}}` with a meaningful status code.

Status codes for `POST /api/events` (a documented choice):
- 200: every event was stored or was an idempotent repeat (listed under `duplicates`);
- 207: partial success: some stored, some rejected (each rejection in `errors`, with a code);
- 422: every event was rejected, or the body is not an event, a list or `{"events": [...]}`.
A request retried with the same `Idempotency-Key` header replays the first response.
"""

# No `from __future__ import annotations`: FastAPI must see the real, locally defined
# dependency annotations (Identity) to inject them.
import hashlib
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retrieval.catalogue import UnknownProductError
from retrieval.events import MAX_BATCH

from ..conversation import Reply
from ..runtime import Runtime
from ..support.orders import AuthRequired, OrderNotFound
from .identity import token_from_headers, verify_token
from .shop import ANONYMOUS, SessionStore, Shop

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
SESSION_ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"


# Errors ------------------------------------------------------------------------------------
class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "rate_limited",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "malformed_json", "the request body is not valid JSON")
        msg = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: "
            f"{e.get('msg', 'invalid')}"
            for e in errors[:10]
        )
        return error_response(422, "validation_error", msg or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(SQLAlchemyError)
    async def _storage(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        # A locked or full database is transient: "retry later" (events are idempotent by id),
        # never a 500 traceback. The transaction has already rolled back: nothing half-written.
        log.error("storage error on %s: %s", request.url.path, exc)
        return error_response(
            503,
            "storage_unavailable",
            "storage is temporarily unavailable; please retry shortly",
            {"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        # Still a 500 (and still logged with its traceback by Starlette), but JSON with a code.
        return error_response(500, "internal_error", "something went wrong on our side")


class BodySizeLimit:
    """Reject request bodies over `max_bytes` with 413, whether or not Content-Length is sent.

    Pure ASGI so a chunked upload is cut off as soon as it crosses the limit, before FastAPI
    buffers it."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES, prefix: str = "/api") -> None:
        self.app, self.max_bytes, self.prefix = app, max_bytes, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(scope, receive, send)
                    return
        seen = 0
        exceeded = False
        replaced = False

        async def limited_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    raise _TooLarge  # stops the read; the app's error reply is replaced below
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal replaced
            if not exceeded:
                await send(message)
            elif not replaced:
                # FastAPI turns a failed body read into its own 400: answer 413 instead.
                replaced = True
                await self._reject(scope, receive, send)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            if not replaced:
                await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        resp = error_response(
            413, "payload_too_large", f"request bodies are limited to {self.max_bytes:,} bytes"
        )
        await resp(scope, receive, send)


class _TooLarge(Exception):
    pass


# Rate limiting ---------------------------------------------------------------------------
class RateLimiter:
    """Sliding-window limit per key (a shopper, or a client address when anonymous)."""

    def __init__(self, limit: int, window_s: float = 60.0, max_keys: int = 10_000) -> None:
        self.limit, self.window_s, self.max_keys = limit, window_s, max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            self._hits.move_to_end(key)
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                retry = max(1, int(hits[0] + self.window_s - now) + 1)
                raise ApiError(
                    429,
                    "rate_limited",
                    f"too many requests; try again in {retry} s",
                    {"Retry-After": str(retry)},
                )
            hits.append(now)
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)


class IdempotencyCache:
    """First response per (caller, Idempotency-Key), replayed on retries (bounded LRU)."""

    def __init__(self, max_entries: int = 5000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], tuple[str, int, dict]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> tuple[str, int, dict] | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit:
                self._entries.move_to_end(key)
            return hit

    def put(self, key: tuple[str, str], body_hash: str, status: int, body: dict) -> None:
        with self._lock:
            self._entries[key] = (body_hash, status, body)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


# Models ----------------------------------------------------------------------------------
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


class ProductCardOut(BaseModel):
    id: str
    name: str
    category: str
    sub_category: str
    price: float
    reason: str
    contributions: dict[str, float] = {}


class ToolCallOut(BaseModel):
    name: str
    args: dict[str, Any]
    ok: bool
    ms: float
    error: str | None = None


class ChatResponse(BaseModel):
    """`Reply.as_json()` (the same JSON as `shopassist ask --json`) plus the session id."""

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


class HomeItemOut(BaseModel):
    id: str
    name: str
    category: str
    sub_category: str
    price: float
    score: float
    reason: str
    contributions: dict[str, float]


class HomeSectionOut(BaseModel):
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
    carrier: str
    reference: str


class OrderLineOut(BaseModel):
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


class ProductOut(BaseModel):
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


# Wiring ----------------------------------------------------------------------------------
@dataclass
class ApiConfig:
    chat_per_minute: int = 30
    events_per_minute: int = 120
    chat_wait_s: float = 20.0  # how long a request waits for a free slot before "busy"
    max_sessions: int = 2000


@dataclass
class ApiContext:
    runtime: Runtime
    shop: Shop
    config: ApiConfig = field(default_factory=ApiConfig)

    def __post_init__(self) -> None:
        self.sessions = SessionStore(self.config.max_sessions)
        self.chat_limiter = RateLimiter(self.config.chat_per_minute)
        self.events_limiter = RateLimiter(self.config.events_per_minute)
        self.chat_slots = self.shop.chat_slots
        self.idempotency = IdempotencyCache()

    @property
    def secret(self) -> str:
        return self.runtime.settings.widget_secret


def _client_key(request: Request, user_id: str | None) -> str:
    if user_id:
        return f"user:{user_id}"
    return f"ip:{request.client.host if request.client else 'unknown'}"


def _jsonable(obj: Any) -> Any:
    # Tool-call arguments may hold dates or enums; this matches `shopassist ask --json`.
    return json.loads(json.dumps(obj, default=str))


def reply_json(reply: Reply, session_id: str, signed_in: bool) -> dict:
    return _jsonable({"session_id": session_id, "signed_in": signed_in, **reply.as_json()})


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


def create_api_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(
        prefix="/api",
        tags=["shopassist"],
        responses={422: {"model": ErrorResponse}, 429: {"model": ErrorResponse}},
    )

    def identity(
        authorization: Annotated[str | None, Header(description="Bearer <shopper token>")] = None,
        x_shopper_token: Annotated[str | None, Header()] = None,
    ) -> str | None:
        return verify_token(ctx.secret, token_from_headers(authorization, x_shopper_token))

    Identity = Annotated[str | None, Depends(identity)]

    @router.get("/me", response_model=MeResponse, summary="Who the token says you are")
    def me(user: Identity) -> MeResponse:
        return MeResponse(
            signed_in=user is not None, user_id=user, name=ctx.shop.customer_name(user)
        )

    @router.post(
        "/chat",
        response_model=ChatResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
        summary="One chat turn (JSON, or a stream of checked text pieces)",
    )
    def chat(body: ChatRequest, request: Request, user: Identity):
        ctx.chat_limiter.check(_client_key(request, user))
        session_id = body.session_id or uuid.uuid4().hex
        slot = ctx.sessions.get(user, session_id)
        if not slot.lock.acquire(timeout=ctx.config.chat_wait_s):
            raise ApiError(
                429, "session_busy", "this conversation is still answering", {"Retry-After": "2"}
            )
        if not ctx.chat_slots.acquire(timeout=ctx.config.chat_wait_s):
            slot.lock.release()
            raise ApiError(
                429, "busy", "the assistant is busy; please retry shortly", {"Retry-After": "5"}
            )

        def release() -> None:
            ctx.chat_slots.release()
            slot.lock.release()

        if not body.stream:
            try:
                reply = ctx.runtime.agent.turn(slot.state, body.message)
            finally:
                release()
            return JSONResponse(reply_json(reply, session_id, user is not None))

        def events() -> Iterator[str]:
            try:
                for piece in ctx.runtime.agent.stream(slot.state, body.message):
                    if isinstance(piece, Reply):
                        yield _sse("reply", reply_json(piece, session_id, user is not None))
                    else:
                        yield _sse("delta", {"text": piece})
            except Exception as exc:  # the stream has started: report in-band, not as a 500
                log.exception("chat stream failed")
                yield _sse("error", {"code": "internal_error", "message": str(exc)[:200]})
            finally:
                release()

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Session-Id": session_id},
        )

    @router.get(
        "/home/{user}",
        response_model=HomeResponse,
        responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
        summary="A shopper's personalised home page ('anonymous' or 'new': cold start)",
    )
    def home(
        user: Annotated[str, Path(max_length=64)],
        caller: Identity,
        per_section: Annotated[int, Query(ge=1, le=24)] = 8,
    ) -> HomeResponse:
        if user in ANONYMOUS:
            view = ctx.shop.home(None, per_section=per_section, log_exposure=False)
        else:
            # A home page reveals what someone bought: only its owner may read it. Without a
            # token we answer 401 before looking the user up, so nothing leaks either way.
            if caller is None:
                raise ApiError(401, "unauthorized", "sign in to see a personalised home page")
            if caller != user or not ctx.shop.is_customer(user):
                raise ApiError(404, "user_not_found", f"no shopper {user!r}")
            view = ctx.shop.home(user, per_section=per_section)
        return HomeResponse(
            **_jsonable(view.page.as_json()), experiment=view.experiment, variant=view.variant
        )

    @router.get(
        "/products/{product_id}",
        response_model=ProductOut,
        responses={404: {"model": ErrorResponse}},
        summary="One catalogue product",
    )
    def product(product_id: Annotated[str, Path(max_length=64)]) -> ProductOut:
        try:
            p = ctx.runtime.stack.catalogue.get(product_id)
        except (KeyError, UnknownProductError):
            raise ApiError(404, "product_not_found", f"no product {product_id!r}") from None
        return ProductOut(
            id=p.id,
            name=p.name,
            category=p.category,
            sub_category=p.sub_category,
            price=p.price,
            brand=p.brand,
            features=p.features,
            rating=p.rating,
        )

    @router.post(
        "/events",
        response_model=EventsResponse,
        status_code=200,
        responses={
            207: {"model": EventsResponse, "description": "partial success"},
            401: {"model": ErrorResponse},
        },
        summary="Record behaviour events (one, a list, or {'events': [...]})",
    )
    def record_events(
        request: Request,
        caller: Identity,
        payload: Annotated[
            dict[str, Any] | list[Any],
            Body(
                openapi_examples={
                    "single": {
                        "value": {"id": "evt-1", "type": "view", "product_id": "OFF-BI-10002012"}
                    },
                    "batch": {
                        "value": {
                            "events": [{"type": "add_to_cart", "product_id": "OFF-BI-10002012"}]
                        }
                    },
                }
            ),
        ],
        idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    ) -> JSONResponse:
        if caller is None:
            raise ApiError(401, "unauthorized", "events need a signed shopper token")
        ctx.events_limiter.check(_client_key(request, caller))
        raw = _event_list(payload)
        body_hash = hashlib.sha256(
            json.dumps(raw, sort_keys=True, default=str).encode()
        ).hexdigest()
        key = (caller, idempotency_key) if idempotency_key else None
        if key:
            hit = ctx.idempotency.get(key)
            if hit:
                if hit[0] != body_hash:
                    raise ApiError(
                        422,
                        "idempotency_key_reused",
                        "this Idempotency-Key was used with a different body",
                    )
                return JSONResponse(
                    hit[2], status_code=hit[1], headers={"Idempotency-Replayed": "true"}
                )
        status, body = _ingest(ctx, caller, raw)
        if key:
            ctx.idempotency.put(key, body_hash, status, body)
        return JSONResponse(body, status_code=status)

    @router.get(
        "/orders/{order_id}",
        response_model=OrderOut,
        responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
        summary="One of the signed-in shopper's orders",
    )
    def order(order_id: Annotated[str, Path(max_length=64)], caller: Identity) -> OrderOut:
        orders = ctx.runtime.agent.tools.desk.orders
        try:
            view = orders.get_order(order_id, caller)
        except AuthRequired:
            raise ApiError(401, "unauthorized", "sign in to see order details") from None
        except OrderNotFound:
            # Someone else's order and a non-existent one answer identically: no oracle.
            raise ApiError(404, "order_not_found", "no such order for this shopper") from None
        return OrderOut(
            order_id=view.order_id,
            order_date=view.order_date.isoformat(),
            ship_date=view.ship_date.isoformat() if view.ship_date else None,
            ship_mode=view.ship_mode,
            status=str(view.status),
            delivery_estimate=(
                view.delivery_estimate.isoformat() if view.delivery_estimate else None
            ),
            tracking=(
                TrackingOut(carrier=view.tracking.carrier, reference=view.tracking.reference)
                if view.tracking
                else None
            ),
            city=view.city,
            state=view.state,
            total=view.total,
            lines=[OrderLineOut(**ln.__dict__) for ln in view.lines],
        )

    @router.get(
        "/health",
        response_model=HealthResponse,
        responses={503: {"model": HealthResponse}},
        summary="Liveness and readiness",
    )
    def health() -> JSONResponse:
        t = time.perf_counter()
        try:
            ok = bool(ctx.runtime.stack.store.heartbeat())
        except Exception:
            ok = False
        ms = round((time.perf_counter() - t) * 1e3, 2)
        try:
            size = len(ctx.runtime.stack.catalogue)
        except Exception:
            size = 0
        healthy = ok and size > 0
        body = HealthResponse(
            status="ok" if healthy else "degraded",
            catalogue_size=size,
            llm_status=ctx.runtime.llm_status,
            chroma=ChromaHealth(ok=ok, ms=ms),
            sessions=len(ctx.sessions),
        )
        return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)

    @router.api_route(
        "/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
    )
    def unknown(rest: str) -> None:
        # Without this, unknown /api paths would fall through to the Gradio app at "/".
        raise ApiError(404, "not_found", f"no endpoint /api/{rest}")

    return router


def _event_list(payload: dict[str, Any] | list[Any]) -> list[Any]:
    if isinstance(payload, list):
        raw = payload
    elif "events" in payload:
        raw = payload["events"]
        if not isinstance(raw, list):
            raise ApiError(422, "validation_error", "events: must be a list")
    else:
        raw = [payload]
    if not raw:
        raise ApiError(422, "validation_error", "no events given")
    if len(raw) > MAX_BATCH:
        raise ApiError(422, "batch_too_large", f"a batch holds at most {MAX_BATCH} events")
    return raw


def _ingest(ctx: ApiContext, caller: str, raw: list[Any]) -> tuple[int, dict]:
    """Fill the user from the token, reject events for anyone else, store the rest."""
    errors: list[dict] = []
    todo: list[dict] = []
    positions: list[int] = []  # index in `raw` of each event in `todo`
    for i, ev in enumerate(raw):
        if not isinstance(ev, dict):
            errors.append(
                {
                    "index": i,
                    "event_id": None,
                    "code": "invalid",
                    "message": "an event must be a JSON object",
                }
            )
            continue
        claimed = ev.get("user_id")
        if claimed is not None and claimed != caller:
            errors.append(
                {
                    "index": i,
                    "event_id": _str_or_none(ev.get("id")),
                    "code": "user_mismatch",
                    "message": "events can only be recorded for the signed-in shopper",
                }
            )
            continue
        todo.append({**ev, "user_id": caller})
        positions.append(i)
    accepted: list[str] = []
    duplicates: list[str] = []
    if todo:
        try:
            result = ctx.runtime.stack.recommendations().record(todo)
        except ValueError as exc:
            raise ApiError(422, "validation_error", str(exc)) from None
        accepted = list(result.accepted)
        for e in result.errors:
            if e.code == "duplicate":  # stored before, or repeated in this batch: idempotent
                duplicates.append(e.event_id or "")
                continue
            errors.append(
                {
                    "index": positions[e.index],
                    "event_id": e.event_id,
                    "code": e.code,
                    "message": e.message,
                }
            )
    errors.sort(key=lambda e: e["index"])
    body = {"accepted": accepted, "duplicates": duplicates, "errors": errors}
    if not errors:
        return 200, body
    return (207 if accepted or duplicates else 422), body


def _str_or_none(v: Any) -> str | None:
    return v if isinstance(v, str) else None


__all__: list[str] = [
    "ApiConfig",
    "ApiContext",
    "BodySizeLimit",
    "create_api_router",
    "install_error_handlers",
    "MAX_BODY_BYTES",
]
