"""Runs golden cases and dialogues through the agent and collects per-assertion results.

Each case starts from a fresh `ConversationState` for its shopper. Chat turns record events that
change the shopper's profile and fill their cart, so before and after every case the runner
undoes that (the `reset` hook): otherwise case order and `--repeat` would change the picks and
the cart and look like flakiness.

Across the turns of a case the runner keeps its own record of what was shown (the numbered
picks on screen, every product shown, the last cart), which the dialogue assertions read, and
scores each turn's commands against the case's expected ones (`evals.regress.accuracy`). An agent
with a `stream` method is streamed, so the time to the first text is measured too.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from assistant.conversation import ConversationState, Reply
from evals.assertions import AssertionResult, CheckContext, TurnView, evaluate

from .accuracy import match_commands
from .cases import Case, Turn

log = logging.getLogger(__name__)
CaseStatus = Literal["pass", "fail", "error"]


# Replies whose products are the numbered list on screen (what "the second one" points at).
_LIST_INTENTS = frozenset({"recommend", "refine"})


class TurnTaker(Protocol):
    def turn(self, state: ConversationState, message: str) -> Reply: ...


# Called before each turn with the case, the turn's index and the turn (e.g. to cue a scripted
# model with the commands the turn expects).
BeforeTurn = Callable[[Case, int, Turn], None]


@dataclass
class TurnResult:
    user: str
    text: str
    intent: str
    refused: str | None
    cited_ids: list[str]
    latency_ms: float
    generated: bool
    fallback: bool
    assertions: list[AssertionResult]
    # Dialogue fields (absent from runs saved before they existed).
    understood_by: str = ""
    commands: list[dict] = field(default_factory=list)  # what ran
    expected_commands: list[dict] | None = None  # what the case expects; None: not scored
    command_match: bool | None = None
    command_detail: str = ""
    slots_total: int = 0
    slots_matched: int = 0
    first_text_ms: float | None = None
    product_ids: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the validator's, on the model's text

    @property
    def failed(self) -> list[AssertionResult]:
        return [a for a in self.assertions if a.status == "fail"]


@dataclass
class CaseResult:
    id: str
    category: str
    source: str
    shopper: str | None
    status: CaseStatus
    turns: list[TurnResult]  # the first failing repeat, else the first repeat
    repeats: list[CaseStatus] = field(default_factory=list)
    flaky: bool = False  # assertion outcomes differed across repeats
    text_varies: bool = False  # reply texts differed across repeats
    error: str | None = None
    xfail: str | None = None  # the known bug this case documents

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    @property
    def ok(self) -> bool:
        """Does not fail the run: passed, or a known bug that still fails."""
        return self.passed or (self.xfail is not None and self.status == "fail")

    @property
    def skipped(self) -> int:
        return sum(a.status == "skip" for t in self.turns for a in t.assertions)

    def transcript(self) -> str:
        return "\n".join(f"user: {t.user}\nassistant: {t.text}" for t in self.turns)


@dataclass
class RunResult:
    meta: dict[str, Any]
    cases: list[CaseResult]

    def by_category(self) -> dict[str, tuple[int, int]]:
        out: dict[str, list[int]] = {}
        for c in self.cases:
            row = out.setdefault(c.category, [0, 0])
            row[0] += c.passed
            row[1] += 1
        return {k: (v[0], v[1]) for k, v in out.items()}

    @property
    def passed(self) -> int:
        return sum(c.passed for c in self.cases)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.cases)

    @property
    def flaky(self) -> list[CaseResult]:
        return [c for c in self.cases if c.flaky]

    def case(self, case_id: str) -> CaseResult | None:
        return next((c for c in self.cases if c.id == case_id), None)

    def to_json(self) -> dict[str, Any]:
        from .accuracy import run_metrics

        return {
            "meta": self.meta,
            "summary": {
                "metrics": run_metrics(self).as_json(),
                "cases": len(self.cases),
                "passed": self.passed,
                "categories": {
                    k: {"passed": p, "total": t} for k, (p, t) in self.by_category().items()
                },
                "flaky": [c.id for c in self.flaky],
                "xfail": [c.id for c in self.cases if c.xfail and not c.passed],
                "xpass": [c.id for c in self.cases if c.xfail and c.passed],
            },
            "cases": [asdict(c) for c in self.cases],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        cases = []
        for raw in data["cases"]:
            turns = [
                TurnResult(**{**t, "assertions": [AssertionResult(**a) for a in t["assertions"]]})
                for t in raw["turns"]
            ]
            cases.append(CaseResult(**{**raw, "turns": turns}))
        return cls(data.get("meta", {}), cases)


def prompt_fingerprints() -> dict[str, str]:
    """A short hash per versioned prompt file ("replies.v1", and its translation
    "replies.v1.zh"), so a baseline diff can say which prompt changed."""
    from assistant.prompts import PromptLibrary

    out = {}
    for prompt in PromptLibrary().files():
        if prompt.path is not None:
            out[prompt.label] = hashlib.sha256(prompt.path.read_bytes()).hexdigest()[:12]
    return out


def take_turn(agent: TurnTaker, state: ConversationState, message: str) -> tuple[Reply, float]:
    """The agent's reply and the milliseconds to its first text (streamed when it can be;
    else the whole turn)."""
    stream = getattr(agent, "stream", None)
    t0 = time.perf_counter()
    if not callable(stream):
        reply = agent.turn(state, message)
        return reply, (time.perf_counter() - t0) * 1e3
    first: float | None = None
    final: Reply | None = None
    for item in stream(state, message):
        if isinstance(item, Reply):
            final = item
        elif first is None and item:
            first = (time.perf_counter() - t0) * 1e3
    if final is None:
        raise RuntimeError("the agent's stream ended without a reply")
    return final, first if first is not None else (time.perf_counter() - t0) * 1e3


@dataclass
class Memory:
    """The runner's own record of one conversation, for the checks (see TurnView)."""

    screen: list[str] = field(default_factory=list)
    earlier: list[str] = field(default_factory=list)
    cart: dict | None = None

    def view(self, reply: Reply, turn: Turn, state: ConversationState) -> TurnView:
        return TurnView(
            reply,
            turn.user,
            state,
            screen=list(self.screen),
            earlier=list(self.earlier),
            cart=self.cart,
            expected_commands=turn.commands,
        )

    def after(self, reply: Reply) -> None:
        ids = [p.id for p in reply.products]
        self.earlier += [i for i in ids if i not in self.earlier]
        searched = any(c.get("type") in ("search", "refine") for c in reply.commands)
        if ids and (reply.intent in _LIST_INTENTS or searched):
            self.screen = ids
        if reply.cart is not None:
            self.cart = reply.cart


class Runner:
    def __init__(
        self,
        agent: TurnTaker,
        ctx: CheckContext,
        reset: Callable[[ConversationState], None] | None = None,
        prompt_version: int | None = None,
        before_turn: BeforeTurn | None = None,
    ) -> None:
        self.agent = agent
        self.ctx = ctx
        self.reset = reset
        self.prompt_version = prompt_version
        self.before_turn = before_turn

    def run_case_once(self, case: Case) -> tuple[CaseStatus, list[TurnResult], str | None]:
        state = ConversationState(
            user_id=case.shopper, prompt_version=case.prompt_version or self.prompt_version
        )
        turns: list[TurnResult] = []
        memory = Memory()
        try:
            if self.reset is not None:
                self.reset(state)  # an earlier run's cart must not leak into this one
            for index, turn in enumerate(case.turns):
                if self.before_turn is not None:
                    self.before_turn(case, index, turn)
                reply, first_ms = take_turn(self.agent, state, turn.user)
                ms = reply.timings_ms.get("total", first_ms)
                view = memory.view(reply, turn, state)
                results = [evaluate(a, view, self.ctx) for a in turn.asserts]
                match = (
                    match_commands(turn.commands, reply.commands, len(memory.screen))
                    if turn.commands is not None
                    else None
                )
                turns.append(
                    TurnResult(
                        turn.user,
                        reply.text,
                        reply.intent,
                        reply.refused,
                        list(reply.cited_ids),
                        round(ms, 1),
                        reply.generated,
                        reply.fallback,
                        results,
                        understood_by=reply.understood_by,
                        commands=list(reply.commands),
                        expected_commands=turn.commands,
                        command_match=match.ok if match else None,
                        command_detail=match.detail if match else "",
                        slots_total=match.slots_total if match else 0,
                        slots_matched=match.slots_matched if match else 0,
                        first_text_ms=round(min(first_ms, ms), 1),
                        product_ids=[p.id for p in reply.products],
                        problems=list(reply.validation_problems),
                    )
                )
                memory.after(reply)
        except Exception as exc:  # one broken case must not stop the suite
            log.exception("case %s raised", case.id)
            return "error", turns, f"{type(exc).__name__}: {exc}"
        finally:
            if self.reset is not None:
                self.reset(state)
        failed = any(t.failed for t in turns)
        return ("fail" if failed else "pass"), turns, None

    def run_case(
        self, case: Case, repeat: int = 1, tick: Callable[[], None] | None = None
    ) -> CaseResult:
        runs = []
        for _ in range(max(repeat, 1)):
            runs.append(self.run_case_once(case))
            if tick:
                tick()
        statuses = [r[0] for r in runs]
        outcomes = {tuple(a.status for t in r[1] for a in t.assertions) for r in runs}
        texts = {tuple(t.text for t in r[1]) for r in runs}
        worst = next((r for r in runs if r[0] != "pass"), runs[0])
        status: CaseStatus = (
            "error" if "error" in statuses else "fail" if "fail" in statuses else "pass"
        )
        return CaseResult(
            case.id,
            case.category,
            case.source,
            case.shopper,
            status,
            worst[1],
            statuses,
            len(outcomes) > 1 or len(set(statuses)) > 1,
            len(texts) > 1,
            worst[2],
            case.xfail,
        )

    def run(
        self,
        cases: list[Case],
        repeat: int = 1,
        meta: dict[str, Any] | None = None,
        progress: bool = True,
    ) -> RunResult:
        from tqdm import tqdm

        t0 = time.perf_counter()
        results = []
        with tqdm(
            total=len(cases) * max(repeat, 1),
            file=sys.stderr,
            disable=not progress,
            desc="regress",
            unit="run",
            leave=False,
        ) as bar:
            for case in cases:
                bar.set_postfix_str(case.id, refresh=False)
                results.append(self.run_case(case, repeat, tick=bar.update))
        info = {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "repeat": repeat,
            "prompt_version": self.prompt_version,
            "prompts": prompt_fingerprints(),
            **(meta or {}),
            "duration_s": round(time.perf_counter() - t0, 1),
        }
        return RunResult(info, results)


def session_reset(stack: Any) -> Callable[[ConversationState], None]:
    """Undo what a case wrote to the shopper's history: its session's events, the cached
    profile that folded them in, and the shopper's cart (signed in: the user's; else the
    session's). Tickets and chat logs stay; they do not affect replies."""
    from sqlalchemy import delete

    from retrieval.db import CartLineRow, EventRow

    def reset(state: ConversationState) -> None:
        owner = f"u:{state.user_id}" if state.user_id else f"s:{state.session_id}"
        with stack.db.session() as s:
            s.execute(delete(EventRow).where(EventRow.session_id == state.session_id))
            s.execute(delete(CartLineRow).where(CartLineRow.owner == owner))
        if state.user_id:
            stack.recommendations().forget(state.user_id)

    return reset
