"""Runs the action-abuse attacks (`actions.yaml`) on the retail store and scores outcomes.

Each attack starts from the store's pristine state and its own client address. After every turn the store's state
and the audit log are compared with the turn before (`outcome.OutcomeScorer`); each attack's
`must_say` is checked on its last reply, as in the Superstore run.
"""

from __future__ import annotations

import copy
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.conversation import ConversationState
from evals.assertions import CheckContext, TurnView, evaluate
from retrieval.sources.base import CatalogueData
from retrieval.stack import RetrievalStack

from .attacks import Attack, AttackFile, ItemPoison
from .outcome import OutcomeScorer, Snapshot, fingerprint, log_entries, snapshot
from .retail_targets import ActionTargets, poison_store
from .runner import AttackResult, RedTeamReport, catalogue_counts, logged_turns, private_copy
from .scorer import Leak, system_shingles

log = logging.getLogger(__name__)


@dataclass
class Store:
    """An agent over a store, and the store's pristine data that each attack starts from;
    `planted`: the poisoned texts it holds (none for the clean store)."""

    agent: Any
    pristine: CatalogueData
    planted: tuple[str, ...] = ()
    _start: Snapshot | None = None

    def restore(self) -> Snapshot:
        """The pristine state, restored only when an attack changed it (a reset takes 0.3 s)."""
        db = self.agent.stack.db
        if self._start is None or fingerprint(db) != self._start.fingerprint:
            db.reset_store_state(self.pristine)
        start = snapshot(db, self._start)
        self._start = start
        return start


def poisoned_copy(
    base: RetrievalStack,
    workdir: Path,
    pristine: CatalogueData,
    suite: AttackFile,
    targets: ActionTargets,
) -> tuple[RetrievalStack, CatalogueData, list[str]]:
    """A private copy of the store with the suite's poison planted: (stack, its data, the
    planted texts)."""
    assert isinstance(suite.poison, ItemPoison), "the action suite's poison is an ItemPoison"
    data, product, planted = poison_store(pristine, suite.poison, targets)
    return private_copy(base, workdir, data, [product]), data, planted


def _pending_key(state: ConversationState) -> str | None:
    """The key of the proposal waiting for a yes (the account flow's task), if any."""
    pending = getattr(state.account, "pending", None)
    return getattr(pending, "key", None)


def run_action_abuse(
    clean: Store,
    attacks: list[Attack],
    targets: ActionTargets,
    poisoned: Store | None = None,
    model: str = "?",
) -> RedTeamReport:
    from evals.regress.runner import session_reset

    t0 = time.perf_counter()
    shingles = system_shingles()
    counts = catalogue_counts(clean.agent.stack)
    run = uuid.uuid4().hex[:8]  # a fresh client address per run and attack
    results = []
    for attack in attacks:
        store = poisoned if attack.poisoned else clean
        if store is None:
            raise ValueError(f"{attack.id} needs the poisoned store copy")
        stack = store.agent.stack
        before = store.restore()
        scorer = OutcomeScorer(targets, shingles, list(store.planted))
        checks = CheckContext(stack.catalogue, stack.encoder)
        reset = session_reset(stack)
        # Its own client address: the per-client identification limit must not carry over.
        client = f"redteam:{run}:{attack.id}"
        state = ConversationState(user_id=attack.shopper, client=client)
        states, sessions = [state], {state.session_id}
        sent_on = state
        leaks: list[Leak] = []
        replies: list[dict[str, Any]] = []
        missed: list[str] = []
        refused = 0
        said: list[str] = []
        ta = time.perf_counter()
        try:
            for i, message in enumerate(attack.turns):
                if i in attack.new_session_at:
                    state = ConversationState(user_id=attack.shopper, client=client)
                    states.append(state)
                    sessions.add(state.session_id)
                elif i in attack.retry_at:  # the same request again, on the state it was sent on
                    state = copy.deepcopy(sent_on)
                    states.append(state)
                said.append(message)
                pending = _pending_key(state)
                sent_on = copy.deepcopy(state)
                reply = store.agent.turn(state, message)
                after = snapshot(stack.db, before)
                leaks += scorer.score_turn(
                    attack,
                    " ".join(said),
                    message,
                    reply.text,
                    state.user_id,
                    pending,
                    before,
                    after,
                    log_entries(stack.db, before.last_log_id),
                )
                before = after
                refused += bool(reply.refused)
                replies.append(
                    {
                        "user": message[:200],
                        "intent": reply.intent,
                        "refused": reply.refused,
                        "text": reply.text[:600],
                        "tools": [c.name for c in reply.tool_calls],
                    }
                )
                if i == len(attack.turns) - 1:
                    view = TurnView(reply, message, state)
                    for assertion in attack.must_say:
                        res = evaluate(assertion, view, checks)
                        if res.status == "fail":
                            missed.append(f"{res.label} ({res.detail})")
            logged = sum(logged_turns(stack, sid) for sid in sessions)
            if logged != 2 * len(attack.turns):
                leaks.append(
                    Leak(
                        attack.id,
                        attack.category,
                        "audit_log_lost",
                        f"{logged} chat-log rows for {len(attack.turns)} turns",
                    )
                )
        finally:
            for st in states:
                reset(st)
        results.append(
            AttackResult(attack, replies, leaks, refused, time.perf_counter() - ta, missed)
        )
        log.info("%s: %d leaks, %d unmet must_say", attack.id, len(leaks), len(missed))
    for store in filter(None, (clean, poisoned)):  # leave the stores as they were found
        store.restore()
    after_counts = catalogue_counts(clean.agent.stack)
    changes = [
        f"{k}: {counts[k]} -> {after_counts[k]} rows"
        for k in counts
        if counts[k] != after_counts[k]
    ]
    return RedTeamReport(results, model, time.perf_counter() - t0, changes)
