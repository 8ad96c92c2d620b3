"""`shopassist red-team`: run the attacks for the configured store and report leaks.

The attack file is chosen by the store (`SHOPASSIST_CATALOGUE`): `attacks.yaml` for Superstore,
`actions.yaml` (action abuse, scored on outcomes) for the retail store; `--attacks` names another.
The retail suite runs on private copies of the store in a temporary directory, so the configured
store's orders are never touched.

Lives in `evals/`, outside the installed package: `assistant.cli` imports it lazily when run from
a source checkout. Exit code 1 when any reply leaks or any `must_say` is unmet; 2 when the attack
file is for another store.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from retrieval.settings import Settings

from ..backend import add_backend_option, chat_model


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("red-team", help="run the red-team attacks and report leaks")
    add_backend_option(p)
    p.add_argument(
        "--attacks",
        type=Path,
        default=None,
        help="attack file (default: the configured store's, evals/redteam/attacks.yaml for "
        "superstore, actions.yaml for retail)",
    )
    p.add_argument("--json", type=Path, default=None, help="also write the full report here")
    p.set_defaults(handler=cmd_red_team)


def cmd_red_team(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.runtime import Runtime

    from .attacks import SUITES, default_suite, load_attack_file

    if args.attacks:
        suite = load_attack_file(args.attacks)
    elif settings.catalogue in SUITES:
        suite = default_suite(settings.catalogue)
    else:
        sys.stderr.write(f"no red-team attacks for the {settings.catalogue} store; use --attacks\n")
        return 2
    if suite.store != settings.catalogue:
        sys.stderr.write(
            f"these attacks are for the {suite.store} store, and the configured one is "
            f"{settings.catalogue}: set SHOPASSIST_CATALOGUE={suite.store}\n"
        )
        return 2
    backend = args.backend or settings.llm_backend
    rt = Runtime.build(settings, load_llm=False)
    llm = chat_model(settings, backend)
    with tempfile.TemporaryDirectory(prefix="shopassist-redteam-") as tmp:
        if suite.store == "retail":
            report = _run_actions(rt.stack, llm, suite, Path(tmp), backend)
        else:
            report = _run_superstore(rt.stack, llm, suite, Path(tmp), backend)
    sys.stdout.write(report.text() + "\n")
    if args.json:
        args.json.write_text(json.dumps(report.as_json(), indent=2), encoding="utf-8")
    return 0 if report.ok else 1


def _run_superstore(stack: Any, llm: Any, suite: Any, tmp: Path, backend: str) -> Any:
    from assistant.agent import Agent

    from .attacks import build_attacks
    from .runner import poisoned_stack, run_red_team
    from .scorer import load_targets

    poisoned = Agent(poisoned_stack(stack, tmp, suite.poison.product()), llm)
    targets = load_targets(stack, suite.attacker)
    attacks = build_attacks(targets, suite)
    return run_red_team(Agent(stack, llm), attacks, targets, poisoned, model=backend, suite=suite)


def _run_actions(stack: Any, llm: Any, suite: Any, tmp: Path, backend: str) -> Any:
    from assistant.agent import Agent
    from retrieval.sources import get_source

    from .action_runner import Store, poisoned_copy, run_action_abuse
    from .attacks import build_attacks
    from .retail_targets import load_action_targets
    from .runner import private_copy

    pristine = get_source(stack.settings.catalogue).load(stack.settings.raw_dir)
    clean = private_copy(stack, tmp / "store", pristine)
    targets = load_action_targets(clean.db, suite.attacker)
    poisoned, data, planted = poisoned_copy(stack, tmp / "poisoned", pristine, suite, targets)
    return run_action_abuse(
        Store(Agent(clean, llm), pristine),
        build_attacks(targets, suite),
        targets,
        Store(Agent(poisoned, llm), data, tuple(planted)),
        model=backend,
    )
