"""shopassist web app: the Gradio UI at "/", the HTTP API at /api, the support widget.

`python app.py` serves on settings.host:settings.port (SHOPASSIST_HOST / SHOPASSIST_PORT).
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Literal

import gradio as gr
import uvicorn
from fastapi import FastAPI, Query
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from assistant.runtime import Runtime
from assistant.web.api import (
    MAX_BODY_BYTES,
    ApiConfig,
    ApiContext,
    BodySizeLimit,
    create_api_router,
    install_error_handlers,
)
from assistant.web.demo import render_demo
from assistant.web.shop import Shop
from assistant.web.ui import UI_CSS, build_ui, ui_theme
from retrieval.settings import Settings, get_settings

log = logging.getLogger("shopassist.app")

WIDGET_DIR = resources.files("assistant.web").joinpath("widget")
DEFAULT_SECRET = "change-me-in-production"


def create_app(
    settings: Settings | None = None,
    runtime: Runtime | None = None,
    api_config: ApiConfig | None = None,
    *,
    queue_size: int = 64,
) -> FastAPI:
    """Wire everything together. The LLM (if any) loads in the background: the app serves
    template answers until it is ready."""
    settings = settings or get_settings()
    if runtime is None:
        runtime = Runtime.build(settings, load_llm=settings.llm_backend != "none", background=True)
    if settings.widget_secret == DEFAULT_SECRET:
        log.warning("SHOPASSIST_WIDGET_SECRET is the default: anyone can sign shopper tokens")
    shop = Shop(runtime)

    app = FastAPI(
        title="shopassist",
        version="0.1.0",
        docs_url="/docs",
        description="Conversational shopping assistant: chat, home pages, events, "
        "orders. Authenticate with a signed shopper token.",
    )
    install_error_handlers(app)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "X-Shopper-Token", "Content-Type", "Idempotency-Key"],
        expose_headers=["X-Session-Id", "Retry-After", "Idempotency-Replayed"],
        max_age=600,
    )
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES, prefix="/api")
    app.include_router(create_api_router(ApiContext(runtime, shop, api_config or ApiConfig())))

    widget_js = WIDGET_DIR.joinpath("widget.js").read_bytes()

    @app.get("/widget.js", include_in_schema=False)
    def widget() -> Response:
        return Response(
            widget_js,
            media_type="application/javascript",
            headers={"Cache-Control": "public, max-age=300"},
        )

    @app.get("/widget-demo", response_class=HTMLResponse, include_in_schema=False)
    def widget_demo(mode: Literal["signed", "forged", "anonymous"] = Query("signed")) -> str:
        return render_demo(shop, settings.widget_secret, mode)

    # Under /static/widget, not /static: Gradio serves its own files from /static.
    app.mount("/static/widget", StaticFiles(directory=str(WIDGET_DIR)), name="widget-static")

    blocks = build_ui(shop)
    # A bounded queue: beyond `queue_size` waiting events a shopper is told it's busy
    # instead of waiting forever; each chat event also has its own concurrency limit.
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


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = get_settings()
    app = create_app(settings)
    log.info(
        "serving on http://%s:%s (API docs at /docs, widget demo at /widget-demo)",
        settings.host,
        settings.port,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")


if __name__ == "__main__":
    main()
