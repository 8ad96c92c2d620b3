"""Replay tau2-bench retail train tasks against the assistant and compare end states.

For each task: restore the store's pristine data, send the scripted customer's messages
(`scripts/task_<id>.yaml`) through the agent as one conversation, export the store, and compare
it with the state that the task's expected actions produce (applied through the same policy
code on a fresh store). `communicate_info` is checked by substring in the replies.

Only the train split (`split_tasks.json`) is ever loaded: the test split is held out.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from assistant.agent import Agent
from assistant.commands.account_slots import is_yes
from assistant.conversation import ConversationState
from assistant.support.actions import ActionKind, ActionRefused, ActionService
from assistant.support.orders import OrderNotFound
from retrieval.db import Database
from retrieval.sources.base import CatalogueData
from retrieval.store_state import export_store

SCRIPTS = Path(__file__).parent / "scripts"
TOOL_KINDS = {
    "cancel_pending_order": ActionKind.CANCEL,
    "modify_pending_order_address": ActionKind.MODIFY_ADDRESS,
    "modify_pending_order_payment": ActionKind.MODIFY_PAYMENT,
    "modify_pending_order_items": ActionKind.MODIFY_ITEMS,
    "return_delivered_order_items": ActionKind.RETURN,
    "exchange_delivered_order_items": ActionKind.EXCHANGE,
    "modify_user_address": ActionKind.USER_ADDRESS,
}
ADDRESS_KEYS = ("address1", "address2", "city", "state", "country", "zip")


@dataclass(frozen=True)
class Task:
    id: str
    messages: list[str]
    actions: list[dict[str, Any]]
    communicate_info: list[str]

    @property
    def action_types(self) -> list[str]:
        kinds = [a["name"] for a in self.actions if a["name"] in TOOL_KINDS]
        kinds += [a["name"] for a in self.actions if a["name"] == "transfer_to_human_agents"]
        return sorted(set(kinds)) or ["no_write"]


def train_tasks(raw_dir: Path, ids: list[str] | None = None) -> list[Task]:
    """The train split's tasks that have a script (never the held-out test split)."""
    base = raw_dir / "tau2" / "retail"
    train = set(json.loads((base / "split_tasks.json").read_text())["train"])
    out = []
    for t in json.loads((base / "tasks.json").read_text()):
        if t["id"] not in train or (ids and t["id"] not in ids):
            continue
        script = SCRIPTS / f"task_{t['id']}.yaml"
        if not script.exists():
            continue
        messages = [str(m) for m in yaml.safe_load(script.read_text())["messages"]]
        crit = t["evaluation_criteria"]
        out.append(
            Task(
                t["id"],
                messages,
                crit["actions"],
                [str(c) for c in crit.get("communicate_info") or []],
            )
        )
    return out


def apply_expected(db: Database, actions: list[dict[str, Any]]) -> None:
    """Run the task's expected write actions through the policy code (a refused one changes
    nothing, as the reference tool's error would)."""
    service = ActionService(db)
    users: dict[str, str] = {}
    for a in actions:
        kind = TOOL_KINDS.get(a["name"])
        if kind is None:
            continue
        args = dict(a["arguments"])
        order_id = args.pop("order_id", None)
        user_id = args.pop("user_id", None)
        if order_id:
            user_id = users.get(order_id) or _owner(db, order_id)
        if kind in (ActionKind.MODIFY_ADDRESS, ActionKind.USER_ADDRESS):
            args = {"address": {k: args.pop(k, "") for k in ADDRESS_KEYS}}
        try:
            proposal = service.propose(kind, user_id, order_id, **args)
            service.execute(proposal, "expected")
        except (ActionRefused, OrderNotFound):
            continue


def _owner(db: Database, order_id: str) -> str:
    from retrieval.db import OrderStateRow

    with db.session() as s:
        row = s.get(OrderStateRow, order_id)
        return row.user_id if row else ""


def normalised(state: dict[str, Any]) -> dict[str, Any]:
    """Users and orders with amounts in cents, for a field-by-field comparison."""

    def fix(x: Any) -> Any:
        if isinstance(x, float):
            return round(x * 100)
        if isinstance(x, dict):
            return {k: fix(v) for k, v in x.items()}
        if isinstance(x, list):
            return [fix(v) for v in x]
        return x

    users = {k: fix(v | {"orders": sorted(v["orders"])}) for k, v in state["users"].items()}
    return {"users": users, "orders": fix(state["orders"])}


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    out = []
    for table in ("orders", "users"):
        for key in sorted(set(expected[table]) | set(actual[table])):
            e, a = expected[table].get(key, {}), actual[table].get(key, {})
            if e == a:
                continue
            for f in sorted(set(e) | set(a)):
                if e.get(f) != a.get(f):
                    out.append(f"{table[:-1]} {key} {f}: expected {e.get(f)!r}, got {a.get(f)!r}")
    return out


@dataclass
class TaskResult:
    task: Task
    passed: bool
    state_ok: bool
    info_missing: list[str]
    diffs: list[str]
    transcript: list[tuple[str, str]] = field(default_factory=list)
    turn_ms: list[float] = field(default_factory=list)
    error: str | None = None
    unconfirmed: int = 0  # actions run by a message that was not an explicit yes


def run_task(
    agent: Agent, pristine: CatalogueData, task: Task, expected: dict[str, Any]
) -> TaskResult:
    db = agent.stack.db
    db.reset_store_state(pristine)
    state = ConversationState()
    transcript, times = [], []
    error = None
    unconfirmed = 0
    try:
        for message in task.messages:
            t = time.perf_counter()
            ran = actions_run(db)
            reply = agent.turn(state, message)
            times.append((time.perf_counter() - t) * 1e3)
            transcript.append((message, reply.text))
            if actions_run(db) > ran and not is_yes(message):
                unconfirmed += 1
    except Exception as exc:  # noqa: BLE001 - a crash fails the task, visibly
        error = f"{type(exc).__name__}: {exc}"
    actual = normalised(export_store(db))
    diffs = differences(expected, actual)
    said = " ".join(r for _, r in transcript).lower().replace(",", "")
    missing = [c for c in task.communicate_info if c.lower().replace(",", "") not in said]
    ok = not diffs and error is None
    return TaskResult(
        task, ok and not missing, ok, missing, diffs, transcript, times, error, unconfirmed
    )


def actions_run(db: Database) -> int:
    """Entries in the audit log: one per action run."""
    from sqlalchemy import func, select

    from retrieval.db import ActionLogRow

    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(ActionLogRow)) or 0)


def expected_states(
    db: Database, pristine: CatalogueData, tasks: list[Task]
) -> dict[str, dict[str, Any]]:
    out = {}
    for task in tasks:
        db.reset_store_state(pristine)
        apply_expected(db, task.actions)
        out[task.id] = normalised(export_store(db))
    return out


def summary(results: list[TaskResult]) -> dict[str, Any]:
    per: dict[str, Counter[str]] = {}
    for r in results:
        for kind in r.task.action_types:
            c = per.setdefault(kind, Counter())
            c["tasks"] += 1
            c["passed"] += r.passed
    times = sorted(t for r in results for t in r.turn_ms)
    p50 = times[len(times) // 2] if times else 0.0
    return {
        "tasks": len(results),
        "passed": sum(r.passed for r in results),
        "state_ok": sum(r.state_ok for r in results),
        "pass_rate": round(sum(r.passed for r in results) / max(1, len(results)), 3),
        "per_action": {k: dict(v) for k, v in sorted(per.items())},
        "unconfirmed_actions": sum(r.unconfirmed for r in results),
        "turn_p50_ms": round(p50, 1),
        "turn_p95_ms": round(times[int(len(times) * 0.95)] if times else 0.0, 1),
        "failed": [
            {
                "id": r.task.id,
                "diffs": r.diffs[:4],
                "info_missing": r.info_missing,
                "error": r.error,
            }
            for r in results
            if not r.passed
        ],
    }
