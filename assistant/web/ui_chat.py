"""The Gradio chat's event handlers. A turn goes through the one admission gate,
`Shop.chat_turn`, like the API's and the widget's: over a limit the shopper sees "busy" at
once, and a streamed turn holds its slot until its last piece."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from ..conversation import Reply
from .admission import Rejected, SessionBusy
from .shop import Shop
from .ui_render import BUSY_TEXT, esc, reply_html

log = logging.getLogger(__name__)

SORRY_TEXT = "Sorry, something went wrong. Please try again."
# Shown after the text while the turn is still streaming (the model may still be writing); the
# finished reply has none, which is also how the browser tests know a turn is complete.
TYPING_HTML = ' <span class="sa-typing" title="still writing">…</span>'
STILL_ANSWERING_TEXT = "I'm still answering your previous message: one moment, please."

Chat = Iterator[tuple[str, list, str | None]]


def _bot(history: list, content: str) -> list:
    history[-1] = {"role": "assistant", "content": content}
    return history


def make_respond(shop: Shop) -> Callable[..., Chat]:
    """The chat handler: (message, history, user, session id) → (box, history, session id)."""

    def respond(
        message: str,
        history: list,
        user: str | None,
        session_id: str | None,
        request: gr.Request,
    ) -> Chat:
        message = (message or "").strip()
        if not message:
            yield "", history, session_id
            return
        # The conversation itself lives in the shop's session store, as the API's do.
        session_id = session_id or uuid.uuid4().hex
        history = [
            *history,
            {"role": "user", "content": message},
            {"role": "assistant", "content": "…"},
        ]
        yield "", history, session_id
        client = request.client.host if request and request.client else None
        try:
            turn = shop.chat_turn(message, user_id=user, session_id=session_id, client=client)
        except SessionBusy:
            yield "", _bot(history, STILL_ANSWERING_TEXT), session_id
            return
        except Rejected as exc:  # busy or rate limited: answered at once, never queued
            log.info("chat turn refused: %s", exc.code)
            yield "", _bot(history, BUSY_TEXT), session_id
            return
        try:
            text = ""
            for piece in turn.stream():
                if isinstance(piece, Reply):
                    _bot(history, reply_html(piece))
                else:
                    text += piece
                    _bot(history, esc(text) + TYPING_HTML)
                yield "", history, session_id
        except Exception:
            log.exception("chat turn failed")
            yield "", _bot(history, SORRY_TEXT), session_id
        finally:
            turn.close()

    return respond


def make_on_like(shop: Shop) -> Callable[..., None]:
    def on_like(session_id: str | None, user: str | None, data: gr.LikeData) -> None:
        liked = data.liked if isinstance(data.liked, bool) else None
        value: Any = data.value
        text = value if isinstance(value, str) else str(value)
        index = data.index if isinstance(data.index, int) else int(data.index[0])
        try:
            shop.record_feedback(user, session_id or "no-session", index, liked, text)
        except Exception as exc:
            log.error("could not store feedback: %s", exc)

    return on_like
