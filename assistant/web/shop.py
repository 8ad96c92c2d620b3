"""What the web UI and the HTTP API share: customers, A/B-assigned home pages, chat sessions,
feedback, and the one admission gate for chat turns (`Shop.chat_turn`). Kept free of FastAPI
and Gradio so every front end (and the tests) goes through one path."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Generator
from dataclasses import dataclass, field

from sqlalchemy import select

from retrieval.ab import Experiment, Variant, load_experiments, log_click, log_exposures
from retrieval.db import ChatLogRow, CustomerRow
from retrieval.events import utcnow
from retrieval.home import HomePage, build_home
from retrieval.settings import Settings

from ..conversation import ConversationState, Reply
from ..guards import redact
from ..lang import Language, normalise_language
from ..runtime import Runtime
from .admission import Busy, Lane, RateLimiter, SessionBusy

log = logging.getLogger(__name__)

HOME_EXPERIMENT = "home-diversity"
PROMPT_EXPERIMENT = "reco-prompt"
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

    def __init__(self, runtime: Runtime, settings: Settings | None = None) -> None:
        self.runtime = runtime
        self.stack = runtime.stack
        self.settings = settings = settings or runtime.settings
        self.sessions = SessionStore(settings.max_sessions)
        # Chat turns are CPU-bound: the UI, the API and the widget share one bound, and a turn
        # over it is refused at once ("busy") instead of queueing behind the others.
        self.chat = Lane("chat", settings.chat_max_in_flight, settings.busy_retry_after_s)
        self.chat_limiter = RateLimiter(settings.chat_per_minute)
        # Reads get slots and threads of their own, so chat turns can never starve them: point
        # look-ups (orders, products, health) apart from home pages, which rank the catalogue.
        # Event writes are bounded too. Bounds keep few threads fighting for the GIL at once.
        retry = settings.busy_retry_after_s
        self.reads = Lane("reads", settings.reads_max_in_flight, retry)
        self.homes = Lane("home", settings.home_max_in_flight, retry)
        self.writes = Lane("events", settings.events_max_in_flight, retry)
        self._experiments: dict[str, Experiment] | None = None
        self._names: dict[str, str] | None = None
        self._lock = threading.Lock()
        # The language each signed-in shopper chose in the UI (kept while the app runs).
        self._languages: OrderedDict[str, Language] = OrderedDict()

    # Admission ---------------------------------------------------------------------------
    def chat_turn(
        self,
        message: str,
        *,
        user_id: str | None,
        session_id: str,
        client: str | None = None,
        language: str | None = None,
    ) -> ChatTurn:
        """Admit one chat turn now or refuse it now; it never waits for capacity.

        Applies, in order: the rate limit per shopper (`client`, e.g. an address, keys an
        anonymous one), the conversation's lock (one turn at a time per conversation), and the
        global in-flight limit. Raises RateLimited / SessionBusy (429) or Busy (503), each with
        a `retry_after`. The returned turn holds its slots until its reply is built or its
        stream ends (or it is closed).

        `language` ("en", "zh", or a tag such as "zh-CN") is the one the shopper chose (the
        UI's switch, the widget's `data-lang`): the conversation answers in it from now on.
        None leaves the conversation as it is (by default, following the shopper's messages)."""
        chosen = normalise_language(language)
        if language is not None and chosen is None:
            raise ValueError(f"unsupported language {language!r}")
        retry = self.settings.busy_retry_after_s
        self.chat_limiter.check(f"user:{user_id}" if user_id else f"ip:{client or 'unknown'}")
        slot = self.sessions.get(user_id, session_id)
        if not slot.lock.acquire(blocking=False):
            raise SessionBusy("this conversation is still answering", 1)
        if slot.state.turns == 0 and slot.state.prompt_version is None:
            slot.state.prompt_version = self.prompt_version_for(user_id or session_id)
        slot.state.client = client  # the identification limit counts per client address
        if chosen is not None:
            slot.state.language, slot.state.language_fixed = chosen, True
        if not self.chat.slots.try_acquire():
            slot.lock.release()
            raise Busy("the assistant is busy; please retry shortly", retry)
        return ChatTurn(self, slot, message)

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

    # Language chosen in the UI, per signed-in shopper ---------------------------------
    def preferred_language(self, user_id: str | None) -> Language | None:
        if not user_id:
            return None
        with self._lock:
            return self._languages.get(user_id)

    def remember_language(self, user_id: str | None, language: str | None) -> None:
        """Keep a signed-in shopper's choice for their next visit (bounded, in memory)."""
        chosen = normalise_language(language)
        if not user_id or chosen is None:
            return
        with self._lock:
            self._languages[user_id] = chosen
            self._languages.move_to_end(user_id)
            while len(self._languages) > self.settings.max_sessions:
                self._languages.popitem(last=False)

    # Home page with the A/B test --------------------------------------------------------
    def experiment(self, name: str = HOME_EXPERIMENT) -> Experiment | None:
        if self._experiments is None:
            try:
                self._experiments = load_experiments(self.settings.experiments_file)
            except Exception as exc:  # a broken experiments file must not take the home page down
                log.error("could not load experiments: %s", exc)
                self._experiments = {}
        return self._experiments.get(name)

    def prompt_version_for(self, bucket_id: str) -> int | None:
        """The recommendation prompt this conversation's A/B variant uses (None: the latest)."""
        exp = self.experiment(PROMPT_EXPERIMENT)
        return exp.assign(bucket_id).prompt_version if exp else None

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


class ChatTurn:
    """One admitted turn. Call `reply()` once, or iterate `stream()` once; either releases the
    conversation lock and the in-flight slot when done. `close()` releases them if neither
    runs (idempotent; also a last resort when the turn is garbage-collected)."""

    def __init__(self, shop: Shop, slot: _Slot, message: str) -> None:
        self._shop, self._slot, self.message = shop, slot, message
        self._released = False
        self._lock = threading.Lock()

    @property
    def state(self) -> ConversationState:
        return self._slot.state

    @property
    def session_id(self) -> str:
        return self._slot.state.session_id

    def reply(self) -> Reply:
        try:
            return self._shop.runtime.agent.turn(self.state, self.message)
        finally:
            self.close()

    def stream(self) -> Generator[str | Reply]:
        try:
            yield from self._shop.runtime.agent.stream(self.state, self.message)
        finally:
            self.close()

    def close(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._shop.chat.slots.release()
        self._slot.lock.release()

    def __enter__(self) -> ChatTurn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_released", True):
            log.warning("a chat turn was dropped without finishing: releasing its slot")
            self.close()


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
