"""The app factory: the HTTP API under /api, the support widget, and the Gradio UI at "/".

`create_app()` wires one `Runtime` and one `Shop` into `app.state.web`; routers reach them
only through `Depends` (see `deps`). The LLM (if any) loads in the background: the app
serves template answers until it is ready.
"""

from __future__ import annotations

import logging

import gradio as gr
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from retrieval.settings import Settings, get_settings

from ..runtime import Runtime
from .deps import WebState
from .errors import ApiError, ErrorResponse, install_error_handlers
from .middleware import MAX_BODY_BYTES, BodySizeLimit, ServerTiming
from .routers import cart, chat, events, health, home, orders, products, widget
from .shop import Shop
from .ui import build_ui
from .ui_render import UI_CSS, ui_theme

log = logging.getLogger("shopassist.app")

DEFAULT_SECRET = "change-me-in-production"

_unknown = APIRouter(include_in_schema=False)


@_unknown.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
async def unknown(rest: str) -> None:
    # Without this, unknown /api paths would fall through to the Gradio app at "/".
    raise ApiError(404, "not_found", f"no endpoint /api/{rest}")


def api_router() -> APIRouter:
    """Every /api endpoint, one router per concern, then the JSON 404 for anything else."""
    api = APIRouter(
        prefix="/api",
        responses={422: {"model": ErrorResponse}, 429: {"model": ErrorResponse}},
    )
    for module in (chat, home, events, cart, orders, products, health):
        api.include_router(module.router)
    api.include_router(_unknown)
    return api


def create_app(
    settings: Settings | None = None,
    runtime: Runtime | None = None,
    *,
    queue_size: int = 64,
    ui: bool = True,
) -> FastAPI:
    settings = settings or (runtime.settings if runtime else get_settings())
    if runtime is None:
        runtime = Runtime.build(settings, load_llm=settings.llm_backend != "none", background=True)
    if settings.widget_secret == DEFAULT_SECRET:
        log.warning("SHOPASSIST_WIDGET_SECRET is the default: anyone can sign shopper tokens")
    shop = Shop(runtime, settings)
    # Build the recommendation service (seconds: it fits popularity and co-purchase over every
    # stored event) before the app listens, so "healthy" means ready, not "first request slow".
    runtime.stack.recommendations()

    app = FastAPI(
        title="shopassist",
        version="0.1.0",
        docs_url="/docs",
        description="Conversational shopping assistant: chat, home pages, events, "
        "carts, orders. Authenticate with a signed shopper token.",
    )
    app.state.web = WebState(settings, runtime, shop)
    install_error_handlers(app)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],  # DELETE: cart lines
        allow_headers=["Authorization", "X-Shopper-Token", "Content-Type", "Idempotency-Key"],
        expose_headers=["X-Session-Id", "Retry-After", "Idempotency-Replayed", "Server-Timing"],
        max_age=600,
    )
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES, prefix="/api")
    app.add_middleware(ServerTiming, prefix="/api")  # outermost: it times everything inside
    app.include_router(api_router())
    app.include_router(widget.router)
    widget.mount_widget_static(app)

    if ui:
        blocks = build_ui(shop)
        # Gradio's queue only orders UI events; chat admission is Shop.chat_turn's, which
        # answers "busy" at once rather than letting a turn wait here.
        blocks.queue(default_concurrency_limit=4, max_size=queue_size)
        app = gr.mount_gradio_app(
            app,
            blocks,
            path="/",
            theme=ui_theme(),
            css=UI_CSS,
            footer_links=["api"],
            ssr_mode=False,
            show_error=False,
        )
    app.state.runtime = runtime
    app.state.shop = shop
    return app
