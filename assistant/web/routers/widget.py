"""The embeddable support widget: /widget.js, its static files, and the /widget-demo page."""

# No `from __future__ import annotations`: FastAPI must see the real annotations.
from importlib import resources
from typing import Literal

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from ..demo import render_demo
from ..deps import SettingsDep, ShopDep

WIDGET_DIR = resources.files("assistant.web").joinpath("widget")

router = APIRouter(include_in_schema=False)
_WIDGET_JS = WIDGET_DIR.joinpath("widget.js").read_bytes()


@router.get("/widget.js")
async def widget() -> Response:
    return Response(
        _WIDGET_JS,
        media_type="application/javascript",
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.get("/widget-demo", response_class=HTMLResponse)
def widget_demo(
    shop: ShopDep,
    settings: SettingsDep,
    mode: Literal["signed", "forged", "anonymous"] = Query("signed"),
) -> str:
    return render_demo(shop, settings.widget_secret, mode)


def mount_widget_static(app: FastAPI) -> None:
    # Under /static/widget, not /static: Gradio serves its own files from /static.
    app.mount("/static/widget", StaticFiles(directory=str(WIDGET_DIR)), name="widget-static")
