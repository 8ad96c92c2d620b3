"""In-chat identification for stores whose policy allows it: email, or first name + last name +
zip code, matched against the accounts.

A failed attempt says nothing about which part was wrong, so the chat cannot be used to learn
whether a customer, an email or a zip exists. Failed attempts are limited per conversation and
per client address.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass

from sqlalchemy import func, select

from retrieval.db import AccountRow, Database

log = logging.getLogger(__name__)

MAX_FAILURES_PER_CONVERSATION = 5
MAX_FAILURES_PER_CLIENT = 20
CLIENT_WINDOW_S = 600.0


class IdentificationLocked(PermissionError):
    """Too many failed attempts: identification is closed for this conversation or client."""


@dataclass
class IdentityService:
    db: Database
    _failures: dict[str, deque[float]] = None  # type: ignore[assignment]
    _lock: threading.Lock = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self._failures = defaultdict(deque)
        self._lock = threading.Lock()

    def locked(self, conversation_failures: int, client: str | None) -> bool:
        if conversation_failures >= MAX_FAILURES_PER_CONVERSATION:
            return True
        return client is not None and self._recent(client) >= MAX_FAILURES_PER_CLIENT

    def identify(
        self,
        *,
        email: str | None = None,
        other_emails: tuple[str, ...] = (),
        first_name: str | None = None,
        last_name: str | None = None,
        zip: str | None = None,
        conversation_failures: int = 0,
        client: str | None = None,
    ) -> str | None:
        """The matching account's user id, or None; raises IdentificationLocked when the
        limits are spent (checked before the look-up, so a locked client learns nothing)."""
        if self.locked(conversation_failures, client):
            raise IdentificationLocked("too many identification attempts")
        user_id = None
        with self.db.session() as s:
            for address in [e for e in (email, *other_emails) if e][:3]:
                user_id = s.scalar(
                    select(AccountRow.user_id).where(
                        func.lower(AccountRow.email) == address.strip().lower()
                    )
                )
                if user_id:
                    break
            if user_id is None and first_name and last_name and zip:
                for row in s.scalars(
                    select(AccountRow).where(func.lower(AccountRow.last_name) == last_name.lower())
                ):
                    if (
                        row.first_name.lower() == first_name.lower()
                        and str(row.address.get("zip", "")) == zip.strip()
                    ):
                        user_id = row.user_id
                        break
        if user_id is None and client is not None:
            with self._lock:
                self._failures[client].append(time.monotonic())
            log.info("identification failed (client %s)", client)
        return user_id

    def _recent(self, client: str) -> int:
        with self._lock:
            q = self._failures[client]
            while q and time.monotonic() - q[0] > CLIENT_WINDOW_S:
                q.popleft()
            return len(q)
