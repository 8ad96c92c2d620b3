"""`Depends` providers: the settings, the runtime, the shop and the caller's identity.

All shared state hangs off `app.state.web` (one `WebState`, set by the app factory), so routers
are plain module-level `APIRouter`s and tests can swap any piece with `dependency_overrides`.
Every provider is `async`: FastAPI would otherwise run each one on the shared thread pool,
where a cheap read could queue behind slow work.
"""

# No `from __future__ import annotations`: FastAPI must see the real annotations.
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Header, Request

from retrieval.settings import Settings

from ..runtime import Runtime
from ..support.orders import OrderService
from .admission import RateLimiter
from .identity import token_from_headers, verify_token
from .middleware import IdempotencyCache
from .shop import Shop


@dataclass
class WebState:
    settings: Settings
    runtime: Runtime
    shop: Shop
    events_limiter: RateLimiter = field(init=False)
    idempotency: IdempotencyCache = field(default_factory=IdempotencyCache)

    def __post_init__(self) -> None:
        self.events_limiter = RateLimiter(self.settings.events_per_minute)


async def get_web(request: Request) -> WebState:
    return request.app.state.web


Web = Annotated[WebState, Depends(get_web)]


async def get_settings(web: Web) -> Settings:
    return web.settings


async def get_runtime(web: Web) -> Runtime:
    return web.runtime


async def get_shop(web: Web) -> Shop:
    return web.shop


async def get_orders(runtime: Annotated[Runtime, Depends(get_runtime)]) -> OrderService:
    return runtime.desk.orders


async def get_identity(
    settings: Annotated[Settings, Depends(get_settings)],
    authorization: Annotated[str | None, Header(description="Bearer <shopper token>")] = None,
    x_shopper_token: Annotated[str | None, Header()] = None,
) -> str | None:
    """The verified shopper id, or None (anonymous) for a missing, forged or expired token."""
    return verify_token(settings.widget_secret, token_from_headers(authorization, x_shopper_token))


SettingsDep = Annotated[Settings, Depends(get_settings)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ShopDep = Annotated[Shop, Depends(get_shop)]
OrdersDep = Annotated[OrderService, Depends(get_orders)]
Identity = Annotated[str | None, Depends(get_identity)]


def client_key(request: Request, user_id: str | None) -> str:
    """Whom a rate limit counts: the shopper, or the client address when anonymous."""
    if user_id:
        return f"user:{user_id}"
    return f"ip:{request.client.host if request.client else 'unknown'}"
