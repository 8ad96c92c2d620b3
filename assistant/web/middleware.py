"""Request plumbing below the routers: the body-size limit and `Server-Timing` (pure ASGI),
the idempotency cache for event posts, and the sliding-window rate limiter (`admission`)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .admission import RateLimiter
from .errors import error_response

MAX_BODY_BYTES = 64 * 1024


class BodySizeLimit:
    """Reject request bodies over `max_bytes` with 413, whether or not Content-Length is sent.

    Pure ASGI so a chunked upload is cut off as soon as it crosses the limit, before FastAPI
    buffers it."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES, prefix: str = "/api") -> None:
        self.app, self.max_bytes, self.prefix = app, max_bytes, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(scope, receive, send)
                    return
        seen = 0
        exceeded = False
        replaced = False

        async def limited_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    raise _TooLarge  # stops the read; the app's error reply is replaced below
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal replaced
            if not exceeded:
                await send(message)
            elif not replaced:
                # FastAPI turns a failed body read into its own 400: answer 413 instead.
                replaced = True
                await self._reject(scope, receive, send)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            if not replaced:
                await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        resp = error_response(
            413, "payload_too_large", f"request bodies are limited to {self.max_bytes:,} bytes"
        )
        await resp(scope, receive, send)


class _TooLarge(Exception):
    pass


class ServerTiming:
    """`Server-Timing: app;dur=<ms>` on every response under `prefix`: the time from the
    request reaching the app to its response starting. Clients (and the load bench) can tell
    time spent in the app from time spent queued before it or on the way."""

    def __init__(self, app: ASGIApp, prefix: str = "/api") -> None:
        self.app, self.prefix = app, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        t = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - t) * 1e3
                headers = [*message.get("headers", []), (b"server-timing", b"app;dur=%.1f" % ms)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed_send)


class IdempotencyCache:
    """First response per (caller, Idempotency-Key), replayed on retries (bounded LRU)."""

    def __init__(self, max_entries: int = 5000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], tuple[str, int, dict]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> tuple[str, int, dict] | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit:
                self._entries.move_to_end(key)
            return hit

    def put(self, key: tuple[str, str], body_hash: str, status: int, body: dict) -> None:
        with self._lock:
            self._entries[key] = (body_hash, status, body)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


__all__ = ["MAX_BODY_BYTES", "BodySizeLimit", "IdempotencyCache", "RateLimiter", "ServerTiming"]
