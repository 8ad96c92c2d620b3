"""Runs golden cases through the agent and collects per-assertion results.

Each case starts from a fresh `ConversationState` for its shopper. Chat turns record events that
change the shopper's profile, so after every case the runner undoes that (the `reset` hook):
otherwise case order and `--repeat` would change the picks and look like flakiness.
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

from .cases import Case

log = logging.getLogger(__name__)
CaseStatus = Literal["pass", "fail", "error"]


class TurnTaker(Protocol):
    def turn(self, state: ConversationState, message: str) -> Reply: ...


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
        return {
            "meta": self.meta,
            "summary": {
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
    """A short hash per versioned prompt file, so a baseline diff can say which prompt changed."""
    from assistant.prompts import PromptLibrary

    lib = PromptLibrary()
    out = {}
    for name, version in lib.names():
        path = lib.get(name, version).path
        if path is not None:
            out[f"{name}.v{version}"] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return out


class Runner:
    def __init__(
        self,
        agent: TurnTaker,
        ctx: CheckContext,
        reset: Callable[[ConversationState], None] | None = None,
        prompt_version: int | None = None,
    ) -> None:
        self.agent = agent
        self.ctx = ctx
        self.reset = reset
        self.prompt_version = prompt_version

    def run_case_once(self, case: Case) -> tuple[CaseStatus, list[TurnResult], str | None]:
        state = ConversationState(
            user_id=case.shopper, prompt_version=case.prompt_version or self.prompt_version
        )
        turns: list[TurnResult] = []
        try:
            for turn in case.turns:
                t = time.perf_counter()
                reply = self.agent.turn(state, turn.user)
                ms = reply.timings_ms.get("total", (time.perf_counter() - t) * 1e3)
                view = TurnView(reply, turn.user, state)
                results = [evaluate(a, view, self.ctx) for a in turn.asserts]
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
                    )
                )
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
    """Undo what a case wrote to the shopper's history: its session's events and the cached
    profile that folded them in. Tickets and chat logs stay; they do not affect replies."""
    from sqlalchemy import delete

    from retrieval.db import EventRow

    def reset(state: ConversationState) -> None:
        with stack.db.session() as s:
            s.execute(delete(EventRow).where(EventRow.session_id == state.session_id))
        if state.user_id:
            stack.recommendations().forget(state.user_id)

    return reset
