"""The golden cases in `evals/regress/cases/` as part of `make test`.

The template path (no LLM) must pass every case that is not a documented known bug, and must not
regress against the checked-in `evals/regress/baseline.json`. The configured real model runs the
same suite under `-m model`.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pytest

from evals.assertions import ASSERTION_TYPES, CheckContext
from evals.regress.cases import BASELINE, load_all, load_cases
from evals.regress.report import compare, load_run, text_report
from evals.regress.runner import Runner, RunResult, session_reset

log = logging.getLogger(__name__)


def test_case_files_cover_every_category():
    cases = load_cases()
    per = Counter(c.category for c in cases)
    assert len(cases) >= 60
    assert per["injection"] >= 15
    assert {
        "recommend",
        "refine",
        "cold_start",
        "support_orders",
        "returns",
        "policy",
        "handoff",
        "injection",
        "greeting",
    } <= set(per)
    assert any(len(c.turns) > 1 for c in cases if c.category == "refine")
    used = {a.type for c in load_all() for t in c.turns for a in t.asserts}
    assert used == set(ASSERTION_TYPES)  # with the dialogues' own checks


def _run(stack, llm, label: str) -> RunResult:
    from assistant.agent import Agent
    from assistant.support import index_knowledge
    from evals.assertions import Judge

    index_knowledge(stack)
    runner = Runner(
        Agent(stack, llm),
        CheckContext(stack.catalogue, stack.encoder, Judge.from_settings(stack.settings)),
        reset=session_reset(stack),
    )
    run = runner.run(load_cases(), progress=False, meta={"model": label})
    log.info("\n%s", text_report(run))
    return run


def test_golden_cases_pass_on_templates(stack):
    run = _run(stack, None, "none")
    report = text_report(run, compare(load_run(BASELINE), run) if BASELINE.exists() else None)
    assert run.ok, report
    if BASELINE.exists():
        assert compare(load_run(BASELINE), run).ok, report


@pytest.mark.model
@pytest.mark.full_model
def test_golden_cases_on_the_configured_model(stack):
    from evals.regress.cli import model_label

    settings = stack.settings
    if settings.llm_backend == "none":
        pytest.skip("SHOPASSIST_LLM_BACKEND=none: the template run covers it")
    try:
        from assistant.llm import build_chat_model

        llm = build_chat_model(settings)
    except Exception as exc:  # the model is optional on a dev machine: say why, loudly
        pytest.skip(f"model {model_label(settings)} unavailable: {exc}")
    run = _run(stack, llm, model_label(settings))
    assert BASELINE.exists(), f"{BASELINE} is missing: run `shopassist regress --json` first"
    cmp = compare(load_run(BASELINE), run)
    assert cmp.ok, text_report(run, cmp)


def test_baseline_is_a_valid_run():
    base = load_run(Path(BASELINE))
    assert base.meta.get("model") and base.cases
    known = {c.id for c in load_cases()}
    missing = known - {c.id for c in base.cases}
    assert not missing, f"cases missing from the baseline (re-run with --json): {sorted(missing)}"
