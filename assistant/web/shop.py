"""What the web UI and the HTTP API share: customers, A/B-assigned home pages, chat sessions
and feedback. Kept free of FastAPI and Gradio so both front ends (and tests) use one path."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from sqlalchemy import select

from retrieval.ab import Experiment, Variant, load_experiments, log_click, log_exposures
from retrieval.db import ChatLogRow, CustomerRow
from retrieval.events import utcnow
from retrieval.home import HomePage, build_home

from ..conversation import ConversationState
from ..guards import redact
from ..runtime import Runtime

log = logging.getLogger(__name__)

HOME_EXPERIMENT = "home-diversity"
ANONYMOUS = frozenset({"anonymous", "new"})


@dataclass(frozen=True)
class Customer:
    id: str
    name: str
    segment: str
    city: str


@dataclass(frozen=True)
class HomeView:
    page: HomePage
    experiment: str | None
    variant: str | None


class Shop:
    """The web-facing façade over one Runtime."""

    def __init__(self, runtime: Runtime, max_concurrent_chats: int = 4) -> None:
        self.runtime = runtime
        self.stack = runtime.stack
        # Chat turns are CPU-bound; the UI and the API share one bound so overload queues
        # (then gets a clear "busy") instead of slowing every conversation down.
        self.chat_slots = threading.BoundedSemaphore(max_concurrent_chats)
        self._experiments: dict[str, Experiment] | None = None
        self._names: dict[str, str] | None = None
        self._lock = threading.Lock()

    # Customers ---------------------------------------------------------------------------
    def customers(self, limit: int | None = None) -> list[Customer]:
        with self.stack.db.session() as s:
            q = select(CustomerRow).order_by(CustomerRow.name, CustomerRow.id)
            if limit:
                q = q.limit(limit)
            return [Customer(c.id, c.name, c.segment, c.city) for c in s.scalars(q)]

    def customer_name(self, user_id: str | None) -> str | None:
        if not user_id:
            return None
        with self._lock:
            if self._names is None:
                self._names = {c.id: c.name for c in self.customers()}
            return self._names.get(user_id)

    def is_customer(self, user_id: str | None) -> bool:
        return self.customer_name(user_id) is not None

    # Home page with the A/B test --------------------------------------------------------
    def experiment(self) -> Experiment | None:
        if self._experiments is None:
            try:
                self._experiments = load_experiments(self.runtime.settings.experiments_file)
            except Exception as exc:  # a broken experiments file must not take the home page down
                log.error("could not load experiments: %s", exc)
                self._experiments = {}
        return self._experiments.get(HOME_EXPERIMENT)

    def variant_for(self, bucket_id: str) -> Variant | None:
        exp = self.experiment()
        return exp.assign(bucket_id) if exp else None

    def home(
        self,
        user_id: str | None,
        bucket_id: str | None = None,
        per_section: int = 8,
        log_exposure: bool = True,
    ) -> HomeView:
        """The shopper's home page under their A/B variant; exposures logged for what is shown.

        `bucket_id` lets anonymous visitors be bucketed by their browser session instead."""
        svc = self.stack.recommendations()
        who = user_id or bucket_id
        variant = self.variant_for(who) if who else None
        params = variant.scoring_params(svc.core.params) if variant and variant.params else None
        page = build_home(svc, user_id, per_section=per_section, params=params)
        if variant and who and log_exposure:
            try:
                log_exposures(self.stack.db, HOME_EXPERIMENT, variant.name, who, page.item_ids())
            except Exception as exc:  # analytics must never break the page
                log.error("could not log exposures: %s", exc)
        return HomeView(
            page, HOME_EXPERIMENT if variant else None, variant.name if variant else None
        )

    def home_click(
        self, user_id: str | None, bucket_id: str | None, product_id: str, kind: str = "click"
    ):
        """Record a home-page interaction: a behaviour event (signed-in) and an A/B click."""
        who = user_id or bucket_id
        variant = self.variant_for(who) if who else None
        if variant and who:
            try:
                log_click(self.stack.db, HOME_EXPERIMENT, variant.name, who, product_id)
            except Exception as exc:
                log.error("could not log an A/B click: %s", exc)
        if not user_id:
            return None  # anonymous behaviour is not stored against anyone
        return self.stack.recommendations().record(
            [{"user_id": user_id, "type": kind, "product_id": product_id, "session_id": bucket_id}]
        )

    # Feedback ----------------------------------------------------------------------------
    def record_feedback(
        self,
        user_id: str | None,
        session_id: str,
        message_index: int,
        liked: bool | None,
        text: str,
    ) -> None:
        """Thumbs up/down on an assistant message, kept with the chat log (redacted)."""
        with self.stack.db.session() as s:
            s.add(
                ChatLogRow(
                    user_id=user_id,
                    session_id=session_id,
                    role="feedback",
                    text=redact(text[:2000]),
                    meta={"liked": liked, "message_index": message_index},
                    ts=utcnow(),
                )
            )


@dataclass
class _Slot:
    state: ConversationState
    lock: threading.Lock = field(default_factory=threading.Lock)


class SessionStore:
    """Server-side conversation state, bounded LRU, thread-safe.

    Keyed by (verified user, session id), so a session id guessed or replayed by another
    shopper opens a fresh conversation instead of someone else's."""

    def __init__(self, max_sessions: int = 2000) -> None:
        self.max_sessions = max_sessions
        self._slots: OrderedDict[tuple[str | None, str], _Slot] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, user_id: str | None, session_id: str) -> _Slot:
        key = (user_id, session_id)
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                slot = _Slot(ConversationState(user_id=user_id, session_id=session_id))
                self._slots[key] = slot
                while len(self._slots) > self.max_sessions:
                    self._slots.popitem(last=False)
            else:
                self._slots.move_to_end(key)
            return slot

    def __len__(self) -> int:
        with self._lock:
            return len(self._slots)
