"""Every API error is `{"error": {"code", "message"}}` with a meaningful status code."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .admission import Rejected

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


def documented_errors(*statuses: int, busy: str | None = None) -> dict[int | str, Any]:
    """OpenAPI `responses=` for a route's JSON errors; `busy` describes its 503."""
    out: dict[int | str, Any] = {s: {"model": ErrorResponse} for s in statuses}
    if busy:
        out[503] = {"model": ErrorResponse, "description": f"busy: {busy}"}
    return out


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "rate_limited",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(Rejected)
    async def _rejected(_: Request, exc: Rejected) -> JSONResponse:
        # Admission refused it at once (429 rate limit / conversation busy, 503 at capacity).
        return error_response(
            exc.status, exc.code, exc.message, {"Retry-After": str(exc.retry_after)}
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "malformed_json", "the request body is not valid JSON")
        msg = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: "
            f"{e.get('msg', 'invalid')}"
            for e in errors[:10]
        )
        return error_response(422, "validation_error", msg or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(SQLAlchemyError)
    async def _storage(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        # A locked or full database is transient: "retry later" (events are idempotent by id),
        # never a 500 traceback. The transaction has already rolled back: nothing half-written.
        log.error("storage error on %s: %s", request.url.path, exc)
        return error_response(
            503,
            "storage_unavailable",
            "storage is temporarily unavailable; please retry shortly",
            {"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        # Still a 500 (and still logged with its traceback by Starlette), but JSON with a code.
        return error_response(500, "internal_error", "something went wrong on our side")
