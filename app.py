"""shopassist web app: the Gradio UI at "/", the HTTP API at /api, the support widget.

`python app.py` serves on settings.host:settings.port (SHOPASSIST_HOST / SHOPASSIST_PORT);
`uvicorn app:create_app --factory` works too. The factory is `assistant.web.app.create_app`.
"""

from __future__ import annotations

import logging

import uvicorn

from assistant.web.app import create_app
from retrieval.settings import get_settings

log = logging.getLogger("shopassist.app")

__all__ = ["create_app", "main"]


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
