"""`shopassist regress`: run the golden cases, print pass rates, compare with a baseline.

Lives in `evals/`, outside the installed package: `assistant.cli` imports it lazily when run from
a source checkout.
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
    "smollm2": {"llm_backend": "local", "llm_local_model": "smollm2"},
    "qwen0.5b": {"llm_backend": "local", "llm_local_model": "qwen0.5b"},
    "openai": {"llm_backend": "openai"},
    "llamacpp": {"llm_backend": "llamacpp"},
    "fake": {"llm_backend": "fake"},
}


def model_settings(settings: Settings, model: str | None) -> Settings:
    if model is None:
        return settings
    if model not in MODELS:
        raise ValueError(f"unknown --model {model!r}; choose from {', '.join(MODELS)}")
    return settings.model_copy(update=MODELS[model])


def model_label(settings: Settings) -> str:
    if settings.llm_backend == "local":
        return f"local:{settings.llm_local_model}:{settings.llm_quantize}"
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


def run_regress(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.runtime import Runtime
    from evals.assertions import CheckContext, Judge

    from .cases import load_cases
    from .report import compare, load_run, text_report, write_html, write_json
    from .runner import Runner, session_reset

    settings = model_settings(settings, args.model)
    cases = load_cases(args.cases, args.only.split(",") if args.only else None)
    if not cases:
        sys.stderr.write("error: no cases selected\n")
        return 2
    baseline = load_run(Path(args.baseline)) if args.baseline else None
    with tempfile.TemporaryDirectory(prefix="shopassist-regress-") as tmp:
        run_settings = settings if args.no_isolate else isolated_copy(settings, Path(tmp))
        want_llm = run_settings.llm_backend != "none"
        rt = Runtime.build(run_settings, load_llm=want_llm)
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
        )
        run = runner.run(
            cases,
            repeat=args.repeat,
            progress=not args.no_progress,
            meta={
                "model": model_label(run_settings),
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
    s = sub.add_parser("regress", help="run the prompt regression suite (golden cases)")
    s.add_argument(
        "--cases", default=None, help="glob of case files (default evals/regress/cases/*.yaml)"
    )
    s.add_argument("--only", default=None, help="comma-separated case ids or categories")
    s.add_argument(
        "--model",
        default=None,
        choices=sorted(MODELS),
        help="model to run (default: the configured SHOPASSIST_LLM_BACKEND)",
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
