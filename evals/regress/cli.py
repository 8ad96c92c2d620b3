"""`shopassist regress`: run the golden cases and the dialogues, print pass rates and the
dialogue figures (command accuracy, per-turn pass rate, model-written share, latency), compare
with a baseline.

    shopassist regress                                   # everything, the configured model
    shopassist regress --dialogues-only --model scripted # dialogues, the scripted fake model
    shopassist regress --dialogues-only --model llamacpp-qwen0.5b --json run.json
    shopassist regress --only smoke --model llamacpp     # the real-model subset (tag smoke)

`--model` names: none/templates (rules only, no model), scripted (answers the understanding
step from the cases, deterministic: the dialogues only), llamacpp (the configured local model
on llama.cpp), llamacpp-smollm2 / llamacpp-qwen0.5b / llamacpp-qwen1.5b, smollm2 / qwen0.5b /
qwen1.5b (transformers, the `local` backend), openai, fake. Lives in `evals/`, outside the
installed package: `assistant.cli` imports it lazily when run from a source checkout.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from retrieval.settings import Settings
from retrieval.stack import copy_data_dir

log = logging.getLogger(__name__)

# --model NAME → settings overrides. Generation is greedy in every backend we ship.
MODELS: dict[str, dict[str, Any]] = {
    "none": {"llm_backend": "none"},
    "templates": {"llm_backend": "none"},
    "scripted": {"llm_backend": "none"},  # plus the scripted model, built from the cases
    "smollm2": {"llm_backend": "local", "llm_local_model": "smollm2"},
    "qwen0.5b": {"llm_backend": "local", "llm_local_model": "qwen0.5b"},
    "qwen1.5b": {"llm_backend": "local", "llm_local_model": "qwen1.5b"},
    "openai": {"llm_backend": "openai"},
    "llamacpp": {"llm_backend": "llamacpp"},
    "llamacpp-smollm2": {"llm_backend": "llamacpp", "llm_local_model": "smollm2"},
    "llamacpp-qwen0.5b": {"llm_backend": "llamacpp", "llm_local_model": "qwen0.5b"},
    "llamacpp-qwen1.5b": {"llm_backend": "llamacpp", "llm_local_model": "qwen1.5b"},
    "fake": {"llm_backend": "fake"},
}
SCRIPTED = "scripted"


def model_settings(settings: Settings, model: str | None) -> Settings:
    if model is None:
        return settings
    if model not in MODELS:
        raise ValueError(f"unknown --model {model!r}; choose from {', '.join(MODELS)}")
    return settings.model_copy(update=MODELS[model])


def model_label(settings: Settings) -> str:
    if settings.llm_backend == "local":
        return f"local:{settings.llm_local_model}:{settings.llm_quantize}"
    if settings.llm_backend == "llamacpp":
        return f"llamacpp:{settings.llm_local_model}"
    if settings.llm_backend == "openai":
        return f"openai:{settings.llm_model or '?'}"
    return settings.llm_backend


def isolated_copy(settings: Settings, into: Path) -> Settings:
    """The run's events, tickets and chat logs go to a throw-away copy of the local data, so a
    regression run never changes the real shoppers' profiles (and vice versa)."""
    if settings.database_url or settings.chroma_url:
        log.warning("external database or Chroma configured: running against it directly")
        return settings
    copy_data_dir(settings.data_dir, into)
    return settings.model_copy(update={"data_dir": into})


def select_cases(args: argparse.Namespace) -> list[Any]:
    """`--cases` (a glob) wins; else `--dialogues-only`, else everything. The scripted model
    knows the dialogues' commands only, so with it the default is the dialogues."""
    from .cases import load_all, load_cases, load_dialogues

    ids = args.only.split(",") if args.only else None
    if args.cases:
        return load_cases(args.cases, ids)
    if getattr(args, "dialogues_only", False) or args.model == SCRIPTED:
        if args.model == SCRIPTED and not getattr(args, "dialogues_only", False):
            sys.stderr.write(
                "note: --model scripted runs the dialogues (the cases that say their commands)\n"
            )
        return load_dialogues(ids)
    return load_all(ids)


def run_regress(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.runtime import Runtime
    from evals.assertions import CheckContext, Judge

    from .report import compare, load_run, text_report, write_html, write_json
    from .runner import Runner, session_reset

    settings = model_settings(settings, args.model)
    cases = select_cases(args)
    if not cases:
        sys.stderr.write("error: no cases selected\n")
        return 2
    baseline = load_run(Path(args.baseline)) if args.baseline else None
    with tempfile.TemporaryDirectory(prefix="shopassist-regress-") as tmp:
        run_settings = settings if args.no_isolate else isolated_copy(settings, Path(tmp))
        scripted = None
        if args.model == SCRIPTED:
            from .scripted import ScriptedCommandModel

            scripted = ScriptedCommandModel.from_cases(cases)
        want_llm = run_settings.llm_backend != "none"
        rt = Runtime.build(run_settings, load_llm=want_llm, llm=scripted)
        if want_llm and rt.llm_status != "ready":
            # Measuring templates while claiming a model would make the baseline lie.
            sys.stderr.write(f"error: model {model_label(run_settings)} is {rt.llm_status}\n")
            return 2
        judge = Judge.from_settings(run_settings)
        runner = Runner(
            rt.agent,
            CheckContext(rt.stack.catalogue, rt.stack.encoder, judge),
            reset=session_reset(rt.stack),
            prompt_version=args.prompt_version,
            before_turn=scripted.cue if scripted is not None else None,
        )
        run = runner.run(
            cases,
            repeat=args.repeat,
            progress=not args.no_progress,
            meta={
                "model": SCRIPTED if scripted is not None else model_label(run_settings),
                "judge": judge.model if judge else None,
                "llm_load_s": rt.llm_load_s,
            },
        )
    comparison = compare(baseline, run) if baseline else None
    sys.stdout.write(text_report(run, comparison, verbose=args.verbose_failures) + "\n")
    if args.json:
        write_json(run, Path(args.json))
    if args.html:
        write_html(run, Path(args.html), comparison)
    if comparison is not None:
        return 0 if comparison.ok else 1
    return 0 if run.ok else 1


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "regress",
        help="run the prompt regression suite (golden cases and multi-turn dialogues)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument(
        "--cases",
        default=None,
        help="glob of case files (default: evals/regress/cases/*.yaml and dialogues/*.yaml)",
    )
    s.add_argument(
        "--dialogues-only",
        action="store_true",
        help="run only the multi-turn dialogues (evals/regress/dialogues/*.yaml)",
    )
    s.add_argument("--only", default=None, help="comma-separated case ids, categories or tags")
    s.add_argument(
        "--model",
        default=None,
        choices=sorted(MODELS),
        help="model to run (default: the configured SHOPASSIST_LLM_BACKEND); "
        "scripted: the deterministic fake that answers the dialogues' commands",
    )
    s.add_argument(
        "--prompt-version",
        type=int,
        default=None,
        help="recommend prompt version to use (default: the latest)",
    )
    s.add_argument("--repeat", type=int, default=1, help="run each case N times; flags flaky ones")
    s.add_argument(
        "--baseline",
        default=None,
        help="a saved JSON run to compare against (checked in: evals/regress/baseline.json)",
    )
    s.add_argument("--json", default=None, help="write the run as JSON (a future baseline)")
    s.add_argument("--html", default=None, help="write a self-contained HTML report")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.add_argument(
        "--no-isolate",
        action="store_true",
        help="run on the real data directory instead of a throw-away copy",
    )
    s.add_argument("--verbose-failures", action="store_true", help="print failing transcripts")
    s.set_defaults(handler=run_regress)
