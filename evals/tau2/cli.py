"""`shopassist tau2`: replay the tau2-bench retail train tasks and report pass rates.

Runs on a private copy of the retail data dir (`SHOPASSIST_CATALOGUE=retail`), so the store
that serves is never touched. Exit code 1 when a task fails.
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
    p = sub.add_parser("tau2", help="replay the tau2-bench retail train tasks")
    add_backend_option(p)
    p.add_argument("--tasks", nargs="*", default=None, help="task ids (default: every train task)")
    p.add_argument("--json", type=Path, default=None, help="also write the report here")
    p.add_argument("--show", action="store_true", help="print failed tasks' transcripts")
    p.set_defaults(handler=cmd_tau2)


def cmd_tau2(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.agent import Agent
    from retrieval.sources import get_source
    from retrieval.stack import RetrievalStack, copy_data_dir

    from .replay import expected_states, run_task, summary, train_tasks

    if settings.catalogue != "retail":
        sys.stderr.write("error: run with SHOPASSIST_CATALOGUE=retail (an indexed retail store)\n")
        return 2
    tasks = train_tasks(settings.raw_dir, args.tasks)
    backend = args.backend or settings.llm_backend
    with tempfile.TemporaryDirectory(prefix="shopassist-tau2-") as tmp:
        copy_data_dir(settings.data_dir, Path(tmp))
        stack = RetrievalStack.build(settings.model_copy(update={"data_dir": Path(tmp)}))
        llm = chat_model(stack.settings, backend)
        agent = Agent(stack, llm)
        pristine = get_source("retail").load(settings.raw_dir)
        expected = expected_states(stack.db, pristine, tasks)
        results = [run_task(agent, pristine, t, expected[t.id]) for t in tasks]
    report = summary(results)
    sys.stdout.write(
        json.dumps({k: v for k, v in report.items() if k != "failed"}, indent=1) + "\n"
    )
    for f in report["failed"]:
        sys.stdout.write(
            f"FAIL {f['id']}: {f['error'] or ''} {f['diffs'][:2]} {f['info_missing']}\n"
        )
    if args.show:
        for r in results:
            if not r.passed:
                sys.stdout.write(f"\n=== task {r.task.id}\n")
                for user, said in r.transcript:
                    sys.stdout.write(f"> {user}\n< {said}\n")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0 if report["passed"] == report["tasks"] else 1
