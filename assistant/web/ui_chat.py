"""The Gradio chat's event handlers. A turn goes through the one admission gate,
`Shop.chat_turn`, like the API's and the widget's: over a limit the shopper sees "busy" at
once, and a streamed turn holds its slot until its last piece.

The language the shopper chose with the UI's switch (`lang`, or None when they have not
chosen) goes with every turn: once chosen, replies stay in it. The UI's own messages (busy,
sorry) and the cards' labels are in the conversation's language."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from ..conversation import Reply
from ..lang import detect_language, normalise_language
from .admission import Rejected, SessionBusy
from .i18n import t
from .shop import Shop
from .ui_render import esc, reply_html

log = logging.getLogger(__name__)


def typing_html(lang: str | None = None) -> str:
    """Shown after the text while the turn is still streaming (the model may still be
    writing); the finished reply has none, which is also how the browser tests know a turn
    is complete."""
    return f' <span class="sa-typing" title="{esc(t(lang, "ui.still_writing"))}">…</span>'


Chat = Iterator[tuple[str, list, str | None]]


def _bot(history: list, content: str) -> list:
    history[-1] = {"role": "assistant", "content": content}
    return history


def make_respond(shop: Shop) -> Callable[..., Chat]:
    """The chat handler: (message, history, user, session id, chosen language) → (box,
    history, session id)."""

    def respond(
        message: str,
        history: list,
        user: str | None,
        session_id: str | None,
        lang: str | None = None,
        request: gr.Request | None = None,
    ) -> Chat:
        message = (message or "").strip()
        if not message:
            yield "", history, session_id
            return
        chosen = normalise_language(lang)
        # Before the turn, the UI's own messages follow the choice, else the message.
        said: str = chosen or detect_language(message)
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
            turn = shop.chat_turn(
                message, user_id=user, session_id=session_id, client=client, language=chosen
            )
        except SessionBusy:
            yield "", _bot(history, t(said, "ui.still_answering")), session_id
            return
        except Rejected as exc:  # busy or rate limited: answered at once, never queued
            log.info("chat turn refused: %s", exc.code)
            yield "", _bot(history, t(said, "ui.busy")), session_id
            return
        try:
            text = ""
            for piece in turn.stream():
                said = turn.state.language  # the agent has settled the reply's language
                if isinstance(piece, Reply):
                    _bot(history, reply_html(piece, said))
                else:
                    text += piece
                    _bot(history, esc(text) + typing_html(said))
                yield "", history, session_id
        except Exception:
            log.exception("chat turn failed")
            yield "", _bot(history, t(said, "ui.sorry")), session_id
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
