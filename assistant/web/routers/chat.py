"""POST /api/chat: one turn, as JSON or as a stream of checked text pieces.

Admission is `Shop.chat_turn`, done on the event loop before any thread is taken: a turn over
a limit is answered at once (429 or 503 with Retry-After). An admitted turn runs on the chat
lane's own threads and, when streamed, holds its slot until the stream ends.
"""

# No `from __future__ import annotations`: FastAPI must see the real annotations.
import json
import logging
import uuid
from collections.abc import AsyncIterator, Generator

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from ...conversation import Reply
from ..deps import Identity, ShopDep
from ..errors import ErrorResponse
from ..schemas import ChatRequest, ChatResponse
from ..shop import ChatTurn, Shop

log = logging.getLogger(__name__)

router = APIRouter(tags=["chat"])


def sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


@router.post(
    "/chat",
    response_model=ChatResponse,
    responses={
        200: {"content": {"text/event-stream": {}}},
        429: {"model": ErrorResponse, "description": "rate limited, or this chat is answering"},
        503: {"model": ErrorResponse, "description": "busy: every chat slot is taken"},
    },
    summary="One chat turn (JSON, or a stream of checked text pieces)",
)
async def chat(body: ChatRequest, request: Request, user: Identity, shop: ShopDep):
    session_id = body.session_id or uuid.uuid4().hex
    turn = shop.chat_turn(
        body.message,
        user_id=user,
        session_id=session_id,
        client=request.client.host if request.client else None,
        language=body.lang,
    )
    signed_in = user is not None
    if not body.stream:
        # `reply()` frees the slot when the turn ends, even if this request is cancelled first.
        # The JSON is rendered on the chat lane's thread too: the event loop only sends it.
        content = await shop.chat.offload(_reply_json, turn, signed_in)
        return Response(content, media_type="application/json")
    return StreamingResponse(
        _events(shop, turn, signed_in),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Session-Id": session_id},
        background=BackgroundTask(turn.close),  # also when the client went away mid-stream
    )


def _reply_json(turn: ChatTurn, signed_in: bool) -> bytes:
    reply = turn.reply()
    body = ChatResponse.body(reply, turn.session_id, signed_in, turn.state.language)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _next_frame(pieces: Generator[str | Reply], turn: ChatTurn, signed_in: bool) -> str | None:
    """The next SSE frame (built on the chat lane's thread), or None at the end."""
    piece = next(pieces, None)
    if piece is None:
        return None
    if isinstance(piece, Reply):
        body = ChatResponse.body(piece, turn.session_id, signed_in, turn.state.language)
        return sse("reply", body)
    return sse("delta", {"text": piece})


async def _events(shop: Shop, turn: ChatTurn, signed_in: bool) -> AsyncIterator[str]:
    pieces: Generator[str | Reply] = turn.stream()
    try:
        while (frame := await shop.chat.offload(_next_frame, pieces, turn, signed_in)) is not None:
            yield frame
    except Exception as exc:  # the stream has started: report in-band, not as a 500
        log.exception("chat stream failed")
        yield sse("error", {"code": "internal_error", "message": str(exc)[:200]})
    finally:
        # Nothing awaited here: this also runs when the client went away and we are cancelled.
        turn.close()
        shop.chat.pool.submit(pieces.close)  # the agent's own clean-up, off the event loop
