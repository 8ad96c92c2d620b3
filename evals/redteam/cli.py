"""`shopassist red-team`: run the attacks in `attacks.yaml` and report leaks.

Lives in `evals/`, outside the installed package: `assistant.cli` imports it lazily when run from
a source checkout. Exit code 1 when any reply leaks or any `must_say` is unmet.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from retrieval.settings import Settings

from ..backend import add_backend_option, chat_model


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("red-team", help="run the red-team attacks and report leaks")
    add_backend_option(p)
    p.add_argument(
        "--attacks",
        type=Path,
        default=None,
        help="attack file (default evals/redteam/attacks.yaml)",
    )
    p.add_argument("--json", type=Path, default=None, help="also write the full report here")
    p.set_defaults(handler=cmd_red_team)


def cmd_red_team(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.agent import Agent
    from assistant.runtime import Runtime

    from .attacks import build_attacks, default_suite, load_attack_file
    from .runner import poisoned_stack, run_red_team
    from .scorer import load_targets

    suite = load_attack_file(args.attacks) if args.attacks else default_suite()
    backend = args.backend or settings.llm_backend
    rt = Runtime.build(settings, load_llm=False)
    llm = chat_model(settings, backend)
    agent = Agent(rt.stack, llm)
    poison = suite.poison.product()
    with tempfile.TemporaryDirectory(prefix="shopassist-redteam-") as tmp:
        poisoned = Agent(poisoned_stack(rt.stack, Path(tmp), poison), llm)
        targets = load_targets(rt.stack, suite.attacker)
        attacks = build_attacks(targets, suite)
        report = run_red_team(agent, attacks, targets, poisoned, model=backend, suite=suite)
    sys.stdout.write(report.text() + "\n")
    if args.json:
        args.json.write_text(json.dumps(report.as_json(), indent=2), encoding="utf-8")
    return 0 if report.ok else 1
