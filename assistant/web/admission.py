"""Admission primitives: rate limits, in-flight budgets and the typed refusals they raise.

Nothing here waits for capacity. A request is admitted at once or refused at once with a
`Rejected` that says when to come back; front ends map it (the API to 429/503 with
`Retry-After`, the Gradio UI to a "busy" message). Free of FastAPI and Gradio.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


class Rejected(Exception):
    """A request refused by admission: `status` and `code` for the API, `retry_after` seconds."""

    status = 429
    code = "rejected"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message, self.retry_after = message, max(1, int(retry_after))


class RateLimited(Rejected):
    status, code = 429, "rate_limited"


class SessionBusy(Rejected):
    """The same conversation is still answering its previous message."""

    status, code = 429, "session_busy"


class Busy(Rejected):
    """Every slot of a budget is taken: the server is at capacity right now."""

    status, code = 503, "busy"


class RateLimiter:
    """Sliding-window limit per key (a shopper, or a client address when anonymous)."""

    def __init__(self, limit: int, window_s: float = 60.0, max_keys: int = 10_000) -> None:
        self.limit, self.window_s, self.max_keys = limit, window_s, max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Count one request for `key`, or raise RateLimited if the window is full."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            self._hits.move_to_end(key)
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                retry = int(hits[0] + self.window_s - now) + 1
                raise RateLimited(f"too many requests; try again in {max(1, retry)} s", retry)
            hits.append(now)
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)


class InFlight:
    """At most `limit` holders at once; `try_acquire` never blocks."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held = 0
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            if self._held >= self.limit:
                return False
            self._held += 1
            return True

    def release(self) -> None:
        with self._lock:
            if self._held <= 0:
                raise RuntimeError("released more slots than were acquired")
            self._held -= 1

    @property
    def held(self) -> int:
        with self._lock:
            return self._held


class Lane:
    """An in-flight budget with threads of its own, as many as it has slots.

    Admitted work never waits for a thread, and other work (chat turns, event writes,
    the UI) never holds this lane's threads: a full lane refuses with Busy at once."""

    def __init__(self, name: str, limit: int, retry_after_s: int) -> None:
        self.name, self.retry_after_s = name, retry_after_s
        self.slots = InFlight(limit)
        self.pool = ThreadPoolExecutor(max_workers=limit, thread_name_prefix=f"lane-{name}")

    @contextmanager
    def admit(self) -> Iterator[None]:
        if not self.slots.try_acquire():
            raise Busy(f"the {self.name} budget is full; please retry shortly", self.retry_after_s)
        try:
            yield
        finally:
            self.slots.release()

    async def run(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Admit now (or raise Busy) and run `fn` on this lane's threads."""
        with self.admit():
            return await self.offload(fn, *args, **kwargs)

    async def offload(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run `fn` on this lane's threads; the caller holds a slot already."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(fn, *args, **kwargs))
