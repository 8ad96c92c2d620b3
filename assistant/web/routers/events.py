"""POST /api/events: behaviour events, one, a list, or `{"events": [...]}`.

Status codes (a documented choice):
- 200: every event was stored or was an idempotent repeat (listed under `duplicates`);
- 207: partial success: some stored, some rejected (each rejection in `errors`, with a code);
- 422: every event was rejected, or the body is not an event, a list or `{"events": [...]}`.
A request retried with the same `Idempotency-Key` header replays the first response.
"""

# No `from __future__ import annotations`: FastAPI must see the real annotations.
import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Request
from fastapi.responses import JSONResponse

from retrieval.events import MAX_BATCH

from ...runtime import Runtime
from ..deps import Identity, Web, client_key
from ..errors import ApiError, ErrorResponse
from ..schemas import EventsResponse

router = APIRouter(tags=["events"])

EXAMPLES = {
    "single": {"value": {"id": "evt-1", "type": "view", "product_id": "OFF-BI-10002012"}},
    "batch": {"value": {"events": [{"type": "add_to_cart", "product_id": "OFF-BI-10002012"}]}},
}


@router.post(
    "/events",
    response_model=EventsResponse,
    status_code=200,
    responses={
        207: {"model": EventsResponse, "description": "partial success"},
        401: {"model": ErrorResponse},
        503: {"model": ErrorResponse, "description": "busy, or storage unavailable: retry"},
    },
    summary="Record behaviour events (one, a list, or {'events': [...]})",
)
async def record_events(
    request: Request,
    caller: Identity,
    web: Web,
    payload: Annotated[dict[str, Any] | list[Any], Body(openapi_examples=EXAMPLES)],
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> JSONResponse:
    if caller is None:
        raise ApiError(401, "unauthorized", "events need a signed shopper token")
    web.events_limiter.check(client_key(request, caller))
    raw = event_list(payload)
    body_hash = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
    key = (caller, idempotency_key) if idempotency_key else None
    if key:
        hit = web.idempotency.get(key)
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
    # Stored on the events lane: a bounded number at once, else 503 busy (retry: ids make
    # a retried event a no-op).
    status, body = await web.shop.writes.run(ingest, web.runtime, caller, raw)
    if key:
        web.idempotency.put(key, body_hash, status, body)
    return JSONResponse(body, status_code=status)


def event_list(payload: dict[str, Any] | list[Any]) -> list[Any]:
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


def _error(index: int, event_id: str | None, code: str, message: str) -> dict:
    return {"index": index, "event_id": event_id, "code": code, "message": message}


def ingest(runtime: Runtime, caller: str, raw: list[Any]) -> tuple[int, dict]:
    """Fill the user from the token, reject events for anyone else, store the rest."""
    errors: list[dict] = []
    todo: list[dict] = []
    positions: list[int] = []  # index in `raw` of each event in `todo`
    for i, ev in enumerate(raw):
        if not isinstance(ev, dict):
            errors.append(_error(i, None, "invalid", "an event must be a JSON object"))
            continue
        claimed = ev.get("user_id")
        if claimed is not None and claimed != caller:
            event_id = ev.get("id") if isinstance(ev.get("id"), str) else None
            message = "events can only be recorded for the signed-in shopper"
            errors.append(_error(i, event_id, "user_mismatch", message))
            continue
        todo.append({**ev, "user_id": caller})
        positions.append(i)
    accepted: list[str] = []
    duplicates: list[str] = []
    if todo:
        try:
            result = runtime.stack.recommendations().record(todo)
        except ValueError as exc:
            raise ApiError(422, "validation_error", str(exc)) from None
        accepted = list(result.accepted)
        for e in result.errors:
            if e.code == "duplicate":  # stored before, or repeated in this batch: idempotent
                duplicates.append(e.event_id or "")
                continue
            errors.append(_error(positions[e.index], e.event_id, e.code, e.message))
    errors.sort(key=lambda e: e["index"])
    body = {"accepted": accepted, "duplicates": duplicates, "errors": errors}
    if not errors:
        return 200, body
    return (207 if accepted or duplicates else 422), body
