"""The embeddable support widget: /widget.js, its static files, and the /widget-demo page.

widget.js is served with its words in every language (`i18n.widget_strings()`, from
`locales/*.json`) put in where it says `/*SHOPASSIST_STRINGS*/{}`, at /widget.js and at
/static/widget/widget.js alike.
"""

# No `from __future__ import annotations`: FastAPI must see the real annotations.
import json
from importlib import resources
from typing import Literal

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from ..demo import render_demo
from ..deps import SettingsDep, ShopDep
from ..i18n import widget_strings

WIDGET_DIR = resources.files("assistant.web").joinpath("widget")
STRINGS_SLOT = "/*SHOPASSIST_STRINGS*/{}"

router = APIRouter(include_in_schema=False)


def widget_source() -> bytes:
    source = WIDGET_DIR.joinpath("widget.js").read_text("utf-8")
    if STRINGS_SLOT not in source:
        raise RuntimeError(f"widget.js has no {STRINGS_SLOT} for its strings")
    return source.replace(STRINGS_SLOT, json.dumps(widget_strings(), sort_keys=True)).encode()


_WIDGET_JS = widget_source()


@router.get("/widget.js")
@router.get("/static/widget/widget.js")  # before the static mount, which has no strings
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
    lang: Literal["en", "zh"] = Query("en", description="the demo page's <html lang>"),
) -> str:
    return render_demo(shop, settings.widget_secret, mode, lang)


def mount_widget_static(app: FastAPI) -> None:
    # Under /static/widget, not /static: Gradio serves its own files from /static.
    app.mount("/static/widget", StaticFiles(directory=str(WIDGET_DIR)), name="widget-static")
